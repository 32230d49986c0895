//! A running node: one task that owns the replica, the store and the libp2p swarm, and a
//! [`NodeHandle`] to talk to it (docs/NETWORK.md).
//!
//! Everything that changes the replica happens on the node's task, in the order events
//! and commands arrive, so there are no locks around the state. The rules it follows:
//! - an event is acknowledged (to a local caller) only after [`Store::sync`];
//! - events from peers are stored as they are taken in and made durable within
//!   [`FLUSH_INTERVAL`];
//! - the node signs nothing until a sync round with a member's node has shown it its own
//!   feed head (or it founded the network itself in this run), so a store restored from an
//!   old copy cannot make it reuse a sequence number.

use crate::clock_ms;
use crate::federation::{load_log, roster_of, FedLog};
use crate::keyfile::{libp2p_keypair, peer_of, public_key_of_peer};
use crate::limits::{BAN_DURATION, REDIAL_INTERVAL};
use crate::net::{build_swarm, topic, Behaviour, BehaviourEvent};
use crate::peers::{Offence, PeerBook};
use crate::store::{SledStore, Snapshot, Store, StoreError};
use crate::sync::{self, Step};
use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::SwarmEvent;
use libp2p::{gossipsub, identify, mdns, Multiaddr, PeerId, Swarm};
use mutual_proto::v1 as pb;
use mutual_protocol::event::{deps_for, Body, FeedWriter, SignedEvent};
use mutual_protocol::federation::FederationId;
use mutual_protocol::governance::Finality;
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::keys::{Keypair, PublicKey};
use mutual_protocol::limits::MAX_CLOCK_SKEW_MS;
use mutual_protocol::replica::{Fold, IngestError, Ingested, Replica};
use pb::sync_request::Kind as Req;
use pb::sync_response::Kind as Resp;
use prost::Message;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Events received from peers become durable at most this long after they are stored.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Commands waiting for the node's task.
const COMMAND_QUEUE: usize = 256;
/// Most addresses kept per peer from identify and mDNS.
const MAX_ADDRESSES_PER_PEER: usize = 16;
/// How long, after a federation's log records that this network left, its nodes still
/// connect to the other networks' nodes so that the leave reaches them
/// (docs/FEDERATION.md §5).
pub const LEAVE_LINGER: Duration = Duration::from_secs(10 * 60);
/// Least time between two address announcements by this node.
const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(60);
/// How long a practice node waits, once it holds a ballot it could witness or a motion
/// whose grace period has passed, before writing a `Witness` event (docs/GOVERNANCE.md
/// §5.2, §5.5). Each node waits up to as long again, by its key, so that one node's
/// witness usually reaches the others before they write their own. Far below the least
/// grace period (`MAX_CLOCK_SKEW_MS`, five minutes).
pub const WITNESS_DELAY: Duration = Duration::from_secs(2);

/// How a node starts.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the store lives.
    pub data_dir: PathBuf,
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start, each ending in `/p2p/<peer id>`.
    pub bootstrap: Vec<Multiaddr>,
    /// LAN discovery.
    pub mdns: bool,
    /// Time between sync rounds with each connected peer.
    pub sync_interval: Duration,
    /// How long a request to sign waits for the node to learn its own feed head.
    pub head_timeout: Duration,
    /// Shifts this node's clock by this many milliseconds (see [`crate::clock_ms`]).
    pub clock_offset_ms: i64,
}

impl Config {
    /// Defaults for a node storing in `data_dir`: TCP and QUIC on every interface, port
    /// 7700, no bootstrap peers, mDNS off, a sync round every 10 s.
    pub fn new(data_dir: PathBuf) -> Self {
        Config {
            data_dir,
            listen: vec![
                "/ip4/0.0.0.0/tcp/7700".parse().expect("valid"),
                "/ip4/0.0.0.0/udp/7700/quic-v1".parse().expect("valid"),
            ],
            bootstrap: Vec::new(),
            mdns: false,
            sync_interval: Duration::from_secs(10),
            head_timeout: Duration::from_secs(60),
            clock_offset_ms: 0,
        }
    }
}

/// Which network a node serves.
#[derive(Debug)]
pub enum Network {
    /// The one its store already belongs to.
    Stored,
    /// A new network this node founds with `genesis` (signed with the node key).
    Found(Box<SignedEvent>),
    /// An existing network, to be fetched from the bootstrap peers.
    Join(NetworkId),
}

/// Why a node could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The node is not running.
    #[error("the node has stopped")]
    Stopped,
    /// The node has not yet seen its own feed head from a peer.
    #[error("this node has not yet heard its own latest event from any member's node, so it will not sign (a store restored from an old copy could otherwise reuse a sequence number); check that it can reach the other nodes")]
    HeadUnconfirmed,
    /// The node has not yet seen its own feed head in a federation's log from a peer.
    #[error("this node has not yet heard its own latest event in federation {0} from a node taking part in it, so it will not sign there (a store restored from an old copy could otherwise reuse a sequence number); check that it can reach the other nodes")]
    FederationHeadUnconfirmed(FederationId),
    /// The event was refused.
    #[error("event refused: {0}")]
    Refused(String),
    /// Starting failed.
    #[error("{0}")]
    Start(String),
}

/// Counters a node keeps about its traffic and its peers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Metrics {
    /// Bytes of sync responses received.
    pub sync_bytes_in: u64,
    /// Bytes of sync responses sent.
    pub sync_bytes_out: u64,
    /// Bytes of gossip messages received.
    pub gossip_bytes_in: u64,
    /// Sync rounds started by this node.
    pub sync_rounds: u64,
    /// Sync rounds that ended with both sides in sync at the first step.
    pub sync_rounds_in_sync: u64,
    /// Events taken in from peers (stored, pending or held).
    pub events_received: u64,
    /// Invalid events received.
    pub invalid_events: u64,
    /// Malformed or oversized messages received.
    pub malformed_messages: u64,
    /// Requests refused for exceeding the rate limit.
    pub rate_limited: u64,
    /// Bans imposed.
    pub bans: u64,
    /// Connections refused by the gate.
    pub connections_refused: u64,
    /// Events this node signed.
    pub events_authored: u64,
    /// Sync requests refused because the peer does not share the log asked for (a
    /// federation's peer asking for this network's log, or for another federation's).
    pub out_of_scope_requests: u64,
    /// Gossip subscriptions refused for the same reason; the peer is banned at once.
    pub out_of_scope_subscriptions: u64,
    /// Gossip messages refused because they came on a topic the sender does not share.
    pub out_of_scope_messages: u64,
}

/// A snapshot of a node's condition.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The node's PeerId.
    pub peer_id: String,
    /// The network id.
    pub network: String,
    /// Stored events.
    pub events: usize,
    /// Events waiting for causes.
    pub pending: usize,
    /// Future-dated events held.
    pub held: usize,
    /// The state hash.
    pub state_hash: String,
    /// Connected peers.
    pub peers: Vec<String>,
    /// Addresses the node listens on.
    pub listen: Vec<String>,
    /// Whether the node knows its own feed head and may sign.
    pub head_confirmed: bool,
    /// Traffic and peer counters.
    pub metrics: Metrics,
}

/// What happened to a submitted event.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Submitted {
    /// Its id.
    pub id: String,
    /// "stored", "duplicate", "pending" or "held".
    pub result: String,
    /// Its outcome in the fold, once stored.
    pub outcome: Option<String>,
}

type Query = Box<dyn FnOnce(&Replica) + Send>;
type FedQuery = Box<dyn FnOnce(&Replica, &BTreeMap<FederationId, FedLog>) + Send>;

enum Command {
    Author {
        bodies: Vec<Body>,
        reply: oneshot::Sender<Result<Vec<EventId>, NodeError>>,
    },
    Submit {
        wire: Vec<u8>,
        reply: oneshot::Sender<Result<Submitted, NodeError>>,
    },
    Status(oneshot::Sender<Status>),
    Query(Query),
    FedQuery(FedQuery),
    AuthorIn {
        federation: FederationId,
        bodies: Vec<Body>,
        reply: oneshot::Sender<Result<Vec<EventId>, NodeError>>,
    },
    SubmitIn {
        federation: FederationId,
        wire: Vec<u8>,
        reply: oneshot::Sender<Result<Submitted, NodeError>>,
    },
    SignCharter {
        charter: pb::FederationCharter,
        reply: oneshot::Sender<Result<SignedEvent, NodeError>>,
    },
    Block(PeerId, bool),
    Dial(Multiaddr),
    SyncNow,
    Shutdown(oneshot::Sender<()>),
}

/// A handle to a running node. Cheap to clone.
#[derive(Clone)]
pub struct NodeHandle {
    tx: mpsc::Sender<Command>,
    peer_id: PeerId,
    network: NetworkId,
}

impl NodeHandle {
    /// The node's PeerId.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The network it serves.
    pub fn network(&self) -> NetworkId {
        self.network
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(make(tx))
            .await
            .map_err(|_| NodeError::Stopped)?;
        rx.await.map_err(|_| NodeError::Stopped)
    }

