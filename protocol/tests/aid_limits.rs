//! Mutual-aid limits, each tested at the limit and one past it.

use crate::aid_common;

use aid_common::*;
use mutual_proto::v1 as pb;
use mutual_protocol::aid::{
    AidError, MAX_AGREEMENTS_PER_REQUEST, MAX_OFFERS_PER_REQUEST, MAX_OPEN_REQUESTS_PER_PRACTICE,
    MAX_SESSIONS_PER_REQUEST,
};
use mutual_protocol::event::Body;

/// `n` distinct valid sessions.
fn many_sessions(n: usize) -> Vec<pb::Session> {
    (0..n)
        .map(|i| pb::Session {
            date: format!("2026-{:02}-{:02}", 1 + i / 56, 1 + (i / 2) % 28),
            part: if i % 2 == 0 { "AM" } else { "PM" }.into(),
        })
        .collect()
}

fn request_of(sessions: Vec<pb::Session>, expires_at_ms: u64) -> Body {
    let Body::AidRequest(mut r) = request_body(&[], expires_at_ms) else {
        unreachable!()
    };
    r.sessions = sessions;
    Body::AidRequest(r)
}

#[test]
fn sessions_per_request_at_the_limit_and_past_it() {
    let mut n = Net::new(2);
    let at = n.post(
        1,
        &[],
        request_of(many_sessions(MAX_SESSIONS_PER_REQUEST), n.t + DAY),
    );
    n.assert_applied(&at);
    let past = n.post(
        1,
        &[],
        request_of(many_sessions(MAX_SESSIONS_PER_REQUEST + 1), n.t + DAY),
    );
    assert_eq!(
        n.aid_error(&past),
        AidError::TooMany {
            what: "sessions in one request, offer or acceptance",
            limit: MAX_SESSIONS_PER_REQUEST
        }
    );
}

#[test]
fn open_requests_per_practice_at_the_limit_and_past_it() {
    let mut n = Net::new(2);
    // One that expires quickly no longer counts once it has expired.
    let short = n.request(1, &[(1, "AM")], 1500);
    n.assert_applied(&short);
    let mut reqs = Vec::new();
    for d in 0..MAX_OPEN_REQUESTS_PER_PRACTICE {
        let ev = n.request(1, &[(1 + d as u32, "PM")], DAY);
        n.assert_applied(&ev);
        reqs.push(ev);
    }
    let past = n.request(1, &[(27, "PM")], DAY);
    assert!(matches!(
        n.aid_error(&past),
        AidError::TooMany {
            limit: MAX_OPEN_REQUESTS_PER_PRACTICE,
            ..
        }
    ));
    // Another practice is not affected.
    let other = n.request(2, &[(27, "PM")], DAY);
    n.assert_applied(&other);
    // Withdrawing one makes room.
    let w = n.withdraw(1, &reqs[0]);
    n.assert_applied(&w);
    let again = n.request(1, &[(27, "PM")], DAY);
    n.assert_applied(&again);
}

#[test]
fn offers_per_request_at_the_limit_and_past_it() {
    let mut n = Net::new(3);
    let req = n.request(1, &[(2, "AM")], DAY);
    for i in 0..MAX_OFFERS_PER_REQUEST {
        let o = n.offer(2 + (i % 2) as u32, &req, &[(2, "AM")]);
        n.assert_applied(&o);
    }
    let past = n.offer(3, &req, &[(2, "AM")]);
    assert_eq!(
        n.aid_error(&past),
        AidError::TooMany {
            what: "offers on one request",
            limit: MAX_OFFERS_PER_REQUEST
        }
    );
}

#[test]
fn acceptances_per_request_at_the_limit_and_past_it() {
    let mut n = Net::new(2);
    let req = n.request(1, &[(2, "AM")], DAY);
    let offer = n.offer(2, &req, &[(2, "AM")]);
    for _ in 0..MAX_AGREEMENTS_PER_REQUEST {
        let acc = n.accept(1, &offer, &[(2, "AM")]);
        n.assert_applied(&acc);
        n.cancel(1, &acc, "changed our minds");
    }
    let past = n.accept(1, &offer, &[(2, "AM")]);
    assert_eq!(
        n.aid_error(&past),
        AidError::TooMany {
            what: "acceptances on one request",
            limit: MAX_AGREEMENTS_PER_REQUEST
        }
    );
}
