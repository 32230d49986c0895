//! The aid part of the canonical state digest (`StateDigest` fields 20-22).
//!
//! Sort orders (docs/AID.md, "The state hash"): each list is sorted by its entry's event
//! id, bytewise ascending (the order of the persistent maps); sessions inside an entry by
//! (date, part), bytewise; `requirements` keep the order the requester signed.

use super::{AgreementStatus, Aid};
use mutual_proto::v1 as pb;

impl Aid {
    /// Fills the aid part of the canonical state digest.
    pub(crate) fn digest_into(&self, d: &mut pb::StateDigest) {
        d.aid_requests = self
            .requests
            .values()
            .map(|r| {
                let (withdrawn_by, withdraw_reason) = match &r.withdrawn {
                    Some((id, reason)) => (id.as_bytes().to_vec(), reason.clone()),
                    None => (Vec::new(), String::new()),
                };
                pb::AidRequestEntry {
                    id: r.id.as_bytes().to_vec(),
                    practice_ods: r.practice.clone(),
                    request: Some(pb::AidRequest {
                        role: r.role.clone(),
                        sessions: r.sessions.iter().map(|s| s.to_pb()).collect(),
                        urgency: r.urgency as i32,
                        requirements: r.requirements.clone(),
                        notes: r.notes.clone(),
                        expires_at_ms: r.expires_at_ms,
                        visibility: r.visibility as i32,
                        papers: r.papers.clone(),
                    }),
                    withdrawn_by,
                    withdraw_reason,
                    timestamp_ms: r.timestamp_ms,
                }
            })
            .collect();
        d.aid_offers = self
            .offers
            .values()
            .map(|o| pb::AidOfferEntry {
                id: o.id.as_bytes().to_vec(),
                practice_ods: o.practice.clone(),
                offer: Some(pb::AidOffer {
                    request: o.request.as_bytes().to_vec(),
                    sessions: o.sessions.iter().map(|s| s.to_pb()).collect(),
                    role: o.role.clone(),
                    terms: o.terms.clone(),
                }),
            })
            .collect();
        d.aid_agreements = self
            .agreements
            .values()
            .map(|a| {
                let mut entry = pb::AidAgreementEntry {
                    id: a.id.as_bytes().to_vec(),
                    request: a.request.as_bytes().to_vec(),
                    offer: a.offer.as_bytes().to_vec(),
                    requester_ods: a.requester.clone(),
                    offerer_ods: a.offerer.clone(),
                    sessions: a.sessions.iter().map(|s| s.to_pb()).collect(),
                    countersign: a
                        .countersign
                        .map(|c| c.as_bytes().to_vec())
                        .unwrap_or_default(),
                    ..Default::default()
                };
                let status = match &a.status {
                    AgreementStatus::Pending => pb::AidAgreementStatus::Pending,
                    AgreementStatus::Binding => pb::AidAgreementStatus::Binding,
                    AgreementStatus::Cancelled {
                        event,
                        by,
                        reason,
                        notice_ms,
                    } => {
                        entry.closed_by = event.as_bytes().to_vec();
                        entry.cancelled_by_ods = by.clone();
                        entry.cancel_reason = reason.clone();
                        entry.notice_ms = *notice_ms;
                        pb::AidAgreementStatus::Cancelled
                    }
                    AgreementStatus::Fulfilled { event } => {
                        entry.closed_by = event.as_bytes().to_vec();
                        pb::AidAgreementStatus::Fulfilled
                    }
                };
                entry.status = status as i32;
                entry
            })
            .collect();
    }
}
