//! An in-process partnership: one network, several replicas, each fed the same events in
//! a different order, with duplicates, in batches of different sizes. Shows the core's
//! convergence without a network; the networked demo runs real node processes.

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
    let mut t = plan.start_ms;
    for _ in 0..plan.events {
        t += rng.gen_range(1..60_000);
        let who = rng.gen_range(0..plan.practices);
        // Gossip reaches the author's view with some lag: catch up on a random prefix.
        let known = views[who].len();
        let upto = rng.gen_range(known..=log.len());
        let wires: Vec<Vec<u8>> = log[known.min(upto)..upto]
            .iter()
            .map(SignedEvent::to_wire)
            .collect();
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
        nodes.push(NodeResult {
            practice,
            events: r.len(),
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