    /// Signs `bodies` with the node key, in order, and returns their ids once durable.
    pub async fn author(&self, bodies: Vec<Body>) -> Result<Vec<EventId>, NodeError> {
        self.ask(|reply| Command::Author { bodies, reply }).await?
    }

    /// Takes in an event signed elsewhere (by a partner's key) and passes it on.
    pub async fn submit(&self, wire: Vec<u8>) -> Result<Submitted, NodeError> {
        self.ask(|reply| Command::Submit { wire, reply }).await?
    }

    /// The node's condition.
    pub async fn status(&self) -> Result<Status, NodeError> {
        self.ask(Command::Status).await
    }

    /// Runs `f` on the node's replica and returns what it computes.
    pub async fn query<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Replica) -> R + Send + 'static,
    ) -> Result<R, NodeError> {
        self.ask(|tx| {
            Command::Query(Box::new(move |r: &Replica| {
                let _ = tx.send(f(r));
            }))
        })
        .await
    }

    /// Runs `f` on the node's replica and its federations' logs (docs/FEDERATION.md).
    pub async fn query_federations<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Replica, &BTreeMap<FederationId, FedLog>) -> R + Send + 'static,
    ) -> Result<R, NodeError> {
        self.ask(|tx| {
            Command::FedQuery(Box::new(
                move |r: &Replica, feds: &BTreeMap<FederationId, FedLog>| {
                    let _ = tx.send(f(r, feds));
                },
            ))
        })
        .await
    }

    /// Signs `bodies` with the node key into a federation's log, in order, and returns
    /// their ids once durable.
    pub async fn author_in(
        &self,
        federation: FederationId,
        bodies: Vec<Body>,
    ) -> Result<Vec<EventId>, NodeError> {
        self.ask(|reply| Command::AuthorIn {
            federation,
            bodies,
            reply,
        })
        .await?
    }

    /// Takes in an event for a federation's log, signed elsewhere, and passes it on.
    pub async fn submit_in(
        &self,
        federation: FederationId,
        wire: Vec<u8>,
    ) -> Result<Submitted, NodeError> {
        self.ask(|reply| Command::SubmitIn {
            federation,
            wire,
            reply,
        })
        .await?
    }

    /// Signs a federation's charter with the node key (docs/FEDERATION.md §2): the first
    /// event of the federation's log, whose id is the federation's id. The charter must
    /// be valid and name this network. Signing creates nothing; each named network links
    /// by passing a motion that carries the signed charter.
    pub async fn sign_charter(
        &self,
        charter: pb::FederationCharter,
    ) -> Result<SignedEvent, NodeError> {
        self.ask(|reply| Command::SignCharter { charter, reply })
            .await?
    }

    /// Refuses (`true`) or again allows (`false`) connections with `peer`, for an operator
    /// who needs to cut a node off by hand.
    pub async fn block(&self, peer: PeerId, blocked: bool) -> Result<(), NodeError> {
        self.tx
            .send(Command::Block(peer, blocked))
            .await
            .map_err(|_| NodeError::Stopped)
    }

    /// Dials an address.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NodeError> {
        self.tx
            .send(Command::Dial(addr))
            .await
            .map_err(|_| NodeError::Stopped)
    }

    /// Starts a sync round with every connected peer now.
    pub async fn sync_now(&self) -> Result<(), NodeError> {
        self.tx
            .send(Command::SyncNow)
            .await
            .map_err(|_| NodeError::Stopped)
    }

    /// Stops the node: makes the store durable and closes connections.
    pub async fn shutdown(&self) -> Result<(), NodeError> {
        self.ask(Command::Shutdown).await
    }
}

struct WaitingAuthor {
    deadline: Instant,
    /// The log to sign in: the network's, or a federation's.
    log: Option<FederationId>,
    bodies: Vec<Body>,
    reply: oneshot::Sender<Result<Vec<EventId>, NodeError>>,
}

struct Node {
    swarm: Swarm<Behaviour>,
    replica: Replica,
    store: SledStore,
    keypair: Keypair,
    me: PublicKey,
    topic: gossipsub::IdentTopic,
    config: Config,
    book: PeerBook,
    requests: HashMap<OutboundRequestId, (PeerId, Step, Option<FederationId>)>,
    rounds: sync::Rounds<PeerId>,
    connected: HashSet<PeerId>,
    addresses: HashMap<PeerId, HashSet<Multiaddr>>,
    bootstrap: HashMap<PeerId, Multiaddr>,
    last_dial: HashMap<PeerId, Instant>,
    listen: Vec<Multiaddr>,
    head_confirmed: bool,
    waiting: Vec<WaitingAuthor>,
    metrics: Metrics,
    unflushed: bool,
    snapshot_due: bool,
    last_announce: Option<Instant>,
    /// Why the store last failed a write: the node then holds events in memory that are
    /// not stored, so it takes no more writes and serves no events until restarted.
    store_failed: Option<String>,
    /// The logs of the federations this network linked to (docs/FEDERATION.md).
    feds: BTreeMap<FederationId, FedLog>,
    /// Peers that belong to this network: member, invited and (while joining) bootstrap
    /// nodes. Every other allowed peer is a federation's, and sees only federation logs.
    own_peers: HashSet<PeerId>,
    /// Attestations this node has signed in this run, so one the fold rejected (a roster
    /// that clashes with another network's, a decision once the federation is no longer
    /// live) is not signed again every second.
    attested: HashSet<(FederationId, Vec<u8>)>,
    /// When this node first saw each federation's log record that its network left.
    left_seen: HashMap<FederationId, Instant>,
    /// When this node writes a `Witness` event, if it still has something to witness or
    /// a motion to close then.
    witness_due: Option<Instant>,
}

/// Opens the store, loads it, starts listening and runs the node on the current tokio
/// runtime. Returns once the node is listening.
pub async fn start(
    keypair: Keypair,
    network: Network,
    config: Config,
) -> Result<NodeHandle, NodeError> {
    let mut store = SledStore::open(&config.data_dir)?;
    let me = keypair.public();
    let net_id = match (&network, store.network()) {
        (Network::Stored, Some(n)) => n,
        (Network::Stored, None) => {
            return Err(NodeError::Start(format!(
                "the store at {} belongs to no network yet: found one or join one first",
                config.data_dir.display()
            )))
        }
        (Network::Found(g), stored) => {
            let n = NetworkId(g.id);
            if g.event.author != me {
                return Err(NodeError::Start(
                    "the genesis must be signed by this node's key".into(),
                ));
            }
            if stored.is_some_and(|s| s != n) {
                return Err(NodeError::Start(format!(
                    "the store belongs to network {}, not to the genesis being founded",
                    stored.map(|s| s.to_string()).unwrap_or_default()
                )));
            }
            n
        }
        (Network::Join(n), _) => *n,
    };
    store.set_network(net_id)?;
    let mut replica = Replica::new(net_id);
    let now = clock_ms(config.clock_offset_ms);
    load_log(&mut store, &mut replica, now)?;
    // A founder that has signed nothing yet knows its head: this genesis is its first event.
    let founded_here = matches!(network, Network::Found(_)) && replica.feed_head(&me).is_none();
    if let Network::Found(g) = &network {
        if let Err(e) = replica.ingest(now, &g.to_wire()) {
            return Err(NodeError::Start(format!("the genesis is invalid: {e}")));
        }
        if let Some(ev) = replica.get(&g.id) {
            store.put_events(&[ev])?;
        }
    }
    store.sync()?;
    tracing::info!(network = %net_id, events = replica.len(), "store loaded");

    let mut swarm = build_swarm(libp2p_keypair(&keypair), config.mdns)
        .map_err(|e| NodeError::Start(e.to_string()))?;
    let topic = topic(&net_id);
    swarm
        .behaviour_mut()
        .gossip
        .subscribe(&topic)
        .map_err(|e| NodeError::Start(format!("gossip: {e}")))?;
    for addr in &config.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NodeError::Start(format!("cannot listen on {addr}: {e}")))?;
    }
    let bootstrap: HashMap<PeerId, Multiaddr> = config
        .bootstrap
        .iter()
        .filter_map(|a| match a.iter().last() {
            Some(Protocol::P2p(p)) => Some((p, a.clone())),
            _ => None,
        })
        .collect();
    let peer_id = *swarm.local_peer_id();
    // With no other member practice, no other node could hold this node's feed.
    let alone = replica.state().is_founded()
        && !replica
            .state()
            .membership()
            .active_practice_nodes()
            .any(|k| k != me);
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
    let mut node = Node {
        swarm,
        replica,
        store,
        keypair,
        me,
        topic,
        config,
        book: PeerBook::default(),
        requests: HashMap::new(),
        rounds: sync::Rounds::default(),
        connected: HashSet::new(),
        addresses: HashMap::new(),
        bootstrap,
        last_dial: HashMap::new(),
        listen: Vec::new(),
        head_confirmed: founded_here || alone,
        waiting: Vec::new(),
        metrics: Metrics::default(),
        unflushed: false,
        snapshot_due: true,
        last_announce: None,
        store_failed: None,
        feds: BTreeMap::new(),
        own_peers: HashSet::new(),
        attested: HashSet::new(),
        left_seen: HashMap::new(),
        witness_due: None,
    };
    node.open_federations();
    node.refresh_gate();
    // Wait until every listener is up, so the caller can read the addresses.
    let want = node.config.listen.len();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while node.listen.len() < want {
        match tokio::time::timeout_at(deadline, node.swarm.select_next_some()).await {
            Ok(ev) => node.on_swarm(ev),
            Err(_) => break,
        }
    }
    node.dial_known();
    tokio::spawn(node.run(rx));
    Ok(NodeHandle {
        tx,
        peer_id,
        network: net_id,
    })
}

