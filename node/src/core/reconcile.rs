//! Range reconciliation of two frontiers (docs/NETWORK.md §4.4), free of I/O: what a node
//! says about ranges of author keys, and what it learns of a peer's frontier from what the
//! peer says. Two nodes that differ in one author's entry among 40,000 find it in a few
//! small messages; two nodes in sync never get here (their state hashes match first).
//!
//! A frontier is a set of entries, one per author (its highest seq, the id there, its first
//! forked seq). Each side answers each range of the other's message:
//! - a fingerprint equal to its own: nothing more to say (skip);
//! - a different fingerprint over few entries: all its entries there (`ENTRIES`);
//! - a different fingerprint over many: fingerprints of [`RECONCILE_BRANCHES`] sub-ranges;
//! - the other's entries: the entries where the two differ (`DIFFERENCES`), which ends
//!   the range for both.

use crate::limits::{
    MAX_RECONCILE_ENTRIES, MAX_RECONCILE_RANGES, RECONCILE_BRANCHES, RECONCILE_LIST_AT,
};
use mutual_proto::v1 as pb;
use mutual_protocol::keys::PublicKey;
use mutual_protocol::replica::{Fold, Replica};
use pb::RangeMode as Mode;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Most entries a node lists in a range it has no room to split (larger ones wait for the
/// next message): enough that dense differences settle within a round's steps, few enough
/// that a few hundred differences among many authors do not send whole ranges.
const LIST_UNSPLIT: usize = RECONCILE_BRANCHES * RECONCILE_LIST_AT;

/// Length of a range's fingerprint, in bytes.
pub const FINGERPRINT_LEN: usize = 16;
/// Longest bound of a range: an author key.
const KEY_LEN: usize = 32;
const ENTRY_TAG: &[u8] = b"mutual/v1/frontier-entry";
const RANGE_TAG: &[u8] = b"mutual/v1/range";

/// One author's entry in a frontier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Item {
    author: [u8; KEY_LEN],
    seq: u64,
    head: [u8; KEY_LEN],
    forked: u64,
}

impl Item {
    /// The first 16 bytes of SHA-256 over the tag, author, seq, head and forked (both
    /// numbers 8 bytes big-endian), read as a little-endian number.
    fn hash(&self) -> u128 {
        let mut h = Sha256::new();
        h.update(ENTRY_TAG);
        h.update(self.author);
        h.update(self.seq.to_be_bytes());
        h.update(self.head);
        h.update(self.forked.to_be_bytes());
        let d = h.finalize();
        u128::from_le_bytes(d[..16].try_into().expect("16 bytes"))
    }

    fn entry(&self) -> pb::FrontierEntry {
        pb::FrontierEntry {
            author: self.author.to_vec(),
            seq: self.seq,
            head: self.head.to_vec(),
            forked: self.forked,
        }
    }

    /// The item a received entry stands for; none for a tombstone (empty head).
    fn of(e: &pb::FrontierEntry) -> Option<Item> {
        Some(Item {
            author: e.author.as_slice().try_into().ok()?,
            seq: e.seq,
            head: e.head.as_slice().try_into().ok()?,
            forked: e.forked,
        })
    }
}

/// The entry that says "nothing by this author here".
fn tombstone(author: &[u8; KEY_LEN]) -> pb::FrontierEntry {
    pb::FrontierEntry {
        author: author.to_vec(),
        ..Default::default()
    }
}

/// A node's frontier sorted by author, with running sums of its entries' hashes, so a
/// range's fingerprint costs two binary searches.
#[derive(Debug, Default, PartialEq)]
pub struct Index {
    items: Vec<Item>,
    /// `sums[i]`: the sum, modulo 2^128, of the hashes of `items[..i]`.
    sums: Vec<u128>,
}

