//! Mutual aid: every rule of docs/AID.md, one test (or more) each. Concurrency and
//! convergence are in aid_concurrency.rs, limits in aid_limits.rs.

use crate::aid_common;
use crate::common;

use aid_common::*;
use mutual_proto::v1 as pb;
use mutual_protocol::aid::{AgreementStatus, AidError, Happening, RequestState};
use mutual_protocol::event::Body;
use mutual_protocol::state::{Outcome, Rejection};
use prost::Message;

const AM: &str = "AM";
const PM: &str = "PM";

#[test]
fn a_request_is_offered_accepted_countersigned_and_fulfilled() {
    let mut n = Net::new(3);
    let h0 = n.r.state_hash();
    let req = n.request(1, &[(2, AM), (2, PM), (3, AM)], 7 * DAY);
    n.assert_applied(&req);
    let h1 = n.r.state_hash();
    assert_ne!(h0, h1, "the request is in the state hash");

    let offer = n.offer(2, &req, &[(2, AM), (2, PM)]);
    n.assert_applied(&offer);
    let acc = n.accept(1, &offer, &[(2, AM)]);
    n.assert_applied(&acc);
    let ag = n.r.state().aid().agreement(&acc.id).expect("agreement");
    assert_eq!(
        ag.status,
        AgreementStatus::Pending,
        "not binding until countersigned"
    );
    assert_eq!(
        (ag.requester.as_str(), ag.offerer.as_str()),
        ("M85001", "M85002")
    );

    let h2 = n.r.state_hash();
    let cs = n.countersign(2, &acc);
    n.assert_applied(&cs);
    assert_eq!(
        n.r.state()
            .aid()
            .agreement(&acc.id)
            .map(|a| a.status.clone()),
        Some(AgreementStatus::Binding)
    );
    assert_ne!(n.r.state_hash(), h2);

    let done = n.fulfil(1, &acc);
    n.assert_applied(&done);
    assert_eq!(
        n.r.state()
            .aid()
            .agreement(&acc.id)
            .map(|a| a.status.clone()),
        Some(AgreementStatus::Fulfilled { event: done.id })
    );

    let board = n.board();
    let view = board.request(&req.id).expect("on the board");
    assert_eq!(view.state, RequestState::Open);
    assert_eq!(view.counts.needed, 3);
    assert_eq!(view.counts.offered, 2);
    assert_eq!(view.counts.fulfilled, 1);
    assert_eq!(view.counts.outstanding, 2);
    let kinds: Vec<_> = view.history.iter().map(|(id, _)| *id).collect();
    assert_eq!(kinds, vec![req.id, offer.id, acc.id, cs.id, done.id]);
    let arrangement = board.agreement(&acc.id).expect("agreement view");
    assert_eq!(
        arrangement.history,
        vec![
            (
                acc.id,
                Happening::Accepted {
                    offer: offer.id,
                    sessions: 1
                }
            ),
            (cs.id, Happening::Countersigned { agreement: acc.id }),
            (done.id, Happening::Fulfilled { agreement: acc.id }),
        ]
    );
}

#[test]
fn only_active_member_practices_make_aid_events() {
    let mut n = Net::new(3);
    // A partner's personal key is a member, but not a practice.
    let by_partner = n.post(n.fx.partners[0], &[], request_body(&[(2, AM)], n.t + DAY));
    assert_eq!(n.aid_error(&by_partner), AidError::NotAPractice);
    // A stranger is not a member at all.
    let by_stranger = n.post(77, &[], request_body(&[(2, AM)], n.t + DAY));
    assert_eq!(
        n.outcome(&by_stranger),
        Outcome::Rejected(Rejection::NotAMember)
    );
    // A practice that has left is no longer active.
    let req = n.request(1, &[(2, AM)], DAY);
    n.post(
        3,
        &[],
        Body::PracticeLeave(pb::PracticeLeave {
            reason: "merging".into(),
        }),
    );
    let offer = n.offer(3, &req, &[(2, AM)]);
    assert_eq!(n.outcome(&offer), Outcome::Rejected(Rejection::NotActive));
    assert!(n.r.state().aid().offer(&offer.id).is_none());
}