impl Node {
    /// This node's clock (the local clock and its configured offset).
    fn now(&self) -> u64 {
        clock_ms(self.config.clock_offset_ms)
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut sync_tick = tokio::time::interval(self.config.sync_interval);
        let mut housekeeping = tokio::time::interval(FLUSH_INTERVAL);
        let done = loop {
            tokio::select! {
                ev = self.swarm.select_next_some() => self.on_swarm(ev),
                cmd = rx.recv() => match cmd {
                    Some(Command::Shutdown(done)) => break Some(done),
                    Some(c) => self.on_command(c),
                    None => break None,
                },
                _ = sync_tick.tick() => self.sync_all(),
                _ = housekeeping.tick() => self.housekeep(),
            }
        };
        self.flush(true);
        for w in self.waiting.drain(..) {
            let _ = w.reply.send(Err(NodeError::Stopped));
        }
        // Close the store (releasing its lock) and the connections before reporting done.
        drop(self);
        tracing::info!("node stopped");
        if let Some(done) = done {
            let _ = done.send(());
        }
    }

    // ------------------------------------------------------------------ taking events in

    /// Takes in events; stores what was stored; punishes `from` for invalid ones. The
    /// second result says whether the store took the events.
    fn take_in<W: AsRef<[u8]>>(
        &mut self,
        wires: &[W],
        from: Option<PeerId>,
    ) -> (Vec<Result<Ingested, IngestError>>, Result<(), StoreError>) {
        let results = self.replica.ingest_batch(self.now(), wires);
        let Sorted {
            stored,
            parked,
            missing,
            invalid,
        } = sort_ingested(wires, &results);
        self.note_invalid(from, &invalid);
        if from.is_some() {
            self.metrics.events_received += results
                .iter()
                .filter(|r| {
                    matches!(
                        r,
                        Ok(Ingested::Stored { .. }
                            | Ingested::Pending { .. }
                            | Ingested::Held { .. })
                    )
                })
                .count() as u64;
        }
        let persisted = self.persist(&stored, &parked);
        if let Err(e) = &persisted {
            tracing::error!(error = %e, "could not store events");
        }
        if let (Some(p), false) = (from, missing.is_empty()) {
            let mut out = Vec::new();
            self.rounds.chase(p, missing, &mut out);
            self.act(None, out);
        }
        (results, persisted)
    }

    /// Counts invalid events and penalises the peer that sent them, once each.
    fn note_invalid(&mut self, from: Option<PeerId>, invalid: &[IngestError]) {
        for e in invalid {
            self.metrics.invalid_events += 1;
            if let Some(p) = from {
                tracing::warn!(peer = %p, error = %e, "invalid event");
                self.punish(p, Offence::InvalidEvent);
            }
        }
    }

    fn persist(&mut self, stored: &[EventId], parked: &[SignedEvent]) -> Result<(), StoreError> {
        let r = self.persist_now(stored, parked);
        if let Err(e) = &r {
            self.note_store(e);
        }
        r
    }

    /// Records a store failure (see `store_failed`).
    fn note_store(&mut self, e: &StoreError) {
        if self.store_failed.is_none() {
            tracing::error!(error = %e, "the store failed a write; this node takes no more writes and serves no events until restarted");
            self.store_failed = Some(e.to_string());
        }
    }

    /// Refuses a write once the store has failed.
    fn writable(&self) -> Result<(), NodeError> {
        match &self.store_failed {
            None => Ok(()),
            Some(why) => Err(NodeError::Refused(format!(
                "{why} (the store failed a write earlier: restart the node once that is fixed)"
            ))),
        }
    }

    fn persist_now(
        &mut self,
        stored: &[EventId],
        parked: &[SignedEvent],
    ) -> Result<(), StoreError> {
        if store_taken(&self.replica, &mut self.store, stored, parked)? {
            self.unflushed = true;
        }
        if !stored.is_empty() {
            self.snapshot_due = true;
        }
        Ok(())
    }

    /// Writes everything durably; with `snapshot`, also the derived-state snapshot.
    fn flush(&mut self, snapshot: bool) {
        let result = (|| -> Result<(), StoreError> {
            if snapshot && self.snapshot_due {
                let keep: HashSet<EventId> = self
                    .replica
                    .pending_ids()
                    .chain(self.replica.held_ids())
                    .copied()
                    .collect();
                self.store.retain_pending(&keep)?;
                let state = self.replica.state();
                self.store.save_snapshot(&Snapshot {
                    state_hash: self.replica.state_hash().0,
                    events: state.events(),
                    digest: state.canonical_bytes(&self.replica.network(), self.replica.forks()),
                })?;
                self.snapshot_due = false;
                self.unflushed = true;
            }
            if self.unflushed {
                for l in self.feds.values_mut() {
                    l.store.sync()?;
                }
                self.store.sync()?;
                self.unflushed = false;
            }
            Ok(())
        })();
        if let Err(e) = &result {
            self.note_store(e);
        }
    }

    // ------------------------------------------------------------------ commands

