//! Proxies: a partner appoints another to vote for them on one motion.
//!
//! A proxy is written (a signed ballot event with `CHOICE_APPOINT_PROXY`), limited in time
//! (to the motion's window, and optionally to an earlier expiry), revocable (a
//! `CHOICE_REVOKE_PROXY` ballot, which also withdraws any vote the proxy cast), and capped
//! per holder by the deed's `max_proxies_per_holder` (0 disables proxies). A vote in
//! person always wins over a proxy vote. See docs/GOVERNANCE.md, "Proxies".

use super::ballot::Cast;
use super::motion::{partner_active, partner_id, MotionRecord, Votes};
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

/// Resolves an appointment by `appointer` where it sits in the fold: proxies are
/// allowed, the holder is another active partner, and the expiry is no earlier than
/// the appointment (and no later than the motion's close).
pub fn appointment(
    rec: &MotionRecord,
    m: &Membership,
    appointer: &PartnerId,
    timestamp_ms: u64,
    b: &pb::Ballot,
) -> Result<Cast, GovernanceError> {
    if rec.max_proxies == 0 {
        return Err(GovernanceError::ProxiesDisabled);
    }
    let holder = match partner_id(m, &b.proxy) {
        Some(h) if partner_active(m, &h) => h,
        _ => return bad("the proxy named is not an active partner"),
    };
    if holder == *appointer {
        return bad("a partner cannot be their own proxy");
    }
    let expires_at_ms = match b.proxy_expires_at_ms {
        0 => rec.closes_at_ms,
        t if t < timestamp_ms => return bad("the proxy expires before it is given"),
        t => t.min(rec.closes_at_ms),
    };
    Ok(Cast::Appoint {
        holder,
        expires_at_ms,
    })
}

/// Records `appointer`'s appointment of `holder`, within the cap per holder.
pub fn appoint(
    max_proxies: u32,
    votes: &mut Votes,
    appointer: PartnerId,
    holder: PartnerId,
    expires_at_ms: u64,
    id: EventId,
) -> Result<(), GovernanceError> {
    let held = votes
        .proxies
        .iter()
        .filter(|(a, p)| p.holder == holder && **a != appointer)
        .count();
    if held >= max_proxies as usize {
        return Err(GovernanceError::ProxyCapReached { max: max_proxies });
    }
    // The new appointment replaces the old one, even to the same holder: a vote cast
    // under the old one no longer counts (docs/GOVERNANCE.md §4.3).
    withdraw_proxy_vote(votes, &appointer);
    votes.proxies.insert(
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
pub fn revoke(votes: &mut Votes, appointer: &PartnerId) -> Result<(), GovernanceError> {
    if votes.proxies.remove(appointer).is_none() {
        return bad("there is no proxy to revoke");
    }
    withdraw_proxy_vote(votes, appointer);
    Ok(())
}

/// Removes the appointer's vote if a proxy cast it.
pub fn withdraw_proxy_vote(votes: &mut Votes, appointer: &PartnerId) {
    if votes.by_proxy.remove(appointer).is_some() {
        votes.ballots.remove(appointer);
    }
}

/// Checks and records a vote cast by `holder` for `appointer` (whose being an active
/// partner was checked where the vote sits).
pub fn vote(
    votes: &mut Votes,
    appointer: PartnerId,
    holder: PartnerId,
    id: EventId,
    timestamp_ms: u64,
    v: Vote,
) -> Result<(), GovernanceError> {
    let Some(p) = votes.proxies.get(&appointer) else {
        return Err(GovernanceError::NoProxy);
    };
    if p.holder != holder {
        return Err(GovernanceError::NoProxy);
    }
    if timestamp_ms > p.expires_at_ms {
        return bad("the proxy has expired");
    }
    if votes.ballots.contains_key(&appointer) && !votes.by_proxy.contains_key(&appointer) {
        return bad("the appointer has voted in person");
    }
    votes.ballots.insert(appointer, (id, v));
    votes.by_proxy.insert(appointer, holder);
    Ok(())
}