#[test]
fn a_practice_does_not_offer_on_its_own_request() {
    let mut n = Net::new(2);
    let req = n.request(1, &[(2, AM)], DAY);
    let own = n.offer(1, &req, &[(2, AM)]);
    assert!(matches!(n.aid_error(&own), AidError::NotAllowed(_)));
}

#[test]
fn only_the_requester_accepts() {
    let mut n = Net::new(3);
    let req = n.request(1, &[(2, AM)], DAY);
    let offer = n.offer(2, &req, &[(2, AM)]);
    let by_other = n.accept(3, &offer, &[(2, AM)]);
    assert!(matches!(n.aid_error(&by_other), AidError::NotAllowed(_)));
    let by_offerer = n.accept(2, &offer, &[(2, AM)]);
    assert!(matches!(n.aid_error(&by_offerer), AidError::NotAllowed(_)));
    assert_eq!(n.r.state().aid().agreements().count(), 0);
}

#[test]
fn only_the_offering_practice_countersigns_and_only_a_pending_agreement() {
    let mut n = Net::new(3);
    let req = n.request(1, &[(2, AM)], DAY);
    let offer = n.offer(2, &req, &[(2, AM)]);
    let acc = n.accept(1, &offer, &[(2, AM)]);
    for k in [1, 3] {
        let cs = n.countersign(k, &acc);
        assert!(
            matches!(n.aid_error(&cs), AidError::NotAllowed(_)),
            "key {k}"
        );
    }
    let ev = n.countersign(2, &acc);
    n.assert_applied(&ev);
    let again = n.countersign(2, &acc);
    assert_eq!(
        n.aid_error(&again),
        AidError::WrongStatus {
            status: "binding",
            needed: "pending"
        }
    );
}

#[test]
fn fulfilment_is_recorded_by_the_requester_for_a_binding_agreement_only() {
    let mut n = Net::new(3);
    let req = n.request(1, &[(2, AM)], DAY);
    let offer = n.offer(2, &req, &[(2, AM)]);
    let acc = n.accept(1, &offer, &[(2, AM)]);
    let early = n.fulfil(1, &acc);
    assert!(matches!(
        n.aid_error(&early),
        AidError::WrongStatus {
            status: "pending",
            ..
        }
    ));
    let cs = n.countersign(2, &acc);
    n.assert_applied(&cs);
    for k in [2, 3] {
        let f = n.fulfil(k, &acc);
        assert!(
            matches!(n.aid_error(&f), AidError::NotAllowed(_)),
            "key {k}"
        );
    }
    let f = n.fulfil(1, &acc);
    n.assert_applied(&f);
    let twice = n.fulfil(1, &acc);
    assert!(matches!(
        n.aid_error(&twice),
        AidError::WrongStatus {
            status: "fulfilled",
            ..
        }
    ));
    let late_cancel = n.cancel(2, &acc, "too late");
    assert!(matches!(
        n.aid_error(&late_cancel),
        AidError::WrongStatus {
            status: "fulfilled",
            ..
        }
    ));
}

#[test]
fn either_party_cancels_a_pending_or_binding_agreement_with_a_reason() {
    let mut n = Net::new(3);
    let req = n.request(1, &[(2, AM), (3, AM)], DAY);
    let offer = n.offer(2, &req, &[(2, AM), (3, AM)]);

    // The requester cancels a pending agreement.
    let a1 = n.accept(1, &offer, &[(2, AM)]);
    let c1 = n.cancel(1, &a1, "found a locum");
    n.assert_applied(&c1);

    // The offering practice cancels a binding one, giving notice; a third practice cannot.
    let a2 = n.accept(1, &offer, &[(3, AM)]);
    n.countersign(2, &a2);
    let stranger = n.cancel(3, &a2, "meddling");
    assert!(matches!(n.aid_error(&stranger), AidError::NotAllowed(_)));
    let no_reason = n.cancel(2, &a2, "  ");
    assert!(matches!(n.aid_error(&no_reason), AidError::Invalid(_)));
    let c2 = n.post(
        2,
        &[a2.id],
        cancel_body(a2.id, "our own GP is off sick", 3 * DAY),
    );
    n.assert_applied(&c2);
    assert_eq!(
        n.r.state()
            .aid()
            .agreement(&a2.id)
            .map(|a| a.status.clone()),
        Some(AgreementStatus::Cancelled {
            event: c2.id,
            by: "M85002".into(),
            reason: "our own GP is off sick".into(),
            notice_ms: 3 * DAY,
        })
    );
    let twice = n.cancel(1, &a2, "again");
    assert!(matches!(
        n.aid_error(&twice),
        AidError::WrongStatus {
            status: "cancelled",
            ..
        }
    ));

    // Cancelling frees the sessions: they can be accepted again.
    let again = n.accept(1, &offer, &[(2, AM), (3, AM)]);
    n.assert_applied(&again);
    let counts = n.board().request(&req.id).expect("request").counts;
    assert_eq!((counts.pending, counts.outstanding), (2, 0));
}