    fn on_command(&mut self, c: Command) {
        match c {
            Command::Author { bodies, reply } => self.author_or_wait(None, bodies, reply),
            Command::Submit { wire, reply } => {
                let _ = reply.send(self.submit(wire));
            }
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::Query(f) => f(&self.replica),
            Command::FedQuery(f) => f(&self.replica, &self.feds),
            Command::AuthorIn {
                federation,
                bodies,
                reply,
            } => match self.may_author_fed(&federation, &bodies) {
                Ok(()) => self.author_or_wait(Some(federation), bodies, reply),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::SubmitIn {
                federation,
                wire,
                reply,
            } => {
                let r = self.guarded(|node| node.submit_now(Some(federation), wire));
                let _ = reply.send(r);
            }
            Command::SignCharter { charter, reply } => {
                let own = self.replica.network();
                let r = mutual_protocol::federation::validate_charter(&charter)
                    .map_err(|e| NodeError::Refused(e.to_string()))
                    .and_then(|()| {
                        if charter.members.iter().any(|n| n.network == own.as_bytes()) {
                            Ok(())
                        } else {
                            Err(NodeError::Refused(
                                "the charter does not name this node's network".into(),
                            ))
                        }
                    })
                    .map(|()| {
                        let key = Keypair::from_seed(&self.keypair.seed()).expect("a valid seed");
                        FeedWriter::root(key, self.now(), Body::FederationCharter(charter)).1
                    });
                let _ = reply.send(r);
            }
            Command::Block(peer, true) => {
                self.swarm.behaviour_mut().gate.ban(peer, far_future());
                let _ = self.swarm.disconnect_peer_id(peer);
            }
            Command::Block(peer, false) => {
                self.swarm.behaviour_mut().gate.unban(&peer);
                self.last_dial.remove(&peer);
                self.dial_known();
            }
            Command::Dial(addr) => {
                if let Err(e) = self.swarm.dial(addr.clone()) {
                    tracing::warn!(%addr, error = %e, "dial failed");
                }
            }
            Command::SyncNow => self.sync_all(),
            Command::Shutdown(_) => unreachable!("handled in run"),
        }
    }

    fn author(&mut self, bodies: Vec<Body>) -> Result<Vec<EventId>, NodeError> {
        self.guarded(|node| node.author_now(bodies))
    }

    /// Signs `bodies` into a log (the network's, or a federation's) now if this node has
    /// been shown its own feed there, else once it has (docs/NETWORK.md §7).
    fn author_or_wait(
        &mut self,
        log: Option<FederationId>,
        bodies: Vec<Body>,
        reply: oneshot::Sender<Result<Vec<EventId>, NodeError>>,
    ) {
        if self.head_confirmed_in(log) {
            let _ = reply.send(self.author_in_log(log, bodies));
        } else if let Some(why) = self.dated_ahead(log, bodies.first()) {
            // Waiting for a peer would not help: the feed's latest event is ahead of this
            // node's clock, and only the clock catching up lets it sign.
            let _ = reply.send(Err(NodeError::Refused(why.to_string())));
        } else {
            self.waiting.push(WaitingAuthor {
                deadline: Instant::now() + self.config.head_timeout,
                log,
                bodies,
                reply,
            });
            self.sync_all();
        }
    }

    /// Why signing `body` in a log is refused now because an event it would follow is
    /// dated ahead of this node's clock, if it is.
    fn dated_ahead(&self, log: Option<FederationId>, body: Option<&Body>) -> Option<NotNow> {
        let key = Keypair::from_seed(&self.keypair.seed()).expect("a valid seed");
        let now = self.now();
        let r = match log {
            None => sign_next(&self.replica, key, now, body?.clone()),
            Some(f) => sign_next(&self.feds.get(&f)?.replica, key, now, body?.clone()),
        };
        r.err().filter(|e| matches!(e, NotNow::DatedAhead { .. }))
    }

    /// Whether this node has been shown its own feed in a log.
    fn head_confirmed_in(&self, log: Option<FederationId>) -> bool {
        match log {
            None => self.head_confirmed,
            Some(f) => self.feds.get(&f).is_none_or(|l| l.head_confirmed),
        }
    }

    /// Signs `bodies` into a log: the network's, or a federation's.
    fn author_in_log(
        &mut self,
        log: Option<FederationId>,
        bodies: Vec<Body>,
    ) -> Result<Vec<EventId>, NodeError> {
        match log {
            None => self.author(bodies),
            Some(f) => self.guarded(|node| node.author_fed(f, bodies)),
        }
    }

    /// Runs a write unless the store has failed, and records it if the store fails now.
    fn guarded<T>(
        &mut self,
        write: impl FnOnce(&mut Self) -> Result<T, NodeError>,
    ) -> Result<T, NodeError> {
        self.writable()?;
        let r = write(self);
        if let Err(NodeError::Store(e)) = &r {
            self.note_store(e);
        }
        r
    }

    fn author_now(&mut self, bodies: Vec<Body>) -> Result<Vec<EventId>, NodeError> {
        let seed = self.keypair.seed();
        let now = self.now();
        let (ids, wires) = sign_into(&mut self.replica, &mut self.store, &seed, now, bodies)?;
        self.snapshot_due = true;
        self.metrics.events_authored += ids.len() as u64;
        // An invitation this node just signed opens its gate at once, so the invited
        // node's first dial is not refused (authoring is rare; the refresh is cheap).
        self.refresh_gate();
        for w in wires {
            self.publish(None, w);
        }
        Ok(ids)
    }

    fn submit(&mut self, wire: Vec<u8>) -> Result<Submitted, NodeError> {
        self.guarded(|node| node.submit_now(None, wire))
    }

    /// Takes in an event signed elsewhere, for the network's log (`log` = `None`) or a
    /// federation's, makes it durable and passes it on.
    fn submit_now(
        &mut self,
        log: Option<FederationId>,
        wire: Vec<u8>,
    ) -> Result<Submitted, NodeError> {
        let (mut results, persisted) = match log {
            None => self.take_in(&[&wire], None),
            Some(f) if self.feds.contains_key(&f) => self.take_in_fed(f, &[&wire], None),
            Some(f) => return Err(NodeError::Refused(format!("no federation {f} here"))),
        };
        persisted?;
        let r = results.pop().expect("one result");
        let id = SignedEvent::decode(&wire)
            .map(|e| e.id)
            .map_err(|e| NodeError::Refused(e.to_string()))?;
        let result = submitted_as(r)?;
        let outcome = match log.and_then(|f| self.feds.get_mut(&f)) {
            Some(l) => {
                l.store.sync()?;
                l.replica.outcome(&id)
            }
            None => {
                self.store.sync()?;
                self.unflushed = false;
                self.replica.outcome(&id)
            }
        }
        .map(|o| o.to_string());
        if result != "duplicate" {
            self.publish(log, wire);
        }
        Ok(Submitted {
            id: id.to_string(),
            result: result.into(),
            outcome,
        })
    }

    /// Publishes an event on its log's gossip topic: the network's, or a federation's.
    fn publish(&mut self, log: Option<FederationId>, wire: Vec<u8>) {
        let t = match log {
            None => self.topic.clone(),
            Some(f) => match self.feds.get(&f) {
                Some(l) => l.topic.clone(),
                None => return,
            },
        };
        match self.swarm.behaviour_mut().gossip.publish(t, wire) {
            Ok(_) | Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
            Err(e) => tracing::debug!(error = %e, "gossip publish failed; sync will carry it"),
        }
    }

    // ------------------------------------------------------------------ federations

    /// Opens the log of every federation this network linked to that is not open yet,
    /// and subscribes to its topic (docs/FEDERATION.md §5).
    fn open_federations(&mut self) {
        let links: Vec<(FederationId, Vec<u8>)> = self
            .replica
            .state()
            .governance()
            .federation_links()
            .filter(|(id, _)| !self.feds.contains_key(id))
            .map(|(id, l)| (*id, l.charter_event.clone()))
            .collect();
        for (id, charter) in links {
            match FedLog::open(&self.config.data_dir, &charter, self.now()) {
                Ok(log) => {
                    if let Err(e) = self.swarm.behaviour_mut().gossip.subscribe(&log.topic) {
                        tracing::warn!(federation = %id, error = %e, "cannot subscribe");
                    }
                    tracing::info!(federation = %id, events = log.replica.len(), "federation log open");
                    self.feds.insert(id, log);
                    // A round at once, so this node learns its own feed there.
                    let peers: Vec<PeerId> = self.connected.iter().copied().collect();
                    for peer in peers {
                        self.start_fed_round(id, peer);
                    }
                }
                Err(NodeError::Store(e)) => self.note_store(&e),
                Err(e) => {
                    tracing::error!(federation = %id, error = %e, "cannot open a federation's log")
                }
            }
        }
    }

    /// Whether this network is linked to `federation` now (it passed the link and has not
    /// passed a leave).
    fn linked(&self, federation: &FederationId) -> bool {
        self.replica
            .state()
            .governance()
            .link(federation)
            .is_some_and(|l| l.left_by.is_none())
    }

    /// Whether this node still takes part in `federation`'s log with the other networks:
    /// while this network is linked, and after it passed a leave motion until
    /// [`LEAVE_LINGER`] after this node saw the federation's log record it leaving, so that its
    /// nodes' word that it left reaches the others.
    fn in_federation(&self, federation: &FederationId) -> bool {
        let Some(log) = self.feds.get(federation) else {
            return false;
        };
        let own = self.replica.network();
        let left = log
            .replica
            .state()
            .party(&own)
            .is_some_and(|p| p.left.is_some());
        if !left {
            return self.replica.state().governance().link(federation).is_some();
        }
        // By this node's clock from when it saw the leave, not the leave's claimed time.
        self.left_seen
            .get(federation)
            .is_none_or(|t| t.elapsed() < LEAVE_LINGER)
    }

    /// Notes when each federation's log first shows this network left, and unsubscribes
    /// from the topics of federations this node no longer takes part in.
    fn track_leaving(&mut self) {
        let own = self.replica.network();
        let newly: Vec<FederationId> = self
            .feds
            .iter()
            .filter(|(f, l)| {
                !self.left_seen.contains_key(*f)
                    && l.replica
                        .state()
                        .party(&own)
                        .is_some_and(|p| p.left.is_some())
            })
            .map(|(f, _)| *f)
            .collect();
        for f in newly {
            self.left_seen.insert(f, Instant::now());
        }
        let done: Vec<(FederationId, gossipsub::IdentTopic)> = self
            .feds
            .iter()
            .filter(|(f, _)| !self.in_federation(f))
            .map(|(f, l)| (*f, l.topic.clone()))
            .collect();
        for (f, t) in done {
            if self.swarm.behaviour_mut().gossip.unsubscribe(&t) {
                tracing::info!(federation = %f, "no longer in the federation; its topic is left");
            }
        }
    }

    /// The peers that may take part in `federation`'s log with this node: this network's
    /// own, and, while this network is linked, the practice nodes on the roster of every
    /// other network that has not left (and the charter's bootstrap nodes).
    fn fed_peers(&self, federation: &FederationId) -> HashSet<PeerId> {
        let mut peers = self.own_peers.clone();
        for p in self.other_parties(federation) {
            peers.extend(p.roster.keys().map(peer_of));
            peers.extend(
                p.bootstrap
                    .iter()
                    .filter_map(|a| bootstrap_peer(a).map(|(p, _)| p)),
            );
        }
        peers
    }

    /// Whether `peer` is among [`Node::fed_peers`], without building the set (asked for
    /// every gossip message and sync request).
    fn takes_part(&self, federation: &FederationId, peer: &PeerId) -> bool {
        if self.own_peers.contains(peer) {
            return true;
        }
        let key = public_key_of_peer(peer);
        self.other_parties(federation).any(|p| {
            key.is_some_and(|k| p.roster.contains_key(&k))
                || p.bootstrap
                    .iter()
                    .any(|a| bootstrap_peer(a).is_some_and(|(q, _)| q == *peer))
        })
    }

    /// The other networks of `federation` that have not left, while this node takes part
    /// in it (none otherwise).
    fn other_parties(
        &self,
        federation: &FederationId,
    ) -> impl Iterator<Item = &mutual_protocol::federation::Party> {
        let own = self.replica.network();
        self.feds
            .get(federation)
            .filter(|_| self.in_federation(federation))
            .into_iter()
            .flat_map(|l| l.replica.state().parties())
            .filter(move |p| p.network != own && p.left.is_none())
    }

    /// Whether `peer` is a node of a network that is a party of `federation`, on any roster
    /// this node knows in any federation's log (its network's standing aside).
    fn of_a_party(&self, federation: &FederationId, peer: &PeerId) -> bool {
        let Some(key) = public_key_of_peer(peer) else {
            return false;
        };
        let Some(log) = self.feds.get(federation) else {
            return false;
        };
        self.feds.values().any(|l| {
            l.replica
                .state()
                .network_of(&key)
                .is_some_and(|p| log.replica.state().party(&p.network).is_some())
        })
    }

    /// Takes in events for a federation's log, like [`Node::take_in`] for the network's.
    fn take_in_fed<W: AsRef<[u8]>>(
        &mut self,
        federation: FederationId,
        wires: &[W],
        from: Option<PeerId>,
    ) -> (Vec<Result<Ingested, IngestError>>, Result<(), StoreError>) {
        let now = self.now();
        let Some(log) = self.feds.get_mut(&federation) else {
            return (Vec::new(), Ok(()));
        };
        let results = log.replica.ingest_batch(now, wires);
        let Sorted {
            stored,
            parked,
            missing,
            invalid,
        } = sort_ingested(wires, &results);
        let persisted = match store_taken(&log.replica, &mut log.store, &stored, &parked) {
            Ok(wrote) => {
                self.unflushed |= wrote;
                Ok(())
            }
            Err(e) => {
                self.note_store(&e);
                Err(e)
            }
        };
        self.note_invalid(from, &invalid);
        if let (Some(p), false) = (from, missing.is_empty()) {
            let mut out = Vec::new();
            if let Some(log) = self.feds.get_mut(&federation) {
                log.rounds.chase(p, missing, &mut out);
            }
            self.act(Some(federation), out);
        }
        (results, persisted)
    }

    /// Signs `bodies` into a federation's log with the node key; durable before it returns.
    fn author_fed(
        &mut self,
        federation: FederationId,
        bodies: Vec<Body>,
    ) -> Result<Vec<EventId>, NodeError> {
        self.may_author_fed(&federation, &bodies)?;
        let now = self.now();
        let seed = self.keypair.seed();
        let log = self
            .feds
            .get_mut(&federation)
            .ok_or_else(|| NodeError::Refused(format!("no federation {federation} here")))?;
        let (ids, wires) = sign_into(&mut log.replica, &mut log.store, &seed, now, bodies)?;
        self.metrics.events_authored += ids.len() as u64;
        for w in wires {
            self.publish(Some(federation), w);
        }
        Ok(ids)
    }

    /// Whether this node may sign `bodies` in `federation`'s log: its network is linked to
    /// it, or has left and the bodies only say so.
    fn may_author_fed(&self, federation: &FederationId, bodies: &[Body]) -> Result<(), NodeError> {
        let leaving = bodies.iter().all(|b| matches!(b, Body::FederationLeave(_)));
        if !self.linked(federation) && !leaving {
            return Err(NodeError::Refused(format!(
                "this network is not linked to federation {federation}"
            )));
        }
        if !self.feds.contains_key(federation) {
            return Err(NodeError::Refused(format!(
                "no federation {federation} here"
            )));
        }
        Ok(())
    }

    /// Says in each federation's log what this network decided, as one of its practice
    /// nodes (docs/FEDERATION.md §4, §5): its membership evidence (its genesis and its
    /// practices' own rotations, revocations and leaves), that it joined or left, its
    /// roster, and its decisions on joint motions. Each is said once per node; the
    /// federation counts a network's word once more than half of its roster has said the
    /// same.
    fn attest(&mut self) {
        let own = self.replica.network();
        let st = self.replica.state();
        if !self.head_confirmed || !st.membership().is_active_practice_node(&self.me) {
            return;
        }
        let now = self.now();
        let roster = roster_of(st.membership());
        let mut todo: Vec<(FederationId, Body)> = Vec::new();
        for (fid, link) in st.governance().federation_links() {
            let Some(log) = self.feds.get(fid).filter(|l| l.head_confirmed) else {
                continue;
            };
            let fs = log.replica.state();
            let Some(party) = fs.party(&own) else {
                continue;
            };
            if party.left.is_some() {
                continue;
            }
            let net = own.as_bytes().to_vec();
            let candidates = self
                .replica
                .get(&own.0)
                .into_iter()
                .chain(st.evidence().filter_map(|id| self.replica.get(id)));
            let (due, after) = party.evidence_due(candidates);
            // A node on the roster carries evidence; so does one whose key the evidence
            // itself shows (it rotated, say), so a roster whose keys all moved can follow.
            let on_roster = party.roster.contains_key(&self.me);
            let shown = after.is_some_and(|m| m.is_active_practice_node(&self.me));
            if !due.is_empty() && (on_roster || shown) {
                todo.push((
                    *fid,
                    Body::FederationEvidence(pb::FederationEvidence {
                        network: net.clone(),
                        events: due.iter().map(|e| e.to_wire()).collect(),
                    }),
                ));
            }
            if !on_roster {
                continue;
            }
            if let Some(left_by) = link.left_by {
                if party.joined.is_some() && !fs.said_leave(&own, &self.me) {
                    todo.push((
                        *fid,
                        Body::FederationLeave(pb::FederationLeave {
                            network: net,
                            motion: left_by.as_bytes().to_vec(),
                        }),
                    ));
                }
                continue;
            }
            if party.joined.is_none() && !fs.said_join(&own, &self.me) {
                todo.push((
                    *fid,
                    Body::FederationJoin(pb::FederationJoin {
                        network: net.clone(),
                        motion: link.motion.as_bytes().to_vec(),
                    }),
                ));
            }
            // A roster the network's own events do not show is named again by its
            // practices, whose majority anchors it (docs/FEDERATION.md §3).
            let unanchored = !party.anchored && party.replica.is_some();
            if (party.practices != roster || unanchored)
                && fs.said_roster(&own, &self.me) != Some(&roster[..])
            {
                todo.push((
                    *fid,
                    Body::FederationRoster(pb::FederationRoster {
                        network: net.clone(),
                        number: party.roster_number + 1,
                        practices: roster.clone(),
                    }),
                ));
            }
            for j in fs.joint_motions().filter(|_| fs.is_live()) {
                if j.result.is_some()
                    || j.decisions.contains_key(&own)
                    || fs.said_decision(&j.id, &own, &self.me)
                {
                    continue;
                }
                let decided = st
                    .governance()
                    .motions()
                    .filter(|m| {
                        m.motion.joint_motion == j.id.as_bytes()
                            && m.motion.federation == fid.as_bytes()
                    })
                    .find_map(|m| {
                        let r = st.governance().report(&m.id, now)?;
                        (r.finality == Finality::Final).then_some((m.id, r.tally.passed))
                    });
                if let Some((motion, passed)) = decided {
                    todo.push((
                        *fid,
                        Body::JointDecision(pb::JointDecision {
                            network: net.clone(),
                            joint_motion: j.id.as_bytes().to_vec(),
                            motion: motion.as_bytes().to_vec(),
                            passed,
                        }),
                    ));
                }
            }
        }
        for (fid, body) in todo {
            // Said once per run: the same word again would change nothing.
            if !self
                .attested
                .insert((fid, prost::Message::encode_to_vec(&attestation_key(&body))))
            {
                continue;
            }
            let what = mutual_protocol::event::body_name(&body);
            if let Err(e) = self.author_fed(fid, vec![body]) {
                tracing::warn!(federation = %fid, error = %e, "could not say {what}");
            }
        }
    }

    fn status(&self) -> Status {
        Status {
            peer_id: self.swarm.local_peer_id().to_string(),
            network: self.replica.network().to_string(),
            events: self.replica.len(),
            pending: self.replica.pending_len(),
            held: self.replica.held_len(),
            state_hash: self.replica.state_hash().to_string(),
            peers: {
                let mut p: Vec<String> = self.connected.iter().map(|p| p.to_string()).collect();
                p.sort();
                p
            },
            listen: self.listen.iter().map(|a| a.to_string()).collect(),
            head_confirmed: self.head_confirmed,
            metrics: Metrics {
                connections_refused: self.swarm.behaviour().gate.refused(),
                sync_rounds: self.rounds.started,
                sync_rounds_in_sync: self.rounds.in_sync,
                ..self.metrics.clone()
            },
        }
    }

    // ------------------------------------------------------------------ peers

    fn punish(&mut self, peer: PeerId, offence: Offence) {
        match offence {
            Offence::Malformed => self.metrics.malformed_messages += 1,
            Offence::RateLimited => self.metrics.rate_limited += 1,
            Offence::InvalidEvent => {}
        }
        if self.book.punish(peer, offence, Instant::now()) {
            tracing::warn!(%peer, ?offence, "peer banned for {} s", BAN_DURATION.as_secs());
            self.metrics.bans += 1;
            self.swarm
                .behaviour_mut()
                .gate
                .ban(peer, Instant::now() + BAN_DURATION);
            self.book.forget(&peer);
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// Recomputes who may connect from the membership and invitations, and drops
    /// connections that no longer qualify.
    fn refresh_gate(&mut self) {
        let state = self.replica.state();
        let now = self.now();
        let mut allowed: HashSet<PeerId> = state
            .membership()
            .active_practice_nodes()
            .map(|k| peer_of(&k))
            .collect();
        // An invitation stops counting once its key is admitted (and so stays shut for a
        // node that was admitted and later left).
        allowed.extend(
            state
                .invitations()
                .filter(|(k, i)| now < i.expires_ms && !state.membership().is_known(k))
                .map(|(k, _)| peer_of(k)),
        );
        let bootstrap: HashSet<PeerId> = if state.is_founded() && self.head_confirmed {
            HashSet::new()
        } else {
            self.bootstrap.keys().copied().collect()
        };
        self.own_peers = allowed.iter().chain(&bootstrap).copied().collect();
        // The nodes of the networks this one is linked with, while both are in the
        // federation (docs/FEDERATION.md §5).
        let feds: Vec<FederationId> = self.feds.keys().copied().collect();
        for f in feds {
            allowed.extend(self.fed_peers(&f));
        }
        let gate = &mut self.swarm.behaviour_mut().gate;
        gate.set_allowed(allowed);
        gate.set_bootstrap(bootstrap);
        let gone: Vec<PeerId> = self
            .connected
            .iter()
            .filter(|p| self.swarm.behaviour().gate.check(p).is_err())
            .copied()
            .collect();
        for p in gone {
            tracing::info!(peer = %p, "disconnecting a peer that is no longer a member");
            let _ = self.swarm.disconnect_peer_id(p);
        }
    }

    /// Dials members' and bootstrap nodes not connected, at most once per
    /// [`REDIAL_INTERVAL`] each.
    fn dial_known(&mut self) {
        let now = Instant::now();
        let me = *self.swarm.local_peer_id();
        let mut targets: HashMap<PeerId, HashSet<Multiaddr>> = HashMap::new();
        for (k, addrs) in self.replica.state().addresses() {
            let p = peer_of(k);
            targets
                .entry(p)
                .or_default()
                .extend(addrs.iter().filter_map(|a| a.parse().ok()));
        }
        for (p, a) in &self.bootstrap {
            targets.entry(*p).or_default().insert(a.clone());
        }
        let own = self.replica.network();
        for (f, log) in &self.feds {
            if !self.in_federation(f) {
                continue;
            }
            for party in log.replica.state().parties() {
                if party.network == own || party.left.is_some() {
                    continue;
                }
                for (p, a) in party.bootstrap.iter().filter_map(|a| bootstrap_peer(a)) {
                    targets.entry(p).or_default().insert(a);
                }
            }
        }
        for (p, addrs) in &self.addresses {
            targets.entry(*p).or_default().extend(addrs.iter().cloned());
        }
        for (peer, addrs) in targets {
            if peer == me || self.connected.contains(&peer) || addrs.is_empty() {
                continue;
            }
            if self.swarm.behaviour().gate.check(&peer).is_err() {
                continue;
            }
            if self
                .last_dial
                .get(&peer)
                .is_some_and(|t| now.duration_since(*t) < REDIAL_INTERVAL)
            {
                continue;
            }
            self.last_dial.insert(peer, now);
            let opts = DialOpts::peer_id(peer)
                .addresses(addrs.into_iter().collect())
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, error = %e, "dial failed");
            }
        }
    }

    fn housekeep(&mut self) {
        let now = Instant::now();
        for p in self.swarm.behaviour_mut().gate.expire_bans(now) {
            tracing::info!(peer = %p, "ban lifted");
        }
        let now_ms = self.now();
        let released = take_released(&mut self.replica, now_ms);
        if let Err(e) = self.persist(&released, &[]) {
            tracing::error!(error = %e, "could not store released events");
        }
        let mut failed = None;
        for l in self.feds.values_mut() {
            let released = take_released(&mut l.replica, now_ms);
            match store_taken(&l.replica, &mut l.store, &released, &[]) {
                Ok(wrote) => self.unflushed |= wrote,
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed {
            self.note_store(&e);
        }
        self.open_federations();
        self.track_leaving();
        if self.store_failed.is_none() {
            self.attest();
            self.witness();
        }
        // Authors waiting too long for the feed head give up.
        let (expired, still): (Vec<_>, Vec<_>) =
            self.waiting.drain(..).partition(|w| w.deadline <= now);
        self.waiting = still;
        for w in expired {
            let _ = w.reply.send(Err(match w.log {
                None => NodeError::HeadUnconfirmed,
                Some(f) => NodeError::FederationHeadUnconfirmed(f),
            }));
        }
        // Membership changes with events and invitations lapse with time: the gate is
        // brought up to date here, once a second, rather than on every event taken in.
        self.refresh_gate();
        self.announce_addresses();
        self.flush(true);
        self.dial_known();
    }

    /// Writes a `Witness` event, [`WITNESS_DELAY`] (plus this node's share of it) after
    /// it first had ballots of other practices to witness or a motion whose grace period
    /// has passed to close in the fold, if it still has then (docs/GOVERNANCE.md §5.2,
    /// §5.5). Only an active practice node's event does either.
    fn witness(&mut self) {
        let now = self.now();
        let st = self.replica.state();
        let m = st.membership();
        let g = st.governance();
        // A forked node's events no longer witness or close anything (PROTOCOL.md §6).
        let wanted = self.head_confirmed
            && m.is_active_practice_node(&self.me)
            && !self.replica.forks().contains_key(&self.me)
            && (g.would_witness(m, &self.me, now) || g.closing_due(now));
        if !wanted {
            self.witness_due = None;
            return;
        }
        let share = WITNESS_DELAY.mul_f64(f64::from(self.me.as_bytes()[0]) / 256.0);
        let due = *self
            .witness_due
            .get_or_insert_with(|| Instant::now() + WITNESS_DELAY + share);
        if Instant::now() < due {
            return;
        }
        self.witness_due = None;
        if let Err(e) = self.author(vec![Body::Witness(pb::Witness {})]) {
            tracing::warn!(error = %e, "could not write a witness");
        }
    }

    /// Announces this node's listen addresses when they differ from the announced ones.
    fn announce_addresses(&mut self) {
        if !self.head_confirmed || self.listen.is_empty() {
            return;
        }
        let active = self
            .replica
            .state()
            .membership()
            .is_active_practice_node(&self.me);
        if !active
            || self
                .last_announce
                .is_some_and(|t| t.elapsed() < ANNOUNCE_INTERVAL)
        {
            return;
        }
        let mine: Vec<String> = self.listen.iter().map(|a| a.to_string()).collect();
        let announced = self
            .replica
            .state()
            .addresses()
            .find(|(k, _)| **k == self.me)
            .map(|(_, a)| a.clone());
        if announced.as_ref() == Some(&mine) {
            return;
        }
        self.last_announce = Some(Instant::now());
        let body = Body::AddressAnnouncement(pb::AddressAnnouncement { addresses: mine });
        if let Err(e) = self.author(vec![body]) {
            tracing::warn!(error = %e, "could not announce addresses");
        }
    }

    // ------------------------------------------------------------------ sync

    fn sync_all(&mut self) {
        let peers: Vec<PeerId> = self.connected.iter().copied().collect();
        for p in peers {
            self.start_round(p);
        }
    }

    /// Starts a round with `peer` on every log it may sync with this node: the network's
    /// if it is this network's, and each federation's it takes part in. A federation's
    /// peer is never sent anything about the network's own log.
    fn start_round(&mut self, peer: PeerId) {
        if self.own_peers.contains(&peer) {
            let mut out = Vec::new();
            self.rounds.start(peer, &self.replica, &mut out);
            self.act(None, out);
        }
        let feds: Vec<FederationId> = self.feds.keys().copied().collect();
        for f in feds {
            self.start_fed_round(f, peer);
        }
    }

    /// Starts a round on federation `f`'s log with `peer`, if it takes part in it.
    fn start_fed_round(&mut self, f: FederationId, peer: PeerId) {
        if !self.takes_part(&f, &peer) {
            return;
        }
        let mut out = Vec::new();
        if let Some(log) = self.feds.get_mut(&f) {
            log.rounds.start(peer, &log.replica, &mut out);
        }
        self.act(Some(f), out);
    }

    /// Carries out what the sync rounds of a log (the network's, or a federation's) ask.
    fn act(&mut self, log: Option<FederationId>, actions: Vec<sync::Action<PeerId>>) {
        for a in actions {
            match a {
                sync::Action::Send(peer, step, kind) => {
                    let req = match log.and_then(|f| self.feds.get(&f)) {
                        Some(l) => sync::request(&l.replica, kind),
                        None if log.is_some() => continue,
                        None => sync::request(&self.replica, kind),
                    };
                    let id = self.swarm.behaviour_mut().sync.send_request(&peer, req);
                    self.requests.insert(id, (peer, step, log));
                }
                sync::Action::Ended {
                    peer,
                    complete,
                    frontier,
                } => self.round_ended(log, peer, complete, frontier.as_ref()),
                sync::Action::Punish(peer) => self.punish(peer, Offence::Malformed),
            }
        }
    }

    /// Reports an answer (or a failure) to a request on a log's rounds.
    fn answered(
        &mut self,
        log: Option<FederationId>,
        peer: PeerId,
        step: Step,
        answer: sync::Answer<'_>,
    ) {
        let mut out = Vec::new();
        let connected = self.connected.contains(&peer);
        match log {
            None => self
                .rounds
                .answered(peer, step, answer, connected, &self.replica, &mut out),
            Some(f) => {
                if let Some(l) = self.feds.get_mut(&f) {
                    l.rounds
                        .answered(peer, step, answer, connected, &l.replica, &mut out);
                }
            }
        }
        self.act(log, out);
    }

    /// A sync round on a log ended. One that completed with a node that could hold this
    /// node's own feed in that log, and that holds that feed at least as far as this
    /// node's own copy does, shows this node its latest event there and lets it sign in
    /// that log (docs/NETWORK.md §7, docs/FEDERATION.md §5).
    fn round_ended(
        &mut self,
        log: Option<FederationId>,
        peer: PeerId,
        complete: bool,
        frontier: Option<&pb::Frontier>,
    ) {
        if !complete || self.head_confirmed_in(log) {
            return;
        }
        let Some(key) = public_key_of_peer(&peer) else {
            return;
        };
        // Only a member practice's node can show this node its own head: an invited
        // node is still empty. In a federation's log, so can a node on another party's
        // roster.
        let member = self
            .replica
            .state()
            .membership()
            .is_active_practice_node(&key);
        let (may_hold, shown) = match log {
            None => (member, sync::shows_head(&self.replica, &self.me, frontier)),
            Some(f) => (
                member || self.other_parties(&f).any(|p| p.roster.contains_key(&key)),
                self.feds
                    .get(&f)
                    .is_some_and(|l| sync::shows_head(&l.replica, &self.me, frontier)),
            ),
        };
        if !may_hold || !shown {
            return;
        }
        match log {
            None => self.head_confirmed = true,
            Some(f) => {
                if let Some(l) = self.feds.get_mut(&f) {
                    l.head_confirmed = true;
                }
            }
        }
        tracing::info!(%peer, log = ?log, "own feed head confirmed by a peer; signing enabled");
        let (ready, still): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|w| w.log == log);
        self.waiting = still;
        for w in ready {
            let r = self.author_in_log(log, w.bodies);
            let _ = w.reply.send(r);
        }
    }

    fn on_response(
        &mut self,
        peer: PeerId,
        step: Step,
        log: Option<FederationId>,
        resp: pb::SyncResponse,
    ) {
        self.metrics.sync_bytes_in += resp.encoded_len() as u64;
        let held = |node: &Self| match log {
            None => Some(node.replica.len() + node.replica.pending_len()),
            Some(f) => node
                .feds
                .get(&f)
                .map(|l| l.replica.len() + l.replica.pending_len()),
        };
        let answer = match &resp.kind {
            Some(Resp::Events(e)) if step != Step::Summary && step != Step::Frontier => {
                // A store failure is logged by take_in; a peer's events come again.
                let before = held(self);
                match log {
                    None => drop(self.take_in(&e.events, Some(peer))),
                    Some(f) => drop(self.take_in_fed(f, &e.events, Some(peer))),
                }
                sync::Answer::Events {
                    more: e.more,
                    progressed: held(self) > before,
                }
            }
            Some(Resp::Refused(r)) => {
                tracing::debug!(%peer, reason = %r.reason, "sync request refused");
                sync::Answer::Refused
            }
            _ => sync::Answer::of(step, &resp),
        };
        self.answered(log, peer, step, answer);
    }

    fn on_request(
        &mut self,
        peer: PeerId,
        req: pb::SyncRequest,
        channel: request_response::ResponseChannel<pb::SyncResponse>,
    ) {
        let resp = if self.store_failed.is_some() {
            // Events held in memory but not stored are not served.
            sync::refused(&sync::Refusal::Unavailable)
        } else if !self.book.allow_request(peer, Instant::now()) {
            self.punish(peer, Offence::RateLimited);
            sync::refused(&sync::Refusal::Malformed("rate limit exceeded".into()))
        } else {
            // Which log the request is for: the network's (to its own peers only) or a
            // federation's (to the peers taking part in it). Anything else is refused.
            let log = NetworkId::from_slice(&req.network)
                .filter(|n| self.feds.contains_key(n))
                .filter(|n| *n != self.replica.network());
            let allowed = match log {
                None => self.own_peers.contains(&peer),
                Some(f) => self.takes_part(&f, &peer),
            };
            let answer = if !allowed {
                self.metrics.out_of_scope_requests += 1;
                Err(sync::Refusal::Malformed(
                    "that log is not shared with this peer".into(),
                ))
            } else {
                match log.and_then(|f| self.feds.get(&f)) {
                    Some(l) => sync::respond(&l.replica, &req),
                    None => sync::respond(&self.replica, &req),
                }
            };
            match answer {
                Ok(r) => {
                    // A peer that sent its frontier may hold what this node lacks: pull
                    // it too.
                    if let Some(Req::Frontier(f)) = &req.kind {
                        let mut out = Vec::new();
                        match log.and_then(|f| self.feds.get_mut(&f)) {
                            Some(l) => l.rounds.on_frontier_request(peer, f, &l.replica, &mut out),
                            None => {
                                self.rounds
                                    .on_frontier_request(peer, f, &self.replica, &mut out)
                            }
                        }
                        self.act(log, out);
                    }
                    r
                }
                Err(refusal) => {
                    if matches!(refusal, sync::Refusal::Malformed(_)) {
                        self.punish(peer, Offence::Malformed);
                    }
                    sync::refused(&refusal)
                }
            }
        };
        self.metrics.sync_bytes_out += resp.encoded_len() as u64;
        let _ = self.swarm.behaviour_mut().sync.send_response(channel, resp);
    }

    // ------------------------------------------------------------------ swarm events

    fn on_swarm(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                self.listen.push(address);
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen.retain(|a| *a != address);
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                tracing::debug!(peer = %peer_id, "connected");
                if self.connected.insert(peer_id) {
                    self.start_round(peer_id);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                tracing::debug!(peer = %peer_id, "disconnected");
                self.connected.remove(&peer_id);
                self.rounds.disconnected(peer_id);
                for l in self.feds.values_mut() {
                    l.rounds.disconnected(peer_id);
                }
            }
            SwarmEvent::Behaviour(b) => self.on_behaviour(b),
            _ => {}
        }
    }

    fn on_behaviour(&mut self, ev: BehaviourEvent) {
        match ev {
            BehaviourEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                self.metrics.gossip_bytes_in += message.data.len() as u64;
                let source = propagation_source;
                let fed = self
                    .feds
                    .iter()
                    .find(|(_, l)| l.topic.hash() == message.topic)
                    .map(|(f, _)| *f);
                let shared = match fed {
                    Some(f) => self.takes_part(&f, &source),
                    None => message.topic == self.topic.hash() && self.own_peers.contains(&source),
                };
                let r = if !shared {
                    self.metrics.out_of_scope_messages += 1;
                    tracing::warn!(peer = %source, "gossip on a topic the peer does not share");
                    self.punish(source, Offence::Malformed);
                    None
                } else {
                    match fed {
                        Some(f) => self.take_in_fed(f, &[&message.data], Some(source)).0.pop(),
                        None => self.take_in(&[&message.data], Some(source)).0.pop(),
                    }
                };
                let acceptance = match r {
                    Some(Ok(Ingested::Duplicate)) => gossipsub::MessageAcceptance::Ignore,
                    Some(Ok(_)) => gossipsub::MessageAcceptance::Accept,
                    Some(Err(e)) if !e.is_peer_fault() => gossipsub::MessageAcceptance::Ignore,
                    _ => gossipsub::MessageAcceptance::Reject,
                };
                self.swarm
                    .behaviour_mut()
                    .gossip
                    .report_message_validation_result(&message_id, &propagation_source, acceptance);
            }
            BehaviourEvent::Gossip(gossipsub::Event::Subscribed { peer_id, topic }) => {
                let fed = self
                    .feds
                    .iter()
                    .find(|(_, l)| l.topic.hash() == topic)
                    .map(|(f, _)| *f);
                // Every peer announces all its topics (a federation's peer its own
                // network's among them); what matters is whether it asks for one of this
                // node's that it does not share.
                let own_topic = topic == self.topic.hash();
                let shared = self.own_peers.contains(&peer_id)
                    || fed.is_some_and(|f| self.takes_part(&f, &peer_id));
                // A node of a network taking part in the federation but not (or no longer)
                // on its roster here is let be: its roster may not have reached this node
                // yet, or its network left and it has not left the topic yet.
                let of_a_party = fed.is_some_and(|f| self.of_a_party(&f, &peer_id));
                if (own_topic || fed.is_some()) && !shared && !of_a_party {
                    // A federation's peer asking for this network's own gossip (or another
                    // federation's): cut off before anything is sent on that topic.
                    self.metrics.out_of_scope_subscriptions += 1;
                    tracing::warn!(peer = %peer_id, %topic, "subscription to a topic the peer does not share; banned");
                    self.swarm.behaviour_mut().gossip.blacklist_peer(&peer_id);
                    self.metrics.bans += 1;
                    self.swarm
                        .behaviour_mut()
                        .gate
                        .ban(peer_id, Instant::now() + BAN_DURATION);
                    self.book.forget(&peer_id);
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                }
            }
            BehaviourEvent::Sync(request_response::Event::Message { peer, message, .. }) => {
                match message {
                    request_response::Message::Request {
                        request, channel, ..
                    } => self.on_request(peer, request, channel),
                    request_response::Message::Response {
                        request_id,
                        response,
                    } => {
                        if let Some((p, step, log)) = self.requests.remove(&request_id) {
                            self.on_response(p, step, log, response);
                        }
                    }
                }
            }
            BehaviourEvent::Sync(request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            }) => {
                if let Some((p, step, log)) = self.requests.remove(&request_id) {
                    self.answered(log, p, step, sync::Answer::Failed);
                }
                if let request_response::OutboundFailure::Io(e) = &error {
                    if e.kind() == std::io::ErrorKind::InvalidData {
                        self.punish(peer, Offence::Malformed);
                    }
                }
                tracing::debug!(%peer, %error, "sync request failed");
            }
            BehaviourEvent::Sync(request_response::Event::InboundFailure {
                peer,
                error: request_response::InboundFailure::Io(e),
                ..
            }) if e.kind() == std::io::ErrorKind::InvalidData => {
                tracing::warn!(%peer, error = %e, "malformed sync request");
                self.punish(peer, Offence::Malformed);
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                let addrs = self.addresses.entry(peer_id).or_default();
                for a in info.listen_addrs {
                    if addrs.len() >= MAX_ADDRESSES_PER_PEER {
                        break;
                    }
                    if !is_unspecified(&a) {
                        addrs.insert(a);
                    }
                }
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    let addrs = self.addresses.entry(peer).or_default();
                    if addrs.len() < MAX_ADDRESSES_PER_PEER {
                        addrs.insert(addr);
                    }
                }
                self.dial_known();
            }
            _ => {}
        }
    }
}

