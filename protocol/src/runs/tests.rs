use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

fn with_runs(limit: usize, filtered: bool) -> (RunMap<u64, u64>, Arc<MemoryRuns>) {
    let files = Arc::new(MemoryRuns::default());
    let mut m = RunMap::new(filtered);
    m.set_files(files.clone(), limit);
    (m, files)
}

#[test]
fn without_files_every_entry_stays_in_memory() {
    let mut m: RunMap<u64, u64> = RunMap::new(true);
    for k in 0..(RECENT_ENTRIES as u64 + 10) {
        m.insert(k, k);
    }
    assert_eq!(m.runs(), 0);
    assert_eq!(m.len(), RECENT_ENTRIES + 10);
    assert_eq!(m.get(&5), Some(5));
}

#[test]
fn a_run_is_written_at_the_limit_and_not_before() {
    let (mut m, files) = with_runs(100, true);
    for k in 0..99u64 {
        m.insert(k, k);
    }
    assert_eq!(m.runs(), 0, "99 recent: under the limit");
    m.insert(99, 99);
    assert_eq!(m.runs(), 1, "100 recent: written");
    assert_eq!(files.runs(), 1);
    assert_eq!(m.recent.len(), 0);
    assert_eq!(m.get(&42), Some(42));
    assert_eq!(m.get(&100), None);
}

#[test]
fn runs_are_merged_so_there_are_few_and_removed_when_merged_and_dropped() {
    let (mut m, files) = with_runs(64, true);
    let n = 64 * 1000u64;
    // Descending: each run sorts before every earlier one.
    for k in (0..n).rev() {
        m.insert(k * 3, k);
    }
    assert_eq!(m.len(), n as usize);
    // 1000 runs written: about log2(1000) kept.
    assert!(m.runs() <= 12, "{} runs", m.runs());
    assert_eq!(files.runs(), m.runs(), "merged runs are removed");
    assert!(m.runs.windows(2).all(|w| w[0].len > w[1].len * 2));
    for k in [0, 1, 63, 64, 65, n / 2, n - 1] {
        assert_eq!(m.get(&(k * 3)), Some(k));
        assert_eq!(m.get(&(k * 3 + 1)), None);
    }
    let all: Vec<u64> = m.iter().map(|(k, _)| k).collect();
    assert_eq!(all, (0..n).map(|k| k * 3).collect::<Vec<_>>());
    assert!(m.run_memory() > 0);
    drop(m);
    assert_eq!(files.runs(), 0, "a dropped map's runs are removed");
}

#[test]
fn a_key_inserted_again_is_read_once_with_its_later_value() {
    let (mut m, _files) = with_runs(4, true);
    for k in 0..8u64 {
        m.insert(k, 1);
    }
    m.insert(3, 2);
    assert_eq!(m.get(&3), Some(2));
    let read: Vec<(u64, u64)> = m.iter().collect();
    assert_eq!(read.len(), 8);
    assert_eq!(read[3], (3, 2));
    for k in 8..40u64 {
        m.insert(k, 1);
    }
    assert_eq!(m.get(&3), Some(2), "and after merges");
    assert_eq!(m.iter().filter(|(k, _)| *k == 3).count(), 1);
}

/// Run files that fail when told to, and count the reads asked of them.
#[derive(Debug, Default)]
struct Flaky {
    inner: MemoryRuns,
    fail_writes: AtomicBool,
    fail_reads: AtomicBool,
    /// Runs that may still be made, if limited.
    creates_left: std::sync::Mutex<Option<usize>>,
    /// Reads asked of it.
    reads: std::sync::atomic::AtomicUsize,
}

fn broken() -> io::Error {
    io::Error::other("the disk is failing")
}

impl RunFiles for Flaky {
    fn create(&self) -> io::Result<RunId> {
        if let Some(left) = self.creates_left.lock().unwrap().as_mut() {
            *left = left.checked_sub(1).ok_or_else(broken)?;
        }
        self.inner.create()
    }
    fn append(&self, run: RunId, bytes: &[u8]) -> io::Result<()> {
        if self.fail_writes.load(Ordering::SeqCst) {
            return Err(broken());
        }
        self.inner.append(run, bytes)
    }
    fn read_at(&self, run: RunId, at: u64, buf: &mut [u8]) -> io::Result<()> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.fail_reads.load(Ordering::SeqCst) {
            return Err(broken());
        }
        self.inner.read_at(run, at, buf)
    }
    fn remove(&self, run: RunId) {
        self.inner.remove(run)
    }
}

