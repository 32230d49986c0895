//! A deterministic simulation of a partnership's nodes over a faulty network
//! (docs/NETWORK.md §9). Every node runs the protocol core ([`Replica`]) and the node's own
//! sync rounds ([`sync::Rounds`], [`sync::respond`]); gossip, requests and answers are
//! encoded with the real wire types and carried by a simulated network that drops,
//! duplicates, corrupts, delays and reorders them, splits the nodes into partitions and
//! heals them. Nodes crash, losing what they had not made durable, and restart from what
//! they had; their clocks are skewed, one runs far ahead until it is corrected, one
//! author forks its feed and one member never forwards.
//!
//! One seed decides everything: the same [`Plan`] always gives the same run. After the
//! faulty phase the network heals, and the checks of [`Violation`] run: at every step,
//! that the pending and future-dated sets stay within their bounds; at every restart,
//! that the node's acknowledged events survived; at the end, that every node converged
//! within [`Plan::converge_within_ms`], holds every acknowledged event and the proof of
//! every fork, and stores nothing that was not signed by its author.

use crate::limits::REQUEST_TIMEOUT;
use crate::node::sign_next;
use crate::simulate::{founding, practice_key};
use crate::sync::{self, Action, Answer, Rounds, Step};
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, FeedWriter};
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::keys::{Keypair, PublicKey};
use mutual_protocol::limits::{MAX_CLOCK_SKEW_MS, MAX_FUTURE_EVENTS, MAX_PENDING_EVENTS};
use mutual_protocol::replica::{IngestError, Ingested, Replica};
use pb::sync_request::Kind as Req;
use pb::sync_response::Kind as Resp;
use prost::Message;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

/// Most nodes one simulation may run.
pub const MAX_SIM_NODES: usize = 64;
/// Fewest nodes: a forker, a silent member and a runaway clock need company.
pub const MIN_SIM_NODES: usize = 4;
/// Peers each node sends a gossiped event to (gossipsub's mesh degree).
pub const GOSSIP_FANOUT: usize = 6;
/// Time between a node's sync rounds with each linked peer (the node's default).
pub const SYNC_INTERVAL_MS: u64 = 10_000;
/// Time between a node's flushes of what it has taken in (the node's housekeeping).
pub const FLUSH_INTERVAL_MS: u64 = 1_000;
/// How far past the protocol's skew bound the runaway clock runs, ms.
pub const RUNAWAY_EXCESS_MS: u64 = 30_000;
/// When the simulated network is founded, ms since the epoch.
const START_MS: u64 = 1_790_000_000_000;

/// The faults injected during the faulty phase.
#[derive(Debug, Clone, Serialize)]
pub struct Faults {
    /// Chance that a message is lost.
    pub drop: f64,
    /// Chance that a message is delivered twice.
    pub duplicate: f64,
    /// Chance that one byte of a message is changed.
    pub corrupt: f64,
    /// Longest delay of a message, ms (delays are uniform, so messages reorder).
    pub max_delay_ms: u64,
    /// Mean time between partitions, ms; 0 for none.
    pub partition_every_ms: u64,
    /// Mean time between crashes, ms; 0 for none.
    pub crash_every_ms: u64,
    /// Largest clock skew of an ordinary node, ms either way.
    pub max_skew_ms: u64,
    /// One node's clock runs ahead by more than the protocol's skew bound until the heal.
    pub runaway_clock: bool,
    /// One author signs two events at the same seq, each sent to different peers.
    pub forker: bool,
    /// One member stops taking part: it signs nothing, never forwards gossip and never
    /// answers sync requests, while it still takes in what it is sent.
    pub silent_member: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            drop: 0.05,
            duplicate: 0.05,
            corrupt: 0.01,
            max_delay_ms: 2_000,
            partition_every_ms: 60_000,
            crash_every_ms: 20_000,
            max_skew_ms: MAX_CLOCK_SKEW_MS / 2,
            runaway_clock: true,
            forker: true,
            silent_member: true,
        }
    }
}

/// What to simulate.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Decides every random choice.
    pub seed: u64,
    /// Number of nodes, each a founding practice.
    pub nodes: usize,
    /// How long the faulty phase lasts, simulated ms.
    pub fault_ms: u64,
    /// Mean time between authored events in the faulty phase, ms.
    pub author_every_ms: u64,
    /// How soon after the heal every node must have converged, simulated ms.
    pub converge_within_ms: u64,
    /// The faults.
    pub faults: Faults,
    /// A defect planted in the simulated nodes, to show that the checks catch it.
    pub defect: Option<Defect>,
}

