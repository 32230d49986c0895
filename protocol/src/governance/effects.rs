//! What a passed motion does, applied by every node at the motion's closing in the fold.
//!
//! Each effect re-checks its precondition against the state at the closing, because the
//! state may have moved since the motion was proposed (docs/GOVERNANCE.md, "Concurrent
//! change"). A passed motion whose precondition no longer holds changes nothing, and its
//! record says why.

use super::deed::{check_deed, term_ms, Office};
use super::motion::{partner_active, MotionRecord, Subject};
use super::tally::Tally;
use super::{Link, PartnerId, Term};
use crate::federation::FederationId;
use crate::id::NetworkId;
use crate::keys::PublicKey;
use crate::membership::{Membership, Status};
use imbl::{OrdMap, OrdSet};
use mutual_proto::v1 as pb;
use pb::DecisionKind as K;

/// The governance state an effect may change besides membership and the deed.
pub(super) struct Offices<'a> {
    pub board: &'a mut OrdSet<PartnerId>,
    pub chair: &'a mut Option<PartnerId>,
    pub board_term: &'a mut Term,
    pub chair_term: &'a mut Term,
    pub links: &'a mut OrdMap<FederationId, Link>,
}

fn key(bytes: &[u8]) -> Option<PublicKey> {
    PublicKey::from_slice(bytes).ok()
}

/// The status of a partner admitted under `deed`: pending their accession when the deed
/// names an agreement (docs/GOVERNANCE.md §8.1), else active.
fn admitted_status(deed: Option<&pb::Deed>) -> Status {
    if deed.is_some_and(|d| !d.agreement_hash.is_empty()) {
        Status::Pending
    } else {
        Status::Active
    }
}

