//! An author's feed as the replica keeps it: the first event stored at each seq, found
//! without keeping every id in memory.
//!
//! An event is stored only after its `prev`, the author's event at the seq before (seq 1
//! has none), so a feed has no gap and a new seq is always the next. While an author has
//! never equivocated each seq holds one event, and the feed is a chain: each event's `prev`
//! is the one below it. The replica then keeps only the feed's head and the id at every
//! [`FEED_MARK_EVERY`]th seq, and finds any other by reading events back along `prev` from
//! the next id it keeps: fewer than [`FEED_MARK_EVERY`] reads, and listing a feed from a
//! seq reads each event it lists once, and at most [`FEED_MARK_EVERY`] less one more. The
//! first time an author is seen to equivocate (an event stored at a seq already taken), its
//! feed is read back whole into a list of every seq's first id, as it stands before the
//! fork; events stored at a seq after its first are kept beside it, in the replica's
//! `forked_ids`.

use super::{kept, must_read, BodyError, Fold, OrderKey, Replica};
use crate::id::EventId;
use crate::keys::PublicKey;

/// Seqs from one id an unforked feed keeps to the next: the ids between are read back
/// along `prev` from the next one kept. The replica keeps 32 bytes per this many of an
/// author's events, and reads fewer than this many events to find any one of them.
pub const FEED_MARK_EVERY: u64 = 32;

/// The first event stored at each of an author's seqs, from seq 1 on. See the module
/// documentation.
#[derive(Debug)]
pub(super) enum Feed {
    /// An author never seen to equivocate: its highest seq with its event, and the event
    /// at each multiple of [`FEED_MARK_EVERY`] up to it (`marks[i]` at seq
    /// `(i + 1) * FEED_MARK_EVERY`).
    Chain {
        head: (u64, EventId),
        marks: Vec<EventId>,
    },
    /// An author who equivocated: the first event at each seq (`ids[i]` at seq `i + 1`).
    Listed(Vec<EventId>),
}

impl Feed {
    /// A feed whose first event, at seq 1, is `id`.
    ///
    /// # Panics
    /// If `seq` is not 1: the replica stores an event only after its `prev`.
    pub(super) fn first(seq: u64, id: EventId) -> Feed {
        assert_eq!(seq, 1, "an author's first event is at the next seq, 1");
        let mut feed = Feed::Chain {
            head: (0, id),
            marks: Vec::new(),
        };
        feed.push(id);
        feed
    }

    /// The highest seq stored, with its first event.
    pub(super) fn head(&self) -> (u64, EventId) {
        match self {
            Feed::Chain { head, .. } => *head,
            Feed::Listed(ids) => (
                ids.len() as u64,
                *ids.last().expect("a feed is never empty"),
            ),
        }
    }

    /// The first event stored at `seq`, reading events back with `prev` (which answers an
    /// event's `prev`) where the feed does not keep it.
    pub(super) fn get<P>(&self, seq: u64, prev: &P) -> Result<Option<EventId>, BodyError>
    where
        P: Fn(&EventId) -> Result<EventId, BodyError>,
    {
        if seq == 0 || seq > self.head().0 {
            return Ok(None);
        }
        let (mut at, mut id) = self.kept_from(seq);
        while at > seq {
            id = prev(&id)?;
            at -= 1;
        }
        Ok(Some(id))
    }

    /// Stores `id` at `seq` unless an event is stored there already, and answers that
    /// one. A seq already taken is a fork: a chain is first read back whole into a list
    /// (with `prev`, as [`Feed::get`] reads), and an error reading it leaves the feed as
    /// it was.
    ///
    /// # Panics
    /// If `seq` is past the next: the replica stores an event only after its `prev`.
    pub(super) fn put<P>(
        &mut self,
        seq: u64,
        id: EventId,
        prev: &P,
    ) -> Result<Option<EventId>, BodyError>
    where
        P: Fn(&EventId) -> Result<EventId, BodyError>,
    {
        let top = self.head().0;
        assert!(
            seq <= top + 1,
            "an event is stored at its author's next seq, {}, after its prev (not {seq})",
            top + 1
        );
        if seq == top + 1 {
            self.push(id);
            return Ok(None);
        }
        if let Feed::Chain { .. } = self {
            let ids = self
                .from(1, prev)
                .map(|r| r.map(|(_, id)| id))
                .collect::<Result<Vec<_>, _>>()?;
            *self = Feed::Listed(ids);
        }
        self.get(seq, prev)
    }