/// A defect the simulator can plant, for the tests that show its checks have teeth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Defect {
    /// Authors acknowledge an event before it is durable.
    AckBeforeDurable,
}

impl Plan {
    /// The plan the test suite runs for `seed`: 24 nodes, five simulated minutes of
    /// faults, then a heal.
    pub fn standard(seed: u64) -> Plan {
        let faults = Faults::default();
        Plan {
            seed,
            nodes: 24,
            fault_ms: 5 * 60_000,
            author_every_ms: 1_500,
            converge_within_ms: Plan::bound(&faults),
            faults,
            defect: None,
        }
    }

    /// How soon after the heal the nodes must agree. An event the runaway clock dated
    /// ahead is held by a node until that node's own clock comes within the skew bound of
    /// it, so a node running `max_skew_ms` slow waits `RUNAWAY_EXCESS_MS + max_skew_ms`;
    /// on top of that, a request that timed out ([`REQUEST_TIMEOUT`]) and two sync rounds
    /// to spread what is missing.
    pub fn bound(faults: &Faults) -> u64 {
        let held = if faults.runaway_clock {
            RUNAWAY_EXCESS_MS + faults.max_skew_ms
        } else {
            0
        };
        held + REQUEST_TIMEOUT.as_millis() as u64 + 2 * SYNC_INTERVAL_MS
    }
}

/// The faults injected and what the run came to.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Nodes simulated.
    pub nodes: usize,
    /// Messages sent (gossip, requests, answers).
    pub messages: u64,
    /// Messages lost.
    pub dropped: u64,
    /// Messages delivered twice.
    pub duplicated: u64,
    /// Messages with a changed byte.
    pub corrupted: u64,
    /// Messages not sent because sender and receiver were cut apart or one was down.
    pub cut: u64,
    /// Partitions made.
    pub partitions: u64,
    /// Crashes.
    pub crashes: u64,
    /// Events taken in but not yet durable when their node crashed (lost by design, and
    /// fetched again from peers).
    pub lost_unflushed: u64,
    /// Requests that timed out.
    pub timeouts: u64,
    /// Events refused as invalid (corrupted copies).
    pub refused: u64,
    /// Peers punished by the sync rounds.
    pub punished: u64,
    /// Times a node declined to sign (its feed dated ahead of its clock, or its own
    /// events not yet taken in), as the node does.
    pub signing_refused: u64,
    /// Events authored and acknowledged (durable at their author).
    pub acknowledged: u64,
    /// Authors whose fork every node holds the proof of.
    pub forks: usize,
    /// Events each node holds at the end.
    pub events: usize,
    /// Most pending events any node held at once.
    pub max_pending: usize,
    /// Most future-dated events any node held at once.
    pub max_held: usize,
    /// Simulated ms from the heal until every node had the same state.
    pub converged_after_ms: Option<u64>,
    /// The common state hash.
    pub state_hash: String,
}

impl Report {
    /// Faults injected, all kinds together.
    pub fn faults(&self) -> u64 {
        self.dropped + self.duplicated + self.corrupted + self.partitions + self.crashes
    }
}

/// An invariant the run broke.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Violation {
    /// The plan is outside the simulator's limits.
    #[error("nodes must be between {MIN_SIM_NODES} and {MAX_SIM_NODES}, got {0}")]
    Nodes(usize),
    /// Nodes disagreed at the deadline.
    #[error("not converged {after_ms} ms after the heal: {detail}")]
    NotConverged {
        /// Time since the heal.
        after_ms: u64,
        /// Which nodes differ.
        detail: String,
    },
    /// An acknowledged event is missing from a node.
    #[error("node {node} lacks acknowledged event {event} ({when})")]
    AcknowledgedLost {
        /// The node.
        node: usize,
        /// The event.
        event: EventId,
        /// After a restart, or at the end.
        when: &'static str,
    },
    /// A node stored an event nobody authored (a corrupted copy).
    #[error("node {node} stored {event}, which no author signed")]
    InvalidStored {
        /// The node.
        node: usize,
        /// The event.
        event: EventId,
    },
    /// A node's pending or future-dated set went over its bound.
    #[error("node {node} holds {pending} pending and {held} future-dated events")]
    OverBound {
        /// The node.
        node: usize,
        /// Pending events.
        pending: usize,
        /// Future-dated events.
        held: usize,
    },
    /// A node other than the forker signed two events at one seq.
    #[error("node {node} forked its own feed")]
    HonestFork {
        /// The node.
        node: usize,
    },
    /// Nodes disagree on the forks, or a proof does not verify.
    #[error("node {node} lacks a verifiable proof of a fork: {detail}")]
    ForkProof {
        /// The node.
        node: usize,
        /// What is wrong.
        detail: String,
    },
}

