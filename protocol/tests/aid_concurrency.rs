//! Mutual aid under concurrency: events that do not see each other are resolved by the
//! fold order, identically on every node, whatever order they arrive in; and a property
//! test that delivery order changes neither the board nor the state hash.

use crate::aid_common;
use crate::common;

use aid_common::*;
use common::{deliver, key};
use mutual_proto::v1 as pb;
use mutual_protocol::aid::{AidError, Board, Happening};
use mutual_protocol::event::{Body, FeedWriter, SignedEvent};
use mutual_protocol::id::EventId;
use mutual_protocol::replica::Replica;
use mutual_protocol::state::{Outcome, Rejection};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const AM: &str = "AM";
const PM: &str = "PM";

/// Delivery orders tried per scenario.
const ORDERS: u64 = 40;

fn board(r: &Replica, now: u64) -> Board {
    Board::of(r.state().aid(), r.state().membership(), now)
}

/// Replays the net's events in `ORDERS` random orders (with duplicates) and checks every
/// node ends with the same state hash, board, and outcome for each of `events`.
fn assert_same_everywhere(n: &Net, events: &[&SignedEvent]) {
    let hash = n.r.state_hash();
    let b = n.board();
    for seed in 0..ORDERS {
        let r = deliver(&n.fx, &n.wires, seed);
        assert_eq!(r.state_hash(), hash, "order {seed}");
        assert_eq!(board(&r, n.t), b, "order {seed}");
        for ev in events {
            assert_eq!(r.outcome(&ev.id), n.r.outcome(&ev.id), "order {seed}");
        }
    }
}

/// Request (practice 1), offer (practice 2) and acceptance of `sessions`.
fn agreed(n: &mut Net, sessions: &[(u32, &str)]) -> (SignedEvent, SignedEvent, SignedEvent) {
    let req = n.request(1, sessions, DAY);
    let offer = n.offer(2, &req, sessions);
    let acc = n.accept(1, &offer, sessions);
    n.assert_applied(&acc);
    (req, offer, acc)
}

#[test]
fn a_countersign_and_a_cancellation_made_concurrently_resolve_the_same_everywhere() {
    let mut n = Net::new(3);
    let (_, _, acc) = agreed(&mut n, &[(2, AM)]);
    // Neither party has seen the other's event.
    let cs = n.post_bare(2, &[acc.id], countersign_body(acc.id));
    let cancel = n.post_bare(1, &[acc.id], cancel_body(acc.id, "found a locum", DAY));
    // Whichever folds first, the agreement ends cancelled; if the cancellation came
    // first, the countersignature has nothing left to sign.
    let status =
        n.r.state()
            .aid()
            .agreement(&acc.id)
            .map(|a| a.status.name());
    assert_eq!(status, Some("cancelled"));
    n.assert_applied(&cancel);
    match n.outcome(&cs) {
        Outcome::Applied => {}
        Outcome::Rejected(Rejection::Aid(AidError::WrongStatus {
            status: "cancelled",
            ..
        })) => {}
        other => panic!("unexpected {other}"),
    }
    assert_same_everywhere(&n, &[&cs, &cancel]);
}

#[test]
fn two_acceptances_of_the_same_session_first_in_fold_order_wins_everywhere() {
    let mut n = Net::new(3);
    let req = n.request(1, &[(2, AM), (2, PM)], DAY);
    let o2 = n.offer(2, &req, &[(2, AM), (2, PM)]);
    let o3 = n.offer(3, &req, &[(2, PM)]);
    // Each acceptance lists only its own offer; the second does not name the first.
    let a2 = n.post_bare(1, &[o2.id], accept_body(o2.id, &[(2, PM)]));
    let a3 = n.post_bare(1, &[o3.id], accept_body(o3.id, &[(2, PM)]));
    let (first, second) = match (n.outcome(&a2), n.outcome(&a3)) {
        (Outcome::Applied, Outcome::Rejected(_)) => (&a2, &a3),
        (Outcome::Rejected(_), Outcome::Applied) => (&a3, &a2),
        other => panic!("exactly one must win: {other:?}"),
    };
    assert_eq!(
        n.aid_error(second),
        AidError::AlreadyAgreed {
            session: "2026-02-02 PM".into(),
            agreement: first.id
        }
    );
    assert_same_everywhere(&n, &[&a2, &a3]);
}

