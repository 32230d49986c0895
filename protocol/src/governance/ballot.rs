//! Ballots: signed by the partner's own key, for one motion, counted by the deadline rule.
//!
//! A ballot counts (docs/GOVERNANCE.md, "Ballots" and "Deadlines") iff, where it sits in
//! the fold: its author's key speaks for a partner (a practice node's key never votes);
//! it names a motion that took effect and lists that motion as its `prev` or in its
//! `deps`; the motion has not been closed by the fold; its timestamp is within
//! `[opens_at, closes_at]`; the partner is in the motion's electorate and not recused;
//! and the vote fits the motion (for/against/abstain, or a ranking of its candidates).
//! A later ballot by the same partner on the same motion replaces the earlier one.

use super::motion::MotionRecord;
use super::tally::Vote;
use super::{GovernanceError, PartnerId};
use crate::event::Event;
use crate::id::EventId;
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

/// Checks a ballot against its motion and returns the vote to record for `voter`.
pub fn check(
    rec: &MotionRecord,
    voter: &PartnerId,
    ev: &Event,
    b: &pb::Ballot,
) -> Result<Vote, GovernanceError> {
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
    let choice = Choice::try_from(b.choice).unwrap_or(Choice::Unspecified);
    if rec.is_election() {
        if b.ranking.is_empty() {
            return match choice {
                Choice::Abstain => Ok(Vote::Abstain),
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
        return Ok(Vote::Ranking(ranking));
    }
    if !b.ranking.is_empty() {
        return bad("only an election ballot carries a ranking");
    }
    match choice {
        Choice::For => Ok(Vote::For),
        Choice::Against => Ok(Vote::Against),
        Choice::Abstain => Ok(Vote::Abstain),
        Choice::Unspecified => bad("the ballot has no choice"),
    }
}