#[derive(Clone)]
enum Msg {
    Gossip(Vec<u8>),
    Request { id: u64, bytes: Vec<u8> },
    Answer { id: u64, bytes: Vec<u8> },
}

enum Ev {
    Deliver { from: usize, to: usize, msg: Msg },
    Timeout { node: usize, id: u64 },
    Sync { node: usize },
    Flush { node: usize },
    Author,
    Crash,
    Restart { node: usize },
    Partition,
    Heal,
    Fork,
    EndFaults,
}

struct SimNode {
    key: Keypair,
    up: bool,
    replica: Replica,
    /// The store's log: events stored, in the order stored.
    durable: Vec<Vec<u8>>,
    /// The store's pending and future-dated events.
    durable_parked: Vec<Vec<u8>>,
    /// Stored since the last flush.
    unflushed: Vec<Vec<u8>>,
    /// Parked since the last flush.
    unflushed_parked: Vec<Vec<u8>>,
    rounds: Rounds<usize>,
    requests: BTreeMap<u64, (usize, Step)>,
    skew_ms: i64,
    group: u8,
    acked: Vec<EventId>,
}

struct Sim {
    plan: Plan,
    rng: ChaCha8Rng,
    t: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    evs: BTreeMap<u64, Ev>,
    nodes: Vec<SimNode>,
    network: NetworkId,
    faulty: bool,
    next_request: u64,
    signed: BTreeSet<EventId>,
    forker: Option<usize>,
    twin: Option<EventId>,
    silent: Option<usize>,
    runaway: Option<usize>,
    report: Report,
}

/// A run that broke an invariant.
#[derive(Debug)]
pub struct Failure {
    /// The invariant broken.
    pub violation: Violation,
    /// The faults injected until then.
    pub report: Report,
}

/// Runs `plan` to the end, or to the first broken invariant.
pub fn run(plan: &Plan) -> Result<Report, Box<Failure>> {
    let fail = |violation, report| Box::new(Failure { violation, report });
    if !(MIN_SIM_NODES..=MAX_SIM_NODES).contains(&plan.nodes) {
        return Err(fail(Violation::Nodes(plan.nodes), Report::default()));
    }
    let mut sim = Sim::new(plan.clone());
    match sim.run() {
        Ok(()) => Ok(sim.report),
        Err(v) => Err(fail(v, sim.report)),
    }
}

impl SimNode {
    /// Makes everything kept so far durable (one store flush).
    fn flush(&mut self) {
        let stored = std::mem::take(&mut self.unflushed);
        self.durable.extend(stored);
        let parked = std::mem::take(&mut self.unflushed_parked);
        self.durable_parked.extend(parked);
    }
}

impl Sim {
    fn new(plan: Plan) -> Sim {
        let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
        let keys: Vec<Keypair> = (0..plan.nodes)
            .map(|n| practice_key(plan.seed, n))
            .collect();
        let genesis = founding(plan.seed, &keys);
        let founder = Keypair::from_seed(&keys[0].seed()).expect("a valid seed");
        let (_, g) = FeedWriter::found(founder, START_MS, genesis);
        let network = NetworkId(g.id);
        let wire = g.to_wire();
        let f = &plan.faults;
        let special = |on: bool, n: usize| on.then_some(n);
        let (forker, silent, runaway) = (
            special(f.forker, 1),
            special(f.silent_member, 2),
            special(f.runaway_clock, 3),
        );
        let nodes = keys
            .into_iter()
            .enumerate()
            .map(|(n, key)| {
                let max = f.max_skew_ms as i64;
                let skew_ms = if Some(n) == runaway {
                    (MAX_CLOCK_SKEW_MS + RUNAWAY_EXCESS_MS) as i64
                } else {
                    rng.gen_range(-max..=max)
                };
                let mut replica = Replica::new(network);
                replica
                    .ingest(START_MS, &wire)
                    .expect("the genesis is valid");
                SimNode {
                    key,
                    up: true,
                    replica,
                    durable: vec![wire.clone()],
                    durable_parked: Vec::new(),
                    unflushed: Vec::new(),
                    unflushed_parked: Vec::new(),
                    rounds: Rounds::default(),
                    requests: BTreeMap::new(),
                    skew_ms,
                    group: 0,
                    acked: Vec::new(),
                }
            })
            .collect();
        let report = Report {
            seed: plan.seed,
            nodes: plan.nodes,
            ..Report::default()
        };
        Sim {
            rng,
            t: START_MS,
            seq: 0,
            queue: BinaryHeap::new(),
            evs: BTreeMap::new(),
            nodes,
            network,
            faulty: true,
            next_request: 0,
            signed: BTreeSet::from([g.id]),
            forker,
            twin: None,
            silent,
            runaway,
            report,
            plan,
        }
    }

