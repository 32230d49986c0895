//! A deterministic simulation of a partnership's nodes over a faulty network
//! (docs/NETWORK.md §9). Every node is the real node logic, a [`NodeCore`](crate::core::NodeCore) over an
//! in-memory [`MemStore`]; what the node's driver does with libp2p (gossip with a mesh's
//! fan-out, request and response, the connection gate, dialing) the simulator does over a
//! simulated network that drops, duplicates, corrupts, delays and reorders messages,
//! splits the nodes into partitions and heals them. Nodes crash, losing what their store
//! had not synced, and restart through the store's real recovery path; their clocks are
//! skewed, one runs far ahead until it is corrected, one author forks its feed and one
//! member stops taking part until the heal.
//!
//! The business is the partnership's own ([`workload`]): partners propose motions and
//! cast ballots (plain and ranked, by proxy too) that the nodes witness and close by
//! themselves, practices post and answer aid requests, update their details, invite a new
//! practice whose node can connect only once invited and which the partners admit by
//! vote, and one partner's key is rotated. Beside it an allied partnership does its own,
//! and the two federate (`federation`): a charter, each side's vote to link, the nodes'
//! word in the federation's log, joint motions each network decides by its own vote,
//! statements and aid across the federation, and at last the ally's vote to leave it,
//! all under the same faults.
//!
//! One seed decides everything: the same [`Plan`] always gives the same run, and a
//! failing run says how to replay it. After the faulty phase the network heals, and the
//! checks of [`Violation`] run: at every step, that the pending and future-dated sets stay
//! within their bounds; at every restart, that the node's acknowledged events survived;
//! at the end, that every node converged within [`Plan::converge_within_ms`], holds every
//! acknowledged event and the proof of every fork, and stores nothing that was not
//! signed by its author.

mod business;
pub mod checks;
mod federation;
pub mod runner;
pub mod shrink;
pub mod store;
pub mod wire;
pub mod workload;
pub mod world;

pub use store::{Disk, MemStore};

use crate::core::Defect;
use crate::limits::REQUEST_TIMEOUT;
use mutual_protocol::id::EventId;
use mutual_protocol::limits::MAX_CLOCK_SKEW_MS;
use serde::Serialize;
use std::collections::BTreeMap;
use world::Sim;

/// Most nodes one simulation may run.
pub const MAX_SIM_NODES: usize = 64;
/// Fewest nodes: a forker, a silent member and a runaway clock need company.
pub const MIN_SIM_NODES: usize = 4;
/// The standard plan's faulty phase, ms: long enough for the partnerships to link (a
/// link motion's voting period, its grace period and the joins said in the federation's
/// log take about eight simulated minutes) and then do business across the federation
/// under the same faults.
pub const STANDARD_FAULT_MS: u64 = 10 * 60_000;
/// Practices of the allied partnership in the standard plan.
pub const ALLY_PRACTICES: usize = 3;
/// Fewest practices of an allied partnership (besides none): a network of one practice
/// signs nothing in a federation's log until another network's node can serve it there,
/// so its join would hang on the other's link (docs/FEDERATION.md §5).
pub const MIN_ALLY_PRACTICES: usize = 2;
/// Most practices of the allied partnership.
pub const MAX_ALLY_PRACTICES: usize = 8;
/// Peers each node sends a gossiped event to (gossipsub's mesh degree).
pub const GOSSIP_FANOUT: usize = crate::limits::GOSSIP_MESH;
/// Time between a node's sync rounds with each connected peer, ms.
pub const SYNC_INTERVAL_MS: u64 = 10_000;
/// How far past the protocol's skew bound the runaway clock runs, ms.
pub const RUNAWAY_EXCESS_MS: u64 = 30_000;
/// When the simulated network is founded, ms since the epoch.
pub const START_MS: u64 = 1_790_000_000_000;

/// The faults injected during the faulty phase.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
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
    /// One member stops taking part until the heal: it signs nothing, never forwards
    /// gossip and never answers sync requests, while it still takes in what it is sent.
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

impl Faults {
    /// No faults at all: a perfect network.
    pub fn none() -> Self {
        Faults {
            drop: 0.0,
            duplicate: 0.0,
            corrupt: 0.0,
            max_delay_ms: 1,
            partition_every_ms: 0,
            crash_every_ms: 0,
            max_skew_ms: 0,
            runaway_clock: false,
            forker: false,
            silent_member: false,
        }
    }
}

