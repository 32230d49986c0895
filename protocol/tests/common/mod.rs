//! Shared fixtures: a small partnership, and generated histories for property tests.
#![allow(dead_code)]

use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, FeedWriter, SignedEvent};
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::keys::{Keypair, PublicKey};
use mutual_protocol::membership::rotation_message;
use mutual_protocol::replica::Replica;
use mutual_protocol::signature::ROTATE_DOMAIN;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A fixed start time: 2026-01-01T00:00:00Z in ms.
pub const T0: u64 = 1_767_225_600_000;

pub fn key(n: u32) -> Keypair {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&n.to_le_bytes());
    seed[4] = 0xAA;
    Keypair::from_seed(&seed).expect("seed gives a key")
}

pub fn practice(n: u32) -> pb::Practice {
    pb::Practice {
        name: format!("Practice {n}"),
        ods_code: format!("M{:05}", 85000 + n),
        locality: ["North", "South", "East"][n as usize % 3].into(),
        list_size: 8000 + n,
        node_key: key(n).public().as_bytes().to_vec(),
    }
}

pub fn partner(n: u32, practice_n: u32) -> pb::Partner {
    pb::Partner {
        name: format!("Dr Partner {n}"),
        practice_ods: format!("M{:05}", 85000 + practice_n),
        role: pb::PartnerRole::Partner as i32,
        key: key(n).public().as_bytes().to_vec(),
    }
}

/// A network of `practices` practices (keys 1..=p) and two partners per practice
/// (keys 100 + ...), founded by practice 1.
pub struct Fixture {
    pub network: NetworkId,
    pub genesis: SignedEvent,
    pub practices: Vec<u32>,
    pub partners: Vec<u32>,
}

impl Fixture {
    pub fn new(practices: u32) -> (Self, FeedWriter) {
        Self::with_deed(practices, Some(pb::Deed::default()))
    }

    /// The same partnership, founded with `deed`.
    pub fn with_deed(practices: u32, deed: Option<pb::Deed>) -> (Self, FeedWriter) {
        let ps: Vec<u32> = (1..=practices).collect();
        let partners: Vec<u32> = ps
            .iter()
            .flat_map(|&p| [100 + 2 * p, 101 + 2 * p])
            .collect();
        let g = pb::Genesis {
            name: "Test Partnership".into(),
            practices: ps.iter().map(|&p| practice(p)).collect(),
            partners: partners
                .iter()
                .map(|&k| partner(k, (k - 100) / 2))
                .collect(),
            deed,
            nonce: vec![7; 16],
        };
        let (writer, genesis) = FeedWriter::found(key(1), T0, g);
        (
            Fixture {
                network: NetworkId(genesis.id),
                genesis,
                practices: ps,
                partners,
            },
            writer,
        )
    }

    pub fn writer(&self, n: u32) -> FeedWriter {
        FeedWriter::resume(key(n), self.network, None)
    }

    pub fn replica(&self) -> Replica {
        let mut r = Replica::new(self.network);
        r.ingest(T0, &self.genesis.to_wire()).expect("genesis");
        r
    }
}

/// A key rotation from `old` to `new`, with `new`'s proof of possession.
pub fn rotation(network: &NetworkId, old: &PublicKey, new: &Keypair) -> Body {
    let proof = new.sign(ROTATE_DOMAIN, &rotation_message(network, old));
    Body::KeyRotation(pb::KeyRotation {
        new_key: new.public().as_bytes().to_vec(),
        new_key_signature: proof.to_vec(),
    })
}

pub fn update(list_size: u32) -> Body {
    Body::PracticeUpdate(pb::PracticeUpdate {
        list_size,
        ..Default::default()
    })
}

/// A generated history: every event's wire bytes, with enough variety to exercise the
/// fold: several authors, a causal DAG, forks, key rotation and revocation, resignations,
/// strangers, and bodies the state machine does not act on.
pub struct History {
    pub fixture: Fixture,
    pub wires: Vec<Vec<u8>>,
    pub forks: usize,
}

