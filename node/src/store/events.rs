//! The store's log of events: one file, `events`, holding every stored event's wire bytes
//! in the order stored (causes first), each framed by its length (4 bytes, big-endian).
//! Appended to and never rewritten, it takes on disk what the events take on the wire and
//! 4 bytes more each; the id index is rebuilt when the store opens (which reads and checks
//! every event anyway), its recent entries in memory and the rest in the store's run
//! files ([`super::runs`]). A node reads feeds from its replica; the file
//! answers a feed, for tools and checks, by reading itself through. The replica reads the
//! events it does not keep in memory back from here ([`EventFile::bodies`]).
//!
//! A crash can leave a last frame cut short or unwritten bytes at the end. Frames past the
//! number of events the `MANIFEST` says were made durable were never acknowledged, so such
//! a tail is cut off when the store opens; a frame that cannot be read before that number
//! means the file is damaged, and the store is reported corrupt.

use super::runs::RunDir;
use mutual_protocol::event::SignedEvent;
use mutual_protocol::id::EventId;
use mutual_protocol::keys::PublicKey;
use mutual_protocol::limits::MAX_SIGNED_EVENT_BYTES;
use mutual_protocol::replica::{Bodies, BodyError};
use mutual_protocol::runs::{Record, RunMap, RECENT_ENTRIES};
use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
// (`Write` for the new file `write_new` makes; the log itself is written at offsets.)
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

/// The file's name in the store's directory.
pub(super) const EVENTS_FILE: &str = "events";
/// Bytes of a frame's length prefix.
const FRAME_HEADER: u64 = 4;
/// Events read at a time when a feed is read from the file.
const FEED_BATCH: usize = 1024;

/// Why the file could not be read as a log.
#[derive(Debug)]
pub(super) enum ReadError {
    /// The file system failed.
    Io(io::Error),
    /// Frame `n`, before the durable count, cannot be read.
    Damaged(String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// The log file, open for appending, with its id index.
#[derive(Debug)]
pub(super) struct EventFile {
    path: PathBuf,
    /// The file and its index, shared with the replica reading events back.
    shared: Arc<Shared>,
    /// Bytes of the complete frames written.
    len: u64,
}

/// Bits of a [`Place`] that hold its event's length: enough for
/// [`MAX_SIGNED_EVENT_BYTES`]. The rest hold where its frame starts, so the file can grow
/// to 2^47 bytes (128 TiB).
const LEN_BITS: u32 = 17;
const _: () = assert!(MAX_SIGNED_EVENT_BYTES < 1 << LEN_BITS);

/// Where a stored event's frame starts in the file and how long its wire bytes are, in
/// one number: an index entry is its id's first 8 bytes and this, 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Place(u64);

impl Record for Place {
    const LEN: usize = 8;
    fn put(&self, out: &mut [u8]) {
        self.0.put(out);
    }
    fn take(bytes: &[u8]) -> Self {
        Place(u64::take(bytes))
    }
}

impl Place {
    fn new(start: u64, len: usize) -> io::Result<Place> {
        if start >> (u64::BITS - LEN_BITS) != 0 || len > MAX_SIGNED_EVENT_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!(
                    "a frame at byte {start} of {len} bytes is past what {EVENTS_FILE} can index"
                ),
            ));
        }
        Ok(Place((start << LEN_BITS) | len as u64))
    }

    /// Where the frame's length prefix is.
    fn start(self) -> u64 {
        self.0 >> LEN_BITS
    }

    /// The length of the event's wire bytes, after the prefix.
    fn len(self) -> usize {
        (self.0 & ((1 << LEN_BITS) - 1)) as usize
    }
}

/// Bytes of an event id the index is keyed by: 8 (in a node's unit tests 1, so that they
/// find events sharing them).
#[cfg(not(test))]
const KEY_BYTES: usize = 8;
#[cfg(test)]
const KEY_BYTES: usize = 1;

/// The index key of an event id: its first [`KEY_BYTES`] bytes.
fn key_of(id: &EventId) -> u64 {
    let mut b = [0u8; 8];
    b[..KEY_BYTES].copy_from_slice(&id.0[..KEY_BYTES]);
    u64::from_be_bytes(b)
}

