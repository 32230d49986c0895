//! The fold's cost: in causal order an event is applied once; out of order only what
//! follows its place is re-applied, from the checkpoint before it.

mod common;

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