/// What to simulate.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Plan {
    /// Decides every random choice.
    pub seed: u64,
    /// Number of nodes, each a founding practice (a joining practice comes on top).
    pub nodes: usize,
    /// Practices of a second, allied partnership (each with its node), asked to federate
    /// with the first; 0 for none.
    #[serde(default)]
    pub allies: usize,
    /// How long the faulty phase lasts, simulated ms.
    pub fault_ms: u64,
    /// Mean time between pieces of business in the faulty phase, ms.
    pub author_every_ms: u64,
    /// How soon after the heal every node must have converged, simulated ms.
    pub converge_within_ms: u64,
    /// The faults.
    pub faults: Faults,
    /// A defect planted in the simulated nodes, to show that the checks catch it.
    pub defect: Option<Defect>,
}

impl Plan {
    /// The plan the test suite runs for `seed`: 12 nodes (and the ally's),
    /// [`STANDARD_FAULT_MS`] of faults, then a heal.
    pub fn standard(seed: u64) -> Plan {
        Plan::sized(seed, 12)
    }

    /// The standard plan with `nodes` founding practices.
    pub fn sized(seed: u64, nodes: usize) -> Plan {
        let faults = Faults::default();
        Plan {
            seed,
            nodes,
            allies: ALLY_PRACTICES,
            fault_ms: STANDARD_FAULT_MS,
            author_every_ms: 1_500,
            converge_within_ms: Plan::bound(&faults),
            faults,
            defect: None,
        }
    }

    /// How soon after the heal the nodes must agree. An event the runaway clock dated
    /// ahead is held by a node until that node's own clock comes within the skew bound of
    /// it, so a node running `max_skew_ms` slow waits `RUNAWAY_EXCESS_MS + max_skew_ms`;
    /// on top of that, a request that timed out ([`REQUEST_TIMEOUT`]), the witnesses
    /// nodes write by themselves, and two sync rounds to spread what is missing.
    pub fn bound(faults: &Faults) -> u64 {
        let held = if faults.runaway_clock {
            RUNAWAY_EXCESS_MS + faults.max_skew_ms
        } else {
            0
        };
        // A paper request whose answer was lost holds its slot until it times out.
        held + REQUEST_TIMEOUT
            .max(crate::limits::PAPER_TIMEOUT)
            .as_millis() as u64
            + 2 * crate::core::WITNESS_DELAY_MS
            + 2 * SYNC_INTERVAL_MS
    }

    /// The command that replays this plan: by seed when it is a standard plan, else
    /// the whole plan as JSON.
    pub fn replay(&self) -> String {
        let mut standard = Plan::sized(self.seed, self.nodes);
        standard.fault_ms = self.fault_ms;
        let json = |p: &Plan| serde_json::to_string(p).unwrap_or_default();
        if json(&standard) == json(self) {
            format!(
                "mutual simulate --seed {} --nodes {} --fault-secs {}",
                self.seed,
                self.nodes,
                self.fault_ms / 1000
            )
        } else {
            format!("mutual simulate --plan '{}'", json(self))
        }
    }
}