    fn at(&mut self, delay_ms: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((self.t + delay_ms, self.seq)));
        self.evs.insert(self.seq, ev);
    }

    /// A delay drawn around `mean` (uniform on [mean/2, 3·mean/2]).
    fn around(&mut self, mean: u64) -> u64 {
        self.rng.gen_range(mean / 2..=mean + mean / 2).max(1)
    }

    fn clock(&self, n: usize) -> u64 {
        self.t.saturating_add_signed(self.nodes[n].skew_ms)
    }

    fn linked(&self, a: usize, b: usize) -> bool {
        a != b && self.nodes[a].up && self.nodes[b].up && self.nodes[a].group == self.nodes[b].group
    }

    fn linked_peers(&self, n: usize) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&p| self.linked(n, p))
            .collect()
    }

    fn run(&mut self) -> Result<(), Violation> {
        for n in 0..self.nodes.len() {
            let first = self.rng.gen_range(1..SYNC_INTERVAL_MS);
            self.at(first, Ev::Sync { node: n });
            let flush = self.rng.gen_range(1..FLUSH_INTERVAL_MS);
            self.at(flush, Ev::Flush { node: n });
        }
        let f = self.plan.faults.clone();
        let author = self.around(self.plan.author_every_ms);
        self.at(author, Ev::Author);
        if f.crash_every_ms > 0 {
            let d = self.around(f.crash_every_ms);
            self.at(d, Ev::Crash);
        }
        if f.partition_every_ms > 0 {
            let d = self.around(f.partition_every_ms);
            self.at(d, Ev::Partition);
        }
        if self.forker.is_some() {
            self.at(self.plan.fault_ms / 2, Ev::Fork);
        }
        self.at(self.plan.fault_ms, Ev::EndFaults);
        let healed_at = self.t + self.plan.fault_ms;
        let deadline = healed_at + self.plan.converge_within_ms;
        while let Some(Reverse((when, seq))) = self.queue.pop() {
            if when > deadline {
                break;
            }
            self.t = when;
            let ev = self.evs.remove(&seq).expect("every queued event is stored");
            self.step(ev)?;
            self.check_bounds()?;
            if !self.faulty && self.converged() {
                self.report.converged_after_ms = Some(self.t - healed_at);
                return self.check_end();
            }
        }
        Err(Violation::NotConverged {
            after_ms: self.t.saturating_sub(healed_at),
            detail: self.difference(),
        })
    }

    fn step(&mut self, ev: Ev) -> Result<(), Violation> {
        match ev {
            Ev::Deliver { from, to, msg } => self.deliver(from, to, msg),
            Ev::Timeout { node, id } => {
                if let Some((peer, step)) = self.nodes[node].requests.remove(&id) {
                    self.report.timeouts += 1;
                    self.answered(node, peer, step, Answer::Failed);
                }
            }
            Ev::Sync { node } => {
                if self.nodes[node].up {
                    for p in self.linked_peers(node) {
                        self.start_round(node, p);
                    }
                }
                let d = self.around(SYNC_INTERVAL_MS);
                self.at(d, Ev::Sync { node });
            }
            Ev::Flush { node } => {
                // The node's housekeeping: release future-dated events whose time has
                // come, and make what was taken in durable.
                let now = self.clock(node);
                if self.nodes[node].up {
                    let released = self.nodes[node].replica.tick(now);
                    self.keep(node, &[], &released);
                    self.nodes[node].flush();
                }
                self.at(FLUSH_INTERVAL_MS, Ev::Flush { node });
            }
            Ev::Author => {
                if self.faulty {
                    // The silent member has stopped taking part: it signs nothing more.
                    let ups: Vec<usize> = (0..self.nodes.len())
                        .filter(|&n| self.nodes[n].up && Some(n) != self.silent)
                        .collect();
                    if let Some(&n) = ups.choose(&mut self.rng) {
                        self.author(n);
                    }
                    let d = self.around(self.plan.author_every_ms);
                    self.at(d, Ev::Author);
                }
            }
            Ev::Crash => {
                if self.faulty {
                    let n = self.rng.gen_range(0..self.nodes.len());
                    if self.nodes[n].up {
                        self.crash(n);
                        let down = self.rng.gen_range(1_000..30_000);
                        self.at(down, Ev::Restart { node: n });
                    }
                    let d = self.around(self.plan.faults.crash_every_ms);
                    self.at(d, Ev::Crash);
                }
            }
            Ev::Restart { node } => self.restart(node)?,
            Ev::Partition => {
                if self.faulty {
                    self.report.partitions += 1;
                    let groups = self.rng.gen_range(2..=3);
                    let split: Vec<u8> = (0..self.nodes.len())
                        .map(|_| self.rng.gen_range(0..groups))
                        .collect();
                    self.regroup(&split);
                    let lasts = self.rng.gen_range(5_000..40_000);
                    self.at(lasts, Ev::Heal);
                    let d = self.around(self.plan.faults.partition_every_ms);
                    self.at(d, Ev::Partition);
                }
            }
            Ev::Heal => self.regroup(&vec![0; self.nodes.len()]),
            Ev::Fork => self.fork(),
            Ev::EndFaults => {
                self.faulty = false;
                self.regroup(&vec![0; self.nodes.len()]);
                if let Some(r) = self.runaway {
                    self.nodes[r].skew_ms = 0;
                }
                for n in 0..self.nodes.len() {
                    if !self.nodes[n].up {
                        self.restart(n)?;
                    }
                }
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- the network

    fn send(&mut self, from: usize, to: usize, msg: Msg) {
        self.report.messages += 1;
        if !self.linked(from, to) {
            self.report.cut += 1;
            return;
        }
        let f = &self.plan.faults;
        let (drop, duplicate, corrupt, max_delay) =
            (f.drop, f.duplicate, f.corrupt, f.max_delay_ms);
        if self.faulty && self.rng.gen_bool(drop) {
            self.report.dropped += 1;
            return;
        }
        let copies = if self.rng.gen_bool(duplicate) {
            self.report.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut msg = msg.clone();
            if self.faulty && self.rng.gen_bool(corrupt) {
                let bytes = match &mut msg {
                    Msg::Gossip(b)
                    | Msg::Request { bytes: b, .. }
                    | Msg::Answer { bytes: b, .. } => b,
                };
                if !bytes.is_empty() {
                    self.report.corrupted += 1;
                    let i = self.rng.gen_range(0..bytes.len());
                    bytes[i] ^= self.rng.gen_range(1..=255u8);
                }
            }
            let delay = self.rng.gen_range(1..=max_delay);
            self.at(delay, Ev::Deliver { from, to, msg });
        }
    }

    fn deliver(&mut self, from: usize, to: usize, msg: Msg) {
        if !self.linked(from, to) {
            self.report.cut += 1;
            return;
        }
        match msg {
            Msg::Gossip(wire) => self.on_gossip(from, to, wire),
            Msg::Request { id, bytes } => {
                if Some(to) == self.silent {
                    return;
                }
                let Ok(req) = pb::SyncRequest::decode(bytes.as_slice()) else {
                    return;
                };
                let replica = &self.nodes[to].replica;
                let answer = sync::respond(replica, &req).unwrap_or_else(|r| sync::refused(&r));
                self.send(
                    to,
                    from,
                    Msg::Answer {
                        id,
                        bytes: answer.encode_to_vec(),
                    },
                );
                if let Some(Req::Frontier(f)) = &req.kind {
                    let mut out = Vec::new();
                    let n = &mut self.nodes[to];
                    n.rounds.on_frontier_request(from, f, &n.replica, &mut out);
                    self.act(to, out);
                }
            }
            Msg::Answer { id, bytes } => {
                let Some((peer, step)) = self.nodes[to].requests.remove(&id) else {
                    return;
                };
                match pb::SyncResponse::decode(bytes.as_slice()) {
                    Ok(resp) => match &resp.kind {
                        Some(Resp::Events(e))
                            if !matches!(step, Step::Summary | Step::Frontier) =>
                        {
                            let progressed = self.take_in(to, &e.events, peer);
                            let more = e.more;
                            self.answered(to, peer, step, Answer::Events { more, progressed });
                        }
                        _ => self.answered(to, peer, step, Answer::of(step, &resp)),
                    },
                    Err(_) => self.answered(to, peer, step, Answer::Failed),
                }
            }
        }
    }

    fn gossip(&mut self, from: usize, wire: &[u8], except: Option<usize>) {
        let mut peers: Vec<usize> = self
            .linked_peers(from)
            .into_iter()
            .filter(|p| Some(*p) != except)
            .collect();
        peers.shuffle(&mut self.rng);
        for p in peers.into_iter().take(GOSSIP_FANOUT) {
            self.send(from, p, Msg::Gossip(wire.to_vec()));
        }
    }

    fn on_gossip(&mut self, from: usize, to: usize, wire: Vec<u8>) {
        let before = self.nodes[to].replica.len() + self.held_and_pending(to);
        self.take_in(to, std::slice::from_ref(&wire), from);
        let after = self.nodes[to].replica.len() + self.held_and_pending(to);
        if after > before && Some(to) != self.silent {
            self.gossip(to, &wire, Some(from));
        }
    }

    fn held_and_pending(&self, n: usize) -> usize {
        self.nodes[n].replica.pending_len() + self.nodes[n].replica.held_len()
    }

    // ---------------------------------------------------------------- a node

    /// Takes events in as the node does: what is new is kept (not yet durable), missing
    /// causes are fetched from the sender. Returns whether anything new was kept.
    fn take_in(&mut self, n: usize, wires: &[Vec<u8>], from: usize) -> bool {
        let now = self.clock(n);
        let r = &self.nodes[n].replica;
        let before = r.len() + r.pending_len();
        let results = self.nodes[n].replica.ingest_batch(now, wires);
        self.keep(n, wires, &results);
        // As the node counts progress: stored or parked for causes.
        let r = &self.nodes[n].replica;
        let progressed = r.len() + r.pending_len() > before;
        let missing: Vec<EventId> = results
            .into_iter()
            .filter_map(|r| match r {
                Ok(Ingested::Pending { missing }) => Some(missing),
                _ => None,
            })
            .flatten()
            .collect();
        if !missing.is_empty() {
            let mut out = Vec::new();
            self.nodes[n].rounds.chase(from, missing, &mut out);
            self.act(n, out);
        }
        progressed
    }

    /// Keeps, not yet durably, what taking in `wires` came to, as the node's store does:
    /// stored events (with any they released) in the log, parked ones apart. Returns
    /// whether anything new was kept.
    fn keep(
        &mut self,
        n: usize,
        wires: &[Vec<u8>],
        results: &[Result<Ingested, IngestError>],
    ) -> bool {
        let mut kept = false;
        for (i, r) in results.iter().enumerate() {
            let node = &mut self.nodes[n];
            match r {
                Ok(Ingested::Stored { stored }) => {
                    for id in stored {
                        let ev = node.replica.get(id).expect("just stored");
                        node.unflushed.push(ev.to_wire());
                    }
                    kept = true;
                }
                Ok(Ingested::Pending { .. } | Ingested::Held { .. }) => {
                    node.unflushed_parked.extend(wires.get(i).cloned());
                    kept = true;
                }
                Ok(Ingested::Duplicate) => {}
                Err(e) if e.is_peer_fault() => self.report.refused += 1,
                Err(_) => {}
            }
        }
        kept
    }

    fn start_round(&mut self, n: usize, peer: usize) {
        let mut out = Vec::new();
        let node = &mut self.nodes[n];
        node.rounds.start(peer, &node.replica, &mut out);
        self.act(n, out);
    }

    fn answered(&mut self, n: usize, peer: usize, step: Step, answer: Answer<'_>) {
        let mut out = Vec::new();
        let connected = self.linked(n, peer);
        let node = &mut self.nodes[n];
        node.rounds
            .answered(peer, step, answer, connected, &node.replica, &mut out);
        self.act(n, out);
    }

    fn act(&mut self, n: usize, actions: Vec<Action<usize>>) {
        for a in actions {
            match a {
                Action::Send(peer, step, kind) => {
                    self.next_request += 1;
                    let id = self.next_request;
                    let req = sync::request(&self.nodes[n].replica, kind);
                    self.nodes[n].requests.insert(id, (peer, step));
                    let timeout = REQUEST_TIMEOUT.as_millis() as u64;
                    self.at(timeout, Ev::Timeout { node: n, id });
                    self.send(
                        n,
                        peer,
                        Msg::Request {
                            id,
                            bytes: req.encode_to_vec(),
                        },
                    );
                }
                Action::Ended { .. } => {}
                Action::Punish(_) => self.report.punished += 1,
            }
        }
    }

    /// Signs an event, makes it durable (with everything taken in before it, as one
    /// store flush does) and acknowledges it, then gossips it.
    fn author(&mut self, n: usize) {
        let now = self.clock(n);
        let body = if self.rng.gen_bool(0.3) {
            Body::AddressAnnouncement(pb::AddressAnnouncement {
                addresses: vec![format!("/ip4/127.0.0.1/tcp/{}", 40_000 + n)],
            })
        } else {
            Body::PracticeUpdate(pb::PracticeUpdate {
                list_size: self.rng.gen_range(3_000..20_000),
                ..Default::default()
            })
        };
        let node = &mut self.nodes[n];
        let key = Keypair::from_seed(&node.key.seed()).expect("a valid seed");
        let ev = match sign_next(&node.replica, key, now, body) {
            Ok(ev) => ev,
            Err(_) => {
                self.report.signing_refused += 1;
                return;
            }
        };
        let wire = ev.to_wire();
        match node.replica.ingest(now, &wire) {
            Ok(Ingested::Stored { .. }) => {}
            other => panic!("node {n}'s own event was not stored: {other:?}"),
        }
        node.unflushed.push(wire.clone());
        if self.plan.defect != Some(Defect::AckBeforeDurable) {
            node.flush();
        }
        node.acked.push(ev.id);
        self.signed.insert(ev.id);
        self.report.acknowledged += 1;
        self.gossip(n, &wire, None);
    }

    /// The forker signs a second event at its latest seq and sends it to some peers.
    fn fork(&mut self) {
        let Some(f) = self.forker.filter(|&f| self.nodes[f].up) else {
            return;
        };
        let node = &self.nodes[f];
        let me = node.key.public();
        let Some((seq, head)) = node.replica.feed_head(&me) else {
            return;
        };
        let Some(ev) = node.replica.get(&head) else {
            return;
        };
        let last = ev.event.prev.map(|p| (seq - 1, p));
        let at = ev.event.timestamp_ms;
        let key = Keypair::from_seed(&node.key.seed()).expect("a valid seed");
        let mut twin = FeedWriter::resume(key, self.network, last);
        let body = Body::PracticeUpdate(pb::PracticeUpdate {
            list_size: 1,
            ..Default::default()
        });
        let twin = twin.sign(at, ev.event.deps.clone(), body);
        self.signed.insert(twin.id);
        self.twin = Some(twin.id);
        let wire = twin.to_wire();
        let mut peers: Vec<usize> = self
            .linked_peers(f)
            .into_iter()
            .filter(|p| Some(*p) != self.silent)
            .collect();
        peers.shuffle(&mut self.rng);
        for p in peers.into_iter().take(2) {
            self.send(f, p, Msg::Gossip(wire.clone()));
        }
    }

    fn crash(&mut self, n: usize) {
        self.report.crashes += 1;
        let peers = self.linked_peers(n);
        let node = &mut self.nodes[n];
        node.up = false;
        self.report.lost_unflushed += (node.unflushed.len() + node.unflushed_parked.len()) as u64;
        node.unflushed.clear();
        node.unflushed_parked.clear();
        node.requests.clear();
        node.rounds = Rounds::default();
        node.replica = Replica::new(self.network);
        for p in peers {
            self.disconnect(p, n);
        }
    }

    /// `n` loses its connection to `peer`: as libp2p does, its requests to the peer fail
    /// at once and its round with the peer ends.
    fn disconnect(&mut self, n: usize, peer: usize) {
        let open: Vec<(u64, Step)> = self.nodes[n]
            .requests
            .iter()
            .filter(|(_, (p, _))| *p == peer)
            .map(|(id, (_, step))| (*id, *step))
            .collect();
        for (id, step) in open {
            self.nodes[n].requests.remove(&id);
            self.answered(n, peer, step, Answer::Failed);
        }
        self.nodes[n].rounds.disconnected(peer);
    }

    /// Restarts a node from what it had made durable; every event it acknowledged must
    /// be there.
    fn restart(&mut self, n: usize) -> Result<(), Violation> {
        if self.nodes[n].up {
            return Ok(());
        }
        let now = self.clock(n);
        let node = &mut self.nodes[n];
        // As the node loads its store: the log without checking dates again, then the
        // parked events as if they had just arrived.
        let mut replica = Replica::new(self.network);
        replica.ingest_batch(u64::MAX, &node.durable);
        replica.ingest_batch(now, &node.durable_parked);
        if let Some(lost) = node.acked.iter().find(|id| replica.get(id).is_none()) {
            return Err(Violation::AcknowledgedLost {
                node: n,
                event: *lost,
                when: "after a restart",
            });
        }
        node.replica = replica;
        node.up = true;
        for p in self.linked_peers(n) {
            self.start_round(n, p);
            self.start_round(p, n);
        }
        Ok(())
    }

    /// Moves nodes into new groups; links that break end their rounds, links that form
    /// start them (as a connection does).
    fn regroup(&mut self, groups: &[u8]) {
        let before: Vec<Vec<usize>> = (0..self.nodes.len())
            .map(|n| self.linked_peers(n))
            .collect();
        for (node, g) in self.nodes.iter_mut().zip(groups) {
            node.group = *g;
        }
        for (n, was) in before.iter().enumerate() {
            for &p in was {
                if !self.linked(n, p) {
                    self.disconnect(n, p);
                }
            }
            for p in self.linked_peers(n) {
                if !was.contains(&p) {
                    self.start_round(n, p);
                }
            }
        }
    }

    // ---------------------------------------------------------------- the checks

    fn check_bounds(&mut self) -> Result<(), Violation> {
        for (n, node) in self.nodes.iter().enumerate() {
            let (pending, held) = (node.replica.pending_len(), node.replica.held_len());
            self.report.max_pending = self.report.max_pending.max(pending);
            self.report.max_held = self.report.max_held.max(held);
            if pending > MAX_PENDING_EVENTS || held > MAX_FUTURE_EVENTS {
                return Err(Violation::OverBound {
                    node: n,
                    pending,
                    held,
                });
            }
        }
        Ok(())
    }

    fn converged(&self) -> bool {
        let first = &self.nodes[0].replica;
        let hash = first.state_hash();
        self.nodes.iter().all(|node| {
            node.up
                && node.replica.len() == first.len()
                && node.replica.pending_len() == 0
                && node.replica.held_len() == 0
                && node.replica.state_hash() == hash
        })
    }

    fn difference(&self) -> String {
        let mut by_hash: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (n, node) in self.nodes.iter().enumerate() {
            let r = &node.replica;
            let key = format!(
                "{} events, {} pending, {} held, up {}",
                r.len(),
                r.pending_len(),
                r.held_len(),
                node.up
            );
            by_hash.entry(key).or_default().push(n);
        }
        by_hash
            .iter()
            .map(|(k, ns)| format!("nodes {ns:?}: {k}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn check_end(&mut self) -> Result<(), Violation> {
        let acked: Vec<EventId> = self.nodes.iter().flat_map(|n| n.acked.clone()).collect();
        let forks: BTreeSet<PublicKey> = self.nodes[0].replica.forks().keys().copied().collect();
        let forker = self.forker.map(|f| self.nodes[f].key.public());
        // Once any node has taken in the forker's second event, every node must hold the
        // proof of the fork.
        let twin_known = self
            .twin
            .is_some_and(|t| self.nodes.iter().any(|n| n.replica.knows(&t)));
        if let (true, Some(f)) = (twin_known, forker) {
            if let Some(n) = self
                .nodes
                .iter()
                .position(|n| n.replica.fork_proof(&f).is_none())
            {
                return Err(Violation::ForkProof {
                    node: n,
                    detail: "the forker's second event was taken in, but no proof is held".into(),
                });
            }
        }
        if let Some(honest) = forks.iter().find(|a| Some(**a) != forker) {
            let node = self.nodes.iter().position(|n| n.key.public() == *honest);
            return Err(Violation::HonestFork {
                node: node.unwrap_or(usize::MAX),
            });
        }
        for (n, node) in self.nodes.iter().enumerate() {
            let r = &node.replica;
            if let Some(lost) = acked.iter().find(|id| r.get(id).is_none()) {
                return Err(Violation::AcknowledgedLost {
                    node: n,
                    event: *lost,
                    when: "at the end",
                });
            }
            if let Some(bad) = r
                .events_in_order()
                .map(|e| e.id)
                .find(|id| !self.signed.contains(id))
            {
                return Err(Violation::InvalidStored {
                    node: n,
                    event: bad,
                });
            }
            let theirs: BTreeSet<PublicKey> = r.forks().keys().copied().collect();
            if theirs != forks {
                return Err(Violation::ForkProof {
                    node: n,
                    detail: format!("{} forks, node 0 has {}", theirs.len(), forks.len()),
                });
            }
            for author in &forks {
                let proof = r.fork_proof(author).ok_or_else(|| Violation::ForkProof {
                    node: n,
                    detail: format!("no proof for {author}"),
                })?;
                match proof.verify() {
                    Ok((who, _, net)) if who == *author && net == self.network => {}
                    other => {
                        return Err(Violation::ForkProof {
                            node: n,
                            detail: format!("the proof for {author} gives {other:?}"),
                        })
                    }
                }
            }
        }
        let first = &self.nodes[0].replica;
        self.report.forks = forks.len();
        self.report.events = first.len();
        self.report.state_hash = first.state_hash().to_string();
        Ok(())
    }
}
