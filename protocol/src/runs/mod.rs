//! An ordered map for the per-event indexes of a long log, kept mostly out of memory:
//! recent entries in memory (a [`SortedMap`]), the rest in sorted runs the node keeps on
//! disk ([`RunFiles`]), of which memory holds only every [`RUN_BLOCK`]th key and a filter
//! of the keys ([`filter`]).
//!
//! A map given no run files keeps every entry in memory, as a plain [`SortedMap`]. Given
//! them, once its limit of recent entries (at most [`RECENT_ENTRIES`]) are in memory it
//! writes them out, in key order, as a new run, and then merges the newest runs
//! while the one before the newest is not more than twice its size, so that a map of `n`
//! entries has about log₂(n / limit) runs and each entry is written as many times. A
//! lookup asks memory, then each run from the newest whose filter says it may hold the
//! key, reading one block of [`RUN_BLOCK`] entries from it; a range reads each run's
//! entries in it in order, a block at a time, merged.
//!
//! Runs are the node's own scratch, made again from its log whenever it starts: they need
//! no durability. A run that cannot be written leaves its entries in memory, where the
//! next attempt (when the recent entries have doubled) tries again, and a merge that
//! cannot be written leaves its two runs as they were, merged at the next write; a run that cannot be
//! read back once written is the node's disk failing, and [`RunMap::get`] and
//! [`RunMap::range`] then panic ([`RunMap::try_get`] answers the error).
//!
//! A key is inserted at most once where runs are kept: the callers (the replica and the
//! store) insert only what they do not hold. A key inserted twice is still read back
//! once, with its later value, but counted twice.
//!
//! Writing a run and the merges it leads to happen within the insert that is due: a run
//! of the map's limit, and at most every 2^k-th run a merge of about 2^k times as many
//! entries (at 10M entries of 48 bytes, a merge of the whole map reads and writes about
//! half a gigabyte, once in a long while).

mod filter;
mod record;

pub use filter::FILTER_BITS_PER_KEY;
pub use record::Record;

use crate::sorted::SortedMap;
use filter::Filter;
use std::fmt;
use std::io;
use std::ops::Bound;
use std::sync::Arc;

/// Entries of a run between two keys memory holds: a lookup reads this many at most.
pub const RUN_BLOCK: usize = 64;
/// Most recent entries a map with run files holds in memory before writing them out.
pub const RECENT_ENTRIES: usize = 1 << 15;
/// Entries read at a time when a range is read from a run.
const RANGE_CHUNK: usize = 1024;
/// Bytes gathered before they are handed to the run files when a run is written.
const WRITE_CHUNK: usize = 1 << 16;

/// A run's name among a node's run files.
pub type RunId = u64;

/// Where a [`RunMap`] keeps its runs: files the node makes, appends to, reads at an
/// offset and removes (see the module documentation).
pub trait RunFiles: fmt::Debug + Send + Sync {
    /// Makes a new, empty run.
    fn create(&self) -> io::Result<RunId>;
    /// Appends `bytes` to a run being written.
    fn append(&self, run: RunId, bytes: &[u8]) -> io::Result<()>;
    /// Reads `buf.len()` bytes of a run from byte `at`.
    fn read_at(&self, run: RunId, at: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Removes a run no longer needed.
    fn remove(&self, run: RunId);
}

/// Run files in memory: for tests, and for trying a map's behaviour with runs without a
/// disk.
#[derive(Debug, Default)]
pub struct MemoryRuns {
    runs: std::sync::Mutex<(RunId, std::collections::HashMap<RunId, Vec<u8>>)>,
}

impl MemoryRuns {
    /// How many runs it holds.
    pub fn runs(&self) -> usize {
        self.runs.lock().unwrap_or_else(|e| e.into_inner()).1.len()
    }
}

impl RunFiles for MemoryRuns {
    fn create(&self) -> io::Result<RunId> {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        runs.0 += 1;
        let id = runs.0;
        runs.1.insert(id, Vec::new());
        Ok(id)
    }

