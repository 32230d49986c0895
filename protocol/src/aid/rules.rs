//! The rules an aid event must pass to take effect (docs/AID.md, "Rules").
//!
//! Called from [`crate::state::State::apply`] after the common checks (founded network,
//! not forked, key not retired, author an active member). Each function either changes
//! the aid state and returns `Ok`, or returns why not and changes nothing: every check
//! comes before the first write.

use super::session::{parse_list, Session};
use super::{
    AgreementRecord, AgreementStatus, Aid, AidError, Happening, OfferRecord, RequestRecord,
    MAX_AGREEMENTS_PER_REQUEST, MAX_OFFERS_PER_REQUEST, MAX_OPEN_REQUESTS_PER_PRACTICE,
    MAX_SESSIONS_PER_REQUEST,
};
use crate::event::{Body, Event, SignedEvent};
use crate::id::EventId;
use crate::membership::{Holder, Membership, Status};
use imbl::Vector;
use mutual_proto::v1 as pb;

/// The kinds of aid event another aid event can refer to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Request,
    Offer,
    Acceptance,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Request => "a request",
            Kind::Offer => "an offer",
            Kind::Acceptance => "an acceptance",
        }
    }
}

/// The practice an aid event acts for, if its author may sign it under the deed's
/// `aid_signers` (docs/AID.md §3.1): the practice's node key (for what commits the
/// practice, only under `NODE`), or, unless `NODE`, a partner of it who is not an
/// associate (a managing partner under `MANAGING_PARTNERS`) — the partner's practice.
fn acting_practice(
    membership: &Membership,
    signers: pb::AidSigners,
    e: &Event,
) -> Result<String, AidError> {
    use pb::AidSigners as S;
    let commits = matches!(
        e.body,
        Some(Body::AidOffer(_) | Body::AidAcceptance(_) | Body::AidCountersign(_))
    );
    let who = match signers {
        S::Node => "the node",
        S::Partners => "a partner",
        S::ManagingPartners => "a managing partner",
    };
    match membership.holder(&e.author) {
        Some(Holder::Practice(ods)) if !commits || signers == S::Node => Ok(ods.clone()),
        Some(Holder::Practice(_)) => Err(AidError::SignerNotAllowed(who)),
        Some(Holder::Partner(id)) if signers != S::Node => {
            let p = membership.partner(id).ok_or(AidError::NotAPractice)?;
            let role = pb::PartnerRole::try_from(p.partner.role).unwrap_or_default();
            let allowed = match signers {
                S::ManagingPartners => role == pb::PartnerRole::Managing,
                _ => role != pb::PartnerRole::Associate,
            };
            if !allowed {
                return Err(AidError::SignerNotAllowed(who));
            }
            Ok(p.partner.practice_ods.clone())
        }
        _ => Err(AidError::NotAPractice),
    }
}

impl Aid {
    /// Applies one aid event (a body `AidRequest` ... `AidWithdraw`). Other bodies are
    /// refused with [`AidError::Invalid`]; the caller routes only aid bodies here.
    pub(crate) fn apply(
        &mut self,
        membership: &Membership,
        signers: pb::AidSigners,
        ev: &SignedEvent,
    ) -> Result<(), AidError> {
        let e = &ev.event;
        let ods = acting_practice(membership, signers, e)?;
        match &e.body {
            Some(Body::AidRequest(r)) => self.apply_request(ev.id, e, ods, r),
            Some(Body::AidOffer(o)) => self.apply_offer(membership, ev.id, e, ods, o),
            Some(Body::AidAcceptance(a)) => self.accept(membership, ev.id, e, ods, a),
            Some(Body::AidCountersign(c)) => self.countersign(ev.id, e, &ods, c),
            Some(Body::AidCancel(c)) => self.cancel(ev.id, e, ods, c),
            Some(Body::AidFulfil(f)) => self.fulfil(ev.id, e, &ods, f),
            Some(Body::AidWithdraw(w)) => self.withdraw(ev.id, e, &ods, w),
            _ => Err(AidError::Invalid("not an aid event".into())),
        }
    }

