//! An author's feed as the replica keeps it: the id of the first event stored at each
//! seq, as a list by seq. An event is stored only after its `prev`, the author's event at
//! the seq before (seq 1 has none), so a feed has no gap: the list's `i`th id is at seq
//! `i + 1`, and a new seq is always the next. Events stored at a seq after its first (an
//! author's equivocations) are kept beside it, in the replica's `forked_ids`.

use crate::id::EventId;

/// The first event stored at each of an author's seqs, from seq 1 on. See the module
/// documentation.
#[derive(Debug, Default)]
pub(super) struct Feed(Vec<EventId>);

impl Feed {
    /// The first event stored at `seq`.
    pub(super) fn get(&self, seq: u64) -> Option<&EventId> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.0.get(i)
    }

    /// Stores `id` at `seq` unless an event is stored there already, and answers that
    /// one.
    ///
    /// # Panics
    /// If `seq` is past the next: the replica stores an event only after its `prev`.
    pub(super) fn put(&mut self, seq: u64, id: EventId) -> Option<EventId> {
        if let Some(first) = self.get(seq) {
            return Some(*first);
        }
        assert_eq!(
            seq,
            self.0.len() as u64 + 1,
            "an event is stored at its author's next seq, after its prev"
        );
        self.0.push(id);
        None
    }

    /// The highest seq stored, with its first event.
    pub(super) fn head(&self) -> Option<(u64, &EventId)> {
        self.0.last().map(|id| (self.0.len() as u64, id))
    }

    /// The seqs from `seq` on, each with its first event, in seq order.
    pub(super) fn from(&self, seq: u64) -> impl Iterator<Item = (u64, &EventId)> + '_ {
        let skip = usize::try_from(seq.saturating_sub(1)).unwrap_or(usize::MAX);
        self.0
            .iter()
            .enumerate()
            .skip(skip)
            .map(|(i, id)| (i as u64 + 1, id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> EventId {
        EventId([n; 32])
    }

    #[test]
    fn seqs_are_read_from_one_on_and_a_taken_seq_answers_its_first_event() {
        let mut f = Feed::default();
        assert_eq!(f.head(), None);
        assert_eq!(f.get(0), None);
        assert_eq!(f.put(1, id(1)), None);
        assert_eq!(f.put(2, id(2)), None);
        assert_eq!(f.put(3, id(3)), None);
        assert_eq!(f.put(2, id(9)), Some(id(2)), "a fork keeps the first");
        assert_eq!(f.get(2), Some(&id(2)));
        assert_eq!(f.get(4), None);
        assert_eq!(f.head(), Some((3, &id(3))));
        let from: Vec<(u64, EventId)> = f.from(2).map(|(s, i)| (s, *i)).collect();
        assert_eq!(from, vec![(2, id(2)), (3, id(3))]);
        assert_eq!(f.from(0).count(), 3, "seq 0 is before the first");
        assert_eq!(f.from(4).count(), 0);
    }

    #[test]
    #[should_panic(expected = "next seq")]
    fn a_seq_past_the_next_is_refused() {
        let mut f = Feed::default();
        f.put(2, id(2));
    }
}
