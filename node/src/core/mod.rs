//! The node's logic with no I/O (docs/NETWORK.md §1), in the manner of quinn-proto: a
//! [`NodeCore`] is handed inputs ([`Input`]: an event from a peer, a sync message, a local
//! request, a timer) with the time ([`Now`]), and returns [`Action`]s (send this to that
//! peer, publish, answer the request, ban, dial). It owns the replicas of the network's
//! log and of each federation's log, and writes them through the [`Store`] trait it is
//! given: the node's driver hands it sled, the simulator an in-memory store that loses
//! what was not synced when it "crashes". No file here imports tokio, libp2p or sled (a
//! test checks), and nothing here reads a clock or draws a random number.
//!
//! ## Map
//! - [`io`]: the inputs, actions, local requests and replies: the whole interface.
//! - [`status`]: errors, counters, and the condition the node reports.
//! - [`store`]: what the core asks of storage, and loading a store back.
//! - [`intake`]: taking events in from peers and local users, the evidence quarantine,
//!   storing and flushing.
//! - [`authoring`]: signing with the node key, and waiting to sign until a peer has shown
//!   the node its own feed head.
//! - [`attest`]: the events a practice node writes by itself: witnesses, address
//!   announcements, and its network's word in each federation's log.
//! - [`peers`]: scores, bans and request budgets; who may connect; whom to dial.
//! - [`federations`]: the logs of the federations the network linked to, and who takes
//!   part in each.
//! - [`sessions`]: sync rounds with peers and answering their requests.
//! - [`sync`]: the sync protocol's pure logic (rounds, pages).
//! - [`reconcile`]: range reconciliation of two frontiers, the step of a round that finds
//!   where two nodes differ.
//! - [`papers`]: the files events name: which the node wants, fetching them from peers
//!   and checking them, serving them to the network's nodes only.

pub mod attest;
pub mod authoring;
pub mod federations;
pub mod intake;
pub mod io;
pub mod papers;
pub mod peers;
pub mod reconcile;
pub mod sessions;
pub mod status;
pub mod store;
pub mod sync;

pub use authoring::{plan_next, sign_next, NotNow};
pub use federations::{FedLog, Log};
pub use io::{Action, Input, Local, LogId, Now, PaperStored, Reply, Verdict};
pub use status::{Metrics, NodeError, Status, Submitted};
pub use store::{Store, StoreError};

use authoring::WaitingAuthor;
use intake::Quarantine;
use mutual_protocol::event::SignedEvent;
use mutual_protocol::federation::FederationId;
use mutual_protocol::id::NetworkId;
use mutual_protocol::keys::{Keypair, PublicKey};
use mutual_protocol::replica::Replica;
use peers::{GatePolicy, PeerBook};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Time between two rounds of housekeeping (releasing held events, flushing the store,
/// attesting, witnessing, refreshing the gate, dialing), ms. Events taken in from peers
/// become durable at most this long after they are stored.
pub const HOUSEKEEPING_MS: u64 = 1_000;

/// How long a node waits, after an event arrives before its causes (by gossip, or in a
/// sync answer), for the causes to arrive by gossip too before it fetches them from the
/// peer that sent the event, ms. In a burst most come within a heartbeat; fetching at once would read them
/// twice.
pub const CHASE_DELAY_MS: u64 = 1_000;

/// Most fetches of missing causes waiting for [`CHASE_DELAY_MS`] at once; past it, what
/// is missing is left to the sync rounds.
pub const MAX_WAITING_CHASES: usize = 256;

/// How long, after a federation's log records that this network left, its nodes still
/// connect to the other networks' nodes so that the leave reaches them
/// (docs/FEDERATION.md §5), ms.
pub const LEAVE_LINGER_MS: u64 = 10 * 60 * 1_000;
/// Least time between two snapshots of the derived state, ms. A snapshot re-encodes the
/// whole state; it serves a quick status and a check after a restart, never recovery
/// (the log is folded again on start), so once every ten seconds is enough, and a
/// shutdown always writes one.
pub const SNAPSHOT_INTERVAL_MS: u64 = 10_000;
/// Least time between two address announcements by this node, ms.
pub const ANNOUNCE_INTERVAL_MS: u64 = 60_000;
/// How long a practice node waits, once it holds a ballot it could witness or a motion
/// whose grace period has passed, before writing a `Witness` event (docs/GOVERNANCE.md
/// §5.2, §5.5), ms. Each node waits up to as long again, by its key, so that one node's
/// witness usually reaches the others before they write their own. Far below the least
/// grace period (`MAX_CLOCK_SKEW_MS`, five minutes).
pub const WITNESS_DELAY_MS: u64 = 2_000;

/// A defect that can be planted in the core, for the simulator's tests that show its
/// checks catch a broken node. Never set in a running node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Defect {
    /// Authoring acknowledges an event before the store has made it durable, and the
    /// housekeeping flush is skipped: only a later write that syncs saves it.
    AckBeforeDurable,
    /// The node leaves its own feed out of the frontier it reconciles, so peers never pull
    /// its own events in a sync round: what gossip failed to carry never arrives.
    HideOwnFeed,
    /// The node starts no sync round on a federation's log: what gossip failed to carry
    /// there never arrives.
    NoFederationSync,
}