/// Applies the effect of a passed motion.
pub(super) fn apply(
    rec: &MotionRecord,
    tally: &Tally,
    m: &mut Membership,
    deed: &mut Option<pb::Deed>,
    offices: Offices<'_>,
) -> Result<(), String> {
    let mo = &rec.motion;
    match rec.kind {
        K::General | K::Unspecified => Ok(()),
        K::AdmitPractice => {
            let p = mo.admit_practice.clone().ok_or("no practice")?;
            if m.practice(&p.ods_code).is_some() {
                return Err(format!("{} was admitted in the meantime", p.ods_code));
            }
            if key(&p.node_key).is_none_or(|k| m.is_known(&k)) {
                return Err("the node key was taken in the meantime".into());
            }
            let status = admitted_status(deed.as_ref());
            let ods = p.ods_code.clone();
            m.insert_practice(p);
            // A first partner whose key was taken in the meantime is left out; the others
            // and the practice are admitted.
            for f in &mo.first_partners {
                if key(&f.key).is_none_or(|k| m.is_known(&k)) {
                    continue;
                }
                let mut f = f.clone();
                f.practice_ods = ods.clone();
                m.insert_partner_as(f, status);
            }
            Ok(())
        }
        K::AdmitPartner => {
            let p = mo.admit_partner.clone().ok_or("no partner")?;
            if !m
                .practice(&p.practice_ods)
                .is_some_and(|r| r.status == Status::Active)
            {
                return Err(format!(
                    "{} is no longer an active practice",
                    p.practice_ods
                ));
            }
            if key(&p.key).is_none_or(|k| m.is_known(&k)) {
                return Err("the partner's key was taken in the meantime".into());
            }
            m.insert_partner_as(p, admitted_status(deed.as_ref()));
            Ok(())
        }
        K::ChangeRole => {
            let id = subject_partner(rec, m)?;
            let role = pb::PartnerRole::try_from(mo.new_role).map_err(|_| "invalid role")?;
            // By partner id, so a partner whose key was rotated keeps one record.
            m.set_partner_role(&id, role).map_err(|e| e.to_string())
        }
        K::RemovePartner => {
            let id = subject_partner(rec, m)?;
            m.set_partner_status(&id, Status::Removed);
            offices.board.remove(&id);
            if offices.chair.as_ref() == Some(&id) {
                *offices.chair = None;
            }
            Ok(())
        }
        K::RemovePractice => {
            let Subject::Practice(ods) = &rec.subject else {
                return Err("no practice".into());
            };
            if !m.practice(ods).is_some_and(|r| r.status == Status::Active) {
                return Err(format!("{ods} is no longer an active practice"));
            }
            let gone: Vec<PartnerId> = m
                .partners()
                .filter(|p| &p.partner.practice_ods == ods)
                .map(|p| p.id)
                .collect();
            m.set_practice_status(ods, Status::Removed);
            for id in gone {
                offices.board.remove(&id);
                if offices.chair.as_ref() == Some(&id) {
                    *offices.chair = None;
                }
            }
            Ok(())
        }
        // Only those elected who are still eligible (active partners of active
        // practices) at the closing take their seats; a seat whose winner has left
        // stays empty until the next election.
        K::ElectBoard => {
            *offices.board = tally
                .elected
                .iter()
                .filter(|id| partner_active(m, id))
                .copied()
                .collect();
            *offices.board_term =
                Term::from(rec.final_at_ms, term_ms(deed.as_ref(), Office::Board));
            Ok(())
        }
        K::ElectChair => {
            *offices.chair = tally
                .elected
                .first()
                .filter(|id| partner_active(m, id))
                .copied();
            *offices.chair_term =
                Term::from(rec.final_at_ms, term_ms(deed.as_ref(), Office::Chair));
            Ok(())
        }
        K::AmendDeed => {
            let d = mo.new_deed.clone().ok_or("no deed")?;
            check_deed(&d).map_err(|e| e.to_string())?;
            // A deed that names no agreement leaves no one waiting to accede to one.
            if d.agreement_hash.is_empty() {
                m.activate_pending();
            }
            *deed = Some(d);
            Ok(())
        }
        K::LinkFederation => {
            let (ev, charter) = crate::federation::read_charter_event(&mo.charter_event)
                .map_err(|e| e.to_string())?;
            let id = crate::federation::federation_id(&ev);
            if offices.links.contains_key(&id) {
                return Err("the network linked to this federation in the meantime".into());
            }
            offices.links.insert(
                id,
                Link {
                    charter,
                    charter_event: mo.charter_event.clone(),
                    motion: rec.id,
                    left_by: None,
                },
            );
            Ok(())
        }
        K::LeaveFederation => {
            let id = NetworkId::from_slice(&mo.federation).ok_or("no federation")?;
            match offices.links.get_mut(&id) {
                Some(l) if l.left_by.is_none() => {
                    l.left_by = Some(rec.id);
                    Ok(())
                }
                _ => Err("the network left this federation in the meantime".into()),
            }
        }
        K::ReplaceKey => {
            let new = key(&mo.replacement_key).ok_or("invalid replacement key")?;
            if m.is_known(&new) {
                return Err("the replacement key was taken in the meantime".into());
            }
            match &rec.subject {
                // By partner id: works whether the partner's key was rotated or revoked.
                Subject::Partner(_) => {
                    let id = subject_partner(rec, m)?;
                    m.assign_key(&id, new).map_err(|e| e.to_string())
                }
                Subject::Practice(ods) => {
                    let current = m
                        .practice(ods)
                        .and_then(|p| key(&p.practice.node_key))
                        .ok_or("the practice has no current node key to replace")?;
                    m.replace_key(&current, Some(new))
                        .map_err(|e| e.to_string())
                }
                Subject::None => Err("the motion names no partner or practice".into()),
            }
        }
    }
}

fn subject_partner(rec: &MotionRecord, m: &Membership) -> Result<PartnerId, String> {
    match &rec.subject {
        Subject::Partner(id) if partner_active(m, id) => Ok(*id),
        Subject::Partner(_) => Err("the partner is no longer active".into()),
        _ => Err("the motion names no partner".into()),
    }
}
