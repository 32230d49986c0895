//! Mutual aid: practices asking each other for cover, offering it, and agreeing it.
//!
//! A practice posts a request (role, sessions, urgency, expiry); other member practices
//! offer cover for some of its sessions; the requester accepts an offer (some or all of
//! its sessions), which makes a *pending* agreement; the offering practice countersigns,
//! which makes it *binding*. Either side may cancel a pending or binding agreement; the
//! requester records a binding agreement as fulfilled, and withdraws its request.
//!
//! Every rule is decided in [`crate::state::State::apply`], in the canonical fold order,
//! from the events alone: the author's membership, the events referenced (which must be
//! among the event's causes), and the event's own timestamp. The exact rules are in
//! docs/AID.md. The [`Board`] is a pure view over this state.
//!
//! - [`session`]: what a session is and how it is checked.
//! - `rules`: the rules each aid event must pass to take effect.
//! - [`board`]: the board view (open requests, totals, histories).
//! - `digest`: the aid part of the state hash.

pub mod board;
mod digest;
mod rules;
pub mod session;

pub use board::{
    AgreementView, Board, LocalityTotals, PracticeTotals, RequestState, RequestView, SessionCounts,
    Totals,
};
pub use session::Session;

use crate::id::EventId;
use imbl::{OrdMap, OrdSet, Vector};
use mutual_proto::v1 as pb;

/// Most sessions one request may ask for, in sessions. Six weeks of full-time cover (two
/// sessions a day, five days a week) is 60; a longer need is recruitment, not aid. Also
/// bounds the work of checking one offer or acceptance against its request.
pub const MAX_SESSIONS_PER_REQUEST: usize = 64;

/// Most requests one practice may have open at once (not withdrawn, not expired at the
/// new request's timestamp, not fully agreed), in requests. Keeps one practice from
/// flooding the board; a practice with more needs combines them.
pub const MAX_OPEN_REQUESTS_PER_PRACTICE: usize = 16;

/// Most offers that take effect against one request, in offers. Bounds the state one
/// request can grow; with [`MAX_SESSIONS_PER_REQUEST`] sessions, 64 offers is one offer
/// per session from every practice of a large partnership, and then some.
pub const MAX_OFFERS_PER_REQUEST: usize = 64;

/// Most acceptances (agreements, whatever became of them) that take effect against one
/// request, in agreements. Live agreements cannot exceed the sessions requested, but a
/// cancel-and-accept-again cycle could otherwise grow a request's history without bound.
pub const MAX_AGREEMENTS_PER_REQUEST: usize = 128;