impl Index {
    /// The index of `replica`'s frontier, leaving out `hidden`'s feed.
    pub fn of<S: Fold>(replica: &Replica<S>, hidden: Option<&PublicKey>) -> Index {
        let forks = replica.forks();
        let items: Vec<Item> = replica
            .frontier()
            .into_iter()
            .filter(|(a, _, _)| Some(a) != hidden)
            .map(|(a, seq, head)| Item {
                author: *a.as_bytes(),
                seq,
                head: *head.as_bytes(),
                forked: forks.get(&a).map_or(0, |f| f + 1),
            })
            .collect();
        let mut sums = Vec::with_capacity(items.len() + 1);
        let mut sum = 0u128;
        sums.push(sum);
        for it in &items {
            sum = sum.wrapping_add(it.hash());
            sums.push(sum);
        }
        Index { items, sums }
    }

    /// Authors in the index.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the index holds no author.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The seq of `author`'s entry, if the index holds one.
    pub fn seq_of(&self, author: &[u8]) -> Option<u64> {
        let k = self
            .items
            .binary_search_by(|it| it.author.as_slice().cmp(author))
            .ok()?;
        Some(self.items[k].seq)
    }

    /// The items `[i, j)` whose authors lie in `[lower, upper)` (empty upper: no bound).
    fn locate(&self, lower: &[u8], upper: &[u8]) -> (usize, usize) {
        let i = self
            .items
            .partition_point(|it| it.author.as_slice() < lower);
        let j = if upper.is_empty() {
            self.items.len()
        } else {
            self.items
                .partition_point(|it| it.author.as_slice() < upper)
        };
        (i, j.max(i))
    }

    /// The fingerprint of `items[i..j]`: the first 16 bytes of SHA-256 over the tag, the
    /// count (8 bytes big-endian) and the sum of the items' hashes (16 bytes
    /// little-endian).
    fn fingerprint(&self, i: usize, j: usize) -> [u8; FINGERPRINT_LEN] {
        let sum = self.sums[j].wrapping_sub(self.sums[i]);
        let mut h = Sha256::new();
        h.update(RANGE_TAG);
        h.update(((j - i) as u64).to_be_bytes());
        h.update(sum.to_le_bytes());
        h.finalize()[..FINGERPRINT_LEN]
            .try_into()
            .expect("16 bytes")
    }

    /// The message that opens a reconciliation: one fingerprint over the whole space.
    pub fn opening(&self) -> pb::Reconcile {
        pb::Reconcile {
            ranges: vec![fingerprint_range(
                Vec::new(),
                self.fingerprint(0, self.items.len()),
            )],
        }
    }
}

fn fingerprint_range(upper: Vec<u8>, fp: [u8; FINGERPRINT_LEN]) -> pb::Range {
    pb::Range {
        upper,
        mode: Mode::Fingerprint as i32,
        fingerprint: fp.to_vec(),
        entries: Vec::new(),
    }
}

fn entries_range(upper: Vec<u8>, mode: Mode, entries: Vec<pb::FrontierEntry>) -> pb::Range {
    pb::Range {
        upper,
        mode: mode as i32,
        fingerprint: Vec::new(),
        entries,
    }
}

/// The shortest prefix of `next` that sorts after `prev` (`prev < next`): a bound that
/// puts `prev` below it and `next` at or above it.
fn bound_between(prev: &[u8], next: &[u8]) -> Vec<u8> {
    let common = prev.iter().zip(next).take_while(|(a, b)| a == b).count();
    next[..(common + 1).min(next.len())].to_vec()
}

/// What one side knows of the other's frontier: for each author whose entry differs
/// between them, the peer's entry, or `None` where the peer holds nothing by that author.
/// Once a reconciliation has ended, every author not in it has the entry this node
/// showed, except authors whose feeds the node does not take (their entries are left
/// out, [`View::retain`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {
    differs: BTreeMap<Vec<u8>, Option<pb::FrontierEntry>>,
    /// This node's own key and the seq of its own entry in the frontier it showed when
    /// the reconciliation opened (none: no entry). Its own feed only grows, so an entry
    /// the peer matched later is at least as far along: the peer holds at least this.
    shown: Option<(Vec<u8>, Option<u64>)>,
}

