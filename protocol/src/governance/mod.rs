//! Governance: the deed, motions, signed ballots, elections and their effects.
//!
//! The partners decide, under rules they wrote down (the deed), and every node reaches
//! the same result by itself. The full rules, precise enough to write a verifier from,
//! are in docs/GOVERNANCE.md. In brief:
//!
//! - [`deed`]: the rules as data, with a documented default deed;
//! - [`motion`]: who may propose what; the electorate fixed at the motion's place in the
//!   fold;
//! - [`ballot`]: which ballots count (partners' own keys only; the deadline rule);
//! - [`tally`]: quorum, threshold, abstentions, ties, and the reason in words;
//! - [`stv`]: board and chair elections by single transferable vote;
//!   a board with one seat per locality fills each seat by instant runoff
//!   ([`tally::count_per_locality`]);
//! - [`effects`]: what a passed motion changes, applied when the fold closes it;
//! - [`Term`]: the terms of the board and the chair, which lapse by witnessed time.
//!
//! # Closing without a trusted clock
//! A motion is closed by the fold at the first event in fold order by an active practice
//! node whose timestamp is after `closes_at + grace`: the tally is taken from the ballots
//! counted so far and, if it passed, the effect is applied before that event itself is
//! judged.
//! Until then the tally is provisional; [`Governance::report`] says how final a result
//! is given the caller's clock.
//!
//! # Witnessing
//! A ballot counts at the close only if an event by another practice, timestamped no
//! later than the motion's `closes_at + grace`, has it among its ancestors and was folded
//! before the close ([`Governance::trace`]). A partner who has written nothing since the
//! close cannot then slip in a backdated ballot alone: an honest node of another practice
//! only writes events dated by its own clock.

pub mod ballot;
pub mod deed;
mod digest;
pub mod effects;
mod electorate;
pub mod motion;
pub mod proxy;
pub mod stv;
pub mod tally;
mod term;

pub use digest::{votes_hash, ClosedVotes, VOTES_DOMAIN};
pub use term::Term;

use crate::event::SignedEvent;
use crate::federation::FederationId;
use crate::id::{EventId, NetworkId};
use crate::keys::PublicKey;
use crate::membership::{Membership, Status};
use ballot::{may_witness, practice_of};
use imbl::{OrdMap, OrdSet};
use motion::{Closed, MotionRecord, Proposal};
use mutual_proto::v1 as pb;
use pb::DecisionKind;
use std::sync::Arc;
use tally::Tally;

/// A partner's lasting id: the key they were admitted with.
pub type PartnerId = PublicKey;

/// Most motions open at once. Each open motion costs memory until it closes, and a
/// network of ~180 partners has a handful open at a time; 256 leaves ample room while
/// stopping one member from filling every node's memory with motions.
pub const MAX_OPEN_MOTIONS: usize = 256;

/// Most motions one partner may have open at once (a count of motions, per partner id,
/// whatever key they signed with). Without it, one partner could fill all
/// [`MAX_OPEN_MOTIONS`] slots and so stop everyone else proposing, even a motion to
/// remove them; 16 is far more than one partner needs open at a time, and it takes 16
/// partners acting together to fill the network-wide limit.
pub const MAX_OPEN_MOTIONS_PER_PROPOSER: usize = 16;

/// Latest a motion may open after its own event's timestamp, in milliseconds: 28 days.
/// A motion may be proposed ahead of its window, but not so far ahead that it stays open
/// (holding one of the [`MAX_OPEN_MOTIONS`] slots) for years: the fold closes a motion only
/// at an event timestamped after its close plus grace.
pub const MAX_OPENING_DELAY_MS: u64 = 28 * 24 * 60 * 60 * 1000;

/// Most seats one election fills. A partnership board has a seat per locality or a few
/// more; 32 is far above that and bounds the STV count's rounds.
pub const MAX_SEATS: usize = 32;