    fn append(&self, run: RunId, bytes: &[u8]) -> io::Result<()> {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        runs.1
            .get_mut(&run)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no run {run}")))?
            .extend_from_slice(bytes);
        Ok(())
    }

    fn read_at(&self, run: RunId, at: u64, buf: &mut [u8]) -> io::Result<()> {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = runs
            .1
            .get(&run)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no run {run}")))?;
        let at = usize::try_from(at).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let part = bytes
            .get(at..at + buf.len())
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(part);
        Ok(())
    }

    fn remove(&self, run: RunId) {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        runs.1.remove(&run);
    }
}

/// One run: its entries in key order in the run files, and what memory keeps of it.
#[derive(Debug)]
struct Run<K> {
    id: RunId,
    /// Entries in it.
    len: usize,
    /// The key of every [`RUN_BLOCK`]th entry, from the first.
    fences: Vec<K>,
    /// Which keys it may hold; none for a map that is only read in ranges.
    filter: Option<Filter>,
}

/// See the module documentation.
pub struct RunMap<K: Record, V: Record> {
    recent: SortedMap<K, V>,
    /// Oldest first.
    runs: Vec<Run<K>>,
    files: Option<Arc<dyn RunFiles>>,
    /// Whether runs keep filters: for maps whose keys are looked up one at a time.
    filtered: bool,
    /// Recent entries held before they are written out.
    limit: usize,
    /// Recent entries at which the next run is written: `limit`, or twice the entries
    /// held when writing one last failed.
    next_write: usize,
    /// The last error writing a run, if the last attempt failed.
    write_error: Option<String>,
}

impl<K: Record, V: Record> fmt::Debug for RunMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunMap")
            .field("recent", &self.recent.len())
            .field("runs", &self.runs.iter().map(|r| r.len).collect::<Vec<_>>())
            .field("write_error", &self.write_error)
            .finish_non_exhaustive()
    }
}

impl<K: Record, V: Record> RunMap<K, V> {
    /// An empty map, in memory until given run files; `filtered` if its keys are looked
    /// up one at a time (a map only read in ranges needs no filters).
    pub fn new(filtered: bool) -> Self {
        RunMap {
            recent: SortedMap::new(),
            runs: Vec::new(),
            files: None,
            filtered,
            limit: RECENT_ENTRIES,
            next_write: RECENT_ENTRIES,
            write_error: None,
        }
    }

    /// Keeps runs in `files` from now on, writing one once `limit` recent entries (1 to
    /// [`RECENT_ENTRIES`]) are in memory: the entries already held are written out with
    /// the next run. A map keeps the first files it is given: given others later, it
    /// keeps on with the first.
    pub fn set_files(&mut self, files: Arc<dyn RunFiles>, limit: usize) {
        if self.files.is_some() {
            return;
        }
        self.files = Some(files);
        self.limit = limit.clamp(1, RECENT_ENTRIES);
        self.next_write = self.limit;
        self.write_if_due();
    }

