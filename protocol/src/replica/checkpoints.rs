//! State checkpoints along the fold, and how they are thinned: an event that arrives out
//! of order is folded by going back to the last checkpoint before its place, so the
//! latest checkpoints are all kept and older ones ever more sparsely
//! ([`CHECKPOINTS_RECENT`]).

use super::{Fold, OrderKey};
use crate::limits::{CHECKPOINTS_RECENT, CHECKPOINT_INTERVAL};

/// States saved along the fold, in fold order, each with its number (the events folded
/// before it ÷ [`CHECKPOINT_INTERVAL`]) and the key of the last event folded into it.
#[derive(Debug)]
pub(super) struct Checkpoints<S> {
    saved: Vec<(u64, OrderKey, S)>,
}

impl<S> Default for Checkpoints<S> {
    fn default() -> Self {
        Checkpoints { saved: Vec::new() }
    }
}

/// Whether checkpoint number `number` is kept while `latest` is the latest
/// ([`CHECKPOINTS_RECENT`]). Once a checkpoint is not kept it is never kept again: its
/// distance from the latest only grows, and so does the spacing required of it.
pub fn checkpoint_kept(number: u64, latest: u64) -> bool {
    let Some(distance) = latest.checked_sub(number) else {
        return true;
    };
    if distance < CHECKPOINTS_RECENT {
        return true;
    }
    let level = (distance / CHECKPOINTS_RECENT).ilog2() + 1;
    number
        .checked_rem(1u64.checked_shl(level).unwrap_or(0))
        .unwrap_or(number)
        == 0
}

impl<S: Fold> Checkpoints<S> {
    /// Saves `state`, the fold's after `folded` events, the last of them at `key`, if
    /// `folded` is a multiple of [`CHECKPOINT_INTERVAL`]; then drops the checkpoints
    /// [`checkpoint_kept`] no longer keeps. A checkpoint's spacing grows only when its
    /// distance from the latest reaches `CHECKPOINTS_RECENT × 2^(l - 1)` for some level
    /// `l`, so only the checkpoint at each such distance can have just stopped being kept.
    pub(super) fn save(&mut self, folded: u64, key: OrderKey, state: &S) {
        if !folded.is_multiple_of(CHECKPOINT_INTERVAL as u64) {
            return;
        }
        let latest = folded / CHECKPOINT_INTERVAL as u64;
        self.saved.push((latest, key, state.clone()));
        for level in 1..u64::BITS {
            let Some(distance) = CHECKPOINTS_RECENT.checked_shl(level - 1) else {
                break;
            };
            let Some(number) = latest.checked_sub(distance) else {
                break;
            };
            if !checkpoint_kept(number, latest) {
                if let Ok(i) = self.saved.binary_search_by_key(&number, |c| c.0) {
                    self.saved.remove(i);
                }
            }
        }
    }

    /// Drops every checkpoint at or after `from` and returns the last one left: the key
    /// of the last event folded into it, the state, and how many events that state
    /// folded (none: go back to the start).
    pub(super) fn back_before(&mut self, from: OrderKey) -> Option<(OrderKey, S, u64)> {
        let kept = self.saved.partition_point(|c| c.1 < from);
        self.saved.truncate(kept);
        self.saved
            .last()
            .map(|(n, k, s)| (*k, s.clone(), n * CHECKPOINT_INTERVAL as u64))
    }

    /// How many are held.
    pub(super) fn len(&self) -> usize {
        self.saved.len()
    }
}
