//! What a replica lacks, found from its heads: [`Replica::beyond`] against the set
//! difference, on generated histories (forks, governance, several authors) delivered in
//! part to one replica and in full to another.

use crate::common;

use common::{deliver, history, T0};
use mutual_protocol::id::EventId;
use mutual_protocol::replica::{Beyond, Replica};
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;

/// A replica given a random part of `wires` in a random order: what it stores is closed
/// under causes, as every replica's is.
fn part_of(network: mutual_protocol::id::NetworkId, wires: &[Vec<u8>], seed: u64) -> Replica {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<&Vec<u8>> = wires.iter().collect();
    order.shuffle(&mut rng);
    let keep = rng.gen_range(0..=order.len());
    let mut r = Replica::new(network);
    for res in r.ingest_batch(T0 + 10_000_000_000, &order[..keep]) {
        res.expect("every generated event is valid");
    }
    r
}

/// The events `full` holds and `part` does not, in `full`'s fold order.
fn difference(full: &Replica, part: &Replica) -> Vec<EventId> {
    let held: HashSet<EventId> = part.events_in_order().map(|e| e.id).collect();
    full.events_in_order()
        .map(|e| e.id)
        .filter(|id| !held.contains(id))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_events_beyond_a_replicas_heads_are_exactly_what_it_lacks(
        seed in any::<u64>(),
        events in 20usize..200,
    ) {
        let h = history(seed, events);
        let full = deliver(&h.fixture, &h.wires, seed);
        for k in 0..4 {
            let part = part_of(h.fixture.network, &h.wires, seed.wrapping_add(k));
            let heads = part.all_heads(usize::MAX).expect("no limit");
            let expected = difference(&full, &part);
            if heads.is_empty() {
                // Nothing stored, not even the genesis: nothing to walk back to.
                prop_assert!(part.is_empty());
                continue;
            }
            prop_assert_eq!(full.beyond(&heads, usize::MAX), Beyond::Events(expected.clone()));
            // A budget of what the walk needs at most (every event once) is enough.
            prop_assert_eq!(full.beyond(&heads, full.len()), Beyond::Events(expected.clone()));
            // The part lacks something: it does not know the full replica's heads.
            let full_heads = full.all_heads(usize::MAX).expect("no limit");
            let back = part.beyond(&full_heads, usize::MAX);
            if expected.is_empty() {
                prop_assert_eq!(back, Beyond::Events(Vec::new()));
            } else {
                prop_assert_eq!(back, Beyond::Unknown);
            }
        }
    }
}

/// A walk over its budget says so, and a budget of what the walk needs does not;
/// a head limit one below the heads held gives none.
#[test]
fn the_walk_and_the_heads_are_bounded() {
    let h = history(7, 150);
    let full = deliver(&h.fixture, &h.wires, 7);
    let genesis = [h.fixture.genesis.id];
    // From the genesis alone, everything else is beyond: the walk visits every other
    // event once.
    let others = full.len() - 1;
    match full.beyond(&genesis, others) {
        Beyond::Events(e) => assert_eq!(e.len(), others),
        other => panic!("{other:?}"),
    }
    assert_eq!(full.beyond(&genesis, others - 1), Beyond::TooFar);
    let heads = full.all_heads(usize::MAX).expect("no limit");
    assert_eq!(full.all_heads(heads.len()), Some(heads.clone()));
    assert_eq!(full.all_heads(heads.len() - 1), None);
    assert_eq!(
        full.beyond(&heads, 0),
        Beyond::Events(Vec::new()),
        "its own heads: nothing beyond, nothing to visit"
    );
}
