//! Durable storage: the node's backend of the core's [`Store`] trait, [`SledStore`]: an
//! append-only file of events, one of closed motions' ballot lists, and sled beside them.
//! (Its tests are in `store/tests.rs`.)
//!
//! What is kept:
//! - the `events` file ([`events`]): every stored event's wire bytes, in the order they
//!   were stored, appended. Each was stored after its causes, so reading the log in order
//!   re-creates the replica without parking anything. Its index (event id to place)
//!   is rebuilt on opening, and is shared with the replica, which reads events back from
//!   the file once it is durable rather than keeping them ([`Store::bodies`]);
//! - the `runs` directory ([`runs`]): scratch files where that index and the replica's
//!   keep what does not fit in memory ([`Store::runs`]), emptied on opening;
//! - the `closed` file ([`closed`]): each closed motion's ballot lists, which the state
//!   keeps only as their hash (docs/GOVERNANCE.md §10), for the replica
//!   ([`Store::archive`]). They are derived from the log: loading it writes again any
//!   that are missing or differ;
//!
//! and in sled, each in its own tree:
//! - `pending`: events received whose causes have not arrived, so a restart does not lose
//!   them;
//! - `meta`: the network id and the latest derived-state snapshot;
//! - `records`: the practice's private records. They live beside the log but are never
//!   gossiped, exported or hashed.
//!
//! sled rewrites its pages as they change and keeps what it replaced until it collects
//! it: holding the events there took over six times their wire bytes on disk, the file
//! takes about as many as the wire.
//!
//! # Durability
//! [`Store::sync`] makes everything written so far durable: the `events` file is synced
//! first, then sled. (The `closed` file is not: what it holds is derived from the log,
//! and written again as the log loads.) sled's own `flush` writes its log with
//! `sync_file_range` on Linux, which neither flushes the drive's cache nor the file's metadata, and it writes large
//! pages to separate blob files without syncing them. So `sync` flushes sled and then
//! `fsync`s its log file, every blob file not yet synced, and the directories that name
//! them. The node acknowledges an event only after `sync` returns.
//!
//! # Opening
//! [`SledStore::open`] checks the `FORMAT` file before sled touches anything: a directory
//! that is not a store, or a store written by a newer format, is refused and left as it
//! was. With sled's lock held, a store of format 1 (events in sled) has its events checked
//! and moved to the `events` file (whatever command opens it: `mutual export` and
//! `mutual verify` too; older versions then no longer open it). It then reads every event
//! back and checks that its bytes decode, that no event is there twice and that the file
//! holds as many as were made durable; a failure is reported as a corrupt store and the
//! file is left as it was. What follows the last readable frame past the durable count
//! (a write a crash cut short, never acknowledged) is cut off.

mod closed;
mod events;
mod runs;

use crate::core::store::{EachBatch, LOAD_BATCH};
pub use crate::core::store::{Loaded, Snapshot, Store, StoreError, FORMAT_FILE, STORE_FORMAT};
use closed::ClosedFile;
use events::EventFile;
use mutual_protocol::event::SignedEvent;
use mutual_protocol::federation::FederationId;
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::keys::PublicKey;
use mutual_protocol::replica::{Archive, Bodies};
use mutual_protocol::runs::RunFiles;
use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Longest key of a private record, in bytes.
pub const MAX_RECORD_KEY_BYTES: usize = 256;
/// Largest private record, in bytes.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// The directory, inside a node's data directory, holding the network's store.
pub const STORE_DIR: &str = "store";
/// The directory, inside the network's store, holding one store per federation.
pub const FEDERATIONS_DIR: &str = "federations";

/// Where a federation's store lives, beside the network's store at `network_store`.
pub fn store_dir(network_store: &Path, id: &FederationId) -> PathBuf {
    network_store.join(FEDERATIONS_DIR).join(id.to_string())
}

