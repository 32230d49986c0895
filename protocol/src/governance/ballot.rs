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
//! A valid ballot is applied twice: where it sits, to the motion's `seen` votes (what
//! later ballots are checked against, and the provisional tally); and where the fold
//! first finds it witnessed by another practice, to the `votes` that count at the close
//! (docs/GOVERNANCE.md §5.5). [`check`] does everything that depends on the ballot's
//! place in the fold; [`apply`] does what depends on the votes already applied.
//!
//! A ballot with `CHOICE_DECLARE_INTEREST` is not a vote but a declaration of interest,
//! checked the same way; see [`Cast::Declare`].

use super::motion::{MotionRecord, Votes};
use super::tally::Vote;
use super::{GovernanceError, PartnerId};
use crate::event::Event;
use crate::id::EventId;
use crate::keys::PublicKey;
use crate::limits::MAX_TEXT_BYTES;
use crate::membership::{Holder, Membership, Status};
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
    Appoint {
        /// The proxy.
        holder: PartnerId,
        /// When the proxy lapses (ms).
        expires_at_ms: u64,
    },
    /// Revokes the partner's proxy (see [`super::proxy`]).
    Revoke,
}

/// A ballot checked where it sits in the fold, ready to apply to a motion's votes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    /// The ballot event.
    pub id: EventId,
    /// Its timestamp (ms).
    pub timestamp_ms: u64,
    /// The partner it counts for: its author, or the appointer of a proxy vote.
    pub voter: PartnerId,
    /// The partner who signed it.
    pub author: PartnerId,
    /// What it does.
    pub cast: Cast,
}

/// Applies a checked ballot to `votes` (the motion's `seen` or counted votes): the
/// checks that depend on what was applied before (recusal, proxies), then the change.
pub fn apply(
    rec_max_proxies: u32,
    interest_recuses: bool,
    votes: &mut Votes,
    c: &Checked,
) -> Result<(), GovernanceError> {
    if votes.recused.contains(&c.voter) {
        return Err(GovernanceError::Recused);
    }
    if !votes.electorate.contains(&c.voter) {
        return Err(GovernanceError::NotInElectorate);
    }
    match &c.cast {
        Cast::Vote(vote) if c.voter != c.author => {
            super::proxy::vote(votes, c.voter, c.author, c.id, c.timestamp_ms, vote.clone())
        }
        Cast::Vote(vote) => {
            votes.ballots.insert(c.voter, (c.id, vote.clone()));
            votes.by_proxy.remove(&c.voter);
            Ok(())
        }
        Cast::Declare => {
            votes.declared.insert(c.voter, c.id);
            if interest_recuses {
                votes.electorate.remove(&c.voter);
                votes.recused.insert(c.voter);
                votes.ballots.remove(&c.voter);
                votes.by_proxy.remove(&c.voter);
                votes.proxies.remove(&c.voter);
            }
            Ok(())
        }
        Cast::Appoint {
            holder,
            expires_at_ms,
        } => super::proxy::appoint(
            rec_max_proxies,
            votes,
            c.voter,
            *holder,
            *expires_at_ms,
            c.id,
        ),
        Cast::Revoke => super::proxy::revoke(votes, &c.voter),
    }
}

/// Checks a ballot against its motion and returns what it does for `voter` (the
/// partner it counts for: its author, or the appointer of a proxy vote), with what it
/// names resolved against the membership where it sits.
pub fn check(
    rec: &MotionRecord,
    m: &Membership,
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
    if rec.seen.recused.contains(voter) {
        return Err(GovernanceError::Recused);
    }
    if !rec.seen.electorate.contains(voter) {
        return Err(GovernanceError::NotInElectorate);
    }
    if b.statement.len() > MAX_TEXT_BYTES {
        return bad("the statement is over the text limit");
    }
    let choice = Choice::try_from(b.choice).unwrap_or(Choice::Unspecified);
    if matches!(
        choice,
        Choice::DeclareInterest | Choice::AppointProxy | Choice::RevokeProxy
    ) {
        if !b.ranking.is_empty() || !b.on_behalf_of.is_empty() {
            return bad(
                "a declaration or proxy appointment carries no ranking and no on_behalf_of",
            );
        }
        return match choice {
            Choice::DeclareInterest => Ok(Cast::Declare),
            Choice::RevokeProxy => Ok(Cast::Revoke),
            _ => super::proxy::appointment(rec, m, voter, ev.timestamp_ms, b),
        };
    }
    if !b.proxy.is_empty() || b.proxy_expires_at_ms != 0 {
        return bad("only an appointment names a proxy");
    }
    vote(rec, b).map(Cast::Vote)
}

/// The vote a ballot casts on `rec`, as [`check`] reads it: a ranking of the motion's
/// candidates, or for, against or abstain.
pub fn vote(rec: &MotionRecord, b: &pb::Ballot) -> Result<Vote, GovernanceError> {
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
        _ => bad("the ballot has no choice"),
    }
}

/// The practice a key speaks for: a node's own, or a partner's.
pub(super) fn practice_of(m: &Membership, key: &PublicKey) -> Option<String> {
    match m.holder(key)? {
        Holder::Practice(ods) => Some(ods.clone()),
        Holder::Partner(id) => m.partner(id).map(|p| p.partner.practice_ods.clone()),
    }
}

/// Whether an event by `key` witnesses a ballot signed by partner `author` of
/// `ballot_practice`: it must speak for another practice or, if the network has only one
/// active practice, for another member — never for the same partner, whatever key either
/// was signed with (docs/GOVERNANCE.md §5.5).
pub(super) fn may_witness(
    m: &Membership,
    key: &PublicKey,
    author: &PartnerId,
    ballot_practice: &str,
) -> bool {
    if matches!(m.holder(key), Some(Holder::Partner(id)) if id == author) {
        return false;
    }
    let Some(practice) = practice_of(m, key) else {
        return false;
    };
    // Whether exactly one practice is active, found without counting them all: a witness
    // is asked of every ballot in an event's past.
    let mut active = m.practices().filter(|p| p.status == Status::Active);
    practice != ballot_practice || (active.next().is_some() && active.next().is_none())
}