/// Why a node may not sign now: signing would reuse a seq, or date an event beyond what
/// its peers accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotNow {
    /// The feed's latest event, or a cause, is dated ahead of the clock.
    #[error(
        "the new event would follow an event dated ahead of this node's clock (was the clock \
         set back?); an event cannot be dated before its causes, so signing waits {wait_s} s \
         more"
    )]
    DatedAhead {
        /// Seconds until the clock is within the skew bound of that date.
        wait_s: u64,
    },
    /// This node's own events at later seqs are known but not yet taken in.
    #[error(
        "this node's own event at seq {seq} is waiting for its causes or its time; signing \
         now would reuse its seq"
    )]
    OwnEventsParked {
        /// The highest such seq.
        seq: u64,
    },
}

/// Signs `body` as the next event of `keypair`'s feed in `replica`, citing the replica's
/// heads and dated no earlier than any of its causes (docs/PROTOCOL.md §5.9) — unless that
/// would reuse a seq or date the event beyond what peers accept (docs/NETWORK.md §7).
pub fn sign_next<S: Fold>(
    replica: &Replica<S>,
    keypair: Keypair,
    now_ms: u64,
    body: Body,
) -> Result<SignedEvent, NotNow> {
    let me = keypair.public();
    let own_head = replica.feed_head(&me);
    if let Some(seq) = replica
        .parked_seq(&me)
        .filter(|s| *s > own_head.map_or(0, |h| h.0))
    {
        return Err(NotNow::OwnEventsParked { seq });
    }
    let deps = deps_for(&body, &replica.heads(), own_head.map(|h| h.1));
    let latest_cause = deps
        .iter()
        .chain(own_head.map(|h| h.1).iter())
        .filter_map(|id| replica.get(id))
        .map(|e| e.event.timestamp_ms)
        .max()
        .unwrap_or(0);
    let ahead = latest_cause.saturating_sub(now_ms);
    if ahead > MAX_CLOCK_SKEW_MS {
        return Err(NotNow::DatedAhead {
            wait_s: (ahead - MAX_CLOCK_SKEW_MS).div_ceil(1000),
        });
    }
    let mut writer = FeedWriter::resume(keypair, replica.network(), own_head);
    Ok(writer.sign(now_ms.max(latest_cause), deps, body))
}

