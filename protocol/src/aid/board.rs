//! The board: a pure view over the aid state and the membership, for people.
//!
//! [`Board::of`] takes the caller's clock, `now_ms`, only to show which requests have
//! expired; no rule depends on it (rules use event timestamps, docs/AID.md "Expiry").
//! Two nodes with the same events and the same `now_ms` show the same board.

use super::{AgreementStatus, Aid, Happening, RequestRecord, Session};
use crate::id::EventId;
use crate::membership::{Membership, Status};
use mutual_proto::v1 as pb;
use std::collections::{BTreeMap, BTreeSet};

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestState {
    /// Takes offers and acceptances.
    Open,
    /// Every session is held by a pending, binding or fulfilled agreement.
    FullyAgreed,
    /// `now_ms` is at or after its expiry.
    Expired,
    /// Withdrawn by the requester.
    Withdrawn,
    /// The requesting practice has left or been removed.
    RequesterInactive,
}

/// Session counts for one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionCounts {
    /// Sessions requested.
    pub needed: usize,
    /// Requested sessions named in at least one offer.
    pub offered: usize,
    /// Sessions in pending agreements (accepted, not countersigned).
    pub pending: usize,
    /// Sessions in binding agreements (countersigned, not yet fulfilled).
    pub agreed: usize,
    /// Sessions in fulfilled agreements.
    pub fulfilled: usize,
    /// Sessions held by no agreement: `needed - pending - agreed - fulfilled`.
    pub outstanding: usize,
}

/// One request on the board.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestView {
    /// The request's event id.
    pub id: EventId,
    /// ODS code of the requesting practice.
    pub practice: String,
    /// Its locality (from the membership now).
    pub locality: String,
    /// The role needed.
    pub role: String,
    /// The sessions needed, sorted.
    pub sessions: Vec<Session>,
    /// How urgent.
    pub urgency: pb::Urgency,
    /// Who may see it.
    pub visibility: pb::Visibility,
    /// Its expiry.
    pub expires_at_ms: u64,
    /// Where it stands at `now_ms`.
    pub state: RequestState,
    /// Session counts.
    pub counts: SessionCounts,
    /// Everything that happened to it, in fold order.
    pub history: Vec<(EventId, Happening)>,
}

/// One agreement ("arrangement") on the board.
#[derive(Clone, Debug, PartialEq)]
pub struct AgreementView {
    /// The acceptance's event id.
    pub id: EventId,
    /// The request.
    pub request: EventId,
    /// The offer accepted.
    pub offer: EventId,
    /// ODS code of the requesting practice.
    pub requester: String,
    /// ODS code of the offering practice.
    pub offerer: String,
    /// The sessions agreed, sorted.
    pub sessions: Vec<Session>,
    /// Its status.
    pub status: AgreementStatus,
    /// What happened to it (accepted, countersigned, cancelled, fulfilled), in fold order.
    pub history: Vec<(EventId, Happening)>,
}

/// Totals for a practice or a locality. "Received" counts agreements where it (or a
/// practice in it) requested; "given" where it offered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Open requests.
    pub open_requests: usize,
    /// Sessions of open requests held by no agreement.
    pub sessions_needed: usize,
    /// Sessions offered, over every offer that took effect.
    pub sessions_offered: usize,
    /// Sessions in pending agreements, as requester.
    pub pending_received: usize,
    /// Sessions in pending agreements, as offerer.
    pub pending_given: usize,
    /// Sessions in binding agreements, as requester.
    pub agreed_received: usize,
    /// Sessions in binding agreements, as offerer.
    pub agreed_given: usize,
    /// Sessions in fulfilled agreements, as requester.
    pub fulfilled_received: usize,
    /// Sessions in fulfilled agreements, as offerer.
    pub fulfilled_given: usize,
}

impl Totals {
    fn add(&mut self, o: &Totals) {
        self.open_requests += o.open_requests;
        self.sessions_needed += o.sessions_needed;
        self.sessions_offered += o.sessions_offered;
        self.pending_received += o.pending_received;
        self.pending_given += o.pending_given;
        self.agreed_received += o.agreed_received;
        self.agreed_given += o.agreed_given;
        self.fulfilled_received += o.fulfilled_received;
        self.fulfilled_given += o.fulfilled_given;
    }
}

/// Totals for one practice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PracticeTotals {
    /// ODS code.
    pub ods: String,
    /// Its locality.
    pub locality: String,
    /// The totals.
    pub totals: Totals,
}

/// Totals for one locality: the sum over its practices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalityTotals {
    /// The locality's name.
    pub locality: String,
    /// The totals.
    pub totals: Totals,
}

/// The whole board.
#[derive(Clone, Debug, PartialEq)]
pub struct Board {
    /// Every request, by event id.
    pub requests: Vec<RequestView>,
    /// Every agreement, by acceptance id.
    pub agreements: Vec<AgreementView>,
    /// Every practice of the membership, by ODS code.
    pub practices: Vec<PracticeTotals>,
    /// Every locality of the membership, by name.
    pub localities: Vec<LocalityTotals>,
}