/// Why an aid event has no effect. Shown to users as the event's rejection reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AidError {
    /// Aid events are made by practice nodes (and, as the deed says, their partners).
    #[error("only a member practice's node, or a partner as the deed allows, makes aid events")]
    NotAPractice,
    /// The deed has a partner (or a managing partner) of the practice sign what commits
    /// it, and this event was signed otherwise.
    #[error(
        "the deed has {0} of the practice sign its aid offers, acceptances and \
         countersignatures"
    )]
    SignerNotAllowed(&'static str),
    /// A field of the body breaks a rule.
    #[error("invalid: {0}")]
    Invalid(String),
    /// A limit would be exceeded.
    #[error("too many {what} (the limit is {limit})")]
    TooMany {
        /// What is counted.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The referenced event is not among this event's `prev` and `deps`.
    #[error("the referenced {expected} {referent:?} must be listed in deps")]
    NotInDeps {
        /// The referenced id.
        referent: EventId,
        /// What it should be.
        expected: &'static str,
    },
    /// The referenced event took effect, but as another kind of aid event.
    #[error("{referent:?} is {found}, not {expected}")]
    WrongType {
        /// The referenced id.
        referent: EventId,
        /// What it should be.
        expected: &'static str,
        /// What it is.
        found: &'static str,
    },
    /// The referenced event is not an aid event that took effect.
    #[error("{referent:?} is not {expected} that took effect")]
    Unknown {
        /// The referenced id.
        referent: EventId,
        /// What it should be.
        expected: &'static str,
    },
    /// The author's practice is not the one allowed to make this event.
    #[error("not allowed: {0}")]
    NotAllowed(&'static str),
    /// The other practice is no longer an active member.
    #[error("practice {0} is no longer an active member")]
    PartyInactive(String),
    /// The request is withdrawn or every session is agreed.
    #[error("the request is closed: {0}")]
    Closed(&'static str),
    /// The event's timestamp is at or after the request's expiry.
    #[error(
        "the request expired at {expires_at_ms} ms; this event is timestamped {timestamp_ms} ms"
    )]
    Expired {
        /// The event's timestamp.
        timestamp_ms: u64,
        /// The request's expiry.
        expires_at_ms: u64,
    },
    /// A session is not among those of the request or offer referred to.
    #[error("session {session} is not in the {of}")]
    NotASubset {
        /// The session.
        session: String,
        /// "request" or "offer".
        of: &'static str,
    },
    /// A session is already in another agreement (pending, binding or fulfilled).
    #[error("session {session} is already agreed in {agreement:?}")]
    AlreadyAgreed {
        /// The session.
        session: String,
        /// The acceptance that took it first in fold order.
        agreement: EventId,
    },
    /// The agreement is not in a status that allows this event.
    #[error("the agreement is {status}; this needs it {needed}")]
    WrongStatus {
        /// Its status.
        status: &'static str,
        /// The status(es) needed.
        needed: &'static str,
    },
}

/// A request for aid that took effect.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestRecord {
    /// Its event id.
    pub id: EventId,
    /// ODS code of the requesting practice.
    pub practice: String,
    /// The role needed.
    pub role: String,
    /// The sessions needed, sorted.
    pub sessions: Vec<Session>,
    /// How urgent.
    pub urgency: pb::Urgency,
    /// Requirements (registration, indemnity...), as signed.
    pub requirements: Vec<String>,
    /// Free-text notes.
    pub notes: String,
    /// Files attached, as signed (docs/PROTOCOL.md §8.13).
    pub papers: Vec<pb::Paper>,
    /// Offers and acceptances timestamped at or after this have no effect.
    pub expires_at_ms: u64,
    /// Who may see it.
    pub visibility: pb::Visibility,
    /// The request's own timestamp.
    pub timestamp_ms: u64,
    /// The withdrawal, if withdrawn: (event id, reason).
    pub withdrawn: Option<(EventId, String)>,
    /// Offers against it, in fold order.
    pub offers: Vector<EventId>,
    /// Acceptances of its offers, in fold order.
    pub agreements: Vector<EventId>,
    /// Everything that happened to it, in fold order.
    pub history: Vector<(EventId, Happening)>,
}

/// An offer that took effect.
#[derive(Clone, Debug, PartialEq)]
pub struct OfferRecord {
    /// Its event id.
    pub id: EventId,
    /// The request it answers.
    pub request: EventId,
    /// ODS code of the offering practice.
    pub practice: String,
    /// The sessions offered, sorted (a subset of the request's).
    pub sessions: Vec<Session>,
    /// The role that will cover.
    pub role: String,
    /// Any terms.
    pub terms: String,
}

/// What became of an agreement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgreementStatus {
    /// Accepted by the requester, awaiting the offering practice's countersignature.
    Pending,
    /// Countersigned: signed by both practices.
    Binding,
    /// Cancelled by one of the parties.
    Cancelled {
        /// The cancellation event.
        event: EventId,
        /// ODS code of the practice that cancelled.
        by: String,
        /// Why.
        reason: String,
        /// The notice given, in ms, as claimed by the canceller.
        notice_ms: u64,
    },
    /// Recorded as fulfilled by the requester.
    Fulfilled {
        /// The fulfilment event.
        event: EventId,
    },
}

impl AgreementStatus {
    /// A short name: "pending", "binding", "cancelled", "fulfilled".
    pub fn name(&self) -> &'static str {
        match self {
            AgreementStatus::Pending => "pending",
            AgreementStatus::Binding => "binding",
            AgreementStatus::Cancelled { .. } => "cancelled",
            AgreementStatus::Fulfilled { .. } => "fulfilled",
        }
    }

    /// Whether the agreement holds its sessions (pending, binding or fulfilled).
    pub fn holds_sessions(&self) -> bool {
        !matches!(self, AgreementStatus::Cancelled { .. })
    }
}

/// An agreement: an acceptance that took effect, and what became of it.
#[derive(Clone, Debug, PartialEq)]
pub struct AgreementRecord {
    /// The acceptance's event id: the agreement's id.
    pub id: EventId,
    /// The request.
    pub request: EventId,
    /// The offer accepted.
    pub offer: EventId,
    /// ODS code of the requesting practice.
    pub requester: String,
    /// ODS code of the offering practice.
    pub offerer: String,
    /// The sessions agreed, sorted (a subset of the offer's).
    pub sessions: Vec<Session>,
    /// Its status.
    pub status: AgreementStatus,
    /// The countersignature, once made.
    pub countersign: Option<EventId>,
}