    /// Resolves a reference: it must be among the event's causes and name an aid event
    /// of the expected kind that took effect.
    fn referent(&self, e: &Event, bytes: &[u8], expected: Kind) -> Result<EventId, AidError> {
        let referent = EventId::from_slice(bytes)
            .ok_or_else(|| AidError::Invalid("a reference must be a 32-byte event id".into()))?;
        if !e.causes().any(|c| c == referent) {
            return Err(AidError::NotInDeps {
                referent,
                expected: expected.name(),
            });
        }
        let found = if self.requests.contains_key(&referent) {
            Kind::Request
        } else if self.offers.contains_key(&referent) {
            Kind::Offer
        } else if self.agreements.contains_key(&referent) {
            Kind::Acceptance
        } else {
            return Err(AidError::Unknown {
                referent,
                expected: expected.name(),
            });
        };
        if found != expected {
            return Err(AidError::WrongType {
                referent,
                expected: expected.name(),
                found: found.name(),
            });
        }
        Ok(referent)
    }

    fn apply_request(
        &mut self,
        id: EventId,
        e: &Event,
        ods: String,
        r: &pb::AidRequest,
    ) -> Result<(), AidError> {
        if r.role.trim().is_empty() {
            return Err(AidError::Invalid("a request names the role needed".into()));
        }
        let sessions = parse_list(&r.sessions, "a request", MAX_SESSIONS_PER_REQUEST)?;
        let urgency = match pb::Urgency::try_from(r.urgency) {
            Ok(u) if u != pb::Urgency::Unspecified => u,
            _ => return Err(AidError::Invalid("a request states its urgency".into())),
        };
        let visibility = match pb::Visibility::try_from(r.visibility) {
            Ok(v) if v != pb::Visibility::Unspecified => v,
            _ => return Err(AidError::Invalid("a request states who may see it".into())),
        };
        if r.expires_at_ms <= e.timestamp_ms {
            return Err(AidError::Invalid(
                "a request's expiry must be after its own timestamp".into(),
            ));
        }
        let t = e.timestamp_ms;
        let open = self.unwithdrawn.get(&ods).map_or(0, |own| {
            own.range((t.saturating_add(1), EventId([0; 32]))..)
                .filter_map(|(_, q)| self.requests.get(q))
                .filter(|q| self.is_open_at(q, t))
                .count()
        });
        if open >= MAX_OPEN_REQUESTS_PER_PRACTICE {
            return Err(AidError::TooMany {
                what: "open requests from one practice",
                limit: MAX_OPEN_REQUESTS_PER_PRACTICE,
            });
        }
        let history = Vector::unit((
            id,
            Happening::Requested {
                practice: ods.clone(),
            },
        ));
        self.unwithdrawn
            .entry(ods.clone())
            .or_default()
            .insert((r.expires_at_ms, id));
        self.requests.insert(
            id,
            RequestRecord {
                id,
                practice: ods,
                role: r.role.clone(),
                sessions,
                urgency,
                requirements: r.requirements.clone(),
                notes: r.notes.clone(),
                papers: r.papers.clone(),
                expires_at_ms: r.expires_at_ms,
                visibility,
                timestamp_ms: e.timestamp_ms,
                withdrawn: None,
                offers: Vector::new(),
                agreements: Vector::new(),
                history,
            },
        );
        Ok(())
    }

    /// Whether a request takes offers or acceptances from an event timestamped `t`.
    fn check_takes(&self, req: &RequestRecord, t: u64) -> Result<(), AidError> {
        if req.withdrawn.is_some() {
            return Err(AidError::Closed("withdrawn by the requester"));
        }
        if t >= req.expires_at_ms {
            return Err(AidError::Expired {
                timestamp_ms: t,
                expires_at_ms: req.expires_at_ms,
            });
        }
        if self.fully_agreed(req) {
            return Err(AidError::Closed("every session is already agreed"));
        }
        Ok(())
    }

