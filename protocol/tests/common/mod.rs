//! Shared fixtures: a small partnership, and generated histories for property tests.
#![allow(dead_code)]

mod delivery;
mod generated;

// Each test binary uses its own share of these.
#[allow(unused_imports)]
pub use delivery::{deliver, deliver_with_runs, exercised, Exercised};
#[allow(unused_imports)]
pub use generated::{history, history_deed, History};
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, FeedWriter, SignedEvent};
use mutual_protocol::id::NetworkId;
use mutual_protocol::keys::{Keypair, PublicKey};
use mutual_protocol::membership::rotation_message;
use mutual_protocol::replica::Replica;
use mutual_protocol::signature::ROTATE_DOMAIN;

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
