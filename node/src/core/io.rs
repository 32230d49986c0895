//! The core's interface to whatever drives it: what goes in ([`Input`], [`Local`]) and
//! what comes out ([`Action`], [`Reply`]). The tokio/libp2p/sled driver (`crate::node`)
//! and the simulator (`crate::sim`) speak exactly this, so the simulator runs the same
//! node logic a practice runs.
//!
//! Peers are named by their node keys: the node key is also the node's libp2p PeerId, and
//! a connection only ever reaches the core from a peer whose key the handshake proved.

use super::status::{NodeError, Submitted};
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, SignedEvent};
use mutual_protocol::federation::FederationId;
use mutual_protocol::id::EventId;
use mutual_protocol::keys::PublicKey;
use std::collections::BTreeSet;

/// Which log something concerns: the network's own (`None`) or a federation's.
pub type LogId = Option<FederationId>;

/// The two clocks the core is handed with every input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Now {
    /// The wall clock, ms since the Unix epoch, offset included (`crate::clock_ms`): what
    /// events are dated with and deadlines are judged by.
    pub wall_ms: u64,
    /// A monotonic clock, ms since the driver started: what bans, retries and waits are
    /// measured with, so a wall clock set back cannot stretch them.
    pub mono_ms: u64,
}

/// Something that happened to the node.
#[derive(Debug)]
pub enum Input {
    /// The time [`super::NodeCore::next_timeout`] named has come (or passed).
    Timer,
    /// A connection to `peer` is open (the driver's gate let it through).
    Connected(PublicKey),
    /// The last connection to `peer` closed.
    Disconnected(PublicKey),
    /// The addresses the node listens on now.
    Listening(Vec<String>),
    /// Addresses a peer was seen at (identify, or LAN discovery when `dial` is set).
    Addresses {
        /// The peer.
        peer: PublicKey,
        /// Its addresses, as multiaddr strings.
        addrs: Vec<String>,
        /// Dial known peers at once (a LAN discovery).
        dial: bool,
    },
    /// A gossip message on a log's topic; answer with [`Action::Validate`] for `token`.
    Gossip {
        /// The peer that passed it on.
        from: PublicKey,
        /// The log whose topic it came on.
        log: LogId,
        /// The message: one `SignedEvent`.
        data: Vec<u8>,
        /// The driver's handle for the message.
        token: u64,
    },
    /// A peer subscribed to a log's topic.
    Subscribed {
        /// The peer.
        peer: PublicKey,
        /// The log.
        log: LogId,
    },
    /// A sync request from a peer; answer with [`Action::Respond`] for `token`.
    Request {
        /// The peer.
        from: PublicKey,
        /// The request.
        req: pb::SyncRequest,
        /// The driver's handle for the answer.
        token: u64,
    },
    /// The answer to [`Action::Request`] `id`.
    Response {
        /// The request's id.
        id: u64,
        /// The answer.
        resp: pb::SyncResponse,
    },
    /// Request `id` failed (timed out, the connection closed, or the answer did not
    /// decode, in which case `malformed`).
    RequestFailed {
        /// The request's id.
        id: u64,
        /// The answer could not be read: the peer broke the protocol.
        malformed: bool,
    },
    /// A peer's request could not be read.
    MalformedRequest(PublicKey),
    /// A peer asks for a paper (docs/NETWORK.md §10); answer with [`Action::PaperRespond`]
    /// for `token`.
    PaperRequest {
        /// The peer.
        from: PublicKey,
        /// The request.
        req: pb::PaperRequest,
        /// The driver's handle for the answer.
        token: u64,
    },
    /// The answer to [`Action::PaperRequest`] `id`; `None` if the request failed.
    PaperResponse {
        /// The request's id.
        id: u64,
        /// The answer.
        resp: Option<pb::PaperResponse>,
    },
    /// A request from this node's own users; answer with [`Action::Reply`] for `ticket`.
    Local {
        /// The driver's handle for the reply.
        ticket: u64,
        /// What is asked.
        request: Local,
    },
}