    fn apply_offer(
        &mut self,
        membership: &Membership,
        id: EventId,
        e: &Event,
        ods: String,
        o: &pb::AidOffer,
    ) -> Result<(), AidError> {
        let req_id = self.referent(e, &o.request, Kind::Request)?;
        let req = &self.requests[&req_id];
        if req.practice == ods {
            return Err(AidError::NotAllowed(
                "a practice does not offer on its own request",
            ));
        }
        require_active(membership, &req.practice)?;
        self.check_takes(req, e.timestamp_ms)?;
        if o.role.trim().is_empty() {
            return Err(AidError::Invalid(
                "an offer names the role that will cover".into(),
            ));
        }
        let sessions = parse_list(&o.sessions, "an offer", MAX_SESSIONS_PER_REQUEST)?;
        subset(&sessions, &req.sessions, "request")?;
        if req.offers.len() >= MAX_OFFERS_PER_REQUEST {
            return Err(AidError::TooMany {
                what: "offers on one request",
                limit: MAX_OFFERS_PER_REQUEST,
            });
        }
        let happening = Happening::Offered {
            practice: ods.clone(),
            sessions: sessions.len(),
        };
        self.offers.insert(
            id,
            OfferRecord {
                id,
                request: req_id,
                practice: ods,
                sessions,
                role: o.role.clone(),
                terms: o.terms.clone(),
            },
        );
        if let Some(req) = self.requests.get_mut(&req_id) {
            req.offers.push_back(id);
            req.history.push_back((id, happening));
        }
        Ok(())
    }

    fn accept(
        &mut self,
        membership: &Membership,
        id: EventId,
        e: &Event,
        ods: String,
        a: &pb::AidAcceptance,
    ) -> Result<(), AidError> {
        let offer_id = self.referent(e, &a.offer, Kind::Offer)?;
        let offer = &self.offers[&offer_id];
        let req = &self.requests[&offer.request];
        if req.practice != ods {
            return Err(AidError::NotAllowed(
                "only the requesting practice accepts an offer",
            ));
        }
        require_active(membership, &offer.practice)?;
        self.check_takes(req, e.timestamp_ms)?;
        let sessions = parse_list(&a.sessions, "an acceptance", MAX_SESSIONS_PER_REQUEST)?;
        subset(&sessions, &offer.sessions, "offer")?;
        // First in fold order wins: a session held by an earlier agreement cannot be
        // accepted again until that agreement is cancelled.
        for held in self.holding(req) {
            if let Some(s) = sessions
                .iter()
                .find(|s| held.sessions.binary_search(s).is_ok())
            {
                return Err(AidError::AlreadyAgreed {
                    session: s.to_string(),
                    agreement: held.id,
                });
            }
        }
        if req.agreements.len() >= MAX_AGREEMENTS_PER_REQUEST {
            return Err(AidError::TooMany {
                what: "acceptances on one request",
                limit: MAX_AGREEMENTS_PER_REQUEST,
            });
        }
        let req_id = req.id;
        let record = AgreementRecord {
            id,
            request: req_id,
            offer: offer_id,
            requester: ods,
            offerer: offer.practice.clone(),
            sessions,
            status: AgreementStatus::Pending,
            countersign: None,
        };
        let happening = Happening::Accepted {
            offer: offer_id,
            sessions: record.sessions.len(),
        };
        self.agreements.insert(id, record);
        if let Some(req) = self.requests.get_mut(&req_id) {
            req.agreements.push_back(id);
            req.history.push_back((id, happening));
        }
        Ok(())
    }

    /// Checks that agreement `ag` (a resolved referent) is in one of the `allowed` statuses.
    fn status_in(
        &self,
        ag: &EventId,
        allowed: &[&str],
        needed: &'static str,
    ) -> Result<(), AidError> {
        let status = self.agreements[ag].status.name();
        if allowed.contains(&status) {
            Ok(())
        } else {
            Err(AidError::WrongStatus { status, needed })
        }
    }

    fn countersign(
        &mut self,
        id: EventId,
        e: &Event,
        ods: &str,
        c: &pb::AidCountersign,
    ) -> Result<(), AidError> {
        let ag = self.referent(e, &c.acceptance, Kind::Acceptance)?;
        if self.agreements[&ag].offerer != ods {
            return Err(AidError::NotAllowed(
                "only the offering practice countersigns an acceptance",
            ));
        }
        self.status_in(&ag, &["pending"], "pending")?;
        self.update(ag, id, Happening::Countersigned { agreement: ag }, |a| {
            a.status = AgreementStatus::Binding;
            a.countersign = Some(id);
        });
        Ok(())
    }