/// Where each stored event's frame is. The index is the file's own, a node's largest on
/// disk, so it keys each event by the first 8 bytes of its id, 16 bytes an entry, not by
/// the whole id (40): an event found under them is read and its whole id checked, and an
/// event whose first 8 bytes an event indexed before it has (two ids in 2^64 share them
/// by chance; finding a pair takes about 2^32 tries) is indexed under its whole id in
/// memory instead.
#[derive(Debug)]
struct Index {
    /// Under the first 8 bytes of each id: recent entries in memory, the rest in the run
    /// files (see [`mutual_protocol::runs`]).
    places: RunMap<u64, Place>,
    /// Under the whole id, events whose first 8 bytes another event indexed before has.
    sharing: HashMap<EventId, Place>,
}

impl Index {
    fn len(&self) -> usize {
        self.places.len() + self.sharing.len()
    }

    /// Where `id` may be: its own place if it shares its key (certain), or the place
    /// under its key (to be checked).
    fn candidate(&self, id: &EventId) -> io::Result<Option<(Place, bool)>> {
        if let Some(p) = self.sharing.get(id) {
            return Ok(Some((*p, true)));
        }
        Ok(self.places.try_get(&key_of(id))?.map(|p| (p, false)))
    }

    /// Whether `file` holds event `id`, and its frame if so; if not, whether its key is
    /// taken by another event. One lookup, and one read if the key is taken.
    fn lookup(&self, file: &File, id: &EventId) -> io::Result<Lookup> {
        let Some((place, certain)) = self.candidate(id)? else {
            return Ok(Lookup::Absent { key_taken: false });
        };
        let wire = read_frame(file, place)?;
        if certain || is_event(&wire, id, place)? {
            Ok(Lookup::Held(wire))
        } else {
            Ok(Lookup::Absent { key_taken: true })
        }
    }

    /// Indexes a new event at `place`, under its key unless another event has it.
    fn add(&mut self, id: EventId, place: Place, key_taken: bool) {
        if key_taken {
            self.sharing.insert(id, place);
        } else {
            self.places.insert(key_of(&id), place);
        }
    }
}

/// What the index says of an event id.
enum Lookup {
    /// The file holds it: its wire bytes.
    Held(Vec<u8>),
    /// The file does not hold it; its key may be another event's.
    Absent { key_taken: bool },
}

/// What the store and the replica reading events back share: the file and its id index.
struct Shared {
    file: File,
    index: RwLock<Index>,
    /// The store's run files, for this index and the replica's; none if they could not be
    /// made (the indexes are then kept in memory).
    runs: Option<Arc<RunDir>>,
    /// Bytes of the file made durable, always a whole number of frames: the replica lets
    /// go only of events within them, since what a failed sync left in the page cache may
    /// not be what the disk holds.
    durable: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("events", &self.index().len())
            .finish_non_exhaustive()
    }
}

/// The wire bytes of the frame at `place`, its length prefix checked against the index: a
/// prefix damaged since the file was read is an error, never another event's bytes.
fn read_frame(file: &File, place: Place) -> io::Result<Vec<u8>> {
    let mut frame = vec![0u8; FRAME_HEADER as usize + place.len()];
    file.read_exact_at(&mut frame, place.start())?;
    let mut prefix = [0u8; FRAME_HEADER as usize];
    prefix.copy_from_slice(&frame[..FRAME_HEADER as usize]);
    let says = u32::from_be_bytes(prefix) as usize;
    if says != place.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the frame at byte {} says {says} bytes, but the index holds {}",
                place.start(),
                place.len()
            ),
        ));
    }
    frame.drain(..FRAME_HEADER as usize);
    Ok(frame)
}

/// Whether `wire`, read from the file, is event `id`: `Ok(false)` if it is another event
/// (one sharing its index key), an error if it is not an event at all.
fn is_event(wire: &[u8], id: &EventId, place: Place) -> io::Result<bool> {
    match SignedEvent::id_of_wire(wire) {
        Some(found) => Ok(found == *id),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the frame at byte {} is not an event", place.start()),
        )),
    }
}

