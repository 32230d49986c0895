//! One author's stored events by seq: the first stored at each seq.

use crate::id::EventId;

/// An author's feed. Every event but an author's first names the one before it, and is
/// stored only once that is, so the seqs stored are always 1 to some n, with no gap: the
/// feed is a list, the event at seq `s` at index `s - 1`, a third the size of a map.
#[derive(Debug, Default)]
pub(super) struct Feed(Vec<EventId>);

impl Feed {
    /// The first event stored at `seq`.
    pub(super) fn get(&self, seq: u64) -> Option<&EventId> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.0.get(i)
    }

    /// The highest seq stored, with its first event.
    pub(super) fn head(&self) -> Option<(u64, &EventId)> {
        self.0.last().map(|id| (self.0.len() as u64, id))
    }

    /// The seqs from `from` on, with their first events, in order.
    pub(super) fn from(&self, from: u64) -> impl Iterator<Item = (u64, &EventId)> + '_ {
        let skip = usize::try_from(from.saturating_sub(1)).unwrap_or(usize::MAX);
        (self.0.iter().enumerate().skip(skip)).map(|(i, id)| (i as u64 + 1, id))
    }

    /// Stores `id` at `seq`, the next seq or one already stored: `None` if it is the
    /// first there, else the first stored there (the author equivocated).
    ///
    /// # Panics
    /// If `seq` is past the next seq: the replica stores an event only after the one
    /// before it.
    pub(super) fn put(&mut self, seq: u64, id: EventId) -> Option<EventId> {
        match self.get(seq) {
            Some(first) => Some(*first),
            None => {
                assert_eq!(
                    seq,
                    self.0.len() as u64 + 1,
                    "an event is stored after the one before it"
                );
                self.0.push(id);
                None
            }
        }
    }
}