fn is_unspecified(a: &Multiaddr) -> bool {
    a.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_unspecified(),
        Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}

/// The ids of the events a replica's tick took into its log: held events whose time came,
/// and the events that waited on them.
fn take_released<S: Fold>(replica: &mut Replica<S>, now_ms: u64) -> Vec<EventId> {
    replica
        .tick(now_ms)
        .into_iter()
        .filter_map(|r| match r {
            Ok(Ingested::Stored { stored }) => Some(stored),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Stores what a log (the network's, or a federation's) took in: the events `stored` in
/// `replica`'s log, and the events `parked` for their causes. Returns whether it wrote
/// anything.
fn store_taken<S: Fold>(
    replica: &Replica<S>,
    store: &mut SledStore,
    stored: &[EventId],
    parked: &[SignedEvent],
) -> Result<bool, StoreError> {
    if !parked.is_empty() {
        store.put_pending(&parked.iter().collect::<Vec<_>>())?;
    }
    let evs: Vec<&SignedEvent> = stored.iter().filter_map(|id| replica.get(id)).collect();
    if !evs.is_empty() {
        store.put_events(&evs)?;
    }
    Ok(!parked.is_empty() || !evs.is_empty())
}

/// Signs `bodies` in order as the next events of the key's feed in `replica`'s log, takes
/// each in, stores it and makes the store durable; returns their ids and wire bytes. Each
/// is refused before anything is taken in (see [`sign_next`]), so a refused event is never
/// held to be released later beside a retry at the same seq.
fn sign_into<S: Fold>(
    replica: &mut Replica<S>,
    store: &mut SledStore,
    seed: &[u8; 32],
    now: u64,
    bodies: Vec<Body>,
) -> Result<(Vec<EventId>, Vec<Vec<u8>>), NodeError> {
    let mut ids = Vec::with_capacity(bodies.len());
    let mut wires = Vec::with_capacity(bodies.len());
    for body in bodies {
        let key = Keypair::from_seed(seed).expect("a valid seed");
        let ev =
            sign_next(replica, key, now, body).map_err(|e| NodeError::Refused(e.to_string()))?;
        let wire = ev.to_wire();
        match replica.ingest(now, &wire) {
            Ok(Ingested::Stored { .. }) => {}
            other => {
                return Err(NodeError::Refused(format!(
                    "this node's own event was not stored: {other:?}"
                )))
            }
        }
        store.put_events(&[&ev])?;
        ids.push(ev.id);
        wires.push(wire);
    }
    store.sync()?;
    Ok((ids, wires))
}

/// What identifies an attestation for [`Node::attest`]'s once-per-run rule: the body
/// itself, which names the network, the roster's number and practices, the motion or the
/// joint motion and the decision.
fn attestation_key(body: &Body) -> pb::Event {
    pb::Event {
        body: Some(body.clone()),
        ..Default::default()
    }
}

/// What taking in a batch of events came to: the ids stored, the events parked (pending
/// or held, to keep across a restart), the causes to fetch, and the errors that are the
/// sender's fault.
struct Sorted {
    stored: Vec<EventId>,
    parked: Vec<SignedEvent>,
    missing: Vec<EventId>,
    invalid: Vec<IngestError>,
}

fn sort_ingested<W: AsRef<[u8]>>(wires: &[W], results: &[Result<Ingested, IngestError>]) -> Sorted {
    let mut out = Sorted {
        stored: Vec::new(),
        parked: Vec::new(),
        missing: Vec::new(),
        invalid: Vec::new(),
    };
    for (w, r) in wires.iter().zip(results) {
        match r {
            Ok(Ingested::Stored { stored: ids }) => out.stored.extend(ids.iter().copied()),
            Ok(Ingested::Pending { missing: m }) => {
                out.missing.extend(m.iter().copied());
                out.parked.extend(SignedEvent::decode(w.as_ref()).ok());
            }
            Ok(Ingested::Held { .. }) => out.parked.extend(SignedEvent::decode(w.as_ref()).ok()),
            Ok(Ingested::Duplicate) => {}
            Err(e) if e.is_peer_fault() => out.invalid.push(e.clone()),
            Err(e) => tracing::debug!(error = %e, "event not taken now"),
        }
    }
    out
}

/// What `submit` reports for one event taken in; an error is the event's refusal.
fn submitted_as(r: Result<Ingested, IngestError>) -> Result<&'static str, NodeError> {
    match r {
        Ok(Ingested::Stored { .. }) => Ok("stored"),
        Ok(Ingested::Duplicate) => Ok("duplicate"),
        Ok(Ingested::Pending { .. }) => Ok("pending"),
        Ok(Ingested::Held { .. }) => Ok("held"),
        Err(e) => Err(NodeError::Refused(e.to_string())),
    }
}

/// The peer a bootstrap address names (its last component, `/p2p/<PeerId>`).
fn bootstrap_peer(addr: &str) -> Option<(PeerId, Multiaddr)> {
    let a: Multiaddr = addr.parse().ok()?;
    match a.iter().last() {
        Some(Protocol::P2p(p)) => Some((p, a)),
        _ => None,
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}
