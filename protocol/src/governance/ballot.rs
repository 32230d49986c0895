//! Ballots: signed by the partner's own key, for one motion, counted by the deadline rule.
//!
//! A ballot counts (docs/GOVERNANCE.md, "Ballots" and "Deadlines") iff, where it sits in
//! the fold: its author's key speaks for a partner (a practice node's key never votes);
//! it names a motion that took effect and lists that motion as its `prev` or in its
//! `deps`; the motion has not been closed by the fold; its timestamp is within
//! `[opens_at, closes_at]`; the partner is in the motion's electorate and not recused;
//! and the vote fits the motion (for/against/abstain, or a ranking of its candidates).
//! A later ballot by the same partner on the same motion replaces the earlier one.
//!
//! A ballot with `CHOICE_DECLARE_INTEREST` is not a vote but a declaration of interest,
//! checked the same way; see [`Cast::Declare`].

use super::motion::MotionRecord;
use super::tally::Vote;
use super::{GovernanceError, PartnerId};
use crate::event::Event;
use crate::id::EventId;
use crate::limits::MAX_TEXT_BYTES;
use crate::membership::{Holder, Membership};
use mutual_proto::v1 as pb;
use pb::Choice;

/// The partner a ballot's or motion's author speaks for.
pub fn voter(m: &Membership, ev: &Event) -> Result<PartnerId, GovernanceError> {
    match m.holder(&ev.author) {
        Some(Holder::Partner(id)) => Ok(*id),
        _ => Err(GovernanceError::NotAPartner),
    }
}

/// The motion a ballot names.
pub fn motion_id(b: &pb::Ballot) -> Result<EventId, GovernanceError> {
    EventId::from_slice(&b.motion)
        .ok_or_else(|| GovernanceError::InvalidBallot("motion is not an event id".into()))
}

fn bad<T>(s: &str) -> Result<T, GovernanceError> {
    Err(GovernanceError::InvalidBallot(s.into()))
}

/// What a valid ballot event does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cast {
    /// Records (or replaces) the partner's vote.
    Vote(Vote),
    /// Declares the partner's interest in the motion: recorded and, if the rule says
    /// so, the partner recuses from then on (their vote, if any, is withdrawn).
    Declare,
    /// Appoints a proxy (see [`super::proxy`]).
    Appoint,
    /// Revokes the partner's proxy (see [`super::proxy`]).
    Revoke,
}

/// Checks a ballot against its motion and returns what it does for `voter` (the
/// partner it counts for: its author, or the appointer of a proxy vote).
pub fn check(
    rec: &MotionRecord,
    voter: &PartnerId,
    ev: &Event,
    b: &pb::Ballot,
) -> Result<Cast, GovernanceError> {
    if !ev.causes().any(|c| c == rec.id) {
        return Err(GovernanceError::MotionNotACause);
    }
    if rec.closed.is_some() {
        return Err(GovernanceError::MotionClosed);
    }
    if ev.timestamp_ms < rec.opens_at_ms {
        return Err(GovernanceError::BeforeOpening);
    }
    if ev.timestamp_ms > rec.closes_at_ms {
        return Err(GovernanceError::AfterClose);
    }
    if rec.recused.contains(voter) {
        return Err(GovernanceError::Recused);
    }
    if !rec.electorate.contains(voter) {
        return Err(GovernanceError::NotInElectorate);
    }
    if b.statement.len() > MAX_TEXT_BYTES {
        return bad("the statement is over the text limit");
    }
    let choice = Choice::try_from(b.choice).unwrap_or(Choice::Unspecified);
    let not_a_vote = match choice {
        Choice::DeclareInterest => Some(Cast::Declare),
        Choice::AppointProxy => Some(Cast::Appoint),
        Choice::RevokeProxy => Some(Cast::Revoke),
        _ => None,
    };
    if let Some(cast) = not_a_vote {
        if !b.ranking.is_empty() || !b.on_behalf_of.is_empty() {
            return bad(
                "a declaration or proxy appointment carries no ranking and no on_behalf_of",
            );
        }
        return Ok(cast);
    }
    if !b.proxy.is_empty() || b.proxy_expires_at_ms != 0 {
        return bad("only an appointment names a proxy");
    }
    if rec.is_election() {
        if b.ranking.is_empty() {
            return match choice {
                Choice::Abstain => Ok(Cast::Vote(Vote::Abstain)),
                _ => bad("an election ballot ranks candidates or abstains"),
            };
        }
        let mut ranking = Vec::with_capacity(b.ranking.len());
        for k in &b.ranking {
            let Some(i) = rec.motion.candidates.iter().position(|c| c == k) else {
                return bad("the ranking names someone who is not a candidate");
            };
            if ranking.contains(&i) {
                return bad("the ranking names a candidate twice");
            }
            ranking.push(i);
        }
        return Ok(Cast::Vote(Vote::Ranking(ranking)));
    }
    if !b.ranking.is_empty() {
        return bad("only an election ballot carries a ranking");
    }
    match choice {
        Choice::For => Ok(Cast::Vote(Vote::For)),
        Choice::Against => Ok(Cast::Vote(Vote::Against)),
        Choice::Abstain => Ok(Cast::Vote(Vote::Abstain)),
        _ => bad("the ballot has no choice"),
    }
}