/// Most candidates in one election. The STV count costs O(candidates × ballots) per
/// round and at most one round per candidate; 64 candidates for ~180 voters is cheap,
/// and more than any partnership would field.
pub const MAX_CANDIDATES: usize = 64;

/// Why a motion or ballot has no effect.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GovernanceError {
    /// The author's key does not speak for a partner (e.g. a practice node's key).
    #[error("only a partner's own key may propose or vote; a practice node's key cannot")]
    NotAPartner,
    /// The deed does not let the author propose this kind.
    #[error("the deed does not let this partner propose a {0} motion")]
    NotAProposer(String),
    /// The deed does not let this partner propose under the power cited.
    #[error(
        "the deed does not let this partner propose under the power {power}; the powers \
         they hold: {}",
        if held.is_empty() { "none" } else { held.as_str() }
    )]
    NotEmpowered {
        /// The power cited.
        power: String,
        /// The powers the partner may propose under, comma-separated.
        held: String,
    },
    /// The motion is malformed for its kind, or its subject does not exist.
    #[error("invalid motion: {0}")]
    InvalidMotion(String),
    /// A deed (new or in a motion) breaks a rule.
    #[error("invalid deed: {0}")]
    InvalidDeed(String),
    /// The voting period is outside the deed's bounds.
    #[error(
        "the voting period must be {} to {}; this one is {}",
        duration_words(*.min_ms),
        duration_words(*.max_ms),
        duration_words(*.got_ms)
    )]
    VotingPeriod {
        /// Shortest allowed, ms.
        min_ms: u64,
        /// Longest allowed, ms.
        max_ms: u64,
        /// Proposed, ms.
        got_ms: u64,
    },
    /// [`MAX_OPEN_MOTIONS`] motions are open already.
    #[error("{MAX_OPEN_MOTIONS} motions are open already; wait for one to close")]
    TooManyOpenMotions,
    /// The proposer already has [`MAX_OPEN_MOTIONS_PER_PROPOSER`] motions open.
    #[error(
        "this partner has {MAX_OPEN_MOTIONS_PER_PROPOSER} motions open already; \
         wait for one to close"
    )]
    TooManyOpenMotionsByProposer,
    /// The motion opens more than [`MAX_OPENING_DELAY_MS`] after its own timestamp.
    #[error("a motion may open at most {MAX_OPENING_DELAY_MS} ms after it is proposed")]
    OpensTooLate,
    /// The ballot names no motion that took effect.
    #[error("the ballot names no motion that took effect")]
    UnknownMotion,
    /// The ballot does not list its motion as `prev` or in `deps`.
    #[error("a ballot must list its motion in deps")]
    MotionNotACause,
    /// The motion was closed by the fold before this ballot.
    #[error("the motion has closed")]
    MotionClosed,
    /// The ballot is timestamped before the motion opens.
    #[error("the ballot is timestamped before the motion opens")]
    BeforeOpening,
    /// The ballot is timestamped after the motion's close.
    #[error("the ballot is timestamped after the motion's close")]
    AfterClose,
    /// The voter is not in the electorate fixed when the motion was applied.
    #[error("the voter is not in this motion's electorate")]
    NotInElectorate,
    /// The voter is the subject of the motion (or otherwise recused by the deed).
    #[error("the voter is recused from this motion")]
    Recused,
    /// The ballot does not fit the motion.
    #[error("invalid ballot: {0}")]
    InvalidBallot(String),
    /// The deed in force when the motion was proposed allows no proxies.
    #[error("the deed allows no proxies")]
    ProxiesDisabled,
    /// The partner named as proxy already holds as many proxies as the deed allows.
    #[error("the proxy already holds the most the deed allows ({max})")]
    ProxyCapReached {
        /// The deed's `max_proxies_per_holder`.
        max: u32,
    },
    /// A vote on behalf of a partner who has not appointed the author as proxy.
    #[error("the author holds no proxy from that partner on this motion")]
    NoProxy,
}