#[test]
fn a_withdrawn_request_takes_no_more_offers_or_acceptances() {
    let mut n = Net::new(3);
    let req = n.request(1, &[(2, AM), (3, AM)], DAY);
    let offer = n.offer(2, &req, &[(2, AM), (3, AM)]);
    let pending = n.accept(1, &offer, &[(2, AM)]);
    let by_other = n.withdraw(2, &req);
    assert!(matches!(n.aid_error(&by_other), AidError::NotAllowed(_)));
    let w = n.withdraw(1, &req);
    n.assert_applied(&w);
    assert_eq!(
        n.board().request(&req.id).map(|r| r.state),
        Some(RequestState::Withdrawn)
    );
    assert!(n.board().open_requests().is_empty());

    let late_offer = n.offer(3, &req, &[(3, AM)]);
    assert_eq!(
        n.aid_error(&late_offer),
        AidError::Closed("withdrawn by the requester")
    );
    let late_accept = n.accept(1, &offer, &[(3, AM)]);
    assert_eq!(
        n.aid_error(&late_accept),
        AidError::Closed("withdrawn by the requester")
    );
    let twice = n.withdraw(1, &req);
    assert_eq!(n.aid_error(&twice), AidError::Closed("already withdrawn"));
    // An agreement made before the withdrawal stands: it can still be countersigned
    // (the requester cancels it if it no longer wants it).
    let ev = n.countersign(2, &pending);
    n.assert_applied(&ev);
}

#[test]
fn offers_and_acceptances_timestamped_at_or_after_expiry_have_no_effect() {
    let mut n = Net::new(3);
    let expires = n.t + 10_000;
    let req = n.post(1, &[], request_body(&[(2, AM), (3, AM)], expires));
    let just_in = n.post_at(
        2,
        expires - 1,
        &[req.id],
        offer_body(req.id, &[(2, AM), (3, AM)]),
    );
    n.assert_applied(&just_in);
    let too_late = n.post_at(3, expires, &[req.id], offer_body(req.id, &[(2, AM)]));
    assert_eq!(
        n.aid_error(&too_late),
        AidError::Expired {
            timestamp_ms: expires,
            expires_at_ms: expires
        }
    );
    let late_accept = n.accept(1, &just_in, &[(2, AM)]);
    assert!(matches!(
        n.aid_error(&late_accept),
        AidError::Expired { .. }
    ));
    assert_eq!(
        n.board().request(&req.id).map(|r| r.state),
        Some(RequestState::Expired)
    );

    // A request must not be born expired.
    let t = n.t + 1000;
    let stillborn = n.post_at(1, t, &[], request_body(&[(2, AM)], t));
    assert!(matches!(n.aid_error(&stillborn), AidError::Invalid(_)));
}

#[test]
fn sessions_must_be_a_subset_of_the_request_and_of_the_offer() {
    let mut n = Net::new(2);
    let req = n.request(1, &[(2, AM), (3, AM)], DAY);
    let outside = n.offer(2, &req, &[(2, AM), (4, AM)]);
    assert_eq!(
        n.aid_error(&outside),
        AidError::NotASubset {
            session: "2026-02-04 AM".into(),
            of: "request"
        }
    );
    let offer = n.offer(2, &req, &[(2, AM)]);
    let beyond_offer = n.accept(1, &offer, &[(2, AM), (3, AM)]);
    assert_eq!(
        n.aid_error(&beyond_offer),
        AidError::NotASubset {
            session: "2026-02-03 AM".into(),
            of: "offer"
        }
    );
}

