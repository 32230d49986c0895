//! The fold's cost: in causal order an event is applied once; out of order only what
//! follows its place is re-applied, from the checkpoint before it.

use crate::common;

use common::{update, Fixture, T0};
use mutual_protocol::limits::CHECKPOINT_INTERVAL;

#[test]
fn in_order_events_are_never_reapplied() {
    let (fx, mut w) = Fixture::new(3);
    let mut r = fx.replica();
    for i in 0..2_000u32 {
        let ev = w.sign(T0 + u64::from(i), r.heads(), update(i));
        r.ingest(T0 + 10_000, &ev.to_wire()).expect("stored");
    }
    assert_eq!(r.reapplied(), 0);
    assert_eq!(r.state(), &r.fold_from_scratch());
}

#[test]
fn a_late_event_reapplies_only_what_follows_it() {
    let (fx, mut w1) = Fixture::new(3);
    let mut r = fx.replica();
    // A concurrent event from practice 2, made early (height 1) but delivered last.
    let mut w2 = fx.writer(2);
    let late = w2.sign(T0 + 1, vec![], update(77));
    let total = 1_000u64;
    for i in 0..total {
        let ev = w1.sign(T0 + i, vec![], update(i as u32));
        r.ingest(T0 + 10_000, &ev.to_wire()).expect("stored");
    }
    r.ingest(T0 + 10_000, &late.to_wire()).expect("late");
    // Its place is right after the genesis: everything after it is re-applied, and no
    // more than one checkpoint interval before it.
    assert!(
        r.reapplied() <= total + 1 + CHECKPOINT_INTERVAL as u64,
        "{}",
        r.reapplied()
    );
    assert_eq!(r.state(), &r.fold_from_scratch());

    // A late event whose place is near the end re-applies only a checkpoint's worth.
    let before = r.reapplied();
    let mut w3 = fx.writer(3);
    let mut heads = r.heads();
    heads.truncate(1);
    let near_end = w3.sign(T0 + total, heads, update(5));
    let tail = w1.sign(T0 + total + 1, vec![], update(6));
    r.ingest(T0 + 10_000, &tail.to_wire()).expect("tail");
    r.ingest(T0 + 10_000, &near_end.to_wire())
        .expect("near end");
    assert!(
        r.reapplied() - before <= 2 + CHECKPOINT_INTERVAL as u64,
        "{}",
        r.reapplied() - before
    );
    assert_eq!(r.state(), &r.fold_from_scratch());
}

#[test]
fn a_branch_made_apart_and_delivered_in_one_page_is_folded_again_once() {
    let (fx, mut w1) = Fixture::new(3);
    let mut r = fx.replica();
    let total = 1_000u64;
    for i in 0..total {
        let ev = w1.sign(T0 + i, vec![], update(i as u32));
        r.ingest(T0 + 10_000, &ev.to_wire()).expect("stored");
    }
    // Practice 2 wrote its feed apart from practice 1's (a partition): every one of its
    // events sorts among practice 1's, and they arrive together, as a sync page brings them.
    let mut w2 = fx.writer(2);
    let branch: Vec<Vec<u8>> = (0..500u64)
        .map(|i| w2.sign(T0 + i, vec![], update(7_000 + i as u32)).to_wire())
        .collect();
    let before = r.reapplied();
    let results = r.ingest_batch(T0 + 10_000, &branch);
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(r.len() as u64, 1 + total + branch.len() as u64);
    // One re-application of what follows the branch's first place, not one per event of
    // the branch (which would be about 500 × 1,000).
    let again = r.reapplied() - before;
    assert!(
        again <= total + branch.len() as u64 + CHECKPOINT_INTERVAL as u64,
        "{again}"
    );
    assert_eq!(r.state(), &r.fold_from_scratch());
}