/// What a [`View`] says of a peer's feed of one author.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Seen<'a> {
    /// The entry this node showed. For the node's own feed, its seq when the
    /// reconciliation opened, none if the node showed no entry then; none for every other
    /// author, and when the view records no opening.
    Same(Option<u64>),
    /// A different entry.
    Entry(&'a pb::FrontierEntry),
    /// The peer holds nothing by the author.
    Nothing,
}

impl View {
    /// The view of a reconciliation that opened with this node (its own key `me`)
    /// showing `index`.
    pub fn showing(index: &Index, me: Option<&[u8]>) -> View {
        View {
            differs: BTreeMap::new(),
            shown: me.map(|me| (me.to_vec(), index.seq_of(me))),
        }
    }

    /// The peer's entries that differ from this node's.
    pub fn entries(&self) -> impl Iterator<Item = &pb::FrontierEntry> {
        self.differs.values().flatten()
    }

    /// What the peer holds of `author`'s feed.
    pub fn seen(&self, author: &[u8]) -> Seen<'_> {
        match self.differs.get(author) {
            None => Seen::Same(
                self.shown
                    .as_ref()
                    .filter(|(me, _)| me == author)
                    .and_then(|(_, seq)| *seq),
            ),
            Some(None) => Seen::Nothing,
            Some(Some(e)) => Seen::Entry(e),
        }
    }

    /// Whether nothing differs.
    pub fn is_empty(&self) -> bool {
        self.differs.is_empty()
    }

    /// Adds what another exchange taught about the same peer.
    pub fn merge(&mut self, other: View) {
        self.differs.extend(other.differs);
        if self.shown.is_none() {
            self.shown = other.shown;
        }
    }

    /// Keeps the peer's entries only for authors `keep` accepts (and every "nothing").
    pub fn retain(&mut self, keep: impl Fn(&[u8]) -> bool) {
        self.differs.retain(|a, e| e.is_none() || keep(a));
    }

    fn record(&mut self, e: &pb::FrontierEntry) {
        let entry = (!e.head.is_empty()).then(|| e.clone());
        self.differs.insert(e.author.clone(), entry);
    }
}

/// Whether a message leaves nothing for the other side to answer (it holds no
/// `FINGERPRINT` or `ENTRIES` range).
pub fn settled(msg: &pb::Reconcile) -> bool {
    msg.ranges.iter().all(|r| {
        !matches!(
            Mode::try_from(r.mode),
            Ok(Mode::Fingerprint | Mode::Entries)
        )
    })
}

/// Checks a received message against every rule of docs/NETWORK.md §4.4 before anything
/// is taken from it.
pub fn check(msg: &pb::Reconcile) -> Result<(), String> {
    if msg.ranges.len() > MAX_RECONCILE_RANGES {
        return Err(format!(
            "{} ranges, over the limit of {MAX_RECONCILE_RANGES}",
            msg.ranges.len()
        ));
    }
    let total: usize = msg.ranges.iter().map(|r| r.entries.len()).sum();
    if total > MAX_RECONCILE_ENTRIES {
        return Err(format!(
            "{total} entries, over the limit of {MAX_RECONCILE_ENTRIES}"
        ));
    }
    let mut lower: &[u8] = &[];
    for (k, r) in msg.ranges.iter().enumerate() {
        if r.upper.len() > KEY_LEN {
            return Err("a range bound longer than a key".into());
        }
        let last = k + 1 == msg.ranges.len();
        if r.upper.is_empty() && !last {
            return Err("an unbounded range before the last".into());
        }
        if !r.upper.is_empty() && r.upper.as_slice() <= lower {
            return Err("range bounds out of order".into());
        }
        let mode = Mode::try_from(r.mode).map_err(|_| "an unknown range mode".to_string())?;
        let has_fp = !r.fingerprint.is_empty();
        let has_entries = !r.entries.is_empty();
        match mode {
            Mode::Skip if has_fp || has_entries => return Err("a skip range with data".into()),
            Mode::Fingerprint if r.fingerprint.len() != FINGERPRINT_LEN || has_entries => {
                return Err("a malformed fingerprint range".into())
            }
            Mode::Entries | Mode::Differences => {
                if has_fp {
                    return Err("an entries range with a fingerprint".into());
                }
                let mut prev: Option<&[u8]> = None;
                for e in &r.entries {
                    let a = e.author.as_slice();
                    if a.len() != KEY_LEN || prev.is_some_and(|p| p >= a) {
                        return Err("entries not sorted by author, or a bad author".into());
                    }
                    if a < lower || (!r.upper.is_empty() && a >= r.upper.as_slice()) {
                        return Err("an entry outside its range".into());
                    }
                    let tomb = e.head.is_empty() && e.seq == 0 && e.forked == 0;
                    if !(e.head.len() == KEY_LEN || (tomb && mode == Mode::Differences)) {
                        return Err("an entry with a bad head".into());
                    }
                    prev = Some(a);
                }
            }
            _ => {}
        }
        lower = &r.upper;
    }
    Ok(())
}