/// How settled a motion's result is, as seen from a given local time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finality {
    /// Voting is still open (`now <= closes_at`).
    Open,
    /// Voting has closed but the grace period runs (`now <= closes_at + grace`): a
    /// ballot cast in time may still arrive.
    Provisional,
    /// The grace period has passed, or the fold has closed the motion.
    Final,
}

/// A motion's result with its finality.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The tally so far (final once closed).
    pub tally: Tally,
    /// How settled it is.
    pub finality: Finality,
    /// Whether the fold has closed the motion (and applied its effect, if it passed).
    pub closed: bool,
    /// For a closed, passed motion: whether its effect applied, or why not.
    pub effect: Option<Result<(), String>>,
}

/// The governance part of the derived state. Cheap to clone (persistent maps).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Governance {
    motions: OrdMap<EventId, Arc<MotionRecord>>,
    /// Open motions by (final_at, id): the order in which the fold closes them.
    closing: OrdMap<(u64, EventId), ()>,
    board: OrdSet<PartnerId>,
    chair: Option<PartnerId>,
    board_term: Term,
    chair_term: Term,
    links: OrdMap<FederationId, Link>,
    /// Valid ballots of open motions that no event by another practice has witnessed
    /// yet, by ballot id.
    unwitnessed: OrdMap<EventId, Unwitnessed>,
    /// For each event with unwitnessed ballots in its past (itself included): those
    /// ballots, as they stood when it was folded. Read through `unwitnessed`; cleared
    /// whenever that is empty.
    reach: OrdMap<EventId, OrdSet<EventId>>,
    /// The ballot lists of the motions closed since [`Governance::take_archived`] was
    /// last called.
    archived: Archived,
    /// The electorate of the last motion opened, for the next ([`electorate`]).
    electorates: electorate::Electorates,
}

/// Closed motions' encoded ballot lists, let go of by the state as each motion closes
/// (the state keeps their hash) and handed on to be kept beside it. Not part of the
/// state: two states are equal whatever is waiting here.
#[derive(Clone, Debug, Default)]
struct Archived(Vec<(EventId, Vec<u8>)>);

impl PartialEq for Archived {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// A valid ballot waiting to be witnessed (docs/GOVERNANCE.md §5.5).
#[derive(Clone, Debug, PartialEq)]
struct Unwitnessed {
    /// The motion it is on.
    motion: EventId,
    /// Its place in the fold: ballots become counted in this order.
    place: u64,
    /// The practice of the partner who signed it.
    practice: String,
    /// Whether an event has witnessed it; it is counted once no earlier unwitnessed
    /// ballot on the same motion is among its own ancestors.
    witnessed: bool,
    /// The checked ballot, applied to the counted votes when it is.
    ballot: ballot::Checked,
}

/// A federation this network linked to by a passed motion (docs/FEDERATION.md §2).
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    /// The charter.
    pub charter: pb::FederationCharter,
    /// The charter event, as signed (the federation log's first event).
    pub charter_event: Vec<u8>,
    /// The passed link motion.
    pub motion: EventId,
    /// The passed leave motion, once the network has left.
    pub left_by: Option<EventId>,
}

impl From<GovernanceError> for crate::state::Rejection {
    fn from(e: GovernanceError) -> Self {
        crate::state::Rejection::Governance(e)
    }
}

impl Governance {
    /// A motion, by event id.
    pub fn motion(&self, id: &EventId) -> Option<&MotionRecord> {
        self.motions.get(id).map(|r| &**r)
    }

    /// Every motion that took effect, by id.
    pub fn motions(&self) -> impl Iterator<Item = &MotionRecord> {
        self.motions.values().map(|r| &**r)
    }

    /// Takes the encoded ballot lists of the motions closed since the last call, each
    /// with its motion's id, in the order they closed. The state keeps only their hash
    /// ([`Closed::votes_hash`]); whoever folds keeps the lists (see
    /// [`crate::replica::Replica::closed_votes`]). A motion closed again by a fold redone
    /// from an earlier place comes again, and its latest lists are the ones that count.
    pub fn take_archived(&mut self) -> Vec<(EventId, Vec<u8>)> {
        std::mem::take(&mut self.archived.0)
    }

