//! An in-process partnership: one network, several replicas, each fed the same events in
//! a different order, with duplicates, in batches of different sizes. Shows the core's
//! convergence without a network; the networked demo runs real node processes.
//!
//! Each replica's pending set is bounded ([`mutual_protocol::limits::MAX_PENDING_EVENTS`]),
//! so in a long shuffled delivery it refuses events whose causes are far off. What it
//! refused comes again as a sync round brings it (docs/NETWORK.md §4.3): after the
//! shuffled copies, each replica is sent what it still lacks in the log's causal order, in
//! pages, as a peer's feeds arrive.

use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, FeedWriter, SignedEvent};
use mutual_protocol::id::NetworkId;
use mutual_protocol::keys::Keypair;
use mutual_protocol::replica::Replica;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Most practices a simulation may have (each is one replica held in memory).
pub const MAX_SIM_PRACTICES: usize = 64;
/// Most events a simulation may author.
pub const MAX_SIM_EVENTS: usize = 200_000;

/// Events a sync page carries in the sync pass.
const SYNC_PAGE: usize = 256;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Number of practices (one replica each).
    pub practices: usize,
    /// Number of events authored after the genesis.
    pub events: usize,
    /// Seed for every random choice.
    pub seed: u64,
    /// The time the network is founded, ms since the epoch.
    pub start_ms: u64,
}

/// One replica's result.
#[derive(Debug, Serialize)]
pub struct NodeResult {
    /// The practice's ODS code.
    pub practice: String,
    /// Events stored.
    pub events: usize,
    /// Of those, events stored during the sync pass: those it sent (the shuffled copies'
    /// were refused, the pending set being full) and those it released from the pending
    /// set by sending their causes.
    pub by_sync: usize,
    /// The state hash.
    pub state_hash: String,
}

/// The simulation's result.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// The network id.
    pub network: String,
    /// Whether every replica has the same state hash.
    pub converged: bool,
    /// Per replica.
    pub nodes: Vec<NodeResult>,
    /// Signed events authored, genesis included.
    pub authored: usize,
    /// Copies delivered to each replica (with duplicates).
    pub delivered_per_node: usize,
    #[serde(skip)]
    /// The authored events, for export.
    pub log: Vec<SignedEvent>,
    /// Seconds the delivery to every replica took (not the authoring), for `mutual bench`.
    #[serde(skip)]
    pub delivery_secs: f64,
}

/// Why a plan cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// Outside the allowed range.
    #[error("{what} must be between {min} and {max}, got {got}")]
    OutOfRange {
        /// Which setting.
        what: &'static str,
        /// Lowest allowed.
        min: usize,
        /// Highest allowed.
        max: usize,
        /// What was asked for.
        got: usize,
    },
}

/// The node key of simulated practice `n` under `seed`.
pub fn practice_key(seed: u64, n: usize) -> Keypair {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    Keypair::generate(&mut rng)
}

/// The genesis of a simulated partnership: one practice per key, named, coded and placed
/// by its index.
pub fn founding(seed: u64, keys: &[Keypair]) -> pb::Genesis {
    pb::Genesis {
        name: "Simulated Health Partnership".into(),
        practices: keys
            .iter()
            .enumerate()
            .map(|(n, k)| pb::Practice {
                name: format!("Practice {}", n + 1),
                ods_code: format!("Y{:05}", 10_000 + n),
                locality: ["North", "South", "East", "West"][n % 4].into(),
                list_size: 6_000 + 500 * n as u32,
                node_key: k.public().as_bytes().to_vec(),
            })
            .collect(),
        deed: None,
        partners: Vec::new(),
        nonce: seed.to_le_bytes().to_vec(),
    }
}

