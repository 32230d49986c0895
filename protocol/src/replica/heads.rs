//! The replica's heads and the walk back from them: what a new event lists in `deps`, and
//! what a peer showing its heads lacks (docs/NETWORK.md §4.3).

use super::{Beyond, BodyError, Fold, OrderKey, Replica};
use crate::id::EventId;
use crate::limits::MAX_DEPS;
use std::collections::BTreeMap;

impl<S: Fold> Replica<S> {
    /// The events nothing else follows yet, latest first, at most [`MAX_DEPS`] - 1 of
    /// them: what a new event should list in `deps`.
    pub fn heads(&self) -> Vec<EventId> {
        self.heads
            .iter()
            .rev()
            .take(MAX_DEPS - 1)
            .map(|k| k.1)
            .collect()
    }

    /// All the heads (the stored events no stored event follows), by id, if there are at
    /// most `max`; `None` if there are more. Since an event is stored only once its causes
    /// are, the stored events are exactly the heads and everything they follow: a peer
    /// holding these heads holds everything this replica holds.
    pub fn all_heads(&self, max: usize) -> Option<Vec<EventId>> {
        if self.heads.len() > max {
            return None;
        }
        let mut ids: Vec<EventId> = self.heads.iter().map(|k| k.1).collect();
        ids.sort_unstable();
        Some(ids)
    }

    /// The stored events that are neither among `heads` nor causes of them, directly or
    /// not, in fold order: what a replica whose heads these are lacks of this one.
    /// Walks back from this replica's heads in reverse fold order, marking what the given
    /// heads reach, and stops when nothing left to visit could be missing. `Unknown` if a
    /// head is not stored here; `TooFar` once the walk has visited `budget` events.
    pub fn beyond(&self, heads: &[EventId], budget: usize) -> Beyond {
        // What is left to visit, latest first, each with whether the given heads reach it.
        let mut queue: BTreeMap<OrderKey, bool> = BTreeMap::new();
        for id in heads {
            match self.stored_or_error(id) {
                Ok(Some(s)) => queue.insert((s.height, *id), true),
                Ok(None) => return Beyond::Unknown,
                Err(e) => return Beyond::Unreadable(e),
            };
        }
        for key in &self.heads {
            queue.entry(*key).or_insert(false);
        }
        let mut unreached = queue.values().filter(|r| !**r).count();
        let mut out = Vec::new();
        let mut visited = 0;
        while unreached > 0 {
            let Some((key, reached)) = queue.pop_last() else {
                break;
            };
            visited += 1;
            if visited > budget {
                return Beyond::TooFar;
            }
            if !reached {
                unreached -= 1;
                out.push(key.1);
            }
            let causes: Vec<EventId> = match self.load(&key.1) {
                Ok(Some(e)) => e.event.causes().collect(),
                Ok(None) => Vec::new(),
                Err(e) => return Beyond::Unreadable(e),
            };
            for cause in causes {
                let ckey = match self.stored_or_error(&cause) {
                    Ok(Some(s)) => (s.height, cause),
                    // A stored event's causes are stored: a table that says otherwise
                    // cannot be trusted to answer.
                    Ok(None) => {
                        return Beyond::Unreadable(BodyError {
                            id: cause,
                            detail: "a stored event's cause is not in the table of stored \
                                     events"
                                .into(),
                        })
                    }
                    Err(e) => return Beyond::Unreadable(e),
                };
                match queue.get_mut(&ckey) {
                    None => {
                        queue.insert(ckey, reached);
                        unreached += usize::from(!reached);
                    }
                    Some(r) if reached && !*r => {
                        *r = true;
                        unreached -= 1;
                    }
                    Some(_) => {}
                }
            }
        }
        out.reverse();
        Beyond::Events(out)
    }
}
