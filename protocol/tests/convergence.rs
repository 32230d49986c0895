//! Invariant 1, convergence: the derived state is a pure function of the set of events.
//!
//! Generated histories (see `common::history`) are delivered to fresh replicas in many
//! random orders, with duplicates and random batch sizes; every order must give the same
//! state hash, and the incrementally folded state must equal a fold from scratch. The
//! histories mix membership changes, forks and governance, so the property covers the
//! parts of the fold most sensitive to order: ballots counted only once witnessed, motions
//! closed by the first practice event past their grace, and passed motions' effects. A
//! last test checks that the generator keeps producing that governance at all: it once
//! wrote only malformed motions, and the property then folded no motion, ballot or proxy.

use crate::common;

use common::{deliver, deliver_with_runs, exercised, history, Exercised};
use mutual_protocol::governance::ClosedVotes;
use proptest::prelude::*;

/// Histories generated per run, and delivery orders tried for each: 20 × 50 = 1,000
/// random delivery orders (with duplicates and random batch sizes) per run.
const HISTORIES: u32 = 20;
const ORDERS_PER_HISTORY: u64 = 50;

proptest! {
    #![proptest_config(ProptestConfig { cases: HISTORIES, ..ProptestConfig::default() })]

    #[test]
    fn any_delivery_order_gives_the_same_state_hash(seed in any::<u64>(), events in 150usize..300) {
        let h = history(seed, events);
        let reference = deliver(&h.fixture, &h.wires, seed ^ 0x5eed);
        prop_assert_eq!(reference.len(), h.wires.len(), "every event is stored");
        prop_assert_eq!(reference.pending_len(), 0);
        // The cached, incrementally folded state equals a fold from scratch.
        prop_assert_eq!(reference.state(), &reference.fold_from_scratch());
        // Forks in the history are detected.
        prop_assert_eq!(reference.forks().is_empty(), h.forks == 0);
        // Closed motions' ballot lists, kept beside the state, are those a fold from
        // scratch let go of.
        let lists = closed_lists(&reference);
        let scratch = reference.fold_from_scratch();
        for (id, kept) in &lists {
            let alone = scratch.governance().archived(id);
            prop_assert_eq!(alone.as_ref(), Some(kept));
        }
        let expected = reference.state_hash();
        let in_order: Vec<_> = reference.ids_in_order().map(|(id, o)| (id, o.clone())).collect();
        for order in 1..ORDERS_PER_HISTORY {
            // One order in five to a replica keeping its indexes in runs, written every
            // few events, so that lookups, refolds and merges go through them.
            let runs = (order % 5 == 0).then_some(1 + (seed.wrapping_add(order) % 40) as usize);
            let r = deliver_with_runs(&h.fixture, &h.wires, seed.wrapping_add(order), runs);
            prop_assert_eq!(r.state_hash(), expected, "order {} of history {}", order, seed);
            prop_assert_eq!(&closed_lists(&r), &lists, "order {} of history {}", order, seed);
            if runs.is_some() {
                prop_assert_eq!(r.len(), reference.len());
                prop_assert!(r.ids_in_order().map(|(id, o)| (id, o.clone())).eq(in_order.iter().cloned()));
                prop_assert_eq!(r.state(), &r.fold_from_scratch());
            }
        }
    }
}

/// Every closed motion's ballot lists, read back and checked against the state's hash.
fn closed_lists(
    r: &mutual_protocol::replica::Replica,
) -> Vec<(mutual_protocol::id::EventId, ClosedVotes)> {
    r.state()
        .governance()
        .motions()
        .filter(|m| m.closed.is_some())
        .map(|m| (m.id, r.closed_votes(&m.id).expect("read").expect("closed")))
        .collect()
}

/// A fixed seed whose history contains forks, rotations and revocations, kept as a named
/// regression test so it runs even if the generator changes.
#[test]
fn regression_seed_with_forks_converges() {
    let h = history(42, 250);
    assert!(h.forks > 0, "this seed's history has forks");
    let a = deliver(&h.fixture, &h.wires, 1);
    let b = deliver(&h.fixture, &h.wires, 2);
    assert_eq!(a.state_hash(), b.state_hash());
    for (author, seq) in a.forks() {
        let proof = a.fork_proof(author).expect("proof kept");
        let (who, at, _) = proof.verify().expect("proof verifies");
        assert_eq!((&who, at), (author, *seq));
    }
}

/// Different sets of events give different state hashes.
#[test]
fn a_missing_event_changes_the_hash() {
    let h = history(7, 120);
    let full = deliver(&h.fixture, &h.wires, 1);
    let mut fewer = h.wires.clone();
    fewer.pop();
    let partial = deliver(&h.fixture, &fewer, 1);
    assert_ne!(full.state_hash(), partial.state_hash());
}

/// Seeds of the histories checked for governance coverage.
const COVERAGE_SEEDS: std::ops::Range<u64> = 0..12;
/// Their length: the shortest the property test generates.
const COVERAGE_EVENTS: usize = 150;

/// Every generated history contains motions that take effect (at least half of the
/// motions it writes) and ballots that count, and across a few histories every part of governance
/// that depends on the order of the fold is exercised: rankings, proxy appointments and
/// proxy votes that count, witnessing, motions closed and passed, and passed motions'
/// effects applied. Without this, a generator writing only malformed motions (as it once
/// did) would leave the property above checking none of it, and still pass.
#[test]
fn generated_histories_exercise_governance() {
    let mut total = Exercised::default();
    for seed in COVERAGE_SEEDS {
        let h = history(seed, COVERAGE_EVENTS);
        let x = exercised(&deliver(&h.fixture, &h.wires, seed));
        assert!(
            x.motions_applied > 0 && 2 * x.motions_applied >= x.motion_events,
            "seed {seed}: at least half the generated motions take effect: {x:?}"
        );
        assert!(x.ballots_counted > 0, "seed {seed}: ballots count: {x:?}");
        assert!(x.witnesses_applied > 0, "seed {seed}: witnesses: {x:?}");
        total += x;
    }
    assert!(total.rankings_counted > 0, "election rankings: {total:?}");
    assert!(total.proxies_counted > 0, "proxy appointments: {total:?}");
    assert!(total.proxy_votes_counted > 0, "proxy votes: {total:?}");
    assert!(total.motions_closed > 0, "motions closed: {total:?}");
    assert!(total.motions_passed > 0, "motions passed: {total:?}");
    assert!(total.effects_applied > 0, "effects applied: {total:?}");
}