impl Shared {
    fn index(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the file holds event `id` (see [`Index::lookup`]).
    fn lookup(&self, id: &EventId) -> io::Result<Lookup> {
        self.index().lookup(&self.file, id)
    }

    /// A stored event's wire bytes.
    fn get(&self, id: &EventId) -> io::Result<Option<Vec<u8>>> {
        Ok(match self.lookup(id)? {
            Lookup::Held(wire) => Some(wire),
            Lookup::Absent { .. } => None,
        })
    }
}

impl Bodies for Shared {
    fn holds(&self, id: &EventId) -> bool {
        let durable = self.durable.load(Ordering::Acquire);
        // Frames are written whole, one after another, and `durable` ends one: a frame
        // starting before it is durable to its end.
        // An index or frame that cannot be read answers "not held": the replica keeps its
        // copy. Only a durable frame is read to check it is this event.
        let candidate = self.index().candidate(id);
        match candidate {
            Ok(Some((place, certain))) if place.start() < durable => {
                certain
                    || read_frame(&self.file, place)
                        .and_then(|wire| is_event(&wire, id, place))
                        .unwrap_or(false)
            }
            _ => false,
        }
    }

    fn read(&self, id: &EventId) -> Result<Vec<u8>, BodyError> {
        let fail = |detail: String| BodyError { id: *id, detail };
        match self.get(id) {
            Ok(Some(wire)) => Ok(wire),
            Ok(None) => Err(fail(format!("not in {EVENTS_FILE}"))),
            Err(e) => Err(fail(format!("reading {EVENTS_FILE}: {e}"))),
        }
    }
}

/// How reading frames ended.
#[derive(Debug, PartialEq, Eq)]
enum FramesEnd {
    /// At the end of the file.
    End,
    /// At a frame cut short.
    Cut,
    /// Where the caller asked to stop.
    Stopped,
}

/// Reads the frames of `file` from its start, one at a time, handing each one's start and
/// wire bytes to `each` (which says whether to go on), until the end, the first frame
/// that is cut short, or `each` says to stop. Only one frame is held at a time.
fn frames<E: From<io::Error>>(
    file: &File,
    mut each: impl FnMut(u64, Vec<u8>) -> Result<bool, E>,
) -> Result<FramesEnd, E> {
    let mut r = BufReader::new(file);
    let mut at = 0u64;
    loop {
        let mut header = [0u8; FRAME_HEADER as usize];
        match read_full(&mut r, &mut header)? {
            0 => return Ok(FramesEnd::End),
            n if n < header.len() => return Ok(FramesEnd::Cut),
            _ => {}
        }
        let len = u32::from_be_bytes(header) as usize;
        if len > MAX_SIGNED_EVENT_BYTES {
            // Not a frame this store writes: a cut-short or damaged place.
            return Ok(FramesEnd::Cut);
        }
        let mut wire = vec![0u8; len];
        if read_full(&mut r, &mut wire)? < len {
            return Ok(FramesEnd::Cut);
        }
        if !each(at, wire)? {
            return Ok(FramesEnd::Stopped);
        }
        at += FRAME_HEADER + len as u64;
    }
}

/// Reads until `buf` is full or the end; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl EventFile {
    /// Opens (or creates) the log in `dir`, of which the first `durable` events were made
    /// durable: checks every frame, and cuts off a tail past them that cannot be read.
    pub(super) fn open(dir: &Path, durable: u64) -> Result<Self, ReadError> {
        Self::open_with(dir, durable, RECENT_ENTRIES)
    }