/// Runs a simulation.
pub fn run(plan: &Plan) -> Result<Summary, PlanError> {
    if !(1..=MAX_SIM_PRACTICES).contains(&plan.practices) {
        return Err(PlanError::OutOfRange {
            what: "practices",
            min: 1,
            max: MAX_SIM_PRACTICES,
            got: plan.practices,
        });
    }
    if plan.events > MAX_SIM_EVENTS {
        return Err(PlanError::OutOfRange {
            what: "events",
            min: 0,
            max: MAX_SIM_EVENTS,
            got: plan.events,
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    let keys: Vec<Keypair> = (0..plan.practices)
        .map(|n| practice_key(plan.seed, n))
        .collect();
    let genesis = founding(plan.seed, &keys);
    let ods: Vec<String> = genesis
        .practices
        .iter()
        .map(|p| p.ods_code.clone())
        .collect();
    let mut keys = keys.into_iter();
    let founder = keys
        .next()
        .unwrap_or_else(|| unreachable!("at least one practice"));
    let (first, genesis_event) = FeedWriter::found(founder, plan.start_ms, genesis);
    let network = NetworkId(genesis_event.id);
    let mut writers = vec![first];
    writers.extend(keys.map(|k| FeedWriter::resume(k, network, None)));

    // Authoring: each practice keeps its own view (a replica) and lists its heads as deps.
    let mut views: Vec<Replica> = (0..plan.practices).map(|_| Replica::new(network)).collect();
    let mut log = vec![genesis_event];
    for v in &mut views {
        let _ = v.ingest(plan.start_ms, &log[0].to_wire());
    }
    // How much of the log each practice's view has been sent (its own events among them,
    // which come back as duplicates).
    let mut sent = vec![1; plan.practices];
    let mut t = plan.start_ms;
    for _ in 0..plan.events {
        t += rng.gen_range(1..60_000);
        let who = rng.gen_range(0..plan.practices);
        // Gossip reaches the author's view with some lag: catch up on a random prefix.
        let upto = rng.gen_range(sent[who]..=log.len());
        let wires: Vec<Vec<u8>> = log[sent[who]..upto]
            .iter()
            .map(SignedEvent::to_wire)
            .collect();
        sent[who] = upto;
        let _ = views[who].ingest_batch(t, &wires);
        let body = if rng.gen_bool(0.2) {
            Body::AddressAnnouncement(pb::AddressAnnouncement {
                addresses: vec![format!("/ip4/127.0.0.1/tcp/{}", 40_000 + who)],
            })
        } else {
            Body::PracticeUpdate(pb::PracticeUpdate {
                list_size: rng.gen_range(3_000..20_000),
                ..Default::default()
            })
        };
        let ev = writers[who].sign(t, views[who].heads(), body);
        let _ = views[who].ingest(t, &ev.to_wire());
        log.push(ev);
    }

    // Delivery: every replica gets the whole log in its own random order, with duplicates.
    let now = t + 1;
    let wires: Vec<Vec<u8>> = log.iter().map(SignedEvent::to_wire).collect();
    let mut nodes = Vec::with_capacity(plan.practices);
    let mut delivered = 0;
    let started = std::time::Instant::now();
    for practice in ods {
        let mut order: Vec<&Vec<u8>> = wires.iter().collect();
        for _ in 0..wires.len() / 10 {
            order.push(&wires[rng.gen_range(0..wires.len())]);
        }
        order.shuffle(&mut rng);
        delivered = order.len();
        let mut r = Replica::new(network);
        for chunk in order.chunks(rng.gen_range(1..64)) {
            let _ = r.ingest_batch(now, chunk);
        }
        let shuffled = r.len();
        // The sync pass: what the replica still lacks, in causal order.
        let lacking: Vec<&Vec<u8>> = log
            .iter()
            .zip(&wires)
            .filter(|(e, _)| !r.knows(&e.id))
            .map(|(_, w)| w)
            .collect();
        for page in lacking.chunks(SYNC_PAGE) {
            let _ = r.ingest_batch(now, page);
        }
        nodes.push(NodeResult {
            practice,
            events: r.len(),
            by_sync: r.len() - shuffled,
            state_hash: r.state_hash().to_string(),
        });
    }
    let delivery_secs = started.elapsed().as_secs_f64();
    let converged = nodes.windows(2).all(|w| w[0].state_hash == w[1].state_hash);
    Ok(Summary {
        network: network.to_string(),
        converged,
        nodes,
        authored: log.len(),
        delivered_per_node: delivered,
        log,
        delivery_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutual_protocol::limits::MAX_PENDING_EVENTS;

    #[test]
    fn what_the_pending_cap_refused_comes_by_the_sync_pass_and_every_replica_converges() {
        // More events than the pending set holds, delivered shuffled: the shuffled copies
        // alone cannot store them all.
        let plan = Plan {
            practices: 2,
            events: MAX_PENDING_EVENTS + 4_000,
            seed: 3,
            start_ms: 1_700_000_000_000,
        };
        let s = run(&plan).expect("a plan in range");
        assert!(s.converged);
        for n in &s.nodes {
            assert_eq!(n.events, s.authored, "{} holds every event", n.practice);
            assert!(n.by_sync > 0, "{} needed the sync pass", n.practice);
        }
    }
}