    /// The seqs from `seq` on, each with its first event, in seq order, reading events
    /// back with `prev` where the feed does not keep them; an error reading one is the
    /// last item.
    pub(super) fn from<'a, P>(
        &'a self,
        seq: u64,
        prev: P,
    ) -> impl Iterator<Item = Result<(u64, EventId), BodyError>> + 'a
    where
        P: Fn(&EventId) -> Result<EventId, BodyError> + 'a,
    {
        let mut next = seq.max(1);
        // The ids from `next` up to the next one kept, the last at `next`.
        let mut walked: Vec<EventId> = Vec::new();
        let mut failed = false;
        std::iter::from_fn(move || {
            if failed || next > self.head().0 {
                return None;
            }
            if walked.is_empty() {
                let (mut at, mut id) = self.kept_from(next);
                walked.push(id);
                while at > next {
                    match prev(&id) {
                        Ok(p) => id = p,
                        Err(e) => {
                            failed = true;
                            return Some(Err(e));
                        }
                    }
                    at -= 1;
                    walked.push(id);
                }
            }
            let id = walked.pop()?;
            next += 1;
            Some(Ok((next - 1, id)))
        })
    }

    /// The lowest seq at or above `seq` (which is at most the head) whose first event the
    /// feed keeps, with that event.
    fn kept_from(&self, seq: u64) -> (u64, EventId) {
        match self {
            Feed::Listed(ids) => (seq, ids[seq as usize - 1]),
            Feed::Chain { head, marks } => {
                let mark = seq.div_ceil(FEED_MARK_EVERY);
                match usize::try_from(mark)
                    .ok()
                    .and_then(|m| marks.get(m.checked_sub(1)?))
                {
                    Some(id) => (mark * FEED_MARK_EVERY, *id),
                    None => *head,
                }
            }
        }
    }

    /// Adds `id` at the next seq.
    fn push(&mut self, id: EventId) {
        match self {
            Feed::Chain { head, marks } => {
                *head = (head.0 + 1, id);
                if head.0 % FEED_MARK_EVERY == 0 {
                    marks.push(id);
                }
            }
            Feed::Listed(ids) => ids.push(id),
        }
    }
}

/// Reading feeds: the replica's answers about its authors' feeds, and its own checks of
/// them.
impl<S: Fold> Replica<S> {
    /// The highest seq stored for `author`, with its event id (the first, if forked).
    pub fn feed_head(&self, author: &PublicKey) -> Option<(u64, EventId)> {
        Some(self.feeds.get(author)?.head())
    }

    /// Every author's highest stored seq with its event id (the first, if forked), in
    /// author order: what a peer compares to find what either side lacks.
    pub fn frontier(&self) -> Vec<(PublicKey, u64, EventId)> {
        let len = self.events.len();
        let mut cache = self
            .frontier_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((n, f)) = &*cache {
            if *n == len {
                return f.clone();
            }
        }
        let mut f: super::Frontier = self
            .feeds
            .iter()
            .map(|(a, feed)| {
                let (seq, first) = feed.head();
                (*a, seq, first)
            })
            .collect();
        f.sort_unstable_by_key(|x| x.0);
        *cache = Some((len, f.clone()));
        f
    }