/// What a local user (the API, the command line) asks of the node.
#[derive(Debug)]
pub enum Local {
    /// Sign `bodies` with the node key, in order, into a log; reply [`Reply::Authored`]
    /// once they are durable.
    Author {
        /// The log.
        log: LogId,
        /// The bodies.
        bodies: Vec<Body>,
    },
    /// Take in an event signed elsewhere (by a partner's key) and pass it on; reply
    /// [`Reply::Submitted`] once it is durable.
    Submit {
        /// The log.
        log: LogId,
        /// The event's wire bytes.
        wire: Vec<u8>,
    },
    /// Sign a federation's charter with the node key; reply [`Reply::Charter`].
    SignCharter(pb::FederationCharter),
    /// Refuse (`true`) or again allow (`false`) connections with a peer.
    Block {
        /// The peer.
        peer: PublicKey,
        /// Refuse or allow.
        blocked: bool,
    },
    /// Start a sync round with every connected peer now.
    SyncNow,
    /// Store a paper's bytes, if an event of the log names them; reply
    /// [`Reply::PaperStored`] once they are durable.
    PutPaper(Vec<u8>),
    /// Read a paper's bytes; reply [`Reply::Paper`].
    ReadPaper([u8; 32]),
}

/// A paper taken in by [`Local::PutPaper`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PaperStored {
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether the node held it already.
    pub already: bool,
}

/// The answer to a [`Local`] request.
#[derive(Debug)]
pub enum Reply {
    /// To [`Local::Author`]: the ids signed.
    Authored(Result<Vec<EventId>, NodeError>),
    /// To [`Local::Submit`].
    Submitted(Result<Submitted, NodeError>),
    /// To [`Local::SignCharter`]: the signed charter event.
    Charter(Box<Result<SignedEvent, NodeError>>),
    /// To [`Local::PutPaper`].
    PaperStored(Result<PaperStored, NodeError>),
    /// To [`Local::ReadPaper`]: the bytes, if held.
    Paper(Result<Option<Vec<u8>>, NodeError>),
}

/// How a gossip message is judged, for the gossip layer's forwarding and scoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// New and valid: forward it.
    Accept,
    /// Nothing wrong, but nothing to forward (a duplicate, an event that cannot count).
    Ignore,
    /// The sender broke the rules: drop it and lower the sender's gossip score.
    Reject,
}

/// What the core asks its driver to do, in order.
#[derive(Debug)]
pub enum Action {
    /// Answer a local request.
    Reply {
        /// The request's ticket.
        ticket: u64,
        /// The answer.
        reply: Reply,
    },
    /// Publish an event on a log's gossip topic.
    Publish {
        /// The log.
        log: LogId,
        /// The event's wire bytes.
        wire: Vec<u8>,
    },
    /// Report how a gossip message was judged.
    Validate {
        /// The message's token.
        token: u64,
        /// The judgement.
        verdict: Verdict,
    },
    /// Send a sync request; report its answer with [`Input::Response`] (or
    /// [`Input::RequestFailed`]) for `id`.
    Request {
        /// The peer.
        peer: PublicKey,
        /// The request's id.
        id: u64,
        /// The request.
        req: pb::SyncRequest,
    },
    /// Answer a peer's sync request.
    Respond {
        /// The request's token.
        token: u64,
        /// The answer.
        resp: pb::SyncResponse,
    },
    /// Subscribe to a log's gossip topic.
    Subscribe(LogId),
    /// Leave a log's gossip topic.
    Unsubscribe(LogId),
    /// Who may connect now (docs/NETWORK.md §3): member and invited nodes, the nodes of
    /// linked federations (`allowed`), and while joining the operator's bootstrap peers.
    Gate {
        /// Member, invited and federated nodes.
        allowed: BTreeSet<PublicKey>,
        /// Bootstrap peers.
        bootstrap: BTreeSet<PublicKey>,
    },
    /// Refuse a peer's connections until the monotonic time `until_ms`.
    Ban {
        /// The peer.
        peer: PublicKey,
        /// When the ban ends (see [`Now::mono_ms`]).
        until_ms: u64,
    },
    /// Lift a ban.
    Unban(PublicKey),
    /// Stop relaying a peer's gossip (it asked for a topic it does not share).
    Blacklist(PublicKey),
    /// Close every connection to a peer.
    Disconnect(PublicKey),
    /// Ask a peer for a paper; report its answer with [`Input::PaperResponse`] for `id`.
    PaperRequest {
        /// The peer.
        peer: PublicKey,
        /// The request's id.
        id: u64,
        /// The request.
        req: pb::PaperRequest,
    },
    /// Answer a peer's paper request.
    PaperRespond {
        /// The request's token.
        token: u64,
        /// The answer.
        resp: pb::PaperResponse,
    },
    /// Dial a peer at these addresses (multiaddr strings).
    Dial {
        /// The peer.
        peer: PublicKey,
        /// Its addresses.
        addrs: Vec<String>,
    },
}