    /// The ballot lists of `motion` closed by this fold and not yet taken: for a state
    /// folded on its own, as tests and tools do.
    pub fn archived(&self, motion: &EventId) -> Option<ClosedVotes> {
        let (_, lists) = self.archived.0.iter().rev().find(|(id, _)| id == motion)?;
        ClosedVotes::decode(lists).ok()
    }

    /// The elected board (partner ids).
    pub fn board(&self) -> &OrdSet<PartnerId> {
        &self.board
    }

    /// The chair, if elected.
    pub fn chair(&self) -> Option<&PartnerId> {
        self.chair.as_ref()
    }

    /// The board's term (docs/GOVERNANCE.md §8.2).
    pub fn board_term(&self) -> Term {
        self.board_term
    }

    /// The chair's term.
    pub fn chair_term(&self) -> Term {
        self.chair_term
    }

    /// The office whose term ends first, with when, if a term runs.
    fn next_lapse(&self) -> Option<(u64, deed::Office)> {
        let board = self.board_term.ends_at_ms.map(|t| (t, deed::Office::Board));
        let chair = self.chair_term.ends_at_ms.map(|t| (t, deed::Office::Chair));
        match (board, chair) {
            (Some(b), Some(c)) => Some(if c.0 < b.0 { c } else { b }),
            (b, c) => b.or(c),
        }
    }

    /// Lapses an office's seats at the end of its term.
    fn lapse(&mut self, office: deed::Office, at_ms: u64) {
        let lapsed = Term {
            ends_at_ms: None,
            lapsed_at_ms: Some(at_ms),
        };
        match office {
            deed::Office::Board => {
                self.board = OrdSet::new();
                self.board_term = lapsed;
            }
            deed::Office::Chair => {
                self.chair = None;
                self.chair_term = lapsed;
            }
        }
    }

    /// The federations this network linked to by passed motions, by federation id
    /// (including those it has since left).
    pub fn federation_links(&self) -> impl Iterator<Item = (&FederationId, &Link)> {
        self.links.iter()
    }

    /// The link to one federation.
    pub fn link(&self, federation: &FederationId) -> Option<&Link> {
        self.links.get(federation)
    }

    /// Checks what a motion adds for federations: a link motion carries a valid charter
    /// naming this network and its practices as they are, for a federation not linked
    /// now; a leave motion, and a motion deciding a joint motion, name a federation that
    /// is linked now (docs/FEDERATION.md §2, §6).
    fn check_federation(
        &self,
        m: &Membership,
        network: Option<NetworkId>,
        mo: &pb::Motion,
    ) -> Result<(), GovernanceError> {
        let invalid = |s: String| Err(GovernanceError::InvalidMotion(s));
        let linked = |bytes: &[u8]| {
            NetworkId::from_slice(bytes)
                .and_then(|f| self.links.get(&f))
                .is_some_and(|l| l.left_by.is_none())
        };
        match DecisionKind::try_from(mo.kind) {
            Ok(DecisionKind::LinkFederation) => {
                let (ev, charter) = crate::federation::read_charter_event(&mo.charter_event)
                    .map_err(|e| GovernanceError::InvalidMotion(e.to_string()))?;
                if self.links.contains_key(&NetworkId(ev.id)) {
                    // Leaving is final for a charter: linking again takes a new one.
                    return invalid("this network is, or was, linked to that federation".into());
                }
                let Some(own) = charter
                    .members
                    .iter()
                    .find(|n| network.is_some_and(|x| x.as_bytes()[..] == n.network[..]))
                else {
                    return invalid("the charter does not name this network".into());
                };
                for p in &own.practices {
                    let current = m
                        .practice(&p.ods_code)
                        .filter(|r| r.status == Status::Active)
                        .is_some_and(|r| r.practice.node_key == p.node_key);
                    if !current {
                        return invalid(format!(
                            "the charter names {} with a node key that is not an active \
                             practice's here",
                            p.ods_code
                        ));
                    }
                }
                Ok(())
            }
            Ok(DecisionKind::LeaveFederation) if !linked(&mo.federation) => {
                invalid("the motion names no federation this network is linked to".into())
            }
            Ok(DecisionKind::General) if !mo.joint_motion.is_empty() && !linked(&mo.federation) => {
                invalid("a joint motion's federation must be one this network is linked to".into())
            }
            // One motion per joint motion, so every node reports the same decision.
            Ok(DecisionKind::General)
                if !mo.joint_motion.is_empty()
                    && self.motions.values().any(|r| {
                        r.motion.joint_motion == mo.joint_motion
                            && r.motion.federation == mo.federation
                    }) =>
            {
                invalid("this network already has a motion on that joint motion".into())
            }
            _ => Ok(()),
        }
    }

