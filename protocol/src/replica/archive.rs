//! Closed motions' ballot lists, kept beside the state rather than in it: the state keeps
//! only their hash (docs/GOVERNANCE.md §10), and a node keeps the lists on disk, so that
//! a long history of decided motions costs no memory.

use super::{Fold, Replica};
use crate::event::Body;
use crate::governance::tally::Vote;
use crate::governance::{ballot, votes_hash, ClosedVotes, PartnerId};
use crate::id::EventId;
use crate::state::State;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Where a replica keeps the ballot lists of closed motions (see
/// [`Replica::set_archive`]): in the node, an append-only file.
pub trait Archive: fmt::Debug + Send + Sync {
    /// Keeps `lists` (a closed motion's encoded ballot lists) under the motion's id, in
    /// place of any kept there before.
    fn put(&self, motion: &EventId, lists: &[u8]) -> Result<(), ArchiveError>;
    /// The lists kept under the motion's id, if any.
    fn get(&self, motion: &EventId) -> Result<Option<Vec<u8>>, ArchiveError>;
}

/// The ballots that counted on a closed motion: for each partner, the ballot event and
/// its vote.
pub type CountedBallots = BTreeMap<PartnerId, (EventId, Vote)>;

/// Why a closed motion's ballot lists could not be kept or read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the ballots of motion {motion} could not be kept or read back: {detail}")]
pub struct ArchiveError {
    /// The motion.
    pub motion: EventId,
    /// What went wrong.
    pub detail: String,
}

impl<S: Fold> Replica<S> {
    /// Keeps closed motions' ballot lists in `archive` rather than in memory: those kept
    /// so far move there now, and every motion the fold closes from now on goes there.
    /// Lists the archive fails to take stay in memory and are read from there.
    pub fn set_archive(&mut self, archive: Arc<dyn Archive>) {
        self.archive = Some(archive);
        for (motion, lists) in std::mem::take(&mut self.archived) {
            self.keep_archived(motion, lists);
        }
    }

    /// Keeps one closed motion's lists: in the archive if there is one and it takes
    /// them, else in memory.
    pub(super) fn keep_archived(&mut self, motion: EventId, lists: Vec<u8>) {
        if let Some(archive) = &self.archive {
            if archive.put(&motion, &lists).is_ok() {
                self.archived.remove(&motion);
                return;
            }
        }
        self.archived.insert(motion, lists);
    }

    /// How many closed motions' lists are held in memory (for benchmarks and tests).
    pub fn archived_in_memory(&self) -> usize {
        self.archived.len()
    }
}

impl Replica<State> {
    /// A closed motion's ballot lists as they stood at the close, read back from where
    /// they are kept and checked against the hash the state holds: `None` if the motion
    /// is not stored or not closed.
    pub fn closed_votes(&self, motion: &EventId) -> Result<Option<ClosedVotes>, ArchiveError> {
        let Some(closed) = self
            .state()
            .governance()
            .motion(motion)
            .and_then(|r| r.closed.as_ref())
        else {
            return Ok(None);
        };
        let fail = |detail: String| ArchiveError {
            motion: *motion,
            detail,
        };
        let lists = match (self.archived.get(motion), &self.archive) {
            (Some(lists), _) => lists.clone(),
            (None, Some(archive)) => archive
                .get(motion)?
                .ok_or_else(|| fail("they are not kept".into()))?,
            (None, None) => return Err(fail("they are not kept".into())),
        };
        if votes_hash(&lists) != closed.votes_hash {
            return Err(fail("what is kept does not match the state's hash".into()));
        }
        ClosedVotes::decode(&lists).map(Some).map_err(fail)
    }

    /// The ballots that counted on a closed motion (`closed`, as [`Replica::closed_votes`]
    /// gave it), with their votes read back from the ballot events.
    pub fn closed_ballots(
        &self,
        motion: &EventId,
        closed: &ClosedVotes,
    ) -> Result<CountedBallots, ArchiveError> {
        let fail = |detail: String| ArchiveError {
            motion: *motion,
            detail,
        };
        let rec = (self.state().governance().motion(motion))
            .ok_or_else(|| fail("no such motion is stored".into()))?;
        let mut ballots = BTreeMap::new();
        for (partner, (id, _)) in &closed.ballots {
            let body = self.load(id).map_err(|e| fail(e.to_string()))?;
            let vote = match body.and_then(|e| e.event.body) {
                Some(Body::Ballot(b)) if b.motion == motion.as_bytes() => {
                    ballot::vote(rec, &b).ok()
                }
                _ => None,
            }
            .ok_or_else(|| fail(format!("ballot {id} does not read back as a vote")))?;
            ballots.insert(*partner, (*id, vote));
        }
        Ok(ballots)
    }
}
