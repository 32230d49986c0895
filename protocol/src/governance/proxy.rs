//! Proxies: a partner appoints another to vote for them on one motion.
//!
//! A proxy is written (a signed ballot event with `CHOICE_APPOINT_PROXY`), limited in time
//! (to the motion's window, and optionally to an earlier expiry), revocable (a
//! `CHOICE_REVOKE_PROXY` ballot, which also withdraws any vote the proxy cast), and capped
//! per holder by the deed's `max_proxies_per_holder` (0 disables proxies). A vote in
//! person always wins over a proxy vote. See docs/GOVERNANCE.md, "Proxies".

use super::motion::{partner_active, partner_id, MotionRecord};
use super::tally::Vote;
use super::{GovernanceError, PartnerId};
use crate::id::EventId;
use mutual_proto::v1 as pb;

use crate::membership::Membership;

/// One partner's proxy on one motion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proxy {
    /// Who may vote for the appointer.
    pub holder: PartnerId,
    /// Proxy votes timestamped after this do not count (ms).
    pub expires_at_ms: u64,
    /// The appointing event.
    pub appointment: EventId,
}

fn bad<T>(s: &str) -> Result<T, GovernanceError> {
    Err(GovernanceError::InvalidBallot(s.into()))
}

/// Records `appointer`'s appointment of the partner named in `b.proxy`.
pub fn appoint(
    rec: &mut MotionRecord,
    m: &Membership,
    appointer: PartnerId,
    id: EventId,
    timestamp_ms: u64,
    b: &pb::Ballot,
) -> Result<(), GovernanceError> {
    if rec.max_proxies == 0 {
        return Err(GovernanceError::ProxiesDisabled);
    }
    let holder = match partner_id(m, &b.proxy) {
        Some(h) if partner_active(m, &h) => h,
        _ => return bad("the proxy named is not an active partner"),
    };
    if holder == appointer {
        return bad("a partner cannot be their own proxy");
    }
    let expires_at_ms = match b.proxy_expires_at_ms {
        0 => rec.closes_at_ms,
        t if t < timestamp_ms => return bad("the proxy expires before it is given"),
        t => t.min(rec.closes_at_ms),
    };
    let held = rec
        .proxies
        .iter()
        .filter(|(a, p)| p.holder == holder && **a != appointer)
        .count();
    if held >= rec.max_proxies as usize {
        return Err(GovernanceError::ProxyCapReached {
            max: rec.max_proxies,
        });
    }
    // The new appointment replaces the old one, even to the same holder: a vote cast
    // under the old one no longer counts (docs/GOVERNANCE.md §4.3).
    withdraw_proxy_vote(rec, &appointer);
    rec.proxies.insert(
        appointer,
        Proxy {
            holder,
            expires_at_ms,
            appointment: id,
        },
    );
    Ok(())
}

/// Revokes `appointer`'s proxy and withdraws any vote it cast.
pub fn revoke(rec: &mut MotionRecord, appointer: &PartnerId) -> Result<(), GovernanceError> {
    if rec.proxies.remove(appointer).is_none() {
        return bad("there is no proxy to revoke");
    }
    withdraw_proxy_vote(rec, appointer);
    Ok(())
}

/// Removes the appointer's vote if a proxy cast it.
pub fn withdraw_proxy_vote(rec: &mut MotionRecord, appointer: &PartnerId) {
    if rec.by_proxy.remove(appointer).is_some() {
        rec.ballots.remove(appointer);
    }
}

/// Checks and records a vote cast by `holder` for `appointer`.
pub fn vote(
    rec: &mut MotionRecord,
    m: &Membership,
    appointer: PartnerId,
    holder: PartnerId,
    id: EventId,
    timestamp_ms: u64,
    v: Vote,
) -> Result<(), GovernanceError> {
    let Some(p) = rec.proxies.get(&appointer) else {
        return Err(GovernanceError::NoProxy);
    };
    if p.holder != holder {
        return Err(GovernanceError::NoProxy);
    }
    if timestamp_ms > p.expires_at_ms {
        return bad("the proxy has expired");
    }
    if !partner_active(m, &appointer) {
        return bad("the appointer is no longer an active partner");
    }
    if rec.ballots.contains_key(&appointer) && !rec.by_proxy.contains_key(&appointer) {
        return bad("the appointer has voted in person");
    }
    rec.ballots.insert(appointer, (id, v));
    rec.by_proxy.insert(appointer, holder);
    Ok(())
}