#[test]
fn malformed_sessions_and_bodies_have_no_effect() {
    let mut n = Net::new(2);
    let expires = n.t + DAY;
    let bad = |mutate: &dyn Fn(&mut pb::AidRequest)| {
        let Body::AidRequest(mut r) = request_body(&[(2, AM)], expires) else {
            unreachable!()
        };
        mutate(&mut r);
        Body::AidRequest(r)
    };
    let cases: Vec<Body> = vec![
        bad(&|r| r.sessions.clear()),
        bad(&|r| r.sessions.push(session(2, AM))),
        bad(&|r| r.sessions[0].date = "2026-02-30".into()),
        bad(&|r| r.sessions[0].part = "evening".into()),
        bad(&|r| r.sessions[0].part = "14:00-13:00".into()),
        bad(&|r| r.role = " ".into()),
        bad(&|r| r.urgency = 0),
        bad(&|r| r.urgency = 99),
        bad(&|r| r.visibility = 0),
    ];
    for body in cases {
        let ev = n.post(1, &[], body);
        assert!(matches!(n.aid_error(&ev), AidError::Invalid(_)), "{ev:?}");
    }
    let hours = n.post(1, &[], bad(&|r| r.sessions[0].part = "09:00-13:00".into()));
    n.assert_applied(&hours);
    let federation = n.post(
        1,
        &[],
        bad(&|r| r.visibility = pb::Visibility::Federation as i32),
    );
    n.assert_applied(&federation);
    assert_eq!(
        n.r.state()
            .aid()
            .request(&federation.id)
            .map(|r| r.visibility),
        Some(pb::Visibility::Federation)
    );
}

#[test]
fn no_session_is_accepted_twice_and_a_fully_agreed_request_is_closed() {
    let mut n = Net::new(4);
    let req = n.request(1, &[(2, AM), (2, PM), (3, AM)], DAY);
    let o2 = n.offer(2, &req, &[(2, AM), (2, PM)]);
    let o3 = n.offer(3, &req, &[(2, PM), (3, AM)]);
    let a2 = n.accept(1, &o2, &[(2, AM), (2, PM)]);
    n.assert_applied(&a2);
    // Together with a2 this would exceed the request: rejected whole, naming the winner.
    let a3 = n.accept(1, &o3, &[(2, PM), (3, AM)]);
    assert_eq!(
        n.aid_error(&a3),
        AidError::AlreadyAgreed {
            session: "2026-02-02 PM".into(),
            agreement: a2.id
        }
    );
    let a3b = n.accept(1, &o3, &[(3, AM)]);
    n.assert_applied(&a3b);
    let held =
        n.r.state()
            .aid()
            .request(&req.id)
            .map(|r| n.r.state().aid().sessions_held(r));
    assert_eq!(held, Some(3), "never more than requested");
    let late = n.offer(4, &req, &[(2, AM)]);
    assert_eq!(
        n.aid_error(&late),
        AidError::Closed("every session is already agreed")
    );
    let late_accept = n.accept(1, &o3, &[(2, PM)]);
    assert_eq!(
        n.aid_error(&late_accept),
        AidError::Closed("every session is already agreed")
    );
    assert_eq!(
        n.board().request(&req.id).map(|r| r.state),
        Some(RequestState::FullyAgreed)
    );
    // Cancelling reopens it.
    n.cancel(2, &a2, "cannot after all");
    let ev = n.accept(1, &o3, &[(2, PM)]);
    n.assert_applied(&ev);
    let view = n.board().request(&req.id).cloned().expect("request");
    assert_eq!(
        (view.state, view.counts.outstanding),
        (RequestState::Open, 1)
    );
}

