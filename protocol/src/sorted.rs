//! An ordered map for large indexes that only grow: one sorted list of entries, and a
//! small ordered map of the entries added since the list was last merged with it.
//!
//! A node's per-event indexes (the replica's table of stored events and its fold order,
//! the store's places in its log) hold millions of entries: all of them here for a replica
//! given no run files, and their recent ones where they keep the rest in runs
//! ([`crate::runs`]). A hash table keeps each entry
//! in a slot of a table kept at most seven-eighths full and doubled as it grows, and a
//! B-tree keeps nodes a half to two-thirds full: both take about twice what the entries
//! do. A sorted list takes what its entries do. Entries added go first to the small map,
//! which is merged into the list, in place, once it holds a thirty-second as many
//! entries ([`MERGE_FRACTION`]). The small map, a B-tree, takes about twice what its
//! entries do, so once the list holds more than `MERGE_FRACTION` × [`MERGE_MIN`] entries
//! the whole takes at most about 3% more than its entries; in exchange a merge
//! moves the list's entries that sort after the first recent one, so an entry added in
//! random order is moved about thirty times over the map's life. A lookup is a binary
//! search of the list and a search of the small map.
//!
//! Entries are never removed. Keys and values are `Copy`: the merge moves them in place.

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};

/// The recent entries are merged into the list once there are more of them than the
/// list's length divided by this...
pub const MERGE_FRACTION: usize = 32;
/// ... and at least this many, so that a small list is not merged at every insert.
pub const MERGE_MIN: usize = 1024;

/// An ordered map kept as a sorted list and a small map of recent entries. See the module
/// documentation.
#[derive(Debug, Clone)]
pub struct SortedMap<K, V> {
    /// Sorted by key, no key twice.
    list: Vec<(K, V)>,
    /// Entries added since the last merge: no key here is also in `list`.
    recent: BTreeMap<K, V>,
}

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        SortedMap {
            list: Vec::new(),
            recent: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Copy, V: Copy> SortedMap<K, V> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes room in the list for `additional` more entries than it holds, at once, as
    /// a node does before loading a log whose length it knows.
    pub fn reserve(&mut self, additional: usize) {
        let wanted = self.len().saturating_add(additional);
        self.list
            .reserve_exact(wanted.saturating_sub(self.list.len()));
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.list.len() + self.recent.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn find(&self, key: &K) -> Result<usize, usize> {
        self.list.binary_search_by(|(k, _)| k.cmp(key))
    }

    /// The value under `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        match self.find(key) {
            Ok(i) => Some(&self.list[i].1),
            Err(_) => self.recent.get(key),
        }
    }

    /// Whether `key` is held.
    pub fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    /// Puts `value` under `key`, and answers the value it replaces.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Ok(i) = self.find(&key) {
            return Some(std::mem::replace(&mut self.list[i].1, value));
        }
        let old = self.recent.insert(key, value);
        if self.recent.len() > MERGE_MIN.max(self.list.len() / MERGE_FRACTION) {
            self.merge();
        }
        old
    }

    /// Moves the recent entries into the list, in place: the list grows by their number
    /// and is filled from its end, the larger of the two next entries first.
    fn merge(&mut self) {
        let recent = std::mem::take(&mut self.recent);
        let mut read = self.list.len();
        self.list.reserve_exact(recent.len());
        // Placeholders, each overwritten below before it is read.
        self.list.extend(recent.iter().map(|(k, v)| (*k, *v)));
        let mut write = self.list.len();
        for (k, v) in recent.into_iter().rev() {
            while read > 0 && self.list[read - 1].0 > k {
                read -= 1;
                write -= 1;
                self.list[write] = self.list[read];
            }
            write -= 1;
            self.list[write] = (k, v);
        }
        debug_assert_eq!(read, write, "the list's first entries stay where they are");
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.range::<(Bound<&K>, Bound<&K>)>((Bound::Unbounded, Bound::Unbounded))
    }

    /// The entries with keys in `range`, in key order.
    ///
    /// # Panics
    /// As [`BTreeMap::range`] does: if the range starts after it ends, or starts and ends
    /// at one key excluded from both ends.
    pub fn range<R: RangeBounds<K>>(&self, range: R) -> impl Iterator<Item = (&K, &V)> + '_ {
        // Checked here, not left to the recent map's own range, which does not check
        // when it is empty.
        if let (Bound::Included(s) | Bound::Excluded(s), Bound::Included(e) | Bound::Excluded(e)) =
            (range.start_bound(), range.end_bound())
        {
            let both_excluded = matches!(
                (range.start_bound(), range.end_bound()),
                (Bound::Excluded(_), Bound::Excluded(_))
            );
            assert!(
                s < e || (s == e && !both_excluded),
                "a range of a sorted map starts after it ends"
            );
        }
        let start = match range.start_bound() {
            Bound::Included(s) => self.list.partition_point(|(k, _)| k < s),
            Bound::Excluded(s) => self.list.partition_point(|(k, _)| k <= s),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(e) => self.list.partition_point(|(k, _)| k <= e),
            Bound::Excluded(e) => self.list.partition_point(|(k, _)| k < e),
            Bound::Unbounded => self.list.len(),
        };
        let listed = self.list[start..end.max(start)].iter().map(|(k, v)| (k, v));
        let bounds = (range.start_bound().cloned(), range.end_bound().cloned());
        Merged {
            a: listed.peekable(),
            b: self.recent.range(bounds).peekable(),
        }
    }
}