/// What answering one message came to.
#[derive(Debug, Default)]
pub struct Answered {
    /// The message to send back (possibly with no range).
    pub reply: pb::Reconcile,
    /// What the message taught about the sender's frontier.
    pub learned: View,
}

/// The reply being built: ranges in order, runs of skips merged.
struct Out {
    ranges: Vec<pb::Range>,
    entries: usize,
    /// The first item of the last range, when it is a fingerprint left for the other
    /// side to take up again: the next such range joins it.
    deferred: Option<usize>,
}

impl Out {
    fn skip_to(&mut self, upper: &[u8]) {
        self.deferred = None;
        match self.ranges.last_mut() {
            Some(r) if r.mode == Mode::Skip as i32 => r.upper = upper.to_vec(),
            _ => self.ranges.push(pb::Range {
                upper: upper.to_vec(),
                mode: Mode::Skip as i32,
                ..Default::default()
            }),
        }
    }

    fn push(&mut self, r: pb::Range) {
        self.deferred = None;
        self.entries += r.entries.len();
        self.ranges.push(r);
    }

    /// Answers the items `i..j`, up to `upper`, with their fingerprint for the other side
    /// to take up again, joined to the range before if that is one too.
    fn defer(&mut self, index: &Index, i: usize, j: usize, upper: &[u8]) {
        if let (Some(start), Some(last)) = (self.deferred, self.ranges.last_mut()) {
            *last = fingerprint_range(upper.to_vec(), index.fingerprint(start, j));
            return;
        }
        self.ranges
            .push(fingerprint_range(upper.to_vec(), index.fingerprint(i, j)));
        self.deferred = Some(i);
    }

    /// Room for `ranges` more ranges while still answering `after` more, and for
    /// `entries` more entries.
    fn room(&self, ranges: usize, after: usize, entries: usize) -> bool {
        self.ranges.len() + ranges + after <= MAX_RECONCILE_RANGES
            && self.entries + entries <= MAX_RECONCILE_ENTRIES
    }

    fn done(mut self) -> pb::Reconcile {
        while self
            .ranges
            .last()
            .is_some_and(|r| r.mode == Mode::Skip as i32)
        {
            self.ranges.pop();
        }
        pb::Reconcile {
            ranges: self.ranges,
        }
    }
}