impl Board {
    /// The board at the caller's time `now_ms`.
    pub fn of(aid: &Aid, membership: &Membership, now_ms: u64) -> Board {
        let locality = |ods: &str| {
            membership
                .practice(ods)
                .map(|p| p.practice.locality.clone())
                .unwrap_or_default()
        };
        let mut per_practice: BTreeMap<String, Totals> = membership
            .practices()
            .map(|p| (p.practice.ods_code.clone(), Totals::default()))
            .collect();
        let requests: Vec<RequestView> = aid
            .requests()
            .map(|r| request_view(aid, membership, r, now_ms, locality(&r.practice)))
            .collect();
        for r in &requests {
            let t = per_practice.entry(r.practice.clone()).or_default();
            if r.state == RequestState::Open {
                t.open_requests += 1;
                t.sessions_needed += r.counts.outstanding;
            }
        }
        for o in aid.offers() {
            per_practice
                .entry(o.practice.clone())
                .or_default()
                .sessions_offered += o.sessions.len();
        }
        for a in aid.agreements() {
            let n = a.sessions.len();
            count_agreed(
                per_practice.entry(a.requester.clone()).or_default(),
                &a.status,
                n,
                true,
            );
            count_agreed(
                per_practice.entry(a.offerer.clone()).or_default(),
                &a.status,
                n,
                false,
            );
        }
        let mut per_locality: BTreeMap<String, Totals> = BTreeMap::new();
        let practices: Vec<PracticeTotals> = per_practice
            .into_iter()
            .map(|(ods, totals)| {
                let locality = locality(&ods);
                per_locality
                    .entry(locality.clone())
                    .or_default()
                    .add(&totals);
                PracticeTotals {
                    ods,
                    locality,
                    totals,
                }
            })
            .collect();
        let localities = per_locality
            .into_iter()
            .map(|(locality, totals)| LocalityTotals { locality, totals })
            .collect();
        let agreements = aid
            .agreements()
            .map(|a| {
                let history = aid
                    .request(&a.request)
                    .map(|r| {
                        r.history
                            .iter()
                            .filter(|(ev, h)| h.agreement(ev) == Some(a.id))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                AgreementView {
                    id: a.id,
                    request: a.request,
                    offer: a.offer,
                    requester: a.requester.clone(),
                    offerer: a.offerer.clone(),
                    sessions: a.sessions.clone(),
                    status: a.status.clone(),
                    history,
                }
            })
            .collect();
        Board {
            requests,
            agreements,
            practices,
            localities,
        }
    }

    /// The open requests, most urgent first, then soonest to expire, then by id.
    pub fn open_requests(&self) -> Vec<&RequestView> {
        let mut open: Vec<&RequestView> = self
            .requests
            .iter()
            .filter(|r| r.state == RequestState::Open)
            .collect();
        open.sort_by_key(|r| (std::cmp::Reverse(r.urgency as i32), r.expires_at_ms, r.id));
        open
    }

    /// One request.
    pub fn request(&self, id: &EventId) -> Option<&RequestView> {
        self.requests.iter().find(|r| r.id == *id)
    }

    /// One agreement.
    pub fn agreement(&self, id: &EventId) -> Option<&AgreementView> {
        self.agreements.iter().find(|a| a.id == *id)
    }

    /// One practice's totals.
    pub fn practice(&self, ods: &str) -> Option<&PracticeTotals> {
        self.practices.iter().find(|p| p.ods == ods)
    }

    /// One locality's totals.
    pub fn locality(&self, name: &str) -> Option<&LocalityTotals> {
        self.localities.iter().find(|l| l.locality == name)
    }
}

/// Adds `n` sessions of an agreement with `status` to a party's totals.
fn count_agreed(t: &mut Totals, status: &AgreementStatus, n: usize, received: bool) {
    let slot = match (status, received) {
        (AgreementStatus::Pending, true) => &mut t.pending_received,
        (AgreementStatus::Pending, false) => &mut t.pending_given,
        (AgreementStatus::Binding, true) => &mut t.agreed_received,
        (AgreementStatus::Binding, false) => &mut t.agreed_given,
        (AgreementStatus::Fulfilled { .. }, true) => &mut t.fulfilled_received,
        (AgreementStatus::Fulfilled { .. }, false) => &mut t.fulfilled_given,
        (AgreementStatus::Cancelled { .. }, _) => return,
    };
    *slot += n;
}

fn request_view(
    aid: &Aid,
    membership: &Membership,
    r: &RequestRecord,
    now_ms: u64,
    locality: String,
) -> RequestView {
    let offered: BTreeSet<&Session> = r
        .offers
        .iter()
        .filter_map(|o| aid.offer(o))
        .flat_map(|o| o.sessions.iter())
        .collect();
    let mut counts = SessionCounts {
        needed: r.sessions.len(),
        offered: offered.len(),
        ..SessionCounts::default()
    };
    for a in r.agreements.iter().filter_map(|a| aid.agreement(a)) {
        match a.status {
            AgreementStatus::Pending => counts.pending += a.sessions.len(),
            AgreementStatus::Binding => counts.agreed += a.sessions.len(),
            AgreementStatus::Fulfilled { .. } => counts.fulfilled += a.sessions.len(),
            AgreementStatus::Cancelled { .. } => {}
        }
    }
    counts.outstanding = counts
        .needed
        .saturating_sub(counts.pending + counts.agreed + counts.fulfilled);
    let active = membership
        .practice(&r.practice)
        .is_some_and(|p| p.status == Status::Active);
    let state = if r.withdrawn.is_some() {
        RequestState::Withdrawn
    } else if !active {
        RequestState::RequesterInactive
    } else if counts.outstanding == 0 {
        RequestState::FullyAgreed
    } else if now_ms >= r.expires_at_ms {
        RequestState::Expired
    } else {
        RequestState::Open
    };
    RequestView {
        id: r.id,
        practice: r.practice.clone(),
        locality,
        role: r.role.clone(),
        sessions: r.sessions.clone(),
        urgency: r.urgency,
        visibility: r.visibility,
        expires_at_ms: r.expires_at_ms,
        state,
        counts,
        history: r.history.iter().cloned().collect(),
    }
}