/// How a core behaves.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Time between sync rounds with each connected peer, ms.
    pub sync_interval_ms: u64,
    /// How long a request to sign waits for the node to learn its own feed head, ms.
    pub head_timeout_ms: u64,
    /// Peers the operator named (from an invite or the configuration), with the address
    /// to reach each; trusted to serve the log while this node joins.
    pub bootstrap: Vec<(PublicKey, String)>,
    /// A planted defect (simulator tests only).
    pub defect: Option<Defect>,
    /// The most paper bytes the node stores (docs/NETWORK.md §10).
    pub paper_store_bytes: u64,
    /// Most events the network's log holds pending at once (at most
    /// `MAX_PENDING_EVENTS`); past it an event is refused and comes again by sync.
    pub pending_cap: usize,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            sync_interval_ms: 10_000,
            head_timeout_ms: 60_000,
            bootstrap: Vec::new(),
            defect: None,
            paper_store_bytes: papers::DEFAULT_PAPER_STORE_BYTES,
            pending_cap: mutual_protocol::limits::MAX_PENDING_EVENTS,
        }
    }
}

/// The node's logic: see the module documentation.
pub struct NodeCore<S: Store> {
    /// The network's log.
    pub(crate) net: Log<mutual_protocol::state::State, S>,
    /// The logs of the federations this network linked to (docs/FEDERATION.md).
    pub(crate) feds: BTreeMap<FederationId, FedLog<S>>,
    keypair: Keypair,
    me: PublicKey,
    config: CoreConfig,
    now: Now,
    out: Vec<Action>,
    book: PeerBook,
    gate: GatePolicy,
    /// Outgoing sync requests: the peer, the step and the log each was for.
    requests: HashMap<u64, (PublicKey, sync::Step, LogId)>,
    next_request: u64,
    connected: BTreeSet<PublicKey>,
    /// Addresses peers were seen at (identify, LAN discovery).
    addresses: BTreeMap<PublicKey, BTreeSet<String>>,
    bootstrap: BTreeMap<PublicKey, String>,
    last_dial: HashMap<PublicKey, u64>,
    listen: Vec<String>,
    waiting: Vec<WaitingAuthor>,
    metrics: Metrics,
    unflushed: bool,
    snapshot_due: bool,
    /// When the last snapshot was written (monotonic ms).
    last_snapshot: Option<u64>,
    last_announce: Option<u64>,
    /// Why the store last failed a write: the node then holds events in memory that are
    /// not stored, so it takes no more writes and serves no events until restarted.
    store_failed: Option<String>,
    /// Peers that belong to this network: member, invited and (while joining) bootstrap
    /// nodes. Every other allowed peer is a federation's, and sees only federation logs.
    own_peers: BTreeSet<PublicKey>,
    /// Attestations this node has signed in this run, so one the fold rejected (a roster
    /// that clashes with another network's, a decision once the federation is no longer
    /// live) is not signed again every second.
    attested: HashSet<(FederationId, Vec<u8>)>,
    /// When (monotonic ms) this node first saw each federation's log record that its
    /// network left.
    left_seen: HashMap<FederationId, u64>,
    /// When (monotonic ms) this node first saw each federation's log record that another
    /// network left: its nodes are let through for [`LEAVE_LINGER_MS`] more, so that what
    /// they said meanwhile (the word of those who had not yet said it left) reaches here.
    /// `None`: it had left when this node opened the log, and does not linger.
    party_left_seen: HashMap<(FederationId, NetworkId), Option<u64>>,
    /// Federations whose topics this node has left.
    unsubscribed: HashSet<FederationId>,
    /// When this node writes a `Witness` event, if it still has something to witness or
    /// a motion to close then (monotonic ms).
    witness_due: Option<u64>,
    /// Events by authors the network's log does not know, kept apart (intake.rs).
    quarantine: Quarantine,
    /// Keys a stored event of the network's log names or is by (intake.rs).
    named: HashSet<PublicKey>,
    /// What the gate was last computed from, and when (peers.rs).
    gate_seen: Option<((usize, usize, bool), u64)>,
    /// Papers held and wanted, and fetches under way (papers.rs).
    papers: papers::Papers,
    next_housekeeping: u64,
    next_sync: u64,
    /// Fetches of missing causes waiting for their time (monotonic ms), by log and peer.
    chases: Vec<(u64, LogId, PublicKey, Vec<mutual_protocol::id::EventId>)>,
}