    fn cancel(
        &mut self,
        id: EventId,
        e: &Event,
        ods: String,
        c: &pb::AidCancel,
    ) -> Result<(), AidError> {
        let ag = self.referent(e, &c.acceptance, Kind::Acceptance)?;
        let rec = &self.agreements[&ag];
        if rec.requester != ods && rec.offerer != ods {
            return Err(AidError::NotAllowed(
                "only the requesting or the offering practice cancels an agreement",
            ));
        }
        self.status_in(&ag, &["pending", "binding"], "pending or binding")?;
        if c.reason.trim().is_empty() {
            return Err(AidError::Invalid("a cancellation gives its reason".into()));
        }
        let status = AgreementStatus::Cancelled {
            event: id,
            by: ods.clone(),
            reason: c.reason.clone(),
            notice_ms: c.notice_ms,
        };
        let happening = Happening::Cancelled {
            agreement: ag,
            by: ods,
            reason: c.reason.clone(),
            notice_ms: c.notice_ms,
        };
        self.update(ag, id, happening, |a| a.status = status);
        Ok(())
    }

    fn fulfil(
        &mut self,
        id: EventId,
        e: &Event,
        ods: &str,
        f: &pb::AidFulfil,
    ) -> Result<(), AidError> {
        let ag = self.referent(e, &f.acceptance, Kind::Acceptance)?;
        if self.agreements[&ag].requester != ods {
            return Err(AidError::NotAllowed(
                "only the requesting practice records fulfilment",
            ));
        }
        self.status_in(&ag, &["binding"], "binding")?;
        self.update(ag, id, Happening::Fulfilled { agreement: ag }, |a| {
            a.status = AgreementStatus::Fulfilled { event: id }
        });
        Ok(())
    }

    fn withdraw(
        &mut self,
        id: EventId,
        e: &Event,
        ods: &str,
        w: &pb::AidWithdraw,
    ) -> Result<(), AidError> {
        let req_id = self.referent(e, &w.request, Kind::Request)?;
        let req = &self.requests[&req_id];
        if req.practice != ods {
            return Err(AidError::NotAllowed(
                "only the requesting practice withdraws its request",
            ));
        }
        if req.withdrawn.is_some() {
            return Err(AidError::Closed("already withdrawn"));
        }
        let slot = (req.expires_at_ms, req_id);
        if let Some(own) = self.unwithdrawn.get_mut(ods) {
            own.remove(&slot);
        }
        if let Some(req) = self.requests.get_mut(&req_id) {
            req.withdrawn = Some((id, w.reason.clone()));
            req.history.push_back((
                id,
                Happening::Withdrawn {
                    reason: w.reason.clone(),
                },
            ));
        }
        Ok(())
    }

    /// Changes an agreement and records the happening in its request's history.
    fn update(
        &mut self,
        ag: EventId,
        event: EventId,
        happening: Happening,
        change: impl FnOnce(&mut AgreementRecord),
    ) {
        let Some(rec) = self.agreements.get_mut(&ag) else {
            return;
        };
        change(rec);
        let req_id = rec.request;
        if let Some(req) = self.requests.get_mut(&req_id) {
            req.history.push_back((event, happening));
        }
    }
}

fn require_active(membership: &Membership, ods: &str) -> Result<(), AidError> {
    match membership.practice(ods) {
        Some(p) if p.status == Status::Active => Ok(()),
        _ => Err(AidError::PartyInactive(ods.to_string())),
    }
}

/// Checks that every session of `part` (sorted) is in `whole` (sorted).
fn subset(part: &[Session], whole: &[Session], of: &'static str) -> Result<(), AidError> {
    match part.iter().find(|s| whole.binary_search(s).is_err()) {
        Some(s) => Err(AidError::NotASubset {
            session: s.to_string(),
            of,
        }),
        None => Ok(()),
    }
}