    /// A motion's result as seen at local time `now_ms`. The fold never reads a clock;
    /// this query is where local time comes in.
    pub fn report(&self, id: &EventId, now_ms: u64) -> Option<Report> {
        let rec = self.motions.get(id)?;
        let finality = if rec.closed.is_some() || now_ms > rec.final_at_ms {
            Finality::Final
        } else if now_ms > rec.closes_at_ms {
            Finality::Provisional
        } else {
            Finality::Open
        };
        Some(Report {
            tally: rec.tally(),
            finality,
            closed: rec.closed.is_some(),
            effect: rec.closed.as_ref().map(|c| c.effect.clone()),
        })
    }

    /// Applies a motion event (already known to be by an active member's current key).
    pub fn propose(
        &mut self,
        m: &Membership,
        deed: Option<&pb::Deed>,
        ev: &SignedEvent,
        mo: &pb::Motion,
    ) -> Result<(), GovernanceError> {
        self.check_federation(m, ev.event.network, mo)?;
        let mut rec = motion::open(
            Proposal {
                id: ev.id,
                author: &ev.event.author,
                timestamp_ms: ev.event.timestamp_ms,
                motion: mo,
            },
            m,
            deed,
            &self.board,
            self.chair.as_ref(),
            &mut self.electorates,
        )?;
        if self.closing.len() >= MAX_OPEN_MOTIONS {
            return Err(GovernanceError::TooManyOpenMotions);
        }
        // At most MAX_OPEN_MOTIONS entries to look at: cheap, and no extra state.
        let by_proposer = self
            .closing
            .keys()
            .filter(|(_, id)| {
                self.motions
                    .get(id)
                    .is_some_and(|r| r.proposer == rec.proposer)
            })
            .count();
        if by_proposer >= MAX_OPEN_MOTIONS_PER_PROPOSER {
            return Err(GovernanceError::TooManyOpenMotionsByProposer);
        }
        self.share_electorate(&mut rec);
        self.closing.insert((rec.final_at_ms, rec.id), ());
        self.motions.insert(rec.id, Arc::new(rec));
        Ok(())
    }

    /// Gives `rec` the very electorate set of an open motion whose electorate is the same
    /// (at most [`MAX_OPEN_MOTIONS`] are looked at, those of the same size compared). The
    /// sets are equal, so nothing the fold decides changes; but a network of 40,000
    /// partners otherwise holds a copy of them for every motion it ever had, megabytes
    /// each.
    fn share_electorate(&self, rec: &mut MotionRecord) {
        let fresh = &rec.votes.electorate;
        let same = self
            .closing
            .keys()
            .rev()
            .filter_map(|(_, id)| self.motions.get(id))
            .flat_map(|r| [&r.votes.electorate, &r.seen.electorate])
            .find(|e| e.len() == fresh.len() && *e == fresh)
            .cloned();
        if let Some(shared) = same {
            rec.seen.electorate = shared.clone();
            rec.votes.electorate = shared;
        }
    }