#[test]
fn acceptances_signed_in_a_fork_both_fail_everywhere() {
    let mut n = Net::new(3);
    let req = n.request(1, &[(2, AM)], DAY);
    let o2 = n.offer(2, &req, &[(2, AM)]);
    let o3 = n.offer(3, &req, &[(2, AM)]);
    // The requester's node equivocates: two acceptances at the same seq.
    let head = n.r.feed_head(&key(1).public());
    let mut twin = FeedWriter::resume(key(1), n.fx.network, head);
    let a2 = n.post(1, &[o2.id], accept_body(o2.id, &[(2, AM)]));
    n.t += 1000;
    let a3 = twin.sign(n.t, vec![o3.id, o2.id], accept_body(o3.id, &[(2, AM)]));
    n.r.ingest(n.t, &a3.to_wire()).expect("stored as evidence");
    n.wires.push(a3.to_wire());
    assert_eq!(a2.event.seq, a3.event.seq);
    for ev in [&a2, &a3] {
        assert!(matches!(
            n.outcome(ev),
            Outcome::Rejected(Rejection::Forked { .. })
        ));
    }
    assert_eq!(n.r.state().aid().agreements().count(), 0);
    assert_same_everywhere(&n, &[&a2, &a3]);
}

#[test]
fn an_offer_concurrent_with_a_withdrawal_resolves_the_same_everywhere() {
    let mut n = Net::new(3);
    let req = n.request(1, &[(2, AM)], DAY);
    let offer = n.post_bare(2, &[req.id], offer_body(req.id, &[(2, AM)]));
    let w = n.post_bare(1, &[req.id], withdraw_body(req.id, "covered"));
    n.assert_applied(&w);
    assert_same_everywhere(&n, &[&offer, &w]);
}

#[test]
fn an_acceptance_concurrent_with_the_offerer_leaving_resolves_the_same_everywhere() {
    let mut n = Net::new(3);
    let req = n.request(1, &[(2, AM)], DAY);
    let offer = n.offer(2, &req, &[(2, AM)]);
    let leave = n.post_bare(
        2,
        &[],
        Body::PracticeLeave(pb::PracticeLeave {
            reason: "merging".into(),
        }),
    );
    let acc = n.post_bare(1, &[offer.id], accept_body(offer.id, &[(2, AM)]));
    match n.outcome(&acc) {
        Outcome::Applied => {}
        Outcome::Rejected(Rejection::Aid(AidError::PartyInactive(p))) => assert_eq!(p, "M85002"),
        other => panic!("unexpected {other}"),
    }
    assert_same_everywhere(&n, &[&leave, &acc]);
}

// ---------------------------------------------------------------- property test

const POOL: [(u32, &str); 8] = [
    (2, AM),
    (2, PM),
    (3, AM),
    (3, PM),
    (4, AM),
    (4, PM),
    (5, AM),
    (5, PM),
];