/// Answers each range of a message (already [`check`]ed) from this node's `index`.
/// A range the reply has no room for is answered with its fingerprint, which the other
/// side takes up again.
pub fn answer(index: &Index, msg: &pb::Reconcile) -> Answered {
    let mut out = Out {
        ranges: Vec::new(),
        entries: 0,
        deferred: None,
    };
    let mut learned = View::default();
    let mut lower: &[u8] = &[];
    for (k, r) in msg.ranges.iter().enumerate() {
        let after = msg.ranges.len() - k - 1;
        let upper = r.upper.as_slice();
        let (i, j) = index.locate(lower, upper);
        match Mode::try_from(r.mode).unwrap_or(Mode::Skip) {
            Mode::Skip => out.skip_to(upper),
            Mode::Fingerprint => {
                let mine = index.fingerprint(i, j);
                if mine.as_slice() == r.fingerprint {
                    out.skip_to(upper);
                } else if j - i <= RECONCILE_LIST_AT && out.room(1, after, j - i) {
                    let entries = index.items[i..j].iter().map(Item::entry).collect();
                    out.push(entries_range(upper.to_vec(), Mode::Entries, entries));
                } else if j - i > RECONCILE_LIST_AT && out.room(RECONCILE_BRANCHES, after, 0) {
                    split(index, i, j, upper, &mut out);
                } else if j - i <= LIST_UNSPLIT && out.room(1, after, j - i) {
                    // No room to split a range of a few entries: list them instead.
                    let entries = index.items[i..j].iter().map(Item::entry).collect();
                    out.push(entries_range(upper.to_vec(), Mode::Entries, entries));
                } else {
                    out.defer(index, i, j, upper);
                }
            }
            Mode::Entries => {
                let diff = differences(&index.items[i..j], &r.entries, &mut learned);
                differences_reply(index, (i, j), upper, diff, after, &mut out);
            }
            Mode::Differences => {
                for e in &r.entries {
                    learned.record(e);
                }
                out.skip_to(upper);
            }
        }
        lower = upper;
    }
    Answered {
        reply: out.done(),
        learned,
    }
}

/// Fingerprints of up to [`RECONCILE_BRANCHES`] sub-ranges of `items[i..j]` of about
/// equal counts, the last ending at `upper`.
fn split(index: &Index, i: usize, j: usize, upper: &[u8], out: &mut Out) {
    let step = (j - i).div_ceil(RECONCILE_BRANCHES);
    let mut start = i;
    while start < j {
        let end = (start + step).min(j);
        let bound = if end == j {
            upper.to_vec()
        } else {
            bound_between(&index.items[end - 1].author, &index.items[end].author)
        };
        out.push(fingerprint_range(bound, index.fingerprint(start, end)));
        start = end;
    }
}

/// Compares this node's `mine` with the peer's full list `theirs` over the same range:
/// records the peer's side of each difference in `learned` and returns this node's side
/// (tombstones where it holds nothing), sorted by author.
fn differences(
    mine: &[Item],
    theirs: &[pb::FrontierEntry],
    learned: &mut View,
) -> Vec<pb::FrontierEntry> {
    let mut diff = Vec::new();
    let (mut a, mut b) = (mine.iter().peekable(), theirs.iter().peekable());
    loop {
        let order = match (a.peek(), b.peek()) {
            (None, None) => return diff,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(m), Some(t)) => m.author.as_slice().cmp(t.author.as_slice()),
        };
        match order {
            std::cmp::Ordering::Less => {
                let m = a.next().expect("peeked");
                learned.record(&tombstone(&m.author));
                diff.push(m.entry());
            }
            std::cmp::Ordering::Greater => {
                let t = b.next().expect("peeked");
                learned.record(t);
                diff.push(tombstone(
                    t.author.as_slice().try_into().expect("checked: 32 bytes"),
                ));
            }
            std::cmp::Ordering::Equal => {
                let (m, t) = (a.next().expect("peeked"), b.next().expect("peeked"));
                if Item::of(t) != Some(*m) {
                    learned.record(t);
                    diff.push(m.entry());
                }
            }
        }
    }
}