/// One thing that happened to a request, for its history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Happening {
    /// The request was posted by this practice.
    Requested {
        /// The requesting practice.
        practice: String,
    },
    /// A practice offered cover.
    Offered {
        /// The offering practice.
        practice: String,
        /// How many sessions it offered.
        sessions: usize,
    },
    /// The requester accepted (some of) an offer: a pending agreement.
    Accepted {
        /// The offer accepted.
        offer: EventId,
        /// How many sessions were accepted.
        sessions: usize,
    },
    /// The offering practice countersigned: the agreement binds.
    Countersigned {
        /// The agreement.
        agreement: EventId,
    },
    /// A party cancelled an agreement.
    Cancelled {
        /// The agreement.
        agreement: EventId,
        /// The practice that cancelled.
        by: String,
        /// Why.
        reason: String,
        /// The notice given, in ms.
        notice_ms: u64,
    },
    /// The requester recorded an agreement as fulfilled.
    Fulfilled {
        /// The agreement.
        agreement: EventId,
    },
    /// The requester withdrew the request.
    Withdrawn {
        /// Why.
        reason: String,
    },
}

impl Happening {
    /// The agreement this happening concerns, given the event id it was recorded under.
    pub fn agreement(&self, event: &EventId) -> Option<EventId> {
        match self {
            Happening::Accepted { .. } => Some(*event),
            Happening::Countersigned { agreement }
            | Happening::Cancelled { agreement, .. }
            | Happening::Fulfilled { agreement } => Some(*agreement),
            _ => None,
        }
    }
}

/// The mutual-aid state of a network. Cheap to clone (persistent maps).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Aid {
    requests: OrdMap<EventId, RequestRecord>,
    /// Each practice's requests not yet withdrawn, by (expiry, id): so counting a
    /// practice's open requests looks only at its own unexpired ones, not at every
    /// request ever made. Derived from `requests`; not hashed.
    unwithdrawn: OrdMap<String, OrdSet<(u64, EventId)>>,
    offers: OrdMap<EventId, OfferRecord>,
    agreements: OrdMap<EventId, AgreementRecord>,
}

impl Aid {
    /// Every request that took effect, by event id.
    pub fn requests(&self) -> impl Iterator<Item = &RequestRecord> {
        self.requests.values()
    }

    /// Every offer that took effect, by event id.
    pub fn offers(&self) -> impl Iterator<Item = &OfferRecord> {
        self.offers.values()
    }

    /// Every agreement, by acceptance id.
    pub fn agreements(&self) -> impl Iterator<Item = &AgreementRecord> {
        self.agreements.values()
    }

    /// One request.
    pub fn request(&self, id: &EventId) -> Option<&RequestRecord> {
        self.requests.get(id)
    }

    /// One offer.
    pub fn offer(&self, id: &EventId) -> Option<&OfferRecord> {
        self.offers.get(id)
    }

    /// One agreement, by its acceptance's id.
    pub fn agreement(&self, id: &EventId) -> Option<&AgreementRecord> {
        self.agreements.get(id)
    }

    /// The agreements of a request that hold sessions (pending, binding or fulfilled).
    fn holding<'a>(&'a self, req: &'a RequestRecord) -> impl Iterator<Item = &'a AgreementRecord> {
        req.agreements
            .iter()
            .filter_map(|id| self.agreements.get(id))
            .filter(|a| a.status.holds_sessions())
    }

    /// How many of a request's sessions are held by an agreement.
    pub fn sessions_held(&self, req: &RequestRecord) -> usize {
        self.holding(req).map(|a| a.sessions.len()).sum()
    }

    /// Whether every session of the request is held by an agreement.
    pub fn fully_agreed(&self, req: &RequestRecord) -> bool {
        self.sessions_held(req) >= req.sessions.len()
    }

    /// Whether the request takes offers and acceptances at time `t` (an event's
    /// timestamp): not withdrawn, `t` before its expiry, and not fully agreed.
    pub fn is_open_at(&self, req: &RequestRecord, t: u64) -> bool {
        req.withdrawn.is_none() && t < req.expires_at_ms && !self.fully_agreed(req)
    }
}