    /// [`EventFile::open`], its index writing a run once `limit` recent entries are held:
    /// for tests, which make runs with few events.
    pub(super) fn open_with(dir: &Path, durable: u64, limit: usize) -> Result<Self, ReadError> {
        let path = dir.join(EVENTS_FILE);
        // Made only for a store that has made nothing durable yet.
        let file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create(durable == 0)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ReadError::Damaged(format!(
                    "{EVENTS_FILE} is missing, but {durable} events were made durable"
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let reader = file.try_clone()?;
        let runs = match RunDir::open(dir) {
            Ok(runs) => Some(Arc::new(runs)),
            Err(e) => {
                tracing::warn!(
                    path = %dir.display(),
                    error = %e,
                    "no index runs can be kept: the store's indexes stay in memory"
                );
                None
            }
        };
        let mut index = Index {
            places: RunMap::new(true),
            sharing: HashMap::new(),
        };
        if let Some(runs) = &runs {
            // One fewer than the replica's table, so that the two seldom write runs, and
            // merge them, on the same event.
            index
                .places
                .set_files(runs.clone(), limit.saturating_sub(1).max(1));
        }
        let mut end = 0;
        let ended = frames(&reader, |at, wire| {
            let n = index.len() as u64;
            let ev = match SignedEvent::decode(&wire) {
                Ok(ev) => ev,
                Err(e) if n < durable => {
                    return Err(ReadError::Damaged(format!(
                        "event {} of {durable} made durable (byte {at} of {}): {e}",
                        n + 1,
                        EVENTS_FILE
                    )))
                }
                // An unacknowledged tail, written in part.
                Err(_) => return Ok(false),
            };
            let Lookup::Absent { key_taken } = index.lookup(&file, &ev.id)? else {
                return Err(ReadError::Damaged(format!(
                    "event {} appears twice in {EVENTS_FILE}",
                    ev.id
                )));
            };
            index.add(ev.id, Place::new(at, wire.len())?, key_taken);
            end = at + FRAME_HEADER + wire.len() as u64;
            Ok(true)
        })?;
        let cut = ended != FramesEnd::End;
        let count = index.len() as u64;
        if count < durable {
            return Err(ReadError::Damaged(format!(
                "{EVENTS_FILE} holds {count} readable events but {durable} were made durable"
            )));
        }
        if count > durable {
            // Frames past the durable count were never acknowledged and may be what a
            // failed sync left behind: made durable now, before the replica lets go of
            // its own copies of them.
            file.sync_data()?;
        }
        let size = file.metadata()?.len();
        if cut || end < size {
            tracing::warn!(
                path = %path.display(),
                kept = count,
                bytes = size - end,
                "cutting off the unacknowledged end of the event log (a crash while writing)"
            );
            file.set_len(end)?;
            file.sync_all()?;
        }
        Ok(EventFile {
            path,
            shared: Arc::new(Shared {
                file,
                index: RwLock::new(index),
                runs,
                durable: AtomicU64::new(end),
            }),
            len: end,
        })
    }

    /// Where a replica reads back the events this file holds.
    pub(super) fn bodies(&self) -> Arc<dyn Bodies> {
        self.shared.clone()
    }

    /// Where a replica keeps the runs of its indexes: the store's run files, if it has
    /// them.
    pub(super) fn runs(&self) -> Option<Arc<RunDir>> {
        self.shared.runs.clone()
    }

    /// Every event's wire bytes, in the order stored.
    pub(super) fn read_all(&self) -> io::Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        self.each_batch(usize::MAX, |batch| {
            out.append(batch);
            Ok::<(), io::Error>(())
        })?;
        Ok(out)
    }

    /// Every event's wire bytes, in the order stored, handed to `each` at most `batch`
    /// at a time: only one batch is held at once.
    pub(super) fn each_batch<E: From<io::Error>>(
        &self,
        batch: usize,
        mut each: impl FnMut(&mut Vec<Vec<u8>>) -> Result<(), E>,
    ) -> Result<(), E> {
        let count = self.count() as usize;
        let mut read = 0;
        let mut held = Vec::new();
        // A handle of its own: reading through the appending one would move its offset.
        let file = File::open(&self.path)?;
        frames::<E>(&file, |_, wire| {
            if read == count {
                return Ok(false);
            }
            read += 1;
            held.push(wire);
            if held.len() >= batch {
                each(&mut held)?;
                held.clear();
            }
            Ok(true)
        })?;
        if !held.is_empty() {
            each(&mut held)?;
        }
        Ok(())
    }

    /// Appends the events not yet stored, in one write.
    pub(super) fn append(&mut self, events: &[&SignedEvent]) -> io::Result<()> {
        let mut buf = Vec::new();
        // Each new event with its place and whether its key is taken, by an event indexed
        // before or earlier in this write: decided before anything is written, so that
        // indexing them after cannot fail.
        let mut added: Vec<(EventId, Place, bool)> = Vec::new();
        let mut fresh = HashSet::new();
        let mut keys = HashSet::new();
        let mut at = self.len;
        for ev in events {
            if !fresh.insert(ev.id) {
                continue;
            }
            let Lookup::Absent { key_taken } = self.shared.lookup(&ev.id)? else {
                continue;
            };
            let taken = !keys.insert(key_of(&ev.id)) || key_taken;
            let wire = ev.to_wire();
            buf.extend_from_slice(&(wire.len() as u32).to_be_bytes());
            buf.extend_from_slice(&wire);
            added.push((ev.id, Place::new(at, wire.len())?, taken));
            at += FRAME_HEADER + wire.len() as u64;
        }
        if buf.is_empty() {
            return Ok(());
        }
        // At the end of the complete frames, whatever a failed write left after them:
        // that is an unacknowledged tail, which this write covers, and which the next
        // opening cuts off (it is past the durable count) if any is left.
        if let Err(e) = self.shared.file.write_all_at(&buf, self.len) {
            let _ = self.shared.file.set_len(self.len);
            return Err(e);
        }
        self.len = at;
        let mut index = self.shared.index.write().unwrap_or_else(|e| e.into_inner());
        for (id, place, taken) in added {
            index.add(id, place, taken);
        }
        Ok(())
    }

    /// How many events are indexed under their whole id, sharing their key with one
    /// indexed before (for tests).
    #[cfg(test)]
    pub(super) fn sharing_keys(&self) -> usize {
        self.shared.index().sharing.len()
    }

    /// A stored event's wire bytes.
    pub(super) fn get(&self, id: &EventId) -> io::Result<Option<Vec<u8>>> {
        self.shared.get(id)
    }

    /// The ids stored for `author` from `from_seq` on, in seq order (by id within a seq),
    /// read from the whole file.
    pub(super) fn feed(
        &self,
        author: &PublicKey,
        from_seq: u64,
    ) -> io::Result<Vec<(u64, EventId)>> {
        let mut found = Vec::new();
        self.each_batch(FEED_BATCH, |batch| {
            for wire in batch.iter() {
                // Every event here was read and checked when the file was opened.
                let e = SignedEvent::decode(wire)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                if e.event.author == *author && e.event.seq >= from_seq {
                    found.push((e.event.seq, e.id));
                }
            }
            Ok::<(), io::Error>(())
        })?;
        found.sort_unstable();
        Ok(found)
    }

    /// How many events the file holds.
    pub(super) fn count(&self) -> u64 {
        self.shared.index().len() as u64
    }

    /// Makes what was appended durable.
    pub(super) fn sync(&self) -> io::Result<()> {
        self.shared.file.sync_data()?;
        self.shared.durable.store(self.len, Ordering::Release);
        Ok(())
    }
}

/// Writes `events` (wire bytes, in order) as a new log file in `dir`, durably, replacing
/// any: how a store of the previous format moves its events out of sled.
pub(super) fn write_new(dir: &Path, events: &[Vec<u8>]) -> io::Result<()> {
    let tmp = dir.join(format!(".{EVENTS_FILE}.tmp"));
    {
        let mut f = io::BufWriter::new(File::create(&tmp)?);
        for wire in events {
            f.write_all(&(wire.len() as u32).to_be_bytes())?;
            f.write_all(wire)?;
        }
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    fs::rename(&tmp, dir.join(EVENTS_FILE))?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_keeps_its_start_and_length_to_their_limits_and_refuses_one_over() {
        let last = (1u64 << (u64::BITS - LEN_BITS)) - 1;
        for (start, len) in [
            (0, 0),
            (4, 1),
            (last, MAX_SIGNED_EVENT_BYTES),
            (1 << 40, 300),
        ] {
            let p = Place::new(start, len).expect("fits");
            assert_eq!((p.start(), p.len()), (start, len));
        }
        assert!(
            Place::new(last + 1, 0).is_err(),
            "a start one past the last"
        );
        assert!(
            Place::new(0, MAX_SIGNED_EVENT_BYTES + 1).is_err(),
            "a length one over"
        );
    }
}