impl<K: Ord + Copy, V: Copy> std::ops::Index<&K> for SortedMap<K, V> {
    type Output = V;

    /// # Panics
    /// If `key` is not held.
    fn index(&self, key: &K) -> &V {
        self.get(key).expect("a key held in the sorted map")
    }
}

/// Two iterators of entries in key order, with no key in both, read as one.
struct Merged<A: Iterator, B: Iterator> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
}

impl<'a, K: Ord + 'a, V: 'a, A, B> Iterator for Merged<A, B>
where
    A: Iterator<Item = (&'a K, &'a V)>,
    B: Iterator<Item = (&'a K, &'a V)>,
{
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        match (self.a.peek(), self.b.peek()) {
            (Some((ka, _)), Some((kb, _))) if kb < ka => self.b.next(),
            (Some(_), _) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn entries_are_found_before_and_after_a_merge_and_read_in_order() {
        let mut m = SortedMap::new();
        // Descending keys: every merge puts the recent entries before the whole list.
        let n = (MERGE_MIN * 3) as u32;
        for k in (0..n).rev() {
            assert_eq!(m.insert(k, k * 2), None);
        }
        assert!(m.list.len() > MERGE_MIN, "merged at least once");
        assert!(!m.recent.is_empty(), "and holding recent entries");
        assert_eq!(m.len(), n as usize);
        assert_eq!(m.get(&7), Some(&14));
        assert_eq!(m[&(n - 1)], (n - 1) * 2);
        assert_eq!(m.get(&n), None);
        assert_eq!(m.insert(7, 1), Some(14), "a recent key's value is replaced");
        assert_eq!(m.get(&7), Some(&1));
        assert!(
            m.find(&(n - 1)).is_ok(),
            "the largest key was merged into the list"
        );
        assert_eq!(
            m.insert(n - 1, 3),
            Some((n - 1) * 2),
            "a listed key's value is replaced"
        );
        assert_eq!(m[&(n - 1)], 3);
        assert_eq!(m.len(), n as usize);
        let keys: Vec<u32> = m.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, (0..n).collect::<Vec<_>>());
        let from: Vec<u32> = m
            .range((Bound::Excluded(10), Bound::Included(20)))
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(from, (11..=20).collect::<Vec<_>>());
    }

    #[test]
    fn a_merge_happens_once_the_recent_entries_pass_the_least() {
        let mut m = SortedMap::new();
        for k in 0..=MERGE_MIN as u64 {
            m.insert(k, ());
        }
        assert_eq!(m.list.len(), MERGE_MIN + 1, "one over the least merged");
        let listed = m.list.len();
        let room = listed.max(MERGE_MIN * MERGE_FRACTION) / MERGE_FRACTION;
        for k in 0..room as u64 {
            m.insert(1_000_000 + k, ());
        }
        assert_eq!(m.list.len(), listed, "at the limit: not merged");
        m.insert(2_000_000, ());
        assert_eq!(m.list.len(), listed + room + 1, "one over: merged");
        assert!(m.recent.is_empty());
    }

    #[test]
    fn past_the_least_a_merge_waits_for_the_list_s_fraction() {
        let listed = MERGE_MIN * MERGE_FRACTION * 2;
        let mut m = SortedMap {
            list: (0..listed as u64).map(|k| (k * 2, ())).collect(),
            recent: BTreeMap::new(),
        };
        let room = listed / MERGE_FRACTION;
        for k in 0..room as u64 {
            m.insert(k * 2 + 1, ());
        }
        assert_eq!(m.list.len(), listed, "the list's fraction: not merged");
        m.insert(u64::MAX, ());
        assert_eq!(m.list.len(), listed + room + 1, "one over: merged");
        assert!(
            m.list.windows(2).all(|w| w[0].0 < w[1].0),
            "and still sorted"
        );
    }

    #[test]
    #[should_panic(expected = "starts after it ends")]
    fn a_range_that_starts_after_it_ends_is_refused_with_no_recent_entries_too() {
        let mut m = SortedMap::new();
        m.insert(1u8, ());
        m.merge();
        let _ = m.range((Bound::Excluded(1), Bound::Excluded(1))).count();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any sequence of insertions leaves it answering as an ordered map does.
        #[test]
        fn it_answers_as_an_ordered_map(
            ops in proptest::collection::vec((0u16..4000, any::<u8>()), 0..6000),
            probes in proptest::collection::vec(0u16..4000, 0..64),
        ) {
            let mut m = SortedMap::new();
            let mut reference = BTreeMap::new();
            for (k, v) in ops {
                prop_assert_eq!(m.insert(k, v), reference.insert(k, v));
            }
            prop_assert_eq!(m.len(), reference.len());
            prop_assert!(m.iter().eq(reference.iter()));
            for p in probes {
                prop_assert_eq!(m.get(&p), reference.get(&p));
                prop_assert!(m.range(p..).eq(reference.range(p..)));
                prop_assert!(m.range(..=p).eq(reference.range(..=p)));
                prop_assert!(m.range(..p).eq(reference.range(..p)));
                prop_assert!(m.range(p / 2..p).eq(reference.range(p / 2..p)));
                prop_assert!(m.range((Bound::Excluded(p), Bound::Unbounded))
                    .eq(reference.range((Bound::Excluded(p), Bound::Unbounded))));
            }
        }
    }
}