impl<S: Store> NodeCore<S> {
    /// Loads the network `network`'s log from `store` (already bound to it) and, when
    /// founding, takes in `genesis`. The actions it returns subscribe to the logs' topics
    /// and set the gate.
    pub fn open(
        keypair: Keypair,
        network: NetworkId,
        mut store: S,
        genesis: Option<&SignedEvent>,
        config: CoreConfig,
        now: Now,
    ) -> Result<(Self, Vec<Action>), NodeError> {
        let me = keypair.public();
        let mut replica = Replica::new(network);
        replica.set_pending_cap(config.pending_cap);
        store::load_log(&mut store, &mut replica, now.wall_ms)?;
        // A founder that has signed nothing yet knows its head: this genesis is its first
        // event.
        let founded_here = genesis.is_some() && replica.feed_head(&me).is_none();
        if let Some(g) = genesis {
            if g.event.author != me {
                return Err(NodeError::Start(
                    "the genesis must be signed by this node's key".into(),
                ));
            }
            if let Err(e) = replica.ingest(now.wall_ms, &g.to_wire()) {
                return Err(NodeError::Start(format!("the genesis is invalid: {e}")));
            }
            for ev in store::stored_events(&replica, &[g.id])? {
                store.put_events(&[&ev])?;
            }
        }
        store.sync()?;
        let papers = papers::Papers::new(store.papers()?, config.paper_store_bytes);
        // With no other member practice, no other node could hold this node's feed.
        let alone = replica.state().is_founded()
            && !replica
                .state()
                .membership()
                .active_practice_nodes()
                .any(|k| k != me);
        let mut core = NodeCore {
            net: Log::new(replica, store, founded_here || alone),
            feds: BTreeMap::new(),
            keypair,
            me,
            bootstrap: config.bootstrap.iter().cloned().collect(),
            config,
            now,
            out: vec![Action::Subscribe(None)],
            book: PeerBook::default(),
            gate: GatePolicy::default(),
            requests: HashMap::new(),
            next_request: 0,
            connected: BTreeSet::new(),
            addresses: BTreeMap::new(),
            last_dial: HashMap::new(),
            listen: Vec::new(),
            waiting: Vec::new(),
            metrics: Metrics::default(),
            unflushed: false,
            snapshot_due: true,
            last_snapshot: None,
            last_announce: None,
            store_failed: None,
            own_peers: BTreeSet::new(),
            attested: HashSet::new(),
            left_seen: HashMap::new(),
            party_left_seen: HashMap::new(),
            unsubscribed: HashSet::new(),
            witness_due: None,
            quarantine: Quarantine::default(),
            named: HashSet::new(),
            gate_seen: None,
            papers,
            next_housekeeping: now.mono_ms,
            chases: Vec::new(),
            next_sync: now.mono_ms,
        };
        tracing::info!(network = %network, events = core.net.replica.len(), "store loaded");
        core.note_all_stored()
            .map_err(|e| NodeError::Start(format!("the store's log cannot be read: {e}")))?;
        core.open_federations();
        core.refresh_gate();
        let actions = std::mem::take(&mut core.out);
        Ok((core, actions))
    }