const FORMAT_PREFIX: &str = "mutual-store ";
/// Written beside the log at every [`Store::sync`]: how many events it held then. A frame
/// past that count that cannot be read is an unacknowledged tail; one before it, a damaged
/// log.
const MANIFEST_FILE: &str = "MANIFEST";
/// sled's own log file.
const SLED_LOG_FILE: &str = "db";
const BLOBS_DIR: &str = "blobs";
/// Papers (docs/NETWORK.md §10), one file each, named by the hex of its SHA-256.
const PAPERS_DIR: &str = "papers";
const META_NETWORK: &[u8] = b"network";
const META_SNAPSHOT: &[u8] = b"snapshot";
/// sled's trees that held the events in format 1.
const FORMAT_1_TREES: [&str; 3] = ["log", "ids", "feeds"];

/// The node's store: the events in their file, the rest in sled.
pub struct SledStore {
    path: PathBuf,
    db: sled::Db,
    events: EventFile,
    pending: sled::Tree,
    /// Events stored since the last sync, to leave the pending table once the log file
    /// holding them is durable (see [`Store::sync`]).
    unpended: HashSet<EventId>,
    meta: sled::Tree,
    records: sled::Tree,
    closed: Arc<ClosedFile>,
    synced_blobs: HashSet<PathBuf>,
}

/// Most bytes sled keeps of its pages in memory. Its default, a gibibyte, is far more
/// than what sled holds here (pending events, the snapshot, the practice's records),
/// which is read rarely.
pub const SLED_CACHE_BYTES: u64 = 16 << 20;

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.path)
            .finish()
    }
}

fn read_format(path: &Path) -> Result<Option<u32>, StoreError> {
    let file = path.join(FORMAT_FILE);
    let text = match fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let corrupt = || StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: format!("{} does not name a store format", file.display()),
    };
    let n = text
        .trim()
        .strip_prefix(FORMAT_PREFIX)
        .ok_or_else(corrupt)?
        .parse::<u32>()
        .map_err(|_| corrupt())?;
    Ok(Some(n))
}