    /// The places in the fold order of `author`'s stored events with seq at least
    /// `from_seq`, as [`Replica::feed_from`] lists them, or why the feed could not be
    /// read on (the last item then). Events of the feed the replica does not keep ids of
    /// are read back along `prev` (see [`FEED_MARK_EVERY`]): each listed once, and fewer
    /// than [`FEED_MARK_EVERY`] more.
    pub fn feed_keys_from(
        &self,
        author: &PublicKey,
        from_seq: u64,
    ) -> impl Iterator<Item = Result<OrderKey, BodyError>> + '_ {
        let author = *author;
        self.feeds
            .get(&author)
            .into_iter()
            .flat_map(move |feed| feed.from(from_seq, move |id| self.prev_of(id)))
            .flat_map(move |read| {
                let (seq, first, failed) = match read {
                    Ok((seq, first)) => (seq, Some(first), None),
                    Err(e) => (0, None, Some(e)),
                };
                let others = first.map_or(&[][..], |_| self.forked_at(&author, seq));
                first
                    .into_iter()
                    .chain(others.iter().copied())
                    .filter_map(|id| self.key_of(&id))
                    .map(Ok)
                    .chain(failed.map(Err))
            })
    }

    pub(super) fn earliest_from(&self, author: &PublicKey, seq: u64) -> Option<OrderKey> {
        self.feed_keys_from(author, seq).map(must_read).min()
    }

    /// The ids stored at `seq` of `author`'s feed, `first` the first of them: more than
    /// one where the author equivocated.
    pub(super) fn slot<'a>(
        &'a self,
        author: &PublicKey,
        seq: u64,
        first: &'a EventId,
    ) -> impl Iterator<Item = &'a EventId> + 'a {
        std::iter::once(first).chain(self.forked_at(author, seq))
    }

    /// The events stored at `seq` of `author`'s feed after its first.
    pub(super) fn forked_at(&self, author: &PublicKey, seq: u64) -> &[EventId] {
        match self.forked_ids.get(&(*author, seq)) {
            Some(ids) => ids.as_slice(),
            None => &[],
        }
    }

    /// A stored event's `prev`, read back: how a feed finds the ids it does not keep.
    pub(super) fn prev_of(&self, id: &EventId) -> Result<EventId, BodyError> {
        kept::prev(id, self.unwritten.get(id), self.bodies.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::collections::HashMap;

    fn id(n: u64) -> EventId {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&n.to_be_bytes());
        EventId(b)
    }

    /// A chain of `len` events (seq `s` is `id(s)`), its `prev` links, and a count of the
    /// reads made along them.
    struct Chain {
        prevs: HashMap<EventId, EventId>,
        reads: Cell<usize>,
        /// Set: every read fails.
        failing: Cell<bool>,
    }

    impl Chain {
        fn new(len: u64) -> (Chain, Feed) {
            let mut prevs = HashMap::new();
            let mut feed = Feed::first(1, id(1));
            for s in 2..=len {
                prevs.insert(id(s), id(s - 1));
                let c = Chain::unread(&prevs);
                assert_eq!(feed.put(s, id(s), &|i| c.prev(i)), Ok(None));
                assert_eq!(c.reads.get(), 0, "the next seq reads nothing");
            }
            (Chain::unread(&prevs), feed)
        }

        fn unread(prevs: &HashMap<EventId, EventId>) -> Chain {
            Chain {
                prevs: prevs.clone(),
                reads: Cell::new(0),
                failing: Cell::new(false),
            }
        }

        fn prev(&self, of: &EventId) -> Result<EventId, BodyError> {
            self.reads.set(self.reads.get() + 1);
            let fail = |detail: &str| BodyError {
                id: *of,
                detail: detail.into(),
            };
            if self.failing.get() {
                return Err(fail("the disk failed"));
            }
            self.prevs.get(of).copied().ok_or_else(|| fail("no prev"))
        }
    }

    #[test]
    fn every_seq_of_a_chain_is_found_in_fewer_reads_than_a_mark_spans() {
        let k = FEED_MARK_EVERY;
        for len in [1, 2, k - 1, k, k + 1, 2 * k, 3 * k + 5] {
            let (c, feed) = Chain::new(len);
            assert_eq!(feed.head(), (len, id(len)));
            assert_eq!(feed.get(0, &|i| c.prev(i)), Ok(None));
            assert_eq!(feed.get(len + 1, &|i| c.prev(i)), Ok(None));
            for s in 1..=len {
                c.reads.set(0);
                assert_eq!(
                    feed.get(s, &|i| c.prev(i)),
                    Ok(Some(id(s))),
                    "seq {s} of {len}"
                );
                assert!(
                    c.reads.get() < k as usize,
                    "{} reads for seq {s}",
                    c.reads.get()
                );
            }
            for from in [0, 1, 2, k, k + 1, len, len + 1] {
                c.reads.set(0);
                let listed: Vec<_> = feed.from(from, |i| c.prev(i)).collect();
                let want: Vec<_> = (from.max(1)..=len).map(|s| Ok((s, id(s)))).collect();
                assert_eq!(listed, want, "from {from} of {len}");
                assert!(c.reads.get() < listed.len() + k as usize);
            }
        }
    }

    #[test]
    fn a_fork_lists_the_chain_whole_and_a_taken_seq_answers_its_first_event() {
        let len = 2 * FEED_MARK_EVERY + 3;
        let (c, mut feed) = Chain::new(len);
        assert_eq!(feed.put(5, id(900), &|i| c.prev(i)), Ok(Some(id(5))));
        assert!(matches!(&feed, Feed::Listed(ids) if ids.len() == len as usize));
        c.reads.set(0);
        assert_eq!(feed.put(7, id(901), &|i| c.prev(i)), Ok(Some(id(7))));
        assert_eq!(feed.put(len + 1, id(len + 1), &|i| c.prev(i)), Ok(None));
        assert_eq!(feed.head(), (len + 1, id(len + 1)));
        let listed: Vec<_> = feed.from(len, |i| c.prev(i)).collect();
        assert_eq!(listed, vec![Ok((len, id(len))), Ok((len + 1, id(len + 1)))]);
        assert_eq!(c.reads.get(), 0, "a listed feed reads nothing");
    }

    #[test]
    fn a_read_that_fails_is_an_error_and_a_fork_that_cannot_be_listed_changes_nothing() {
        let len = FEED_MARK_EVERY + 4;
        let (c, mut feed) = Chain::new(len);
        c.failing.set(true);
        assert!(feed.get(3, &|i| c.prev(i)).is_err());
        assert_eq!(
            feed.get(len, &|i| c.prev(i)),
            Ok(Some(id(len))),
            "the head is kept"
        );
        let listed: Vec<_> = feed.from(2, |i| c.prev(i)).collect();
        assert_eq!(listed.len(), 1, "the error ends the list");
        assert!(listed[0].is_err());
        assert!(feed.put(2, id(900), &|i| c.prev(i)).is_err());
        assert!(matches!(&feed, Feed::Chain { .. }));
        c.failing.set(false);
        assert_eq!(feed.get(2, &|i| c.prev(i)), Ok(Some(id(2))));
    }

    #[test]
    #[should_panic(expected = "next seq")]
    fn a_seq_past_the_next_is_refused() {
        let (c, mut feed) = Chain::new(1);
        let _ = feed.put(3, id(3), &|i| c.prev(i));
    }

    #[test]
    #[should_panic(expected = "next seq")]
    fn a_first_event_past_seq_one_is_refused() {
        let _ = Feed::first(2, id(2));
    }
}