fn some_sessions(rng: &mut ChaCha8Rng, from: &[(u32, &'static str)]) -> Vec<(u32, &'static str)> {
    let mut out: Vec<_> = from.iter().filter(|_| rng.gen_bool(0.6)).copied().collect();
    if out.is_empty() && !from.is_empty() {
        out.push(from[rng.gen_range(0..from.len())]);
    }
    out
}

fn as_pairs(s: &[mutual_protocol::aid::Session]) -> Vec<(u32, &'static str)> {
    POOL.iter()
        .copied()
        .filter(|(d, p)| {
            s.iter()
                .any(|x| x.date == format!("2026-02-{d:02}") && x.part == *p)
        })
        .collect()
}

/// A random aid history among four practices: requests, offers, acceptances,
/// countersignatures, cancellations, fulfilments and withdrawals, mostly by the right
/// practice, sometimes not; some events see everything, others only their referent, so
/// many are concurrent; expiries fall inside the history.
fn aid_history(seed: u64, len: usize) -> Net {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut n = Net::new(4);
    let (mut reqs, mut offers, mut accs): (Vec<EventId>, Vec<EventId>, Vec<EventId>) =
        Default::default();
    for _ in 0..len {
        let anyone = rng.gen_range(1..=4u32);
        let aid = n.r.state().aid().clone();
        let ods_key = |ods: &str| ods[1..].parse::<u32>().map(|x| x - 85000).unwrap_or(1);
        let right = rng.gen_bool(0.8);
        let pick = |rng: &mut ChaCha8Rng, v: &Vec<EventId>| v[rng.gen_range(0..v.len())];
        let roll = rng.gen_range(0..100);
        let (k, dep, body) = if roll < 15 || reqs.is_empty() {
            let expires = n.t + rng.gen_range(2_000..60_000);
            (
                anyone,
                None,
                request_body(&some_sessions(&mut rng, &POOL), expires),
            )
        } else if roll < 40 || offers.is_empty() {
            let r = pick(&mut rng, &reqs);
            let from = aid
                .request(&r)
                .map(|q| as_pairs(&q.sessions))
                .unwrap_or_default();
            let s = if right {
                some_sessions(&mut rng, &from)
            } else {
                some_sessions(&mut rng, &POOL)
            };
            (anyone, Some(r), offer_body(r, &s))
        } else if roll < 60 || accs.is_empty() {
            let o = pick(&mut rng, &offers);
            let (k, from) = match aid.offer(&o) {
                Some(of) if right => (
                    aid.request(&of.request)
                        .map(|q| ods_key(&q.practice))
                        .unwrap_or(anyone),
                    as_pairs(&of.sessions),
                ),
                _ => (anyone, POOL.to_vec()),
            };
            (k, Some(o), accept_body(o, &some_sessions(&mut rng, &from)))
        } else if roll < 95 {
            // Mostly target an agreement in the status the event needs.
            let wanted: &[&str] = match roll {
                60..=74 => &["pending"],
                75..=84 => &["pending", "binding"],
                _ => &["binding"],
            };
            let fitting: Vec<EventId> = aid
                .agreements()
                .filter(|g| wanted.contains(&g.status.name()))
                .map(|g| g.id)
                .collect();
            let a = if right && !fitting.is_empty() {
                pick(&mut rng, &fitting)
            } else {
                pick(&mut rng, &accs)
            };
            let ag = aid.agreement(&a);
            let party = |requester: bool| {
                ag.filter(|_| right)
                    .map(|g| ods_key(if requester { &g.requester } else { &g.offerer }))
                    .unwrap_or(anyone)
            };
            match roll {
                60..=74 => (party(false), Some(a), countersign_body(a)),
                75..=84 => {
                    let who = party(rng.gen_bool(0.5));
                    (
                        who,
                        Some(a),
                        cancel_body(a, "staff off sick", rng.gen_range(0..DAY)),
                    )
                }
                _ => (party(true), Some(a), fulfil_body(a)),
            }
        } else {
            let r = pick(&mut rng, &reqs);
            let k = aid
                .request(&r)
                .filter(|_| right)
                .map(|q| ods_key(&q.practice))
                .unwrap_or(anyone);
            (k, Some(r), withdraw_body(r, "no longer needed"))
        };
        let deps: Vec<EventId> = dep.into_iter().collect();
        let ev = if rng.gen_bool(0.5) {
            n.post(k, &deps, body)
        } else {
            n.post_bare(k, &deps, body)
        };
        match &ev.event.body {
            Some(Body::AidRequest(_)) => reqs.push(ev.id),
            Some(Body::AidOffer(_)) => offers.push(ev.id),
            Some(Body::AidAcceptance(_)) => accs.push(ev.id),
            _ => {}
        }
    }
    n
}

/// Generated histories per run, and delivery orders tried for each.
const HISTORIES: u32 = 48;
const ORDERS_PER_HISTORY: u64 = 8;

proptest! {
    #![proptest_config(ProptestConfig { cases: HISTORIES, ..ProptestConfig::default() })]

    #[test]
    fn delivery_order_changes_neither_the_board_nor_the_state_hash(
        seed in any::<u64>(),
        len in 30usize..90,
    ) {
        let n = aid_history(seed, len);
        prop_assert_eq!(n.r.state(), &n.r.fold_from_scratch());
        let hash = n.r.state_hash();
        let b = n.board();
        for order in 0..ORDERS_PER_HISTORY {
            let r = deliver(&n.fx, &n.wires, seed.wrapping_add(order));
            prop_assert_eq!(r.state_hash(), hash, "order {} of history {}", order, seed);
            prop_assert_eq!(&board(&r, n.t), &b, "order {} of history {}", order, seed);
        }
    }
}

/// A fixed history that goes through every transition and many rejections, kept as a
/// named regression test so it runs even if the generator changes.
#[test]
fn regression_history_reaches_every_transition_and_converges() {
    let n = aid_history(11, 150);
    let kinds: std::collections::BTreeSet<&str> =
        n.r.state()
            .aid()
            .requests()
            .flat_map(|r| r.history.iter())
            .map(|(_, h)| match h {
                Happening::Requested { .. } => "requested",
                Happening::Offered { .. } => "offered",
                Happening::Accepted { .. } => "accepted",
                Happening::Countersigned { .. } => "countersigned",
                Happening::Cancelled { .. } => "cancelled",
                Happening::Fulfilled { .. } => "fulfilled",
                Happening::Withdrawn { .. } => "withdrawn",
            })
            .collect();
    assert_eq!(kinds.len(), 7, "{kinds:?}");
    let rejected =
        n.r.events_in_order()
            .filter(|e| {
                matches!(
                    n.r.outcome(&e.id),
                    Some(Outcome::Rejected(Rejection::Aid(_)))
                )
            })
            .count();
    assert!(rejected > 10, "{rejected} aid rejections");
    assert_same_everywhere(&n, &[]);
}