    /// Handles one input at `now` and returns what to do, in order.
    pub fn handle(&mut self, now: Now, input: Input) -> Vec<Action> {
        self.now = now;
        match input {
            Input::Timer => self.on_timer(),
            Input::Connected(peer) => {
                if self.connected.insert(peer) {
                    self.start_round(peer);
                }
            }
            Input::Disconnected(peer) => self.disconnected(peer),
            Input::Listening(addrs) => self.listen = addrs,
            Input::Addresses { peer, addrs, dial } => {
                self.learn_addresses(peer, addrs);
                if dial {
                    self.dial_known();
                }
            }
            Input::Gossip {
                from,
                log,
                data,
                token,
            } => self.on_gossip(from, log, &data, token),
            Input::Subscribed { peer, log } => self.on_subscribed(peer, log),
            Input::Request { from, req, token } => self.on_request(from, req, token),
            Input::Response { id, resp } => self.on_response(id, resp),
            Input::RequestFailed { id, malformed } => self.on_request_failed(id, malformed),
            Input::MalformedRequest(peer) => {
                tracing::warn!(%peer, "malformed sync request");
                self.punish(peer, peers::Offence::Malformed);
            }
            Input::PaperRequest { from, req, token } => self.on_paper_request(from, req, token),
            Input::PaperResponse { id, resp } => self.on_paper_response(id, resp),
            Input::Local { ticket, request } => self.on_local(ticket, request),
        }
        std::mem::take(&mut self.out)
    }

    /// When the core next wants [`Input::Timer`] (monotonic ms).
    pub fn next_timeout(&self) -> u64 {
        self.next_housekeeping.min(self.next_sync)
    }

    /// Makes everything durable and fails the requests still waiting to sign; the actions
    /// are their replies. The core is not to be used afterwards.
    pub fn shutdown(&mut self, now: Now) -> Vec<Action> {
        self.now = now;
        self.flush(true);
        for w in std::mem::take(&mut self.waiting) {
            self.reply_authored(w.ticket, Err(NodeError::Stopped));
        }
        std::mem::take(&mut self.out)
    }

    fn on_timer(&mut self) {
        let t = self.now.mono_ms;
        if t >= self.next_housekeeping {
            self.next_housekeeping = t + HOUSEKEEPING_MS;
            self.housekeep();
        }
        if t >= self.next_sync {
            self.next_sync = t + self.config.sync_interval_ms.max(1);
            self.sync_all();
        }
    }

    /// Runs once a second: releases held events whose time came, opens and leaves
    /// federations' logs, writes what this node says by itself, gives up on requests to
    /// sign that waited too long, brings the gate up to date, flushes and dials.
    fn housekeep(&mut self) {
        for p in self.gate.expire_bans(self.now.mono_ms) {
            tracing::info!(peer = %p, "ban lifted");
            self.out.push(Action::Unban(p));
        }
        self.release_held();
        self.release_quarantine();
        self.run_chases();
        self.open_federations();
        self.track_leaving();
        if self.store_failed.is_none() {
            self.attest();
            self.witness();
        }
        self.expire_waiting();
        // Membership changes with events and invitations lapse with time: the gate is
        // brought up to date here, once a second, rather than on every event taken in.
        self.refresh_gate();
        self.announce_addresses();
        let snapshot = self
            .last_snapshot
            .is_none_or(|t| self.now.mono_ms >= t.saturating_add(SNAPSHOT_INTERVAL_MS));
        self.flush(snapshot);
        self.dial_known();
        if self.store_failed.is_none() {
            self.fetch_papers();
        }
    }