/// This node's side of the differences over `[lower, upper)` (the items `i..j`), as much
/// as the reply has room for; the rest is left to a fingerprint the peer takes up again.
fn differences_reply(
    index: &Index,
    (i, j): (usize, usize),
    upper: &[u8],
    mut diff: Vec<pb::FrontierEntry>,
    after: usize,
    out: &mut Out,
) {
    if diff.is_empty() {
        out.skip_to(upper);
    } else if out.room(1, after, diff.len()) {
        out.push(entries_range(upper.to_vec(), Mode::Differences, diff));
    } else {
        let fits = MAX_RECONCILE_ENTRIES.saturating_sub(out.entries);
        if fits == 0 || !out.room(2, after, 0) {
            out.defer(index, i, j, upper);
            return;
        }
        let rest = diff.split_off(fits);
        let bound = bound_between(&diff[fits - 1].author, &rest[0].author);
        let (b, _) = index.locate(&bound, upper);
        out.push(entries_range(bound, Mode::Differences, diff));
        out.defer(index, b, j, upper);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn index(items: &[(u16, u64)]) -> Index {
        let mut items: Vec<Item> = items
            .iter()
            .map(|&(a, seq)| {
                let mut author = [0u8; KEY_LEN];
                author[..2].copy_from_slice(&a.to_be_bytes());
                author[31] = 1;
                Item {
                    author,
                    seq,
                    head: [seq as u8; KEY_LEN],
                    forked: 0,
                }
            })
            .collect();
        items.sort_by_key(|it| it.author);
        items.dedup_by_key(|it| it.author);
        let mut sums = vec![0u128];
        for it in &items {
            sums.push(sums.last().expect("one").wrapping_add(it.hash()));
        }
        Index { items, sums }
    }

    /// Runs a reconciliation between `a` (opening) and `b` to its end; returns what each
    /// learned of the other, the messages sent and their bytes.
    fn run(a: &Index, b: &Index) -> (View, View, usize, usize) {
        use prost::Message;
        let (mut va, mut vb) = (View::default(), View::default());
        let mut msg = a.opening();
        let (mut messages, mut bytes) = (1, msg.encoded_len());
        let mut turn_b = true;
        while !msg.ranges.is_empty() {
            check(&msg).expect("a well-formed message");
            let (me, view) = if turn_b { (b, &mut vb) } else { (a, &mut va) };
            let ans = answer(me, &msg);
            view.merge(ans.learned);
            msg = ans.reply;
            messages += 1;
            bytes += msg.encoded_len();
            turn_b = !turn_b;
            assert!(
                messages <= 2 * crate::limits::MAX_RECONCILE_STEPS,
                "reconciliation must end within a round's steps"
            );
        }
        (va, vb, messages, bytes)
    }

    /// The peer's frontier as `mine` patched by what `view` says.
    fn apply(mine: &Index, view: &View) -> Vec<Item> {
        let mut out: BTreeMap<Vec<u8>, Item> = mine
            .items
            .iter()
            .map(|it| (it.author.to_vec(), *it))
            .collect();
        for (a, e) in &view.differs {
            match e {
                None => out.remove(a),
                Some(e) => out.insert(a.clone(), Item::of(e).expect("an entry")),
            };
        }
        out.into_values().collect()
    }

    fn items(set: &[(u16, u64)]) -> Vec<Item> {
        index(set).items
    }

    proptest! {
        /// Reconciliation ends with each side knowing the other's frontier exactly, for
        /// random pairs of sets: empty, identical, disjoint, and one entry apart.
        #[test]
        fn each_side_learns_the_others_frontier(
            shared in proptest::collection::vec((0u16..2_000, 1u64..4), 0..400),
            only_a in proptest::collection::vec((2_000u16..4_000, 1u64..4), 0..60),
            only_b in proptest::collection::vec((4_000u16..6_000, 1u64..4), 0..60),
            bumped in proptest::collection::vec(0usize..400, 0..5),
            shape in 0u8..4,
        ) {
            let (sa, sb): (Vec<_>, Vec<_>) = match shape {
                // Identical (or both empty).
                0 => (shared.clone(), shared.clone()),
                // Disjoint.
                1 => (only_a.clone(), only_b.clone()),
                // One element apart.
                2 => {
                    let mut b = shared.clone();
                    b.extend(only_b.iter().take(1));
                    (shared.clone(), b)
                }
                // Overlapping, with some feeds further along on one side.
                _ => {
                    let mut a: Vec<_> = shared.iter().chain(&only_a).copied().collect();
                    let b: Vec<_> = shared
                        .iter()
                        .enumerate()
                        .map(|(k, &(x, s))| (x, if bumped.contains(&k) { s + 1 } else { s }))
                        .chain(only_b.iter().copied())
                        .collect();
                    a.sort();
                    (a, b)
                }
            };
            let (a, b) = (index(&sa), index(&sb));
            let (va, vb, _, _) = run(&a, &b);
            prop_assert_eq!(apply(&a, &va), items(&sb));
            prop_assert_eq!(apply(&b, &vb), items(&sa));
        }
    }

    #[test]
    fn one_difference_among_many_authors_costs_a_few_small_messages() {
        let all: Vec<(u16, u64)> = (0..40_000u16).map(|a| (a, 5)).collect();
        let mut other = all.clone();
        other[12_345].1 = 6;
        let (a, b) = (index(&all), index(&other));
        let (va, vb, messages, bytes) = run(&a, &b);
        assert_eq!(va.differs.len(), 1);
        assert_eq!(vb.differs.len(), 1);
        // Five levels of eight fingerprints, a short list and the one difference back.
        assert!(messages <= 10, "{messages} messages");
        assert!(bytes <= 1_536, "{bytes} bytes");
    }

    /// Many differences among many authors still end within a round's steps, each side
    /// learning the other's frontier exactly: where a message has no room to split a
    /// range it lists it, and ranges left for later are joined into one.
    #[test]
    fn dense_differences_among_many_authors_end_within_a_round() {
        let all: Vec<(u16, u64)> = (0..40_000u16).map(|a| (a, 5)).collect();
        for every in [4, 1] {
            let other: Vec<(u16, u64)> = all
                .iter()
                .enumerate()
                .map(|(k, &(a, s))| (a, if k % every == 0 { s + 1 } else { s }))
                .collect();
            let (a, b) = (index(&all), index(&other));
            let (va, vb, messages, _) = run(&a, &b);
            assert_eq!(apply(&a, &va), items(&other), "1 in {every} differ");
            assert_eq!(apply(&b, &vb), items(&all), "1 in {every} differ");
            assert!(messages <= crate::limits::MAX_RECONCILE_STEPS, "{messages}");
        }
    }

    /// The largest message the limits allow fits the byte limit a reader applies.
    #[test]
    fn the_largest_message_fits_the_request_limit() {
        use crate::limits::MAX_SYNC_REQUEST_BYTES;
        use prost::Message;
        let mut ranges: Vec<pb::Range> = (0..MAX_RECONCILE_RANGES - 1)
            .map(|k| {
                let mut upper = vec![0u8; KEY_LEN];
                upper[..4].copy_from_slice(&(k as u32 + 1).to_be_bytes());
                fingerprint_range(upper, [0xff; FINGERPRINT_LEN])
            })
            .collect();
        let entries = (0..MAX_RECONCILE_ENTRIES)
            .map(|k| {
                let mut author = vec![0xff; KEY_LEN];
                author[1..5].copy_from_slice(&(k as u32).to_be_bytes());
                pb::FrontierEntry {
                    author,
                    seq: u64::MAX,
                    head: vec![0xff; KEY_LEN],
                    forked: u64::MAX,
                }
            })
            .collect();
        ranges.push(entries_range(vec![], Mode::Entries, entries));
        let msg = pb::Reconcile { ranges };
        check(&msg).expect("within every rule");
        let req = pb::SyncRequest {
            network: vec![0xff; KEY_LEN],
            kind: Some(pb::sync_request::Kind::Reconcile(msg)),
        };
        assert!(req.encoded_len() + 10 <= MAX_SYNC_REQUEST_BYTES);
    }

    #[test]
    fn a_list_past_the_message_limit_goes_in_pieces() {
        let many: Vec<(u16, u64)> = (0..20_000u16).map(|a| (a, 1)).collect();
        let (a, b) = (index(&[]), index(&many));
        let (va, vb, messages, _) = run(&a, &b);
        assert_eq!(apply(&a, &va), items(&many));
        assert_eq!(apply(&b, &vb), Vec::new());
        assert!(
            messages > 20_000 / MAX_RECONCILE_ENTRIES,
            "{messages} messages"
        );
    }

    #[test]
    fn messages_breaking_a_rule_are_refused() {
        let ok = |r: Vec<pb::Range>| check(&pb::Reconcile { ranges: r });
        let fp = |upper: &[u8]| fingerprint_range(upper.to_vec(), [1; FINGERPRINT_LEN]);
        let entry = |a: u8| pb::FrontierEntry {
            author: vec![a; KEY_LEN],
            seq: 1,
            head: vec![2; KEY_LEN],
            forked: 0,
        };
        assert!(ok(vec![fp(&[5]), fp(&[])]).is_ok());
        assert!(ok(vec![fp(&[5]), fp(&[4])]).is_err(), "out of order");
        assert!(ok(vec![fp(&[]), fp(&[4])]).is_err(), "unbounded first");
        assert!(ok(vec![fp(&[7; 33])]).is_err(), "bound too long");
        let mut bad = fp(&[]);
        bad.fingerprint.pop();
        assert!(ok(vec![bad]).is_err(), "short fingerprint");
        let mut unknown = fp(&[]);
        unknown.mode = 9;
        assert!(ok(vec![unknown]).is_err(), "unknown mode");
        let list = |m, e| entries_range(vec![], m, e);
        assert!(ok(vec![list(Mode::Entries, vec![entry(1), entry(2)])]).is_ok());
        assert!(ok(vec![list(Mode::Entries, vec![entry(2), entry(1)])]).is_err());
        assert!(ok(vec![list(Mode::Entries, vec![tombstone(&[3; KEY_LEN])])]).is_err());
        assert!(ok(vec![list(
            Mode::Differences,
            vec![tombstone(&[3; KEY_LEN])]
        )])
        .is_ok());
        let outside = entries_range(vec![2], Mode::Entries, vec![entry(3)]);
        assert!(ok(vec![outside]).is_err(), "an entry past its bound");
        let below = entries_range(vec![], Mode::Entries, vec![entry(1)]);
        assert!(
            ok(vec![fp(&[5]), below]).is_err(),
            "an entry below its bound"
        );
        let mut short = entry(1);
        short.author.pop();
        assert!(
            ok(vec![list(Mode::Entries, vec![short])]).is_err(),
            "a short key"
        );
        let mut odd = tombstone(&[3; KEY_LEN]);
        odd.seq = 2;
        assert!(
            ok(vec![list(Mode::Differences, vec![odd])]).is_err(),
            "a tombstone with a seq"
        );
        let mut skip = fp(&[]);
        skip.mode = Mode::Skip as i32;
        assert!(ok(vec![skip.clone()]).is_err(), "a skip with a fingerprint");
        skip.fingerprint.clear();
        assert!(ok(vec![skip]).is_ok());
        let mut both = list(Mode::Entries, vec![entry(1)]);
        both.fingerprint = vec![1; FINGERPRINT_LEN];
        assert!(ok(vec![both]).is_err(), "a list with a fingerprint");
        // The limits, at the limit and one over.
        let ranges = |n: usize| {
            (0..n)
                .map(|k| fp(&(k as u32 + 1).to_be_bytes()))
                .collect::<Vec<_>>()
        };
        assert!(ok(ranges(MAX_RECONCILE_RANGES)).is_ok());
        assert!(ok(ranges(MAX_RECONCILE_RANGES + 1)).is_err());
        let entries = |n: usize| {
            let e = (0..n)
                .map(|k| {
                    let mut e = entry(0);
                    e.author[..4].copy_from_slice(&(k as u32).to_be_bytes());
                    e
                })
                .collect();
            vec![list(Mode::Entries, e)]
        };
        assert!(ok(entries(MAX_RECONCILE_ENTRIES)).is_ok());
        assert!(ok(entries(MAX_RECONCILE_ENTRIES + 1)).is_err());
    }

    #[test]
    fn a_bound_falls_between_its_neighbours() {
        for (p, n) in [
            (vec![1, 2, 3], vec![1, 2, 4]),
            (vec![1, 2, 3], vec![9, 0, 0]),
            (vec![0, 0, 0], vec![0, 0, 1]),
        ] {
            let b = bound_between(&p, &n);
            assert!(p.as_slice() < b.as_slice() && b.as_slice() <= n.as_slice());
        }
    }
}
