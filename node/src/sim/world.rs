//! The simulated world: its partnerships and their nodes, its clock and queue of what
//! happens next, and the faults the plan injects (see the module documentation of
//! `super`). Driving the cores and carrying their messages is in `wire`; handing the
//! partnerships' business to their nodes in `business`, the federation's in
//! `federation`; the checks of the invariants are in `checks`.

use super::store::{Disk, MemStore};
use super::workload::Workload;
use super::*;
use crate::core::store::Store;
use crate::core::{CoreConfig, Input, Local, NodeCore, Now, HOUSEKEEPING_MS};
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, FeedWriter, SignedEvent};
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::keys::{Keypair, PublicKey};
use mutual_protocol::limits::MAX_CLOCK_SKEW_MS;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

#[derive(Clone)]
pub(super) enum Msg {
    /// An event on a gossip topic: a network's id, or a federation's.
    Gossip {
        topic: NetworkId,
        wire: Vec<u8>,
    },
    Request {
        id: u64,
        bytes: Vec<u8>,
    },
    Answer {
        id: u64,
        bytes: Vec<u8>,
    },
    PaperRequest {
        id: u64,
        bytes: Vec<u8>,
    },
    PaperAnswer {
        id: u64,
        bytes: Vec<u8>,
    },
}

pub(super) enum Ev {
    Deliver { from: usize, to: usize, msg: Msg },
    Timeout { node: usize, id: u64 },
    PaperTimeout { node: usize, id: u64 },
    Wake { node: usize },
    Business,
    Crash,
    Restart { node: usize },
    Partition,
    Heal,
    Fork,
    EndFaults,
}

/// What a local request was for, to read its reply.
#[derive(Debug, Clone)]
pub(super) enum Asked {
    /// The workload's business (counted under this name when acknowledged).
    Business(&'static str),
    /// The federation's charter, signed by the first practice's node.
    Charter,
}

/// One simulated partnership: its id, its genesis, and its people.
pub(super) struct SimNet {
    pub(super) id: NetworkId,
    pub(super) genesis: SignedEvent,
    pub(super) workload: Workload,
}

impl SimNet {
    fn new(workload: Workload) -> SimNet {
        let founder = workload.node_key(workload.founders().start);
        let (_, genesis) = FeedWriter::found(founder, START_MS, workload.genesis());
        SimNet {
            id: NetworkId(genesis.id),
            genesis,
            workload,
        }
    }
}

pub(super) struct SimNode {
    pub(super) key: Keypair,
    /// Its partnership, an index into [`Sim::nets`].
    pub(super) net: usize,
    /// The gossip topics it subscribes to.
    pub(super) topics: BTreeSet<NetworkId>,
    pub(super) disk: Disk,
    pub(super) core: Option<NodeCore<MemStore>>,
    pub(super) skew_ms: i64,
    pub(super) group: u8,
    /// Events it acknowledged, in its network's log and in the federation's.
    pub(super) acked: Vec<EventId>,
    pub(super) fed_acked: Vec<EventId>,
    /// Outgoing requests: the simulator's id to the core's.
    pub(super) requests: BTreeMap<u64, u64>,
    /// Incoming requests: the core's token to the asking node.
    pub(super) inbound: BTreeMap<u64, usize>,
    /// Outgoing paper requests: the simulator's id to the core's.
    pub(super) paper_requests: BTreeMap<u64, u64>,
    /// Incoming paper requests: the core's token to the asking node.
    pub(super) paper_inbound: BTreeMap<u64, usize>,
    /// Gossip being validated: the core's token to the sender and the message.
    pub(super) gossip: BTreeMap<u64, (usize, NetworkId, Vec<u8>)>,
    pub(super) asked: BTreeMap<u64, Asked>,
    pub(super) next_token: u64,
}

/// The simulation: see the module documentation.
pub struct Sim {
    pub(super) plan: Plan,
    pub(super) rng: ChaCha8Rng,
    pub(super) t: u64,
    pub(super) seq: u64,
    pub(super) queue: BinaryHeap<Reverse<(u64, u64)>>,
    pub(super) evs: BTreeMap<u64, Ev>,
    pub(super) nodes: Vec<SimNode>,
    /// The partnership of the founders and the joiner, then its ally (if any).
    pub(super) nets: Vec<SimNet>,
    /// The federation of the partnerships, once its charter is signed.
    pub(super) federation: Option<NetworkId>,
    /// Whether the charter has been asked for and not refused.
    pub(super) charter_asked: bool,
    pub(super) faulty: bool,
    pub(super) next_message: u64,
    /// Connected pairs, lower index first.
    pub(super) links: BTreeSet<(usize, usize)>,
    pub(super) signed: BTreeSet<EventId>,
    pub(super) forker: Option<usize>,
    pub(super) twin: Option<EventId>,
    pub(super) silent: Option<usize>,
    pub(super) runaway: Option<usize>,
    pub(super) report: Report,
}

impl Sim {
    pub(super) fn new(plan: Plan) -> Result<Sim, Violation> {
        let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
        let mut nets = vec![SimNet::new(Workload::new(
            plan.seed,
            "Simulated Health Partnership",
            0,
            plan.nodes,
            true,
        ))];
        if plan.allies > 0 {
            nets.push(SimNet::new(Workload::new(
                plan.seed,
                "Simulated Allied Partnership",
                plan.nodes + 1,
                plan.allies,
                false,
            )));
        }
        let f = &plan.faults;
        let special = |on: bool, n: usize| on.then_some(n);
        let (forker, silent, runaway) = (
            special(f.forker, 1),
            special(f.silent_member, 2),
            special(f.runaway_clock, 3),
        );
        let mut nodes = Vec::new();
        // The founders, then the practice that joins, then the ally's practices.
        for n in 0..=plan.nodes + plan.allies {
            let max = f.max_skew_ms as i64;
            let skew_ms = if Some(n) == runaway {
                (MAX_CLOCK_SKEW_MS + RUNAWAY_EXCESS_MS) as i64
            } else if max > 0 {
                rng.gen_range(-max..=max)
            } else {
                0
            };
            nodes.push(SimNode {
                key: nets[0].workload.node_key(n),
                net: usize::from(n > plan.nodes),
                topics: BTreeSet::new(),
                disk: Disk::default(),
                core: None,
                skew_ms,
                group: 0,
                acked: Vec::new(),
                fed_acked: Vec::new(),
                requests: BTreeMap::new(),
                inbound: BTreeMap::new(),
                paper_requests: BTreeMap::new(),
                paper_inbound: BTreeMap::new(),
                gossip: BTreeMap::new(),
                asked: BTreeMap::new(),
                next_token: 0,
            });
        }
        let report = Report {
            seed: plan.seed,
            nodes: nodes.len(),
            ..Report::default()
        };
        let mut sim = Sim {
            rng,
            t: START_MS,
            seq: 0,
            queue: BinaryHeap::new(),
            evs: BTreeMap::new(),
            nodes,
            signed: nets.iter().map(|net| net.genesis.id).collect(),
            nets,
            federation: None,
            charter_asked: false,
            faulty: true,
            next_message: 0,
            links: BTreeSet::new(),
            forker,
            twin: None,
            silent,
            runaway,
            report,
            plan,
        };
        for n in 0..sim.nodes.len() {
            sim.boot(n)?;
        }
        Ok(sim)
    }

