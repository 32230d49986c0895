//! Ingest throughput against raw signature verification, measured in one run.
//!
//! `cargo bench -p mutual-protocol --bench ingest` prints, for the same machine and run:
//! - `ingest/in_order`: events ingested per second (decode, batch signature check, chain
//!   and causality checks, store, fold), 5,000 events from 5 authors;
//! - `ingest/shuffled`: the same events delivered in a random order (pending set and
//!   re-folds from checkpoints at work);
//! - `ingest/voting`: as `in_order`, but every other event is a partner's ballot on one
//!   open motion, witnessed by the next event, by another practice's node
//!   (docs/GOVERNANCE.md §5.5): what witnessing and counting add to the fold;
//! - `verify/single_dalek_strict`, `verify/single_mutual`: one signature at a time;
//! - `verify/batch_64`: signatures checked 64 at a time.
//!
//! The figures to quote are the ratios: ingest vs single verification (how much the
//! log costs beyond the signature), and batch vs single.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, FeedWriter, SignedEvent};
use mutual_protocol::governance::deed::default_deed;
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::keys::Keypair;
use mutual_protocol::replica::Replica;
use mutual_protocol::signature::{self, Item, EVENT_DOMAIN};
use std::collections::HashMap;

const T0: u64 = 1_767_225_600_000;
const EVENTS: usize = 5_000;
const AUTHORS: u32 = 5;
const BATCH: usize = 64;

fn key(n: u32) -> Keypair {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&n.to_le_bytes());
    Keypair::from_seed(&seed).expect("key")
}

/// The partner of practice `n` (one each, in the voting workload).
fn partner(n: u32) -> u32 {
    100 + n
}

