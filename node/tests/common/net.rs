//! A network of two practices for the tests that drive the node's core directly: keys
//! from small seeds, the genesis, and the core's clocks.

use mutual_node::core::Now;
use mutual_proto::v1 as pb;
use mutual_protocol::event::{FeedWriter, SignedEvent};
use mutual_protocol::keys::Keypair;

/// The genesis's time, ms.
pub const T0: u64 = 1_790_000_000_000;

/// The key with seed `[n; 32]`.
pub fn key(n: u8) -> Keypair {
    Keypair::from_seed(&[n; 32]).expect("key")
}

/// The practice `P{n}` whose node key is `key(n)`.
pub fn practice(n: u8) -> pb::Practice {
    pb::Practice {
        name: format!("Practice {n}"),
        ods_code: format!("P{n}"),
        locality: "North".into(),
        list_size: 5_000,
        node_key: key(n).public().as_bytes().to_vec(),
    }
}

/// A network of two practices (node keys 1 and 2) with one partner each (keys 11, 12).
pub fn network() -> (SignedEvent, FeedWriter) {
    network_of(2)
}

/// The node keys' seeds of a network of `practices` practices: 1, 2, ..., leaving out the
/// partners' 11 and 12.
pub fn practice_keys(practices: u8) -> Vec<u8> {
    (1..=u8::MAX)
        .filter(|n| *n != 11 && *n != 12)
        .take(usize::from(practices))
        .collect()
}

/// A network of `practices` practices ([`practice_keys`]), the first two with a partner
/// each (keys 11 and 12).
pub fn network_of(practices: u8) -> (SignedEvent, FeedWriter) {
    let partner = |n: u8, p: u8| pb::Partner {
        name: format!("Dr {n}"),
        practice_ods: format!("P{p}"),
        role: pb::PartnerRole::Partner as i32,
        key: key(n).public().as_bytes().to_vec(),
    };
    let (w, g) = FeedWriter::found(
        key(1),
        T0,
        pb::Genesis {
            name: "Core test".into(),
            practices: practice_keys(practices).into_iter().map(practice).collect(),
            partners: vec![partner(11, 1), partner(12, 2)],
            ..Default::default()
        },
    );
    (g, w)
}

/// Both clocks at `ms` after [`T0`] (the monotonic one from 0).
pub fn at(ms: u64) -> Now {
    Now {
        wall_ms: T0 + ms,
        mono_ms: ms,
    }
}