#[test]
fn a_run_that_cannot_be_written_leaves_its_entries_in_memory_until_one_can() {
    let files = Arc::new(Flaky::default());
    let mut m: RunMap<u64, u64> = RunMap::new(true);
    m.set_files(files.clone(), 10);
    files.fail_writes.store(true, Ordering::SeqCst);
    for k in 0..15u64 {
        m.insert(k, k);
    }
    assert_eq!(m.runs(), 0);
    assert_eq!(files.inner.runs(), 0, "the failed run is removed");
    assert!(m.write_error().is_some_and(|e| e.contains("failing")));
    assert_eq!(m.len(), 15);
    assert!((0..15).all(|k| m.get(&k) == Some(k)));
    files.fail_writes.store(false, Ordering::SeqCst);
    // Tried again once the recent entries have doubled since the failure (10 → 20).
    for k in 15..19u64 {
        m.insert(k, k);
    }
    assert_eq!(m.runs(), 0, "19 recent: not yet tried again");
    m.insert(19, 19);
    assert_eq!(m.runs(), 1);
    assert_eq!(m.write_error(), None);
    assert!((0..20).all(|k| m.get(&k) == Some(k)));
}

#[test]
fn a_merge_that_cannot_be_written_leaves_its_runs_to_be_merged_at_the_next_write() {
    let files = Arc::new(Flaky::default());
    let mut m = filled(&files, 10, 10, true);
    assert_eq!(m.runs(), 1);
    // The next run is made; the merge it leads to cannot be.
    *files.creates_left.lock().unwrap() = Some(1);
    for k in 10..20u64 {
        m.insert(k, k);
    }
    assert_eq!(m.runs(), 2, "left as two runs");
    assert!(m.write_error().is_some());
    assert!((0..20).all(|k| m.get(&k) == Some(k)));
    *files.creates_left.lock().unwrap() = None;
    for k in 20..30u64 {
        m.insert(k, k);
    }
    assert_eq!(m.write_error(), None);
    assert_eq!(m.runs(), 1, "merged at the next write, all three");
    assert_eq!(files.inner.runs(), 1);
    assert!((0..30).all(|k| m.get(&k) == Some(k)));
    assert!(m.iter().map(|(k, _)| k).eq(0..30));
}

#[test]
fn filters_spare_reads_for_keys_not_held_and_a_held_key_costs_one_block() {
    for filtered in [true, false] {
        let files = Arc::new(Flaky::default());
        let mut m: RunMap<EventIdKey, u64> = RunMap::new(filtered);
        m.set_files(files.clone(), 1000);
        let key = |i: u64| EventIdKey(crate::id::EventId(sha(i)));
        for i in 0..7000u64 {
            m.insert(key(i), i);
        }
        assert!(m.runs() >= 2, "{} runs", m.runs());
        files.reads.store(0, Ordering::SeqCst);
        for i in 100_000..102_000u64 {
            assert_eq!(m.get(&key(i)), None);
        }
        let absent = files.reads.swap(0, Ordering::SeqCst);
        for i in 0..1000u64 {
            assert_eq!(m.get(&key(i)), Some(i));
        }
        let held = files.reads.load(Ordering::SeqCst);
        if filtered {
            // About 1% of each run's answers are false: 2,000 lookups over a few runs.
            assert!(
                absent < 2000 * m.runs() / 20,
                "{absent} reads for absent keys"
            );
            assert!(held < 1000 * 11 / 10, "{held} reads for 1,000 held keys");
        } else {
            assert!(absent > 2000, "unfiltered, every run is read");
        }
    }
}

/// A key whose bytes are a SHA-256 digest, as event ids are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct EventIdKey(crate::id::EventId);

impl Record for EventIdKey {
    const LEN: usize = 32;
    fn put(&self, out: &mut [u8]) {
        self.0.put(out)
    }
    fn take(bytes: &[u8]) -> Self {
        EventIdKey(crate::id::EventId::take(bytes))
    }
}