/// The faults injected and what the run came to.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Nodes simulated (founders, the joiner and the ally's).
    pub nodes: usize,
    /// Messages sent (gossip, requests, answers).
    pub messages: u64,
    /// Messages lost.
    pub dropped: u64,
    /// Messages delivered twice.
    pub duplicated: u64,
    /// Messages with a changed byte.
    pub corrupted: u64,
    /// Messages not sent because sender and receiver were not connected.
    pub cut: u64,
    /// Gossip not delivered because its receiver had left the topic (it crashed since
    /// it was sent, or left a federation).
    pub off_topic: u64,
    /// Connections refused because a node's gate did not admit the other.
    pub refused_connections: u64,
    /// Partitions made.
    pub partitions: u64,
    /// Crashes.
    pub crashes: u64,
    /// Events taken in but not yet durable when their node crashed (lost by design, and
    /// fetched again from peers).
    pub lost_unflushed: u64,
    /// Requests that timed out.
    pub timeouts: u64,
    /// Bans the nodes imposed.
    pub bans: u64,
    /// Requests to sign a node refused or could not serve yet (its feed dated ahead of
    /// its clock, its own head not yet confirmed, its store down).
    pub signing_refused: u64,
    /// Events authored and acknowledged (durable at their author).
    pub acknowledged: u64,
    /// The business done, by kind.
    pub business: BTreeMap<String, u64>,
    /// Authors whose fork every node holds the proof of.
    pub forks: usize,
    /// Events each node holds at the end.
    pub events: usize,
    /// Motions closed at the end, and how many passed.
    pub motions_closed: usize,
    /// Motions that passed.
    pub motions_passed: usize,
    /// Ballots counted in closed motions (in person or by proxy).
    pub ballots_counted: usize,
    /// Events the fold rejected (kept as evidence), by reason.
    pub rejected: BTreeMap<String, usize>,
    /// Whether the joining practice was admitted by the partners' vote.
    pub admitted: bool,
    /// Papers the log names at the end, every one held and checked by every node.
    pub papers: usize,
    /// Whether the board's seats had lapsed at the end, with no election since.
    pub board_lapsed: bool,
    /// Board elections that passed. The workload proposes one only while no board sits
    /// in its term, so a second one means the first board's term ran out.
    pub boards_elected: usize,
    /// Whether the federation of the two partnerships went live (both linked by their
    /// partners' votes, and each network's join said in its log).
    pub federation_live: bool,
    /// Nodes whose practice left its partnership by the end (and were held only to what
    /// they acknowledged themselves).
    pub departed: usize,
    /// Whether the allied partnership then left it: its partners passed leaving, and a
    /// majority of its roster said so in the federation's log.
    pub federation_left: bool,
    /// Partnerships whose partners passed the link to the federation.
    pub networks_linked: usize,
    /// Events in the federation's log at the end.
    pub federation_events: usize,
    /// The federation's log's events that took effect, by kind, at the end.
    pub federation_kinds: BTreeMap<String, usize>,
    /// The partnerships' logs' events that took effect, by kind, at the end (as each
    /// partnership's first node holds them).
    pub network_kinds: BTreeMap<String, usize>,
    /// Joint motions on which every party decided (each by its own network's vote).
    pub joint_decided_by_all: usize,
    /// Whether the joining practice, once admitted, is on its network's roster in the
    /// federation's log (said by its network's nodes).
    pub joiner_on_roster: bool,
    /// Joint motions put to the federation, and how many were settled by the networks'
    /// decisions.
    pub joint_motions: usize,
    /// Joint motions settled.
    pub joint_settled: usize,
    /// Aid agreements across the federation countersigned at the end.
    pub federation_aid_agreed: usize,
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

    /// What became of the federation, for a seed's line: nothing if no charter was
    /// signed.
    pub fn federation_line(&self) -> String {
        if !self.business.contains_key("charter") {
            return String::new();
        }
        let live = match (self.federation_live, self.federation_left) {
            (true, true) => "went live, then the ally left",
            (true, false) => "live",
            _ => "not live",
        };
        format!(
            "; federation {live} ({} of 2 linked), {} events, {} joint motions ({} settled), {} aid \
             agreements across it",
            self.networks_linked,
            self.federation_events,
            self.joint_motions,
            self.joint_settled,
            self.federation_aid_agreed
        )
    }
}

/// An invariant the run broke.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Violation {
    /// The plan is outside the simulator's limits.
    #[error(
        "nodes must be between {MIN_SIM_NODES} and {MAX_SIM_NODES}, and allied practices 0 \
         or between {MIN_ALLY_PRACTICES} and {MAX_ALLY_PRACTICES}; got {0} and {1}"
    )]
    Nodes(usize, usize),
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
    /// A node could not start or restart from its store.
    #[error("node {node} could not start: {detail}")]
    Start {
        /// The node.
        node: usize,
        /// Why.
        detail: String,
    },
    /// A node cannot read back the ballots of a motion it closed.
    #[error("node {node} cannot read back a closed motion's ballots: {detail}")]
    Unreadable {
        /// The node.
        node: usize,
        /// Why.
        detail: String,
    },
}

/// A run that broke an invariant.
#[derive(Debug)]
pub struct Failure {
    /// The invariant broken.
    pub violation: Violation,
    /// The faults injected until then.
    pub report: Report,
    /// The command that replays the run.
    pub replay: String,
}

/// Runs `plan` to the end, or to the first broken invariant.
pub fn run(plan: &Plan) -> Result<Report, Box<Failure>> {
    let fail = |violation, report| {
        Box::new(Failure {
            violation,
            report,
            replay: plan.replay(),
        })
    };
    let allies_ok =
        plan.allies == 0 || (MIN_ALLY_PRACTICES..=MAX_ALLY_PRACTICES).contains(&plan.allies);
    if !(MIN_SIM_NODES..=MAX_SIM_NODES).contains(&plan.nodes) || !allies_ok {
        return Err(fail(
            Violation::Nodes(plan.nodes, plan.allies),
            Report::default(),
        ));
    }
    let mut sim = match Sim::new(plan.clone()) {
        Ok(s) => s,
        Err(v) => return Err(fail(v, Report::default())),
    };
    match sim.run() {
        Ok(()) => Ok(sim.report),
        Err(v) => Err(fail(v, sim.report)),
    }
}