    /// Makes room in memory for `additional` more entries, as a node does before loading a
    /// log whose length it knows: only without run files, which keep entries out of it.
    pub fn reserve(&mut self, additional: usize) {
        if self.files.is_none() {
            self.recent.reserve(additional);
        }
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.recent.len() + self.runs.iter().map(|r| r.len).sum::<usize>()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many runs it keeps (for benchmarks and tests).
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// Bytes of memory its runs' fences and filters take (for benchmarks and tests).
    pub fn run_memory(&self) -> usize {
        self.runs
            .iter()
            .map(|r| r.fences.capacity() * K::LEN + r.filter.as_ref().map_or(0, Filter::bytes))
            .sum()
    }

    /// Why writing the last run or merge failed, if it did (nothing was lost: a run's
    /// entries are still in memory, a merge's runs as they were).
    pub fn write_error(&self) -> Option<&str> {
        self.write_error.as_deref()
    }

    /// The value under `key`.
    ///
    /// # Panics
    /// If a run cannot be read back (see the module documentation).
    pub fn get(&self, key: &K) -> Option<V> {
        self.try_get(key)
            .unwrap_or_else(|e| panic!("an index run could not be read back: {e}"))
    }

    /// The value under `key`, or why a run could not be read.
    pub fn try_get(&self, key: &K) -> io::Result<Option<V>> {
        if let Some(v) = self.recent.get(key) {
            return Ok(Some(*v));
        }
        let Some(files) = &self.files else {
            return Ok(None);
        };
        let hash = self.filtered.then(|| record::hash(key));
        for run in self.runs.iter().rev() {
            if let (Some(f), Some(h)) = (&run.filter, hash) {
                if !f.may_hold(h) {
                    continue;
                }
            }
            if let Some(v) = run_get(files.as_ref(), run, key)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// Whether `key` is held.
    pub fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    /// Puts `value` under `key` (see the module documentation on keys inserted twice).
    pub fn insert(&mut self, key: K, value: V) {
        self.recent.insert(key, value);
        self.write_if_due();
    }

    /// The entries from `start` on, in key order.
    ///
    /// # Panics
    /// If a run cannot be read back (see the module documentation).
    pub fn range_from(&self, start: Bound<K>) -> impl Iterator<Item = (K, V)> + '_ {
        self.try_range_from(start)
            .map(|r| r.unwrap_or_else(|e| panic!("an index run could not be read back: {e}")))
    }

    /// Every entry, in key order.
    ///
    /// # Panics
    /// As [`RunMap::range_from`].
    pub fn iter(&self) -> impl Iterator<Item = (K, V)> + '_ {
        self.range_from(Bound::Unbounded)
    }

    /// The entries from `start` on, in key order, or why a run could not be read (which
    /// ends them).
    pub fn try_range_from(&self, start: Bound<K>) -> impl Iterator<Item = io::Result<(K, V)>> + '_ {
        let mut sources: Vec<Source<'_, K, V>> = Vec::with_capacity(self.runs.len() + 1);
        if let Some(files) = &self.files {
            for run in &self.runs {
                sources.push(Source::Run(Cursor::at(files.as_ref(), run, start)));
            }
        }
        sources.push(Source::Memory(Box::new(
            self.recent
                .range((start, Bound::Unbounded))
                .map(|(k, v)| (*k, *v)),
        )));
        Merge::new(sources)
    }

    /// Writes the recent entries out as a run, and merges runs, if they are due.
    fn write_if_due(&mut self) {
        if self.recent.len() < self.next_write {
            return;
        }
        let Some(files) = self.files.clone() else {
            return;
        };
        let written = {
            let entries = self.recent.iter().map(|(k, v)| Ok((*k, *v)));
            write_run(files.as_ref(), self.filtered, self.recent.len(), entries)
        };
        match written {
            Ok(run) => {
                self.runs.push(run);
                self.recent = SortedMap::new();
                self.next_write = self.limit;
                self.write_error = None;
            }
            Err(e) => {
                self.next_write = self.recent.len().saturating_mul(2);
                self.write_error = Some(e.to_string());
                return;
            }
        }
        while let [.., older, newer] = &self.runs[..] {
            if older.len > newer.len.saturating_mul(2) {
                break;
            }
            let merged = {
                let sources: Vec<Source<'_, K, V>> = vec![
                    Source::Run(Cursor::at(files.as_ref(), older, Bound::Unbounded)),
                    Source::Run(Cursor::at(files.as_ref(), newer, Bound::Unbounded)),
                ];
                write_run(
                    files.as_ref(),
                    self.filtered,
                    older.len + newer.len,
                    Merge::new(sources),
                )
            };
            match merged {
                Ok(run) => {
                    for old in self.runs.drain(self.runs.len() - 2..) {
                        files.remove(old.id);
                    }
                    self.runs.push(run);
                }
                Err(e) => {
                    // Left as two runs: read as they are, merged at the next write.
                    self.write_error = Some(e.to_string());
                    break;
                }
            }
        }
    }
}

impl<K: Record, V: Record> Drop for RunMap<K, V> {
    fn drop(&mut self) {
        if let Some(files) = &self.files {
            for run in &self.runs {
                files.remove(run.id);
            }
        }
    }
}