/// Writes a small file so that it is either absent or complete after a crash.
fn write_durably(dir: &Path, name: &str, contents: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = fs::File::create(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

fn read_manifest(path: &Path) -> Result<Option<u64>, StoreError> {
    let file = path.join(MANIFEST_FILE);
    let text = match fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    text.trim()
        .strip_prefix("events ")
        .and_then(|n| n.parse().ok())
        .map(Some)
        .ok_or_else(|| StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("{} is unreadable", file.display()),
        })
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

fn record_key(key: &str) -> Result<&[u8], StoreError> {
    if key.len() > MAX_RECORD_KEY_BYTES {
        return Err(StoreError::TooLarge {
            what: "a record key",
            len: key.len(),
            max: MAX_RECORD_KEY_BYTES,
        });
    }
    Ok(key.as_bytes())
}

impl SledStore {
    /// Opens the store in `path`, creating it if the directory is absent or empty.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(path)?;
        let format = match read_format(path)? {
            Some(n) if n > STORE_FORMAT => {
                return Err(StoreError::TooNew {
                    path: path.to_path_buf(),
                    found: n,
                })
            }
            Some(n) => n,
            None => {
                if fs::read_dir(path)?.next().is_some() {
                    return Err(StoreError::NotAStore(path.to_path_buf()));
                }
                write_durably(
                    path,
                    FORMAT_FILE,
                    format!("{FORMAT_PREFIX}{STORE_FORMAT}\n").as_bytes(),
                )?;
                write_durably(path, MANIFEST_FILE, b"events 0\n")?;
                STORE_FORMAT
            }
        };
        // sled's lock is held from here on: no other process moves or appends meanwhile.
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(SLED_CACHE_BYTES)
            .open()
            .map_err(|e| Self::open_error(path, e))?;
        let tree = |name: &str| db.open_tree(name).map_err(|e| Self::open_error(path, e));
        let (pending, meta, records) = (tree("pending")?, tree("meta")?, tree("records")?);

        if format < STORE_FORMAT {
            Self::move_events_out_of_sled(path, &db)?;
        }
        let durable = match read_manifest(path)? {
            Some(n) => n,
            // Written when the store was made: without it, what was made durable is
            // unknown, and a damaged frame could not be told from a cut-short tail.
            None if fs::metadata(path.join(events::EVENTS_FILE)).is_ok_and(|m| m.len() > 0) => {
                return Err(StoreError::Corrupt {
                    path: path.to_path_buf(),
                    detail: format!("{MANIFEST_FILE} is missing"),
                })
            }
            // A crash came between the `FORMAT` file and the `MANIFEST`: nothing stored.
            None => {
                write_durably(path, MANIFEST_FILE, b"events 0\n")?;
                0
            }
        };
        let events = EventFile::open(path, durable).map_err(|e| match e {
            events::ReadError::Io(e) => StoreError::Io(e),
            events::ReadError::Damaged(detail) => StoreError::Corrupt {
                path: path.to_path_buf(),
                detail,
            },
        })?;
        let closed = Arc::new(ClosedFile::open(path)?);
        // The events are safe in their file: sled's old trees, if a move from format 1
        // left them, go.
        for old in FORMAT_1_TREES {
            db.drop_tree(old).map_err(|e| Self::open_error(path, e))?;
        }
        Ok(SledStore {
            path: path.to_path_buf(),
            events,
            pending,
            meta,
            records,
            closed,
            db,
            synced_blobs: HashSet::new(),
            unpended: HashSet::new(),
        })
    }

    /// Moves the events of a store of format 1 from sled's `log` tree to the `events`
    /// file: checks that each decodes and that the log holds as many as its `MANIFEST`
    /// says were made durable (else the store is corrupt and left as it was), writes the
    /// file, a `MANIFEST` counting them, then marks the store as of this format. A crash
    /// before the mark leaves format 1 and its trees as they were, and the move is done
    /// again; the old trees are dropped once the file has been opened and checked.
    fn move_events_out_of_sled(path: &Path, db: &sled::Db) -> Result<(), StoreError> {
        let corrupt = |detail: String| StoreError::Corrupt {
            path: path.to_path_buf(),
            detail,
        };
        let log = db.open_tree("log").map_err(|e| Self::open_error(path, e))?;
        let ids = db.open_tree("ids").map_err(|e| Self::open_error(path, e))?;
        let mut wires = Vec::new();
        let mut next = 0u64;
        for item in log.iter() {
            let (k, v) = item.map_err(|e| Self::open_error(path, e))?;
            let place: [u8; 8] = k
                .as_ref()
                .try_into()
                .map_err(|_| corrupt("a log key is not 8 bytes".into()))?;
            let ev = SignedEvent::decode(&v)
                .map_err(|e| corrupt(format!("log entry {}: {e}", hex::encode(place))))?;
            // As format 1 checked on loading: each entry is the one its id is indexed
            // at (so no event is there twice).
            let indexed = ids
                .get(ev.id.as_bytes())
                .map_err(|e| Self::open_error(path, e))?;
            if indexed.as_deref() != Some(&place[..]) {
                return Err(corrupt(format!(
                    "log entry {} (event {}) is not indexed",
                    hex::encode(place),
                    ev.id
                )));
            }
            next = u64::from_be_bytes(place) + 1;
            wires.push(v.to_vec());
        }
        // Format 1 counted places, which a failed write could skip: its MANIFEST is
        // checked against the last place, as format 1 did.
        if let Some(durable) = read_manifest(path)? {
            if next < durable {
                return Err(corrupt(format!(
                    "the log holds {next} events but {durable} were made durable"
                )));
            }
        }
        events::write_new(path, &wires)?;
        write_durably(
            path,
            MANIFEST_FILE,
            format!("events {}\n", wires.len()).as_bytes(),
        )?;
        write_durably(
            path,
            FORMAT_FILE,
            format!("{FORMAT_PREFIX}{STORE_FORMAT}\n").as_bytes(),
        )?;
        tracing::info!(path = %path.display(), events = wires.len(), "store moved to format {STORE_FORMAT}");
        Ok(())
    }

    fn open_error(path: &Path, e: sled::Error) -> StoreError {
        match e {
            sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                StoreError::InUse(path.to_path_buf())
            }
            sled::Error::Io(io) => io.into(),
            other => StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: other.to_string(),
            },
        }
    }

    fn err(&self, e: sled::Error) -> StoreError {
        Self::open_error(&self.path, e)
    }

    fn corrupt(&self, detail: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            detail,
        }
    }

    /// Decodes a stored event; `k` is its key, and `expect` the id it must have, if the
    /// key says.
    fn check_event(
        &self,
        tree: &str,
        k: &[u8],
        v: &[u8],
        expect: Option<&[u8]>,
    ) -> Result<SignedEvent, StoreError> {
        let ev = SignedEvent::decode(v)
            .map_err(|e| self.corrupt(format!("{tree} entry {}: {e}", hex::encode(k))))?;
        if expect.is_some_and(|x| x != ev.id.as_bytes().as_slice()) {
            return Err(self.corrupt(format!(
                "{tree} entry {} holds event {}",
                hex::encode(k),
                ev.id
            )));
        }
        Ok(ev)
    }
}