/// `EVENTS` events by `AUTHORS` practice nodes, each following the one before. With
/// `voting`, the practices have one partner each, the first event proposes a motion, and
/// every other event is a ballot on it by a partner of the practice before the next
/// event's, so each ballot is witnessed by the event that follows it.
fn workload(voting: bool) -> (NetworkId, Vec<Vec<u8>>) {
    let practices = (1..=AUTHORS)
        .map(|n| pb::Practice {
            name: format!("Practice {n}"),
            ods_code: format!("M{n:05}"),
            locality: "North".into(),
            list_size: 9_000,
            node_key: key(n).public().as_bytes().to_vec(),
        })
        .collect();
    let partners = if voting {
        (1..=AUTHORS)
            .map(|n| pb::Partner {
                name: format!("Dr {n}"),
                practice_ods: format!("M{n:05}"),
                role: pb::PartnerRole::Partner as i32,
                key: key(partner(n)).public().as_bytes().to_vec(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let g = pb::Genesis {
        name: "Bench".into(),
        practices,
        partners,
        deed: voting.then(default_deed),
        ..Default::default()
    };
    let (founder, genesis) = FeedWriter::found(key(1), T0, g);
    let network = NetworkId(genesis.id);
    let mut writers: HashMap<u32, FeedWriter> = HashMap::new();
    writers.insert(1, founder);
    let mut wires = vec![genesis.to_wire()];
    let mut last: Vec<EventId> = vec![genesis.id];
    let mut sign = |who: u32, ts: u64, deps: Vec<EventId>, body: Body| {
        let ev = writers
            .entry(who)
            .or_insert_with(|| FeedWriter::resume(key(who), network, None))
            .sign(ts, deps, body);
        wires.push(ev.to_wire());
        ev.id
    };
    let motion = voting.then(|| {
        sign(
            partner(1),
            T0,
            last.clone(),
            Body::Motion(pb::Motion {
                kind: pb::DecisionKind::General as i32,
                title: "Bench".into(),
                closes_at_ms: T0 + 2 * 24 * 60 * 60 * 1000,
                ..Default::default()
            }),
        )
    });
    if let Some(m) = motion {
        last = vec![m];
    }
    let node = |i: usize| (i as u32 / 2) % AUTHORS + 1;
    for i in 0..EVENTS {
        let ts = T0 + i as u64;
        // Each event follows the previous event of the whole network: a causal chain
        // across authors, as a busy network with good connectivity produces.
        let id = match motion {
            Some(m) if i % 2 == 1 => {
                let choice = if i % 4 == 1 {
                    pb::Choice::For
                } else {
                    pb::Choice::Against
                };
                let mut deps = last.clone();
                deps.push(m);
                sign(
                    partner(node(i)),
                    ts,
                    deps,
                    Body::Ballot(pb::Ballot {
                        motion: m.as_bytes().to_vec(),
                        choice: choice as i32,
                        ..Default::default()
                    }),
                )
            }
            _ => sign(
                if voting {
                    node(i + 1)
                } else {
                    (i as u32) % AUTHORS + 1
                },
                ts,
                last.clone(),
                Body::PracticeUpdate(pb::PracticeUpdate {
                    list_size: i as u32,
                    ..Default::default()
                }),
            ),
        };
        last = vec![id];
    }
    (network, wires)
}

fn ingest_all(network: NetworkId, wires: &[Vec<u8>]) -> Replica {
    let mut r = Replica::new(network);
    for chunk in wires.chunks(BATCH) {
        for res in r.ingest_batch(T0 + 1_000_000, chunk) {
            assert!(res.is_ok());
        }
    }
    r
}

fn bench_ingest(c: &mut Criterion) {
    let (network, wires) = workload(false);
    let (voting_network, voting) = workload(true);
    // The voting workload does what it says: every ballot applies and the partners'
    // votes are counted.
    let r = ingest_all(voting_network, &voting);
    let rec = r.state().governance().motions().next().expect("the motion");
    assert_eq!(
        rec.votes.ballots.len(),
        AUTHORS as usize,
        "every partner's vote counts"
    );
    assert!(rec.unwitnessed.len() <= 1, "only the last ballot may wait");
    let mut shuffled = wires.clone();
    // A fixed permutation: reverse each window of 200, so every event arrives before
    // some of its causes.
    for w in shuffled.chunks_mut(200) {
        w.reverse();
    }
    let mut g = c.benchmark_group("ingest");
    g.sample_size(10);
    g.throughput(Throughput::Elements(wires.len() as u64));
    g.bench_function("in_order", |b| b.iter(|| ingest_all(network, &wires)));
    g.bench_function("shuffled", |b| b.iter(|| ingest_all(network, &shuffled)));
    g.bench_function("voting", |b| b.iter(|| ingest_all(voting_network, &voting)));
    g.finish();
}

fn bench_verify(c: &mut Criterion) {
    let (_, wires) = workload(false);
    let events: Vec<SignedEvent> = wires[1..=BATCH]
        .iter()
        .map(|w| SignedEvent::decode(w).expect("decodes"))
        .collect();
    let items: Vec<Item<'_>> = events.iter().map(SignedEvent::signature_item).collect();
    let dalek: Vec<(
        ed25519_dalek::VerifyingKey,
        Vec<u8>,
        ed25519_dalek::Signature,
    )> = events
        .iter()
        .map(|e| {
            let vk =
                ed25519_dalek::VerifyingKey::from_bytes(e.event.author.as_bytes()).expect("vk");
            let mut msg = EVENT_DOMAIN.to_vec();
            msg.extend_from_slice(&e.event_bytes);
            (vk, msg, ed25519_dalek::Signature::from_bytes(&e.signature))
        })
        .collect();
    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("single_dalek_strict", |b| {
        b.iter(|| {
            dalek
                .iter()
                .all(|(vk, m, s)| vk.verify_strict(m, s).is_ok())
        })
    });
    g.bench_function("single_mutual", |b| {
        b.iter(|| items.iter().all(signature::verify))
    });
    g.bench_function("batch_64", |b| {
        b.iter_batched(
            || items.clone(),
            |it| signature::verify_batch(&it),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench_ingest, bench_verify);
criterion_main!(benches);