/// Bytes of one entry in a run.
fn entry_len<K: Record, V: Record>() -> usize {
    K::LEN + V::LEN
}

/// Writes `entries` (in key order, at most `room` of them) as a new run.
fn write_run<K: Record, V: Record>(
    files: &dyn RunFiles,
    filtered: bool,
    room: usize,
    entries: impl Iterator<Item = io::Result<(K, V)>>,
) -> io::Result<Run<K>> {
    let id = files.create()?;
    let mut run = Run {
        id,
        len: 0,
        fences: Vec::with_capacity(room.div_ceil(RUN_BLOCK)),
        filter: filtered.then(|| Filter::with_room(room)),
    };
    let written = (|| {
        let width = entry_len::<K, V>();
        let mut buf = vec![0u8; 0];
        buf.reserve_exact(WRITE_CHUNK + width);
        for entry in entries {
            let (k, v) = entry?;
            if run.len % RUN_BLOCK == 0 {
                run.fences.push(k);
            }
            if let Some(f) = &mut run.filter {
                f.add(record::hash(&k));
            }
            let at = buf.len();
            buf.resize(at + width, 0);
            k.put(&mut buf[at..at + K::LEN]);
            v.put(&mut buf[at + K::LEN..]);
            run.len += 1;
            if buf.len() >= WRITE_CHUNK {
                files.append(id, &buf)?;
                buf.clear();
            }
        }
        if !buf.is_empty() {
            files.append(id, &buf)?;
        }
        Ok(())
    })();
    match written {
        Ok(()) => {
            run.fences.shrink_to_fit();
            Ok(run)
        }
        Err(e) => {
            files.remove(id);
            Err(e)
        }
    }
}

/// Reads entries `from..to` of `run` into `buf`.
fn read_entries<K: Record, V: Record>(
    files: &dyn RunFiles,
    run: &Run<K>,
    from: usize,
    to: usize,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    let width = entry_len::<K, V>();
    buf.resize((to - from) * width, 0);
    files.read_at(run.id, from as u64 * width as u64, buf)
}

/// The value under `key` in `run`: one block read.
fn run_get<K: Record, V: Record>(
    files: &dyn RunFiles,
    run: &Run<K>,
    key: &K,
) -> io::Result<Option<V>> {
    let block = run.fences.partition_point(|f| f <= key);
    let Some(block) = block.checked_sub(1) else {
        return Ok(None);
    };
    let from = block * RUN_BLOCK;
    let to = (from + RUN_BLOCK).min(run.len);
    let width = entry_len::<K, V>();
    // On the stack for entries of up to 64 bytes (every index's): one block is 4 KiB.
    let mut stack = [0u8; RUN_BLOCK * 64];
    let mut heap;
    let buf: &mut [u8] = if (to - from) * width <= stack.len() {
        &mut stack[..(to - from) * width]
    } else {
        heap = vec![0u8; (to - from) * width];
        &mut heap
    };
    files.read_at(run.id, from as u64 * width as u64, buf)?;
    let n = to - from;
    let key_at = |i: usize| K::take(&buf[i * width..i * width + K::LEN]);
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        match key_at(mid).cmp(key) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => {
                return Ok(Some(V::take(&buf[mid * width + K::LEN..(mid + 1) * width])))
            }
        }
    }
    Ok(None)
}

/// A run read in order from a place, [`RANGE_CHUNK`] entries at a time.
struct Cursor<'a, K: Record, V> {
    files: &'a dyn RunFiles,
    run: &'a Run<K>,
    /// Where the entries handed on start: those before it in the first block read are
    /// skipped.
    start: Bound<K>,
    /// The next entry's index in the run.
    next: usize,
    /// Entries read and not yet handed on: `buf[at..]`.
    buf: Vec<u8>,
    at: usize,
    _value: std::marker::PhantomData<V>,
}