fn sha(i: u64) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(i.to_be_bytes()).into()
}

#[test]
fn the_limit_is_clamped_to_the_most_recent_entries_and_files_are_set_once() {
    let files = Arc::new(MemoryRuns::default());
    let mut m: RunMap<u64, ()> = RunMap::new(false);
    m.set_files(files.clone(), RECENT_ENTRIES + 1);
    for k in 0..RECENT_ENTRIES as u64 - 1 {
        m.insert(k, ());
    }
    assert_eq!(m.runs(), 0);
    m.insert(u64::MAX, ());
    assert_eq!(m.runs(), 1, "written at RECENT_ENTRIES, not one past it");
    let other = Arc::new(MemoryRuns::default());
    m.set_files(other.clone(), 1);
    m.insert(1 << 40, ());
    assert_eq!(other.runs(), 0, "the first files stay");
    let mut z: RunMap<u64, ()> = RunMap::new(false);
    z.set_files(files, 0);
    z.insert(1, ());
    assert_eq!(z.runs(), 1, "a limit of 0 is taken as 1");
}

/// A map with `files`, writing runs of `limit`, holding each of `0..n` under itself.
fn filled(files: &Arc<Flaky>, limit: usize, n: u64, filtered: bool) -> RunMap<u64, u64> {
    let mut m = RunMap::new(filtered);
    m.set_files(files.clone(), limit);
    for k in 0..n {
        m.insert(k, k);
    }
    m
}

#[test]
fn a_run_that_cannot_be_read_is_an_error_not_a_missing_entry() {
    let files = Arc::new(Flaky::default());
    let m = filled(&files, 10, 25, true);
    files.fail_reads.store(true, Ordering::SeqCst);
    assert!(m.try_get(&3).is_err());
    assert_eq!(
        m.try_get(&24).ok(),
        Some(Some(24)),
        "a recent entry needs no read"
    );
    let read: Vec<io::Result<(u64, u64)>> = m.try_range_from(Bound::Unbounded).collect();
    assert_eq!(read.len(), 1, "the error ends the range");
    assert!(read[0].is_err());
    files.fail_reads.store(false, Ordering::SeqCst);
    assert_eq!(m.try_get(&3).ok(), Some(Some(3)));
}

#[test]
#[should_panic(expected = "an index run could not be read back")]
fn get_panics_on_a_run_that_cannot_be_read() {
    let files = Arc::new(Flaky::default());
    let m = filled(&files, 2, 4, false);
    files.fail_reads.store(true, Ordering::SeqCst);
    let _ = m.get(&0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Any sequence of new keys, with runs written after any number of them, filtered or
    /// not, answers as an ordered map does: lookups, and ranges from any place.
    #[test]
    fn it_answers_as_an_ordered_map(
        keys in proptest::collection::hash_set(0u64..20_000, 0..3000),
        limit in 1usize..300,
        filtered in any::<bool>(),
        probes in proptest::collection::vec(0u64..20_001, 0..48),
        later_files in any::<bool>(),
    ) {
        let files = Arc::new(MemoryRuns::default());
        let mut m: RunMap<(u64, u64), u64> = RunMap::new(filtered);
        if !later_files {
            m.set_files(files.clone(), limit);
        }
        let mut reference = BTreeMap::new();
        for (i, k) in keys.into_iter().enumerate() {
            let key = (k % 7, k);
            m.insert(key, k ^ 0x55);
            reference.insert(key, k ^ 0x55);
            if later_files && i == 500 {
                m.set_files(files.clone(), limit);
            }
        }
        prop_assert_eq!(m.len(), reference.len());
        prop_assert!(m.iter().eq(reference.iter().map(|(k, v)| (*k, *v))));
        for p in probes {
            let key = (p % 7, p);
            prop_assert_eq!(m.get(&key), reference.get(&key).copied());
            for start in [Bound::Included(key), Bound::Excluded(key)] {
                prop_assert!(m
                    .range_from(start)
                    .eq(reference.range((start, Bound::Unbounded)).map(|(k, v)| (*k, *v))));
            }
        }
    }
}
