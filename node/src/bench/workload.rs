//! The signed events the benchmarks measure: a network whose practices' nodes each sign
//! practice updates, every event following the one signed just before it anywhere in
//! the network (a causal chain across authors, as a busy, well-connected network makes).

use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, FeedWriter, SignedEvent};
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::keys::Keypair;
use mutual_protocol::limits::MAX_LIST_LEN;

/// When the benchmark network is founded, ms since the epoch.
pub const T0: u64 = 1_790_000_000_000;

/// Most practices a benchmark network may have, all listed in its genesis.
pub const MAX_AUTHORS: usize = MAX_LIST_LEN;

/// A benchmark network: its genesis, the events signed after it, in causal order, and
/// its practices' node keys (the first is the founder's).
pub struct Workload {
    /// The network.
    pub network: NetworkId,
    /// Its genesis.
    pub genesis: SignedEvent,
    /// The events after the genesis, each following the one before.
    pub events: Vec<SignedEvent>,
    /// Each practice's node key.
    pub keys: Vec<Keypair>,
}

/// The node key of practice `n`.
pub fn practice_key(n: usize) -> Keypair {
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&(n as u64).to_le_bytes());
    Keypair::from_seed(&seed).expect("any 32 bytes are a seed")
}

/// A network of `authors` practices (at most [`MAX_AUTHORS`]) whose nodes sign `events`
/// practice updates in turn after the genesis.
pub fn workload(authors: usize, events: usize) -> Workload {
    let authors = authors.clamp(1, MAX_AUTHORS);
    let keys: Vec<Keypair> = (0..authors).map(practice_key).collect();
    let genesis = pb::Genesis {
        name: "Benchmark Partnership".into(),
        practices: keys
            .iter()
            .enumerate()
            .map(|(n, k)| pb::Practice {
                name: format!("Practice {n}"),
                ods_code: format!("B{n:05}"),
                locality: "North".into(),
                list_size: 8_000,
                node_key: k.public().as_bytes().to_vec(),
            })
            .collect(),
        ..Default::default()
    };
    let copy = |k: &Keypair| Keypair::from_seed(&k.seed()).expect("a valid seed");
    let (founder, genesis) = FeedWriter::found(copy(&keys[0]), T0, genesis);
    let network = NetworkId(genesis.id);
    let mut writers: Vec<FeedWriter> = vec![founder];
    writers.extend(
        keys[1..]
            .iter()
            .map(|k| FeedWriter::resume(copy(k), network, None)),
    );
    let mut last: EventId = genesis.id;
    let mut out = Vec::with_capacity(events);
    for i in 0..events {
        let ev = writers[i % authors].sign(
            T0 + 1 + i as u64,
            vec![last],
            Body::PracticeUpdate(pb::PracticeUpdate {
                list_size: 1_000 + i as u32,
                ..Default::default()
            }),
        );
        last = ev.id;
        out.push(ev);
    }
    Workload {
        network,
        genesis,
        events: out,
        keys,
    }
}

/// `w` with `count` more authors before its events: keys no member holds, each signing
/// one practice update after the genesis. A log stores such events (the fold rejects
/// them), and a node's store hands them back on start, so two nodes holding them show
/// frontiers of that many more authors: the only way a benchmark reaches the tens of
/// thousands of authors a national federation has, since a genesis lists at most
/// [`MAX_AUTHORS`] practices. Sync treats every author alike in reconciliation and
/// pulls none of these feeds, so the bytes measured are those of so many members.
pub fn with_strangers(mut w: Workload, count: usize) -> Workload {
    let strangers = (0..count)
        .map(|n| {
            let mut seed = [9u8; 32];
            seed[..8].copy_from_slice(&(n as u64).to_le_bytes());
            let key = Keypair::from_seed(&seed).expect("any 32 bytes are a seed");
            FeedWriter::resume(key, w.network, None).sign(
                T0 + 1,
                vec![w.genesis.id],
                Body::PracticeUpdate(pb::PracticeUpdate::default()),
            )
        })
        .collect::<Vec<_>>();
    // In fold order (all at height 1, then by id), so that loading them re-folds nothing.
    let mut strangers = strangers;
    strangers.sort_by_key(|e| e.id);
    w.events.splice(0..0, strangers);
    w
}