impl<'a, K: Record, V: Record> Cursor<'a, K, V> {
    /// A cursor on the first entry of `run` within `start`, found by its fences: nothing
    /// is read until it is asked for.
    fn at(files: &'a dyn RunFiles, run: &'a Run<K>, start: Bound<K>) -> Self {
        let block = match start {
            Bound::Unbounded => 0,
            Bound::Included(k) | Bound::Excluded(k) => {
                run.fences.partition_point(|f| *f <= k).saturating_sub(1)
            }
        };
        Cursor {
            files,
            run,
            start,
            next: block * RUN_BLOCK,
            buf: Vec::new(),
            at: 0,
            _value: std::marker::PhantomData,
        }
    }

    /// Reads the next chunk if every entry read has been handed on.
    fn fill(&mut self) -> io::Result<()> {
        if self.at < self.buf.len() || self.next >= self.run.len {
            return Ok(());
        }
        let to = (self.next + RANGE_CHUNK).min(self.run.len);
        let mut buf = std::mem::take(&mut self.buf);
        let read = read_entries::<K, V>(self.files, self.run, self.next, to, &mut buf);
        self.buf = buf;
        self.at = 0;
        if let Err(e) = read {
            self.buf.clear();
            return Err(e);
        }
        self.next = to;
        Ok(())
    }

    /// The next entry within `start`, if any.
    fn next_entry(&mut self) -> io::Result<Option<(K, V)>> {
        let width = entry_len::<K, V>();
        loop {
            self.fill()?;
            if self.at >= self.buf.len() {
                return Ok(None);
            }
            let entry = &self.buf[self.at..self.at + width];
            self.at += width;
            let (k, v) = (K::take(&entry[..K::LEN]), V::take(&entry[K::LEN..]));
            let within = match self.start {
                Bound::Unbounded => true,
                Bound::Included(s) => k >= s,
                Bound::Excluded(s) => k > s,
            };
            if within {
                self.start = Bound::Unbounded;
                return Ok(Some((k, v)));
            }
        }
    }
}

/// Where a merge reads entries from: a run, or memory.
enum Source<'a, K: Record, V: Record> {
    Run(Cursor<'a, K, V>),
    Memory(Box<dyn Iterator<Item = (K, V)> + 'a>),
}

/// Several sources of entries in key order, oldest first, read as one: a key in several
/// is read once, with the newest source's value. A read that fails is handed on once and
/// ends the merge.
struct Merge<'a, K: Record, V: Record> {
    sources: Vec<Source<'a, K, V>>,
    /// Each source's next entry, read ahead.
    heads: Vec<Option<(K, V)>>,
    failed: bool,
    started: bool,
}

impl<'a, K: Record, V: Record> Merge<'a, K, V> {
    fn new(sources: Vec<Source<'a, K, V>>) -> Self {
        let heads = sources.iter().map(|_| None).collect();
        Merge {
            sources,
            heads,
            failed: false,
            started: false,
        }
    }

    fn advance(&mut self, i: usize) -> io::Result<()> {
        self.heads[i] = match &mut self.sources[i] {
            Source::Run(c) => c.next_entry()?,
            Source::Memory(it) => it.next(),
        };
        Ok(())
    }
}

impl<K: Record, V: Record> Iterator for Merge<'_, K, V> {
    type Item = io::Result<(K, V)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if !self.started {
            self.started = true;
            for i in 0..self.sources.len() {
                if let Err(e) = self.advance(i) {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        // The least key; on a tie the newest source (the last) wins.
        let mut best: Option<(usize, K)> = None;
        for (i, h) in self.heads.iter().enumerate() {
            if let Some((k, _)) = h {
                if best.is_none_or(|(_, b)| *k <= b) {
                    best = Some((i, *k));
                }
            }
        }
        let (winner, key) = best?;
        let entry = self.heads[winner].take()?;
        for i in 0..self.sources.len() {
            let same = i == winner || self.heads[i].is_some_and(|(k, _)| k == key);
            if same {
                if let Err(e) = self.advance(i) {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        Some(Ok(entry))
    }
}

#[cfg(test)]
mod tests;