    pub(super) fn at(&mut self, delay_ms: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((self.t + delay_ms, self.seq)));
        self.evs.insert(self.seq, ev);
    }

    /// A delay drawn around `mean` (uniform on [mean/2, 3·mean/2]).
    pub(super) fn around(&mut self, mean: u64) -> u64 {
        self.rng.gen_range(mean / 2..=mean + mean / 2).max(1)
    }

    pub(super) fn now(&self, n: usize) -> Now {
        Now {
            wall_ms: self.t.saturating_add_signed(self.nodes[n].skew_ms),
            mono_ms: self.t - START_MS,
        }
    }

    pub(super) fn up(&self, n: usize) -> bool {
        self.nodes[n].core.is_some()
    }

    /// Whether node `n`'s practice has left its partnership, as the partnership's first
    /// node sees it. Its node is then no longer let in by the others' gates, so it is held
    /// only to what it acknowledged itself, not to agree with those that stay.
    pub(super) fn departed(&self, n: usize) -> bool {
        let net = &self.nets[self.nodes[n].net];
        let first = net.workload.founders().start;
        n != self.plan.nodes
            && n != first
            && self.nodes[first].core.as_ref().is_some_and(|c| {
                !c.replica()
                    .state()
                    .membership()
                    .is_active_practice_node(&self.nodes[n].key.public())
            })
    }

    /// Whether `a` and `b` could be connected: both up, in one partition, and each
    /// admitted by the other's gate.
    pub(super) fn reachable(&self, a: usize, b: usize) -> bool {
        let (Some(ca), Some(cb)) = (&self.nodes[a].core, &self.nodes[b].core) else {
            return false;
        };
        a != b
            && self.nodes[a].group == self.nodes[b].group
            && ca.admits(&cb.key())
            && cb.admits(&ca.key())
    }

    pub(super) fn connected(&self, a: usize, b: usize) -> bool {
        self.links.contains(&(a.min(b), a.max(b)))
    }