#[test]
fn a_referenced_event_must_be_in_deps_of_the_right_type_and_known() {
    let mut n = Net::new(3);
    let req = n.request(1, &[(2, AM)], DAY);
    // Names the request but does not list it in deps.
    let blind = n.post_bare(2, &[], offer_body(req.id, &[(2, AM)]));
    assert!(matches!(
        n.aid_error(&blind),
        AidError::NotInDeps {
            expected: "a request",
            ..
        }
    ));
    let offer = n.offer(2, &req, &[(2, AM)]);
    // An offer that names an offer as its request.
    let wrong = n.post(3, &[offer.id], offer_body(offer.id, &[(2, AM)]));
    assert_eq!(
        n.aid_error(&wrong),
        AidError::WrongType {
            referent: offer.id,
            expected: "a request",
            found: "an offer"
        }
    );
    // An acceptance that names the request instead of an offer.
    let wrong = n.post(1, &[req.id], accept_body(req.id, &[(2, AM)]));
    assert!(matches!(
        n.aid_error(&wrong),
        AidError::WrongType {
            found: "a request",
            ..
        }
    ));
    // The genesis is not an aid event.
    let g = n.fx.genesis.id;
    let unknown = n.post(3, &[g], offer_body(g, &[(2, AM)]));
    assert_eq!(
        n.aid_error(&unknown),
        AidError::Unknown {
            referent: g,
            expected: "a request"
        }
    );
    // A request that was rejected did not take effect either.
    let rejected = n.post(1, &[], request_body(&[], n.t + DAY));
    let on_rejected = n.offer(2, &rejected, &[(2, AM)]);
    assert!(matches!(
        n.aid_error(&on_rejected),
        AidError::Unknown { .. }
    ));
    // A countersign naming an offer.
    let cs = n.post(2, &[offer.id], countersign_body(offer.id));
    assert!(matches!(
        n.aid_error(&cs),
        AidError::WrongType {
            found: "an offer",
            ..
        }
    ));
    // The requester's own earlier event counts as a cause through `prev`.
    let w = n.post_bare(1, &[], withdraw_body(rejected.id, "x"));
    assert!(matches!(n.aid_error(&w), AidError::Unknown { .. }));
    let req2 = n.request(1, &[(5, AM)], DAY);
    let w2 = n.post_bare(1, &[], withdraw_body(req2.id, "changed plans"));
    n.assert_applied(&w2);
}

#[test]
fn an_offer_on_a_departed_requester_and_an_acceptance_of_a_departed_offerer_fail() {
    let mut n = Net::new(3);
    let req = n.request(2, &[(2, AM)], DAY);
    let offer = n.offer(3, &req, &[(2, AM)]);
    n.post(
        3,
        &[],
        Body::PracticeLeave(pb::PracticeLeave {
            reason: "closing".into(),
        }),
    );
    let acc = n.accept(2, &offer, &[(2, AM)]);
    assert_eq!(n.aid_error(&acc), AidError::PartyInactive("M85003".into()));
    n.post(
        2,
        &[],
        Body::PracticeLeave(pb::PracticeLeave {
            reason: "closing".into(),
        }),
    );
    let o1 = n.offer(1, &req, &[(2, AM)]);
    assert_eq!(n.aid_error(&o1), AidError::PartyInactive("M85002".into()));
    assert_eq!(
        n.board().request(&req.id).map(|r| r.state),
        Some(RequestState::RequesterInactive)
    );
}