    fn on_local(&mut self, ticket: u64, request: Local) {
        match request {
            Local::Author { log, bodies } => match log {
                None => self.author_or_wait(None, bodies, ticket),
                Some(f) => match self.may_author_fed(&f, &bodies) {
                    Ok(()) => self.author_or_wait(Some(f), bodies, ticket),
                    Err(e) => self.reply_authored(ticket, Err(e)),
                },
            },
            Local::Submit { log, wire } => {
                let r = self.guarded(|core| core.submit_now(log, wire));
                self.out.push(Action::Reply {
                    ticket,
                    reply: Reply::Submitted(r),
                });
            }
            Local::SignCharter(charter) => {
                let r = self.sign_charter(charter);
                self.out.push(Action::Reply {
                    ticket,
                    reply: Reply::Charter(Box::new(r)),
                });
            }
            Local::Block { peer, blocked } => self.block(peer, blocked),
            Local::SyncNow => self.sync_all(),
            Local::PutPaper(bytes) => {
                // A paper that cannot be written leaves the log as it was: the node goes on.
                let r = self.writable().and_then(|()| self.put_paper(&bytes));
                self.out.push(Action::Reply {
                    ticket,
                    reply: Reply::PaperStored(r),
                });
            }
            Local::ReadPaper(hash) => {
                let r = self.read_paper(&hash);
                self.out.push(Action::Reply {
                    ticket,
                    reply: Reply::Paper(r),
                });
            }
        }
    }

    fn reply_authored(
        &mut self,
        ticket: u64,
        r: Result<Vec<mutual_protocol::id::EventId>, NodeError>,
    ) {
        self.out.push(Action::Reply {
            ticket,
            reply: Reply::Authored(r),
        });
    }

    // ------------------------------------------------------------------ reading

    /// The network's replica.
    pub fn replica(&self) -> &Replica {
        &self.net.replica
    }

    /// The most events a connected peer of the network's log said it held, in its last
    /// summary: how far behind this node may be (a peer's word, for people to read).
    pub fn peers_hold(&self) -> u64 {
        self.net.rounds.most_reported()
    }

    /// The federations' logs.
    pub fn federations(&self) -> &BTreeMap<FederationId, FedLog<S>> {
        &self.feds
    }

    /// The node key's public half.
    pub fn key(&self) -> PublicKey {
        self.me
    }

    /// Whether a peer may be connected now (the gate's rule, docs/NETWORK.md §3).
    pub fn admits(&self, peer: &PublicKey) -> bool {
        self.gate.admits(peer, self.now.mono_ms)
    }

    /// The peers connected now.
    pub fn connected(&self) -> impl Iterator<Item = &PublicKey> {
        self.connected.iter()
    }

    /// The node's condition. `peer_id`, `connections_refused` and the transport's bytes
    /// are the driver's to fill.
    pub fn status(&self) -> Status {
        let r = &self.net.replica;
        let (papers_named, papers_held) = self.papers.counts(r);
        Status {
            peer_id: String::new(),
            network: r.network().to_string(),
            events: r.len(),
            pending: r.pending_len(),
            held: r.held_len(),
            quarantined: self.quarantine.len(),
            state_hash: r.state_hash().to_string(),
            peers: self.connected.iter().map(|p| p.to_string()).collect(),
            peers_hold: self.peers_hold(),
            listen: self.listen.clone(),
            head_confirmed: self.net.head_confirmed,
            admitted: matches!(
                r.state().membership().holder(&self.keypair.public()),
                Some(mutual_protocol::membership::Holder::Practice(_))
            ) && r.state().membership().is_active(&self.keypair.public()),
            now_ms: self.now.wall_ms,
            elections_due: {
                let g = r.state().governance();
                let now = self.now.wall_ms;
                [("board", g.board_term()), ("chair", g.chair_term())]
                    .into_iter()
                    .filter(|(_, t)| t.election_due(now))
                    .map(|(o, _)| o.to_string())
                    .collect()
            },
            papers_named,
            papers_held,
            metrics: {
                let mut m = Metrics {
                    sync_rounds: self.net.rounds.started,
                    sync_rounds_in_sync: self.net.rounds.in_sync,
                    ..self.metrics.clone()
                };
                self.papers.count_into(&mut m);
                m
            },
        }
    }
}