impl Store for SledStore {
    fn network(&self) -> Option<NetworkId> {
        let v = self.meta.get(META_NETWORK).ok()??;
        let bytes: [u8; 32] = v.as_ref().try_into().ok()?;
        Some(NetworkId(EventId(bytes)))
    }

    fn set_network(&mut self, network: NetworkId) -> Result<(), StoreError> {
        match self.network() {
            Some(found) if found != network => Err(StoreError::WrongNetwork {
                expected: network,
                found,
            }),
            Some(_) => Ok(()),
            None => {
                self.meta
                    .insert(META_NETWORK, network.as_bytes().as_slice())
                    .map_err(|e| self.err(e))?;
                Ok(())
            }
        }
    }

    fn load(&self) -> Result<Loaded, StoreError> {
        let mut loaded = self.load_held()?;
        loaded.events = self.events.read_all()?;
        if loaded.events.len() as u64 != self.events.count() {
            return Err(self.corrupt(format!(
                "{} events in the log but {} when it was opened",
                loaded.events.len(),
                self.events.count()
            )));
        }
        Ok(loaded)
    }

    fn each_event_batch(&self, each: &mut EachBatch<'_>) -> Result<(), StoreError> {
        let mut read = 0u64;
        self.events.each_batch(LOAD_BATCH, |batch| {
            read += batch.len() as u64;
            each(batch)
        })?;
        if read != self.events.count() {
            return Err(self.corrupt(format!(
                "{read} events in the log but {} when it was opened",
                self.events.count()
            )));
        }
        Ok(())
    }

    fn load_held(&self) -> Result<Loaded, StoreError> {
        let mut loaded = Loaded::default();
        for item in self.pending.iter() {
            let (k, v) = item.map_err(|e| self.err(e))?;
            self.check_event("pending", &k, &v, Some(&k))?;
            loaded.pending.push(v.to_vec());
        }
        if let Some(v) = self.meta.get(META_SNAPSHOT).map_err(|e| self.err(e))? {
            loaded.snapshot = Some(
                Snapshot::decode(&v).ok_or_else(|| self.corrupt("unreadable snapshot".into()))?,
            );
        }
        Ok(loaded)
    }

    fn event_count(&self) -> u64 {
        self.events.count()
    }

    fn bodies(&self) -> Option<Arc<dyn Bodies>> {
        Some(self.events.bodies())
    }

    fn archive(&self) -> Option<Arc<dyn Archive>> {
        Some(self.closed.clone())
    }

    fn runs(&self) -> Option<Arc<dyn RunFiles>> {
        self.events.runs().map(|r| r as Arc<dyn RunFiles>)
    }

    fn put_events(&mut self, events: &[&SignedEvent]) -> Result<(), StoreError> {
        self.events.append(events)?;
        // They leave the pending table at the next sync, after the log file: sled may
        // write on its own at any time, and a removal durable before the events it makes
        // stored would lose them. (An event both stored and pending is taken in once.)
        self.unpended.extend(events.iter().map(|e| e.id));
        Ok(())
    }

    fn put_pending(&mut self, events: &[&SignedEvent]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for ev in events {
            batch.insert(ev.id.as_bytes().as_slice(), ev.to_wire());
        }
        self.pending.apply_batch(batch).map_err(|e| self.err(e))
    }