#[test]
fn the_board_totals_by_practice_and_locality() {
    // Localities in the fixture: practice 1 South, 2 East, 3 North, 4 South.
    let mut n = Net::new(4);
    let r1 = n.request(1, &[(2, AM), (2, PM), (3, AM)], DAY);
    let r4 = n.request(4, &[(9, AM)], DAY);
    let o2 = n.offer(2, &r1, &[(2, AM), (2, PM)]);
    let o3 = n.offer(3, &r1, &[(3, AM)]);
    let o3b = n.offer(3, &r4, &[(9, AM)]);
    let a2 = n.accept(1, &o2, &[(2, AM), (2, PM)]);
    n.countersign(2, &a2);
    let a3 = n.accept(1, &o3, &[(3, AM)]);
    let a4 = n.accept(4, &o3b, &[(9, AM)]);
    n.countersign(3, &a4);
    n.fulfil(4, &a4);
    let b = n.board();

    let p1 = b.practice("M85001").expect("p1").totals;
    assert_eq!(
        (p1.agreed_received, p1.pending_received, p1.open_requests),
        (2, 1, 0)
    );
    let p3 = b.practice("M85003").expect("p3").totals;
    assert_eq!(
        (p3.sessions_offered, p3.pending_given, p3.fulfilled_given),
        (2, 1, 1)
    );
    let south = b.locality("South").expect("south").totals;
    assert_eq!(
        (
            south.agreed_received,
            south.pending_received,
            south.fulfilled_received
        ),
        (2, 1, 1)
    );
    let east = b.locality("East").expect("east").totals;
    assert_eq!((east.agreed_given, east.sessions_offered), (2, 2));
    assert_eq!(b.localities.len(), 3);
    let _ = (r4, a3);

    // Open requests, most urgent first; a fresh partly-covered request is open.
    let r2 = n.request(2, &[(10, AM), (11, AM)], DAY);
    let b = n.board();
    let open: Vec<_> = b.open_requests().iter().map(|r| r.id).collect();
    assert_eq!(open, vec![r2.id]);
    assert_eq!(
        b.practice("M85002").map(|p| p.totals.sessions_needed),
        Some(2)
    );
}

#[test]
fn aid_state_is_in_the_canonical_digest_sorted_by_id() {
    let mut n = Net::new(3);
    let reqs: Vec<_> = (2..6)
        .map(|d| n.request(1, &[(d, PM), (d, AM)], DAY))
        .collect();
    let offer = n.offer(2, &reqs[0], &[(2, AM)]);
    n.accept(1, &offer, &[(2, AM)]);
    let bytes = n.r.state().canonical_bytes(&n.fx.network, n.r.forks());
    let d = mutual_proto::v1::StateDigest::decode(bytes.as_slice()).expect("digest decodes");
    assert_eq!(d.aid_requests.len(), 4);
    assert_eq!(d.aid_offers.len(), 1);
    assert_eq!(d.aid_agreements.len(), 1);
    assert!(d.aid_requests.windows(2).all(|w| w[0].id < w[1].id));
    let first = d.aid_requests[0].request.as_ref().expect("body");
    assert_eq!(
        first.sessions[0].part, "AM",
        "sessions sorted by (date, part)"
    );
    assert_eq!(
        d.aid_agreements[0].status,
        pb::AidAgreementStatus::Pending as i32
    );
}

#[test]
fn an_agreement_made_in_time_is_countersigned_and_fulfilled_after_expiry() {
    let mut n = Net::new(2);
    let expires = n.t + 5_000;
    let req = n.post(1, &[], request_body(&[(2, AM)], expires));
    let offer = n.offer(2, &req, &[(2, AM)]);
    let acc = n.accept(1, &offer, &[(2, AM)]);
    n.assert_applied(&acc);
    let late = expires + DAY;
    let cs = n.post_at(2, late, &[acc.id], countersign_body(acc.id));
    n.assert_applied(&cs);
    let done = n.post_at(1, late + 1, &[cs.id], fulfil_body(acc.id));
    n.assert_applied(&done);
}

#[test]
fn a_practice_keeps_its_requests_and_agreements_across_a_key_rotation() {
    use common::key;
    use common::rotation;
    use mutual_protocol::event::FeedWriter;

    let mut n = Net::new(2);
    let req = n.request(1, &[(2, AM)], DAY);
    let offer = n.offer(2, &req, &[(2, AM)]);
    let new = key(555);
    let rot = n.post(1, &[], rotation(&n.fx.network, &key(1).public(), &new));
    n.assert_applied(&rot);
    n.writers
        .insert(555, FeedWriter::resume(key(555), n.fx.network, None));
    // The old key no longer speaks for the practice; the new one does.
    let old = n.accept(1, &offer, &[(2, AM)]);
    assert_eq!(n.outcome(&old), Outcome::Rejected(Rejection::KeyRetired));
    let acc = n.accept(555, &offer, &[(2, AM)]);
    n.assert_applied(&acc);
    assert_eq!(
        n.r.state()
            .aid()
            .agreement(&acc.id)
            .map(|a| a.requester.as_str()),
        Some("M85001")
    );
}
