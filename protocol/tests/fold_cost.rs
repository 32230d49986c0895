//! The fold's cost: in causal order an event is applied once; out of order only what
//! follows its place is re-applied, from the checkpoint before it.

use crate::common;

use common::{update, Fixture, T0};
use mutual_protocol::limits::{CHECKPOINTS_RECENT, CHECKPOINT_INTERVAL};
use mutual_protocol::replica::checkpoint_kept;

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

/// Checkpoints kept while `latest` is the latest, by the thinning rule alone.
fn kept(latest: u64) -> Vec<u64> {
    (1..=latest)
        .filter(|&c| checkpoint_kept(c, latest))
        .collect()
}

#[test]
fn checkpoints_thin_with_distance_and_a_dropped_one_stays_dropped() {
    let r = CHECKPOINTS_RECENT;
    let mut before = kept(1);
    for latest in 2..=5_000u64 {
        let now = kept(latest);
        // Dropped once, dropped for good: the checkpoints kept now were kept before (or
        // are the new one).
        for c in &now {
            assert!(
                *c == latest || before.contains(c),
                "{c} came back at {latest}"
            );
        }
        // The latest ones are all kept.
        let recent = latest.saturating_sub(r - 1).max(1)..=latest;
        assert!(recent.clone().all(|c| now.contains(&c)), "{latest}");
        // Between two kept checkpoints, the earlier `d` back from the latest, at most
        // 2d / r.
        for pair in now.windows(2) {
            let distance = latest - pair[0];
            assert!(
                pair[1] - pair[0] <= (2 * distance / r).max(1),
                "gap {pair:?} at {latest}"
            );
        }
        before = now;
    }
    // Logarithmically many: r × (1 + log2(n / r) / 2), and far fewer than all 5,000.
    let bound = r as f64 * (1.0 + (5_000.0 / r as f64).log2() / 2.0) + 2.0;
    assert!((before.len() as f64) <= bound, "{} > {bound}", before.len());
}

#[test]
fn a_long_log_keeps_few_checkpoints_and_an_event_far_behind_reapplies_about_its_distance() {
    let (fx, mut w1) = Fixture::new(3);
    let mut r = fx.replica();
    let total = 40 * CHECKPOINT_INTERVAL as u64 * CHECKPOINTS_RECENT;
    let mut ids = Vec::new();
    for i in 0..total {
        let ev = w1.sign(T0 + i, vec![], update(i as u32));
        ids.push(ev.id);
        r.ingest(T0 + total, &ev.to_wire()).expect("stored");
    }
    let latest = (total + 1) / CHECKPOINT_INTERVAL as u64;
    assert_eq!(r.checkpoints_held(), kept(latest).len());
    assert!(
        r.checkpoints_held() < (latest / 4) as usize,
        "{}",
        r.checkpoints_held()
    );
    // An event made after the event `distance` back from the end, delivered now: it is
    // folded in its place, re-applying what follows, from a checkpoint not much before it.
    let mut w2 = fx.writer(2);
    for (n, distance) in [30_000u64, 7_000, 500].into_iter().enumerate() {
        let after = ids[(total - distance) as usize];
        let late = w2.sign(
            T0 + total - distance,
            vec![after],
            update(90_000 + n as u32),
        );
        let before = r.reapplied();
        r.ingest(T0 + total, &late.to_wire()).expect("late");
        let again = r.reapplied() - before;
        let bound = distance + 2 * distance / CHECKPOINTS_RECENT + CHECKPOINT_INTERVAL as u64;
        assert!(again >= distance, "{again} < {distance}");
        assert!(again <= bound + 1, "{again} > {bound} at {distance}");
        assert_eq!(r.state(), &r.fold_from_scratch());
        // The fold went back and on again, numbering its checkpoints as before.
        let latest = r.len() as u64 / CHECKPOINT_INTERVAL as u64;
        assert_eq!(r.checkpoints_held(), kept(latest).len());
    }
}