    /// Applies a ballot event (already known to be by an active member's current key)
    /// to its motion's `seen` votes, and holds it until it is witnessed; `place` is its
    /// place in the fold.
    pub fn cast(
        &mut self,
        m: &Membership,
        ev: &SignedEvent,
        b: &pb::Ballot,
        place: u64,
    ) -> Result<(), GovernanceError> {
        let author = ballot::voter(m, &ev.event)?;
        let id = ballot::motion_id(b)?;
        let rec = self
            .motions
            .get(&id)
            .ok_or(GovernanceError::UnknownMotion)?;
        // A proxy vote counts for the partner named in `on_behalf_of`.
        let voter = if b.on_behalf_of.is_empty() {
            author
        } else {
            match motion::partner_id(m, &b.on_behalf_of) {
                Some(p) if p != author => p,
                _ => {
                    return Err(GovernanceError::InvalidBallot(
                        "on_behalf_of names no other partner".into(),
                    ))
                }
            }
        };
        let cast = ballot::check(rec, m, &voter, &ev.event, b)?;
        if matches!(cast, ballot::Cast::Vote(_))
            && voter != author
            && !motion::partner_active(m, &voter)
        {
            return Err(GovernanceError::InvalidBallot(
                "the appointer is no longer an active partner".into(),
            ));
        }
        let checked = ballot::Checked {
            id: ev.id,
            timestamp_ms: ev.event.timestamp_ms,
            voter,
            author,
            cast,
        };
        let rec = self
            .motions
            .get_mut(&id)
            .map(Arc::make_mut)
            .ok_or(GovernanceError::UnknownMotion)?;
        ballot::apply(
            rec.max_proxies,
            rec.rule.interest_recuses,
            &mut rec.seen,
            &checked,
        )?;
        rec.unwitnessed.insert(ev.id);
        let practice = practice_of(m, &ev.event.author).unwrap_or_default();
        self.unwitnessed.insert(
            ev.id,
            Unwitnessed {
                motion: id,
                place,
                practice,
                witnessed: false,
                ballot: checked,
            },
        );
        self.reach.entry(ev.id).or_default().insert(ev.id);
        Ok(())
    }

    /// Carries the unwitnessed ballots in the past of `ev`'s causes forward to `ev` and,
    /// if `speaks` (its author is an active member, where it sits), marks those it
    /// witnesses and counts every witnessed ballot that no unwitnessed ballot on the same
    /// motion precedes in its own past, in fold order. Called by the fold for every event
    /// after the genesis, after closing what is due and before the event is judged.
    pub(crate) fn trace(&mut self, m: &Membership, ev: &SignedEvent, speaks: bool) {
        if self.unwitnessed.is_empty() {
            if !self.reach.is_empty() {
                self.reach = OrdMap::new();
            }
            return;
        }
        // Most events have one cause with a past, or causes sharing one: the set is then
        // shared, not copied.
        let mut past: OrdSet<EventId> = OrdSet::new();
        for c in ev.event.causes() {
            if let Some(s) = self.reach.get(&c) {
                if past.is_empty() {
                    past = s.clone();
                } else if *s != past {
                    past.extend(s.iter().copied());
                }
            }
        }
        if past.iter().any(|b| !self.unwitnessed.contains_key(b)) {
            past = past
                .into_iter()
                .filter(|b| self.unwitnessed.contains_key(b))
                .collect();
        }
        if past.is_empty() {
            return;
        }
        if speaks {
            // Witnessed: by another key of another practice, dated no later than the
            // motion's final_at (a partner's event does not close motions, so a motion
            // still open here may be past it).
            let ts = ev.event.timestamp_ms;
            let now_witnessed: Vec<EventId> = past
                .iter()
                .filter(|b| {
                    self.unwitnessed.get(*b).is_some_and(|u| {
                        !u.witnessed
                            && self
                                .motions
                                .get(&u.motion)
                                .is_some_and(|r| ts <= r.final_at_ms)
                            && may_witness(m, &ev.event.author, &u.ballot.author, &u.practice)
                    })
                })
                .copied()
                .collect();
            let any = !now_witnessed.is_empty();
            for b in now_witnessed {
                if let Some(u) = self.unwitnessed.get_mut(&b) {
                    u.witnessed = true;
                }
            }
            if any {
                self.count_witnessed();
                past = past
                    .into_iter()
                    .filter(|b| self.unwitnessed.contains_key(b))
                    .collect();
            }
        }
        if !past.is_empty() {
            self.reach.insert(ev.id, past);
        }
    }

