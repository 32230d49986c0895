//! Helpers for the governance tests: a partnership with a chosen deed, and short ways to
//! propose, vote and close.
#![allow(dead_code)]

use crate::common::{key, Fixture, T0};
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, FeedWriter, SignedEvent};
use mutual_protocol::governance::deed::default_deed;
use mutual_protocol::governance::tally::Tally;
use mutual_protocol::governance::GovernanceError;
use mutual_protocol::id::EventId;
use mutual_protocol::replica::{Ingested, Replica};
use mutual_protocol::state::{Outcome, Rejection};
use pb::{Choice, DecisionKind};
use std::collections::HashMap;

/// One day in ms.
pub const DAY: u64 = 24 * 60 * 60 * 1000;
/// The local clock used for ingesting: far after every timestamp, so nothing is held.
pub const NOW: u64 = T0 + 400 * DAY;

/// A network of `practices` practices (keys 1..=p) with partners 100+2p and 101+2p,
/// founded with `deed`.
pub fn fixture(practices: u32, deed: Option<pb::Deed>) -> (Fixture, FeedWriter) {
    Fixture::with_deed(practices, deed)
}

/// A replica under test, with a feed writer for every key that signs.
pub struct Net {
    pub fx: Fixture,
    pub r: Replica,
    pub writers: HashMap<u32, FeedWriter>,
}

impl Net {
    pub fn new(practices: u32, deed: Option<pb::Deed>) -> Self {
        let (fx, founder) = fixture(practices, deed);
        let r = fx.replica();
        let mut writers = HashMap::new();
        writers.insert(1, founder);
        Net { fx, r, writers }
    }

    /// The partners' key numbers, in order.
    pub fn partners(&self) -> Vec<u32> {
        self.fx.partners.clone()
    }

    /// Signs an event by key `who` with exactly these deps (plus the genesis if first).
    pub fn sign(&mut self, who: u32, ts: u64, deps: Vec<EventId>, body: Body) -> SignedEvent {
        let network = self.fx.network;
        self.writers
            .entry(who)
            .or_insert_with(|| FeedWriter::resume(key(who), network, None))
            .sign(ts, deps, body)
    }

    /// Takes in a signed event; it must be stored.
    pub fn put(&mut self, ev: &SignedEvent) {
        let res = self.r.ingest(NOW, &ev.to_wire());
        assert!(matches!(res, Ok(Ingested::Stored { .. })), "{res:?}");
    }

    /// Signs (following every head) and takes in an event; returns its id.
    pub fn event(&mut self, who: u32, ts: u64, body: Body) -> EventId {
        let heads = self.r.heads();
        let ev = self.sign(who, ts, heads, body);
        self.put(&ev);
        ev.id
    }

    pub fn outcome(&self, id: &EventId) -> Outcome {
        self.r.outcome(id).cloned().expect("stored")
    }

    /// Proposes; the motion must take effect.
    pub fn propose(&mut self, who: u32, ts: u64, mo: pb::Motion) -> EventId {
        let id = self.event(who, ts, Body::Motion(mo));
        assert_eq!(self.outcome(&id), Outcome::Applied, "motion");
        id
    }

    /// Signs and takes in a ballot body following every head and, directly, its motion;
    /// then, as practice nodes do, witnesses it (see [`Net::witness`]).
    pub fn cast(&mut self, who: u32, ts: u64, motion: EventId, body: Body) -> EventId {
        let id = self.cast_unwitnessed(who, ts, motion, body);
        self.witness(ts, motion, id);
        id
    }

    /// [`Net::cast`] without the witness.
    pub fn cast_unwitnessed(&mut self, who: u32, ts: u64, motion: EventId, body: Body) -> EventId {
        let mut deps = self.r.heads();
        deps.truncate(30);
        if !deps.contains(&motion) {
            deps.push(motion);
        }
        let ev = self.sign(who, ts, deps, body);
        self.put(&ev);
        ev.id
    }

    /// Whether `ballot` on `motion` is valid but not yet witnessed.
    pub fn unwitnessed(&self, motion: EventId, ballot: EventId) -> bool {
        self.r
            .state()
            .governance()
            .motion(&motion)
            .is_some_and(|r| r.unwitnessed.contains(&ballot))
    }

    /// Practice nodes write `Witness` events at `ts`, following every head, one at a
    /// time in order of practice, until `ballot` is witnessed (or none is left to try).
    pub fn witness(&mut self, ts: u64, motion: EventId, ballot: EventId) {
        for node in self.fx.practices.clone() {
            if !self.unwitnessed(motion, ballot) {
                return;
            }
            self.event(node, ts, Body::Witness(pb::Witness {}));
        }
    }

    pub fn vote(&mut self, who: u32, ts: u64, motion: EventId, choice: Choice) -> EventId {
        self.cast(who, ts, motion, ballot(motion, choice))
    }