    fn retain_pending(&mut self, keep: &HashSet<EventId>) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for k in self.pending.iter().keys() {
            let k = k.map_err(|e| self.err(e))?;
            // An event stored since the last sync leaves at the sync, after the event file
            // holding it is durable (see `put_events`), not before.
            let keep_it = <[u8; 32]>::try_from(k.as_ref())
                .map(|b| keep.contains(&EventId(b)) || self.unpended.contains(&EventId(b)))
                .unwrap_or(false);
            if !keep_it {
                batch.remove(k);
            }
        }
        self.pending.apply_batch(batch).map_err(|e| self.err(e))
    }

    fn event(&self, id: &EventId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.events.get(id)?)
    }

    fn feed(&self, author: &PublicKey, from_seq: u64) -> Result<Vec<(u64, EventId)>, StoreError> {
        Ok(self.events.feed(author, from_seq)?)
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.meta
            .insert(META_SNAPSHOT, snapshot.encode())
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn put_record(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        if value.len() > MAX_RECORD_BYTES {
            return Err(StoreError::TooLarge {
                what: "a record",
                len: value.len(),
                max: MAX_RECORD_BYTES,
            });
        }
        self.records
            .insert(record_key(key)?, value)
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn record(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .records
            .get(record_key(key)?)
            .map_err(|e| self.err(e))?
            .map(|v| v.to_vec()))
    }

    fn records(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.records
            .scan_prefix(prefix.as_bytes())
            .map(|item| {
                let (k, v) = item.map_err(|e| self.err(e))?;
                Ok((String::from_utf8_lossy(&k).into_owned(), v.to_vec()))
            })
            .collect()
    }

    fn remove_record(&mut self, key: &str) -> Result<(), StoreError> {
        self.records
            .remove(record_key(key)?)
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn open_federation(&self, id: &FederationId) -> Result<Self, StoreError> {
        SledStore::open(&store_dir(&self.path, id))
    }

    fn put_paper(&mut self, sha256: &[u8; 32], bytes: &[u8]) -> Result<(), StoreError> {
        let dir = self.path.join(PAPERS_DIR);
        if !dir.is_dir() {
            fs::create_dir_all(&dir)?;
            sync_dir(&self.path)?;
        }
        write_durably(&dir, &hex::encode(sha256), bytes)?;
        Ok(())
    }

    fn paper(&self, sha256: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        match fs::read(self.path.join(PAPERS_DIR).join(hex::encode(sha256))) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn papers(&self) -> Result<Vec<([u8; 32], u64)>, StoreError> {
        let dir = self.path.join(PAPERS_DIR);
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            // Anything not named by a hash (a write cut off by a crash) is not a paper.
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(hash) = hex::decode(&name)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
            else {
                continue;
            };
            out.push((hash, entry.metadata()?.len()));
        }
        Ok(out)
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        self.events.sync()?;
        if !self.unpended.is_empty() {
            let mut batch = sled::Batch::default();
            for id in &self.unpended {
                batch.remove(id.as_bytes().as_slice());
            }
            self.pending.apply_batch(batch).map_err(|e| self.err(e))?;
            self.unpended.clear();
        }
        self.db.flush().map_err(|e| self.err(e))?;
        fs::File::open(self.path.join(SLED_LOG_FILE))?.sync_all()?;
        let blobs = self.path.join(BLOBS_DIR);
        if blobs.is_dir() {
            let mut present = HashSet::new();
            let mut synced_any = false;
            for entry in fs::read_dir(&blobs)? {
                let p = entry?.path();
                if !self.synced_blobs.contains(&p) {
                    match fs::File::open(&p) {
                        Ok(f) => f.sync_all()?,
                        // Collected by sled since it was listed.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e.into()),
                    }
                    synced_any = true;
                }
                present.insert(p);
            }
            self.synced_blobs = present;
            if synced_any {
                sync_dir(&blobs)?;
            }
        }
        sync_dir(&self.path)?;
        write_durably(
            &self.path,
            MANIFEST_FILE,
            format!("events {}\n", self.events.count()).as_bytes(),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