pub fn history(seed: u64, events: usize) -> History {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (fx, founder) = Fixture::new(3);
    let mut wires = vec![fx.genesis.to_wire()];
    let mut ids: Vec<EventId> = vec![fx.genesis.id];
    // Authors: practices, partners, and one stranger. Each entry: (key number, writer).
    let mut authors: Vec<(u32, FeedWriter)> = vec![(1, founder)];
    for &p in &fx.practices[1..] {
        authors.push((p, fx.writer(p)));
    }
    for &k in &fx.partners {
        authors.push((k, fx.writer(k)));
    }
    authors.push((999, fx.writer(999)));
    let mut next_key = 5000u32;
    let mut forks = 0;
    let mut t = T0;
    while wires.len() < events {
        t += rng.gen_range(1..5_000);
        let a = rng.gen_range(0..authors.len());
        let ndeps = rng.gen_range(0..4);
        let deps: Vec<EventId> = (0..ndeps)
            .map(|_| ids[rng.gen_range(0..ids.len())])
            .collect();
        let roll = rng.gen_range(0..100);
        let (kn, w) = &mut authors[a];
        let body = match roll {
            0..=2 => {
                // Rotate to a fresh key; the author continues under it.
                let new = key(next_key);
                let ev = w.sign(t, deps, rotation(&fx.network, &w.author(), &new));
                ids.push(ev.id);
                wires.push(ev.to_wire());
                let mut nw = FeedWriter::resume(new, fx.network, None);
                t += 1;
                let first = nw.sign(t, vec![ev.id], update(rng.gen_range(1..99_999)));
                ids.push(first.id);
                wires.push(first.to_wire());
                *kn = next_key;
                *w = nw;
                next_key += 1;
                continue;
            }
            3..=5 => {
                // Fork: a second writer at the same position signs something else.
                let mut twin = twin_writer(&fx, *kn, w, &wires);
                let ev = twin.sign(t, deps.clone(), update(rng.gen_range(1..99_999)));
                ids.push(ev.id);
                wires.push(ev.to_wire());
                forks += 1;
                update(rng.gen_range(1..99_999))
            }
            6 => Body::PartnerResign(pb::PartnerResign {
                reason: "retiring".into(),
            }),
            7..=9 => Body::KeyRevocation(pb::KeyRevocation {
                key: key(fx.partners[rng.gen_range(0..fx.partners.len())])
                    .public()
                    .as_bytes()
                    .to_vec(),
                reason: "lost laptop".into(),
            }),
            10..=19 => Body::AddressAnnouncement(pb::AddressAnnouncement {
                addresses: vec![format!("/ip4/127.0.0.1/tcp/{}", rng.gen_range(1024..65535))],
            }),
            20..=24 => Body::Motion(pb::Motion {
                title: "A motion".into(),
                ..Default::default()
            }),
            25..=26 => Body::Invitation(pb::Invitation {
                node_key: key(8000 + rng.gen_range(0..20))
                    .public()
                    .as_bytes()
                    .to_vec(),
                expires_ms: t + rng.gen_range(1..200_000),
                ..Default::default()
            }),
            _ => update(rng.gen_range(1..99_999)),
        };
        let ev = w.sign(t, deps, body);
        ids.push(ev.id);
        wires.push(ev.to_wire());
    }
    History {
        fixture: fx,
        wires,
        forks,
    }
}

/// A writer for the same key at the same position as `w`, found by replaying `wires`.
fn twin_writer(fx: &Fixture, kn: u32, w: &FeedWriter, wires: &[Vec<u8>]) -> FeedWriter {
    let author = w.author();
    let last = wires
        .iter()
        .filter_map(|b| SignedEvent::decode(b).ok())
        .filter(|e| e.event.author == author && e.event.seq + 1 == w.next_seq())
        .map(|e| (e.event.seq, e.id))
        .next();
    FeedWriter::resume(key(kn), fx.network, last)
}

/// Delivers `wires` to a fresh replica in a random order, with duplicates, in random
/// batch sizes, then advances the clock past every timestamp.
pub fn deliver(fx: &Fixture, wires: &[Vec<u8>], seed: u64) -> Replica {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<&Vec<u8>> = wires.iter().collect();
    let dups = rng.gen_range(0..wires.len() / 4 + 1);
    for _ in 0..dups {
        order.push(&wires[rng.gen_range(0..wires.len())]);
    }
    order.shuffle(&mut rng);
    let mut r = Replica::new(fx.network);
    let now = T0 + 10_000_000_000;
    let mut i = 0;
    while i < order.len() {
        let n = rng.gen_range(1..8).min(order.len() - i);
        for res in r.ingest_batch(now, &order[i..i + n]) {
            res.expect("every generated event is valid");
        }
        i += n;
    }
    r
}