    pub(super) fn peers(&self, n: usize) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&p| p != n && self.connected(n, p))
            .collect()
    }

    pub(super) fn index_of(&self, key: &PublicKey) -> Option<usize> {
        self.nodes.iter().position(|s| s.key.public() == *key)
    }

    pub(super) fn run(&mut self) -> Result<(), Violation> {
        for n in 0..self.nodes.len() {
            let first = self.rng.gen_range(1..HOUSEKEEPING_MS);
            self.at(first, Ev::Wake { node: n });
        }
        let f = self.plan.faults.clone();
        let business = self.around(self.plan.author_every_ms);
        self.at(business, Ev::Business);
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
        while let Some(Reverse((when, seq))) = self.queue.pop() {
            // Every motion proposed must also have had its grace period and its close.
            let latest_close = self.nets.iter().map(|n| n.workload.latest_close_ms());
            let settled = (latest_close.max().unwrap_or(0)
                + MAX_CLOCK_SKEW_MS
                + self.plan.faults.max_skew_ms)
                .saturating_sub(START_MS)
                + START_MS;
            let deadline = healed_at.max(settled) + self.plan.converge_within_ms;
            if when > deadline {
                break;
            }
            self.t = when;
            let ev = self.evs.remove(&seq).expect("every queued event is stored");
            // Agreement is looked for once a simulated second (at node 0's wake-up): a
            // state hash covers the whole state, and a step is a few milliseconds.
            let look = matches!(ev, Ev::Wake { node: 0 });
            self.step(ev)?;
            self.check_bounds()?;
            if look && !self.faulty && self.settled() && self.converged() {
                self.report.converged_after_ms = Some(self.t - healed_at);
                return self.check_end();
            }
        }
        Err(Violation::NotConverged {
            after_ms: self.t.saturating_sub(healed_at),
            detail: self.difference(),
        })
    }

    pub(super) fn step(&mut self, ev: Ev) -> Result<(), Violation> {
        match ev {
            Ev::Deliver { from, to, msg } => self.deliver(from, to, msg),
            Ev::Timeout { node, id } => {
                if let Some(core_id) = self.nodes[node].requests.remove(&id) {
                    self.report.timeouts += 1;
                    self.feed(
                        node,
                        Input::RequestFailed {
                            id: core_id,
                            malformed: false,
                        },
                    );
                }
            }
            Ev::PaperTimeout { node, id } => {
                if let Some(core_id) = self.nodes[node].paper_requests.remove(&id) {
                    self.report.timeouts += 1;
                    self.feed(
                        node,
                        Input::PaperResponse {
                            id: core_id,
                            resp: None,
                        },
                    );
                }
            }
            Ev::Wake { node } => {
                if self.up(node) {
                    self.dial(node);
                    self.feed(node, Input::Timer);
                    // After the heal the partners' business is done, but one whose file
                    // did not reach their node sends it again.
                    if !self.faulty {
                        self.resend_papers(node);
                    }
                }
                self.at(HOUSEKEEPING_MS, Ev::Wake { node });
            }
            Ev::Business => {
                if self.faulty {
                    self.business();
                    let d = self.around(self.plan.author_every_ms);
                    self.at(d, Ev::Business);
                }
            }
            Ev::Crash => {
                if self.faulty {
                    let n = self.rng.gen_range(0..self.nodes.len());
                    if self.up(n) {
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
                self.silent = None;
                self.regroup(&vec![0; self.nodes.len()]);
                if let Some(r) = self.runaway {
                    self.nodes[r].skew_ms = 0;
                }
                for n in 0..self.nodes.len() {
                    if !self.up(n) {
                        self.restart(n)?;
                    }
                }
                // The practice that joins is invited by now, if the business had not
                // come to it.
                let joiner = self.nodes[self.plan.nodes].key.public();
                let invited = self.nodes[0]
                    .core
                    .as_ref()
                    .is_some_and(|c| c.replica().state().invitations().any(|(k, _)| *k == joiner));
                if !invited {
                    let body = self.nets[0].workload.invitation(self.now(0).wall_ms);
                    self.ask(
                        0,
                        Local::Author {
                            log: None,
                            bodies: vec![body],
                        },
                        Asked::Business("invitation"),
                    );
                }
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- nodes

    /// Starts node `n` from its disk (the founders' first start takes in their
    /// partnership's genesis; the joiner starts empty, knowing the first founder as its
    /// bootstrap peer).
    pub(super) fn boot(&mut self, n: usize) -> Result<(), Violation> {
        let now = self.now(n);
        let net = &self.nets[self.nodes[n].net];
        let (network, founder) = (net.id, net.workload.founders().start);
        let joiner = n == self.plan.nodes;
        let store = self.nodes[n].disk.open("network");
        let first = store.load().map(|l| l.events.is_empty()).unwrap_or(true);
        let genesis = (first && n == founder).then_some(&net.genesis);
        let mut bootstrap = Vec::new();
        if joiner {
            bootstrap.push((
                self.nodes[0].key.public(),
                format!("/sim/node/0/p2p/{}", self.nodes[0].key.public()),
            ));
        }
        let config = CoreConfig {
            sync_interval_ms: SYNC_INTERVAL_MS,
            head_timeout_ms: 30_000,
            bootstrap,
            defect: self.plan.defect,
            ..CoreConfig::default()
        };
        let key = Keypair::from_seed(&self.nodes[n].key.seed()).expect("a valid seed");
        let mut store = store;
        if let Err(e) = store.set_network(network) {
            return Err(Violation::Start {
                node: n,
                detail: e.to_string(),
            });
        }
        // A founder other than the first takes the genesis in as if a peer had sent it;
        // so does its store, before the node starts, as `mutual found` leaves it.
        if first && n != founder && !joiner {
            let stored = store
                .put_events(&[&net.genesis])
                .and_then(|()| store.sync());
            if let Err(e) = stored {
                return Err(Violation::Start {
                    node: n,
                    detail: e.to_string(),
                });
            }
        }
        let (core, actions) =
            NodeCore::open(key, network, store, genesis, config, now).map_err(|e| {
                Violation::Start {
                    node: n,
                    detail: e.to_string(),
                }
            })?;
        self.nodes[n].core = Some(core);
        self.perform(n, actions);
        Ok(())
    }

    pub(super) fn crash(&mut self, n: usize) {
        self.report.crashes += 1;
        for p in self.peers(n) {
            self.unlink(n, p);
        }
        let node = &mut self.nodes[n];
        node.core = None;
        node.requests.clear();
        node.inbound.clear();
        node.paper_requests.clear();
        node.paper_inbound.clear();
        node.gossip.clear();
        node.asked.clear();
        node.topics.clear();
        self.report.lost_unflushed += node.disk.crash() as u64;
    }

    /// Restarts a node from what its store had synced; every event it acknowledged must
    /// be there.
    pub(super) fn restart(&mut self, n: usize) -> Result<(), Violation> {
        if self.up(n) {
            return Ok(());
        }
        self.boot(n)?;
        let node = &self.nodes[n];
        let core = node.core.as_ref().expect("just booted");
        let fed = self
            .federation
            .and_then(|f| core.federations().get(&f))
            .map(|l| &l.replica);
        let lost = node
            .acked
            .iter()
            .find(|id| !core.replica().contains(id))
            .or_else(|| {
                node.fed_acked
                    .iter()
                    .find(|id| fed.is_none_or(|r| !r.contains(id)))
            });
        if let Some(lost) = lost {
            return Err(Violation::AcknowledgedLost {
                node: n,
                event: *lost,
                when: "after a restart",
            });
        }
        self.dial(n);
        Ok(())
    }

    /// Moves nodes into new groups; links that break close.
    pub(super) fn regroup(&mut self, groups: &[u8]) {
        for (node, g) in self.nodes.iter_mut().zip(groups) {
            node.group = *g;
        }
        let broken: Vec<(usize, usize)> = self
            .links
            .iter()
            .filter(|(a, b)| self.nodes[*a].group != self.nodes[*b].group)
            .copied()
            .collect();
        for (a, b) in broken {
            self.unlink(a, b);
        }
        for n in 0..self.nodes.len() {
            if self.up(n) {
                self.dial(n);
            }
        }
    }

    /// The forker signs a second event at its latest seq and sends it to some peers.
    pub(super) fn fork(&mut self) {
        let Some(f) = self.forker.filter(|&f| self.up(f)) else {
            return;
        };
        let node = &self.nodes[f];
        let me = node.key.public();
        let Some(core) = &node.core else { return };
        let r = core.replica();
        let Some((seq, head)) = r.feed_head(&me) else {
            return;
        };
        let Some(ev) = r.get(&head) else {
            return;
        };
        let last = ev.event.prev.map(|p| (seq - 1, p));
        let at = ev.event.timestamp_ms;
        let key = Keypair::from_seed(&node.key.seed()).expect("a valid seed");
        let mut twin = FeedWriter::resume(key, self.nets[0].id, last);
        let body = Body::PracticeUpdate(pb::PracticeUpdate {
            list_size: 1,
            ..Default::default()
        });
        let twin = twin.sign(at, ev.event.deps.clone(), body);
        self.signed.insert(twin.id);
        self.twin = Some(twin.id);
        let wire = twin.to_wire();
        // Gossip sends it only to peers on its network's topic (not to a federated
        // network's nodes).
        let topic = self.nets[0].id;
        let mut peers: Vec<usize> = self
            .peers(f)
            .into_iter()
            .filter(|p| Some(*p) != self.silent && self.nodes[*p].topics.contains(&topic))
            .collect();
        peers.shuffle(&mut self.rng);
        for p in peers.into_iter().take(2) {
            self.send(
                f,
                p,
                Msg::Gossip {
                    topic,
                    wire: wire.clone(),
                },
            );
        }
    }
}
