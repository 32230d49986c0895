//! A small harness for the mutual-aid tests: a partnership whose practices post events
//! with explicit deps, each ingested as it is made, and kept for replay in other orders.
#![allow(dead_code)]

use crate::common::{Fixture, T0};
use mutual_proto::v1 as pb;
use mutual_protocol::aid::{AidError, Board};
use mutual_protocol::event::{Body, FeedWriter, SignedEvent};
use mutual_protocol::id::EventId;
use mutual_protocol::replica::Replica;
use mutual_protocol::state::{Outcome, Rejection};
use std::collections::HashMap;

/// One day, in ms.
pub const DAY: u64 = 24 * 60 * 60 * 1000;

pub struct Net {
    pub fx: Fixture,
    pub r: Replica,
    pub writers: HashMap<u32, FeedWriter>,
    pub wires: Vec<Vec<u8>>,
    /// The clock: every event is timestamped one second after the one before.
    pub t: u64,
}

impl Net {
    /// A partnership of `n` practices (keys 1..=n).
    pub fn new(n: u32) -> Self {
        Self::with_deed(n, Some(pb::Deed::default()))
    }

    /// A partnership of `n` practices (keys 1..=n) founded with `deed`.
    pub fn with_deed(n: u32, deed: Option<pb::Deed>) -> Self {
        let (fx, founder) = Fixture::with_deed(n, deed);
        let r = fx.replica();
        let mut writers = HashMap::new();
        writers.insert(1, founder);
        let wires = vec![fx.genesis.to_wire()];
        Net {
            fx,
            r,
            writers,
            wires,
            t: T0,
        }
    }

    /// Key `k` signs `body` after `deps` and every event seen so far (as a node does),
    /// timestamped at the next tick; the event is ingested and kept.
    pub fn post(&mut self, k: u32, deps: &[EventId], body: Body) -> SignedEvent {
        self.t += 1000;
        let t = self.t;
        self.post_at(k, t, deps, body)
    }

    /// As [`Net::post`], with an explicit timestamp (at least every cause's).
    pub fn post_at(&mut self, k: u32, t: u64, deps: &[EventId], body: Body) -> SignedEvent {
        let mut all = deps.to_vec();
        all.extend(self.r.heads());
        self.sign_ingest(k, t, all, body)
    }

    /// Key `k` signs `body` after `deps` only (and its own previous event): an event
    /// concurrent with whatever it does not list.
    pub fn post_bare(&mut self, k: u32, deps: &[EventId], body: Body) -> SignedEvent {
        self.t += 1000;
        let t = self.t;
        self.sign_ingest(k, t, deps.to_vec(), body)
    }

    fn sign_ingest(&mut self, k: u32, t: u64, deps: Vec<EventId>, body: Body) -> SignedEvent {
        self.t = self.t.max(t);
        let fx = &self.fx;
        let w = self.writers.entry(k).or_insert_with(|| fx.writer(k));
        let ev = w.sign(t, deps, body);
        self.r
            .ingest(t, &ev.to_wire())
            .expect("a valid event is stored");
        self.wires.push(ev.to_wire());
        ev
    }

    pub fn outcome(&self, ev: &SignedEvent) -> Outcome {
        self.r.outcome(&ev.id).cloned().expect("folded")
    }

    pub fn assert_applied(&self, ev: &SignedEvent) {
        assert_eq!(self.outcome(ev), Outcome::Applied, "event {:?}", ev.id);
    }

    /// The aid rule that rejected `ev`.
    pub fn aid_error(&self, ev: &SignedEvent) -> AidError {
        match self.outcome(ev) {
            Outcome::Rejected(Rejection::Aid(e)) => e,
            other => panic!("expected an aid rejection, got {other}"),
        }
    }

    pub fn board(&self) -> Board {
        Board::of(self.r.state().aid(), self.r.state().membership(), self.t)
    }

    // ---- shortcuts for the common events; each lists its referent in deps.

    pub fn request(&mut self, k: u32, sessions: &[(u32, &str)], expires_in: u64) -> SignedEvent {
        let expires = self.t + expires_in;
        self.post(k, &[], request_body(sessions, expires))
    }

    pub fn offer(&mut self, k: u32, req: &SignedEvent, sessions: &[(u32, &str)]) -> SignedEvent {
        self.post(k, &[req.id], offer_body(req.id, sessions))
    }

    pub fn accept(&mut self, k: u32, offer: &SignedEvent, sessions: &[(u32, &str)]) -> SignedEvent {
        self.post(k, &[offer.id], accept_body(offer.id, sessions))
    }

    pub fn countersign(&mut self, k: u32, acc: &SignedEvent) -> SignedEvent {
        self.post(k, &[acc.id], countersign_body(acc.id))
    }

    pub fn cancel(&mut self, k: u32, acc: &SignedEvent, reason: &str) -> SignedEvent {
        self.post(k, &[acc.id], cancel_body(acc.id, reason, 2 * DAY))
    }

    pub fn fulfil(&mut self, k: u32, acc: &SignedEvent) -> SignedEvent {
        self.post(k, &[acc.id], fulfil_body(acc.id))
    }

    pub fn withdraw(&mut self, k: u32, req: &SignedEvent) -> SignedEvent {
        self.post(k, &[req.id], withdraw_body(req.id, "covered by a locum"))
    }
}

/// Session on 2026-02-`day`, `part`.
pub fn session(day: u32, part: &str) -> pb::Session {
    pb::Session {
        date: format!("2026-02-{day:02}"),
        part: part.into(),
    }
}

pub fn sessions(list: &[(u32, &str)]) -> Vec<pb::Session> {
    list.iter().map(|(d, p)| session(*d, p)).collect()
}

pub fn request_body(list: &[(u32, &str)], expires_at_ms: u64) -> Body {
    Body::AidRequest(pb::AidRequest {
        papers: Vec::new(),
        role: "GP".into(),
        sessions: sessions(list),
        urgency: pb::Urgency::Urgent as i32,
        requirements: vec!["GMC registration".into(), "indemnity".into()],
        notes: "two partners off sick".into(),
        expires_at_ms,
        visibility: pb::Visibility::Network as i32,
    })
}

pub fn offer_body(req: EventId, list: &[(u32, &str)]) -> Body {
    Body::AidOffer(pb::AidOffer {
        request: req.as_bytes().to_vec(),
        sessions: sessions(list),
        role: "GP".into(),
        terms: "usual sessional rate".into(),
    })
}

pub fn accept_body(offer: EventId, list: &[(u32, &str)]) -> Body {
    Body::AidAcceptance(pb::AidAcceptance {
        offer: offer.as_bytes().to_vec(),
        sessions: sessions(list),
    })
}

pub fn countersign_body(acc: EventId) -> Body {
    Body::AidCountersign(pb::AidCountersign {
        acceptance: acc.as_bytes().to_vec(),
    })
}

pub fn cancel_body(acc: EventId, reason: &str, notice_ms: u64) -> Body {
    Body::AidCancel(pb::AidCancel {
        acceptance: acc.as_bytes().to_vec(),
        reason: reason.into(),
        notice_ms,
    })
}

pub fn fulfil_body(acc: EventId) -> Body {
    Body::AidFulfil(pb::AidFulfil {
        acceptance: acc.as_bytes().to_vec(),
    })
}

pub fn withdraw_body(req: EventId, reason: &str) -> Body {
    Body::AidWithdraw(pb::AidWithdraw {
        request: req.as_bytes().to_vec(),
        reason: reason.into(),
    })
}