    /// A practice node event at `ts`, which closes motions whose grace ended before.
    pub fn tick(&mut self, ts: u64) -> EventId {
        self.event(
            1,
            ts,
            Body::AddressAnnouncement(pb::AddressAnnouncement {
                addresses: vec![format!("/ip4/127.0.0.1/tcp/{}", 4000 + ts % 1000)],
            }),
        )
    }

    pub fn tally(&self, motion: &EventId) -> Tally {
        self.r
            .state()
            .governance()
            .motion(motion)
            .expect("motion")
            .tally()
    }

    pub fn closed(&self, motion: &EventId) -> bool {
        self.r
            .state()
            .governance()
            .motion(motion)
            .is_some_and(|m| m.closed.is_some())
    }
}

pub fn ballot(motion: EventId, choice: Choice) -> Body {
    Body::Ballot(pb::Ballot {
        motion: motion.as_bytes().to_vec(),
        choice: choice as i32,
        ranking: vec![],
        ..Default::default()
    })
}

/// Partner key `holder` appointed proxy on `motion` (until the motion closes).
pub fn appoint(motion: EventId, holder: u32) -> Body {
    Body::Ballot(pb::Ballot {
        motion: motion.as_bytes().to_vec(),
        choice: Choice::AppointProxy as i32,
        proxy: pk(holder),
        ..Default::default()
    })
}

/// A ballot on `motion` cast as proxy for partner key `appointer`.
pub fn as_proxy(motion: EventId, appointer: u32, choice: Choice) -> Body {
    Body::Ballot(pb::Ballot {
        motion: motion.as_bytes().to_vec(),
        choice: choice as i32,
        on_behalf_of: pk(appointer),
        ..Default::default()
    })
}

pub fn ranking(motion: EventId, keys: &[u32]) -> Body {
    Body::Ballot(pb::Ballot {
        motion: motion.as_bytes().to_vec(),
        choice: Choice::Unspecified as i32,
        ranking: keys
            .iter()
            .map(|&k| key(k).public().as_bytes().to_vec())
            .collect(),
        ..Default::default()
    })
}

/// A motion of `kind` open from T0 + 1 day to T0 + 3 days.
pub fn motion(kind: DecisionKind) -> pb::Motion {
    pb::Motion {
        kind: kind as i32,
        title: format!("{} motion", kind.as_str_name()),
        opens_at_ms: T0 + DAY,
        closes_at_ms: T0 + 3 * DAY,
        ..Default::default()
    }
}

pub fn pk(n: u32) -> Vec<u8> {
    key(n).public().as_bytes().to_vec()
}

/// The motion's close (T0 + 3 days) plus the default grace (1 day), plus 1 ms: the
/// first timestamp that closes it.
pub const AFTER_GRACE: u64 = T0 + 4 * DAY + 1;
/// Timestamps inside the voting window.
pub const DURING: u64 = T0 + 2 * DAY;
/// When motions are proposed.
pub const PROPOSED: u64 = T0 + DAY;

pub fn governance_rejection(o: &Outcome) -> Option<&GovernanceError> {
    match o {
        Outcome::Rejected(Rejection::Governance(e)) => Some(e),
        _ => None,
    }
}

/// A deed whose rule for `kind` is replaced by `f(default rule)`.
pub fn deed_with(kind: DecisionKind, f: impl Fn(&mut pb::DecisionRule)) -> pb::Deed {
    let mut d = default_deed();
    for r in d.rules.iter_mut().filter(|r| r.kind == kind as i32) {
        f(r);
    }
    d
}

/// Closes `m` with an event just after its grace period.
pub fn close(net: &mut Net, m: &mutual_protocol::id::EventId) {
    net.tick(AFTER_GRACE);
    assert!(
        net.closed(m),
        "the motion closes at the first event after its grace"
    );
}

/// Elects `board` (every candidate ranked in the order given, one seat each) and, if
/// given, `chair`, proposed by partner 102 at [`PROPOSED`], every partner voting, closed
/// at [`AFTER_GRACE`]. Returns the two motions.
pub fn elect_offices(
    net: &mut Net,
    board: &[u32],
    chair: Option<u32>,
) -> (EventId, Option<EventId>) {
    let b = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            seats: board.len() as u32,
            candidates: board.iter().map(|&k| pk(k)).collect(),
            ..motion(DecisionKind::ElectBoard)
        },
    );
    let c = chair.map(|c| {
        net.propose(
            102,
            PROPOSED,
            pb::Motion {
                candidates: vec![pk(c)],
                ..motion(DecisionKind::ElectChair)
            },
        )
    });
    for p in net.partners() {
        net.cast(p, DURING, b, ranking(b, board));
        if let (Some(c), Some(chair)) = (c, chair) {
            net.cast(p, DURING, c, ranking(c, &[chair]));
        }
    }
    close(net, &b);
    (b, c)
}