    /// Counts, in fold order, each witnessed ballot with no not-yet-counted ballot on the
    /// same motion in its past, until none is left to count. A ballot the counted votes
    /// refuse (a proxy vote whose appointment, not in its past, is not counted yet) stays
    /// waiting, and is tried again whenever a ballot on its motion is counted.
    fn count_witnessed(&mut self) {
        // Tried and refused since the last ballot counted on their motion.
        let mut refused: OrdSet<EventId> = OrdSet::new();
        loop {
            let mut ready: Vec<(u64, EventId)> = self
                .unwitnessed
                .iter()
                .filter(|(id, u)| {
                    u.witnessed
                        && !refused.contains(*id)
                        && !self.reach.get(*id).is_some_and(|past| {
                            past.iter().any(|a| {
                                a != *id
                                    && self
                                        .unwitnessed
                                        .get(a)
                                        .is_some_and(|x| x.motion == u.motion)
                            })
                        })
                })
                .map(|(id, u)| (u.place, *id))
                .collect();
            if ready.is_empty() {
                return;
            }
            ready.sort_unstable();
            for (_, id) in ready {
                let Some(u) = self.unwitnessed.get(&id) else {
                    continue;
                };
                let motion = u.motion;
                let Some(rec) = self.motions.get_mut(&motion).map(Arc::make_mut) else {
                    continue;
                };
                let counted = ballot::apply(
                    rec.max_proxies,
                    rec.rule.interest_recuses,
                    &mut rec.votes,
                    &u.ballot,
                );
                if counted.is_ok() {
                    rec.unwitnessed.remove(&id);
                    self.unwitnessed.remove(&id);
                    let unwitnessed = &self.unwitnessed;
                    refused = refused
                        .into_iter()
                        .filter(|r| unwitnessed.get(r).is_some_and(|x| x.motion != motion))
                        .collect();
                } else {
                    refused.insert(id);
                }
            }
        }
    }

    /// Forgets the pasts that name no ballot still waiting: all of them once none is.
    /// Called when a motion closes, so the map holds only what open motions need.
    fn prune_reach(&mut self) {
        if self.unwitnessed.is_empty() {
            self.reach = OrdMap::new();
            return;
        }
        let unwitnessed = &self.unwitnessed;
        self.reach = std::mem::take(&mut self.reach)
            .into_iter()
            .filter(|(_, past)| past.iter().any(|b| unwitnessed.contains_key(b)))
            .collect();
    }

    /// Whether some motion the fold has not closed ended its grace period before `now_ms`:
    /// an event by an active practice node, timestamped now, would close it.
    pub fn closing_due(&self, now_ms: u64) -> bool {
        self.closing
            .get_min()
            .is_some_and(|((final_at, _), ())| *final_at < now_ms)
            || self.next_lapse().is_some_and(|(t, _)| t < now_ms)
    }

    /// Whether an event by `key` timestamped `now_ms` would witness a ballot still
    /// waiting: what a practice node asks to decide whether to write one.
    pub fn would_witness(&self, m: &Membership, key: &PublicKey, now_ms: u64) -> bool {
        self.unwitnessed.values().any(|u| {
            !u.witnessed
                && self
                    .motions
                    .get(&u.motion)
                    .is_some_and(|r| now_ms <= r.final_at_ms)
                && may_witness(m, key, &u.ballot.author, &u.practice)
        })
    }

    /// Closes, in order, every open motion whose grace period ended before
    /// `timestamp_ms`, applying the effects of those that passed, and lapses every office
    /// whose term ended before it (a term that ends no later than a motion's `final_at`
    /// lapses first). Called by the fold for every event by an active practice node,
    /// before the event itself is judged.
    ///
    /// Returns whether any effect applied (so the caller can prune what the change
    /// made stale, such as the addresses of a removed practice's node).
    pub fn close_due(
        &mut self,
        trigger: EventId,
        timestamp_ms: u64,
        m: &mut Membership,
        deed: &mut Option<pb::Deed>,
    ) -> bool {
        let mut changed = false;
        loop {
            let motion = self
                .closing
                .get_min()
                .map(|&(k, ())| k)
                .filter(|(final_at, _)| *final_at < timestamp_ms);
            let lapse = self.next_lapse().filter(|(t, _)| *t < timestamp_ms);
            let (final_at, id) = match (lapse, motion) {
                (Some((t, office)), m) if m.is_none_or(|(f, _)| t <= f) => {
                    self.lapse(office, t);
                    continue;
                }
                (_, Some(m)) => m,
                _ => break,
            };
            self.closing.remove(&(final_at, id));
            let Some(rec) = self.motions.get(&id).cloned() else {
                continue;
            };
            // Ballots not counted by now never count; the tally says how many there were.
            for b in &rec.unwitnessed {
                self.unwitnessed.remove(b);
            }
            self.prune_reach();
            let lists = prost::Message::encode_to_vec(&digest::vote_lists(&rec));
            let votes_hash = digest::votes_hash(&lists);
            let mut tally = rec.count(&rec.votes);
            if tally.unwitnessed > 0 {
                tally.reason = format!(
                    "{} ({} ballot(s) not witnessed by another practice and counted before \
                     the close did not count)",
                    tally.reason, tally.unwitnessed
                );
            }
            let effect = if tally.passed {
                effects::apply(
                    &rec,
                    &tally,
                    m,
                    deed,
                    effects::Offices {
                        board: &mut self.board,
                        chair: &mut self.chair,
                        board_term: &mut self.board_term,
                        chair_term: &mut self.chair_term,
                        links: &mut self.links,
                    },
                )
            } else {
                Ok(())
            };
            changed |= tally.passed && effect.is_ok();
            // Let go of the record read, so that the one in the map is written in place
            // where nothing else shares it.
            drop(rec);
            if let Some(r) = self.motions.get_mut(&id).map(Arc::make_mut) {
                // The ballot lists leave the state, which keeps their hash: nothing in
                // the fold reads them once the motion is closed (GOVERNANCE.md §10).
                r.votes.let_go_of_ballots();
                r.seen = r.votes.clone();
                r.unwitnessed = OrdSet::new();
                r.closed = Some(Closed {
                    tally,
                    closed_by: trigger,
                    effect,
                    votes_hash,
                });
                self.archived.0.push((id, lists));
            }
        }
        changed
    }

    /// Vacates the board seats, and the chair, of partners who are no longer eligible
    /// (not an active partner of an active practice). Called by the fold after a
    /// partner resigns or a practice leaves (docs/GOVERNANCE.md §8).
    pub(crate) fn vacate_offices(&mut self, m: &Membership) {
        let gone: Vec<PartnerId> = self
            .board
            .iter()
            .filter(|id| !motion::partner_active(m, id))
            .copied()
            .collect();
        for id in gone {
            self.board.remove(&id);
        }
        if self.chair.is_some_and(|c| !motion::partner_active(m, &c)) {
            self.chair = None;
        }
    }
}

/// A duration in words, for people: "1 day", "2 h 30 min", "45 s".
pub fn duration_words(ms: u64) -> String {
    const MINUTE: u64 = 60_000;
    if ms < MINUTE {
        return format!("{} s", ms / 1_000);
    }
    let mins = ms / MINUTE;
    let (d, h, m) = (mins / 1440, (mins % 1440) / 60, mins % 60);
    let mut parts = Vec::new();
    if d > 0 {
        parts.push(format!("{d} day{}", if d == 1 { "" } else { "s" }));
    }
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 || parts.is_empty() {
        parts.push(format!("{m} min"));
    }
    parts.join(" ")
}
