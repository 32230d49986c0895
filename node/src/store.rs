//! Durable storage: the node's backend of the core's [`Store`] trait, [`SledStore`]: an
//! append-only file of events, and sled beside it.
//! (One concept in one file, past 600 lines because its tests live beside it.)
//!
//! What is kept:
//! - the `events` file ([`events`]): every stored event's wire bytes, in the order they
//!   were stored, appended. Each was stored after its causes, so reading the log in order
//!   re-creates the replica without parking anything. Its indexes (event id to place, and
//!   `(author, seq, id)`, so an author's feed can be read in order and a forked seq keeps
//!   both events) live in memory, rebuilt on opening;
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
//! first, then sled. sled's own `flush` writes its log with `sync_file_range` on Linux,
//! which neither flushes the drive's cache nor the file's metadata, and it writes large
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

mod events;

pub use crate::core::store::{Loaded, Snapshot, Store, StoreError, FORMAT_FILE, STORE_FORMAT};
use events::EventFile;
use mutual_protocol::event::SignedEvent;
use mutual_protocol::federation::FederationId;
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::keys::PublicKey;
use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

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
    synced_blobs: HashSet<PathBuf>,
}

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
        let mut loaded = Loaded {
            events: self.events.read_all()?,
            ..Loaded::default()
        };
        if loaded.events.len() as u64 != self.events.count() {
            return Err(self.corrupt(format!(
                "{} events in the log but {} when it was opened",
                loaded.events.len(),
                self.events.count()
            )));
        }
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
        Ok(self.events.feed(author, from_seq))
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
mod tests {
    use super::*;
    use mutual_proto::v1 as pb;
    use mutual_protocol::event::{Body, FeedWriter};
    use mutual_protocol::keys::Keypair;

    pub(super) fn founded() -> (FeedWriter, SignedEvent) {
        let kp = Keypair::from_seed(&[5; 32]).expect("key");
        let g = pb::Genesis {
            name: "Store test".into(),
            practices: vec![pb::Practice {
                name: "One".into(),
                ods_code: "M1".into(),
                node_key: kp.public().as_bytes().to_vec(),
                ..Default::default()
            }],
            ..Default::default()
        };
        FeedWriter::found(kp, 1_000, g)
    }

    pub(super) fn update(w: &mut FeedWriter, n: u32) -> SignedEvent {
        w.sign(
            1_000 + u64::from(n),
            vec![],
            Body::PracticeUpdate(pb::PracticeUpdate {
                list_size: n,
                ..Default::default()
            }),
        )
    }

    #[test]
    fn events_feeds_pending_and_records_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut w, g) = founded();
        let a = update(&mut w, 1);
        let b = update(&mut w, 2);
        {
            let mut s = SledStore::open(dir.path()).expect("open");
            s.set_network(NetworkId(g.id)).expect("bind");
            s.put_pending(&[&b]).expect("pending");
            s.put_events(&[&g, &a]).expect("events");
            s.put_record("rota/2026-12-01", b"Dr A, Dr B")
                .expect("record");
            s.sync().expect("sync");
        }
        let s = SledStore::open(dir.path()).expect("reopen");
        assert_eq!(s.network(), Some(NetworkId(g.id)));
        let loaded = s.load().expect("load");
        assert_eq!(loaded.events, vec![g.to_wire(), a.to_wire()]);
        assert_eq!(s.event(&a.id).expect("read"), Some(a.to_wire()));
        assert_eq!(loaded.pending, vec![b.to_wire()]);
        assert_eq!(
            s.feed(&w.author(), 0).expect("feed"),
            vec![(g.event.seq, g.id), (a.event.seq, a.id)]
        );
        assert_eq!(
            s.feed(&w.author(), a.event.seq).expect("feed"),
            vec![(a.event.seq, a.id)]
        );
        assert_eq!(
            s.record("rota/2026-12-01").expect("read"),
            Some(b"Dr A, Dr B".to_vec())
        );
        assert_eq!(s.records("rota/").expect("list").len(), 1);
    }

    #[test]
    fn a_store_is_bound_to_one_network() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = SledStore::open(dir.path()).expect("open");
        s.set_network(NetworkId(EventId([1; 32]))).expect("bind");
        let err = s.set_network(NetworkId(EventId([2; 32]))).unwrap_err();
        assert!(matches!(err, StoreError::WrongNetwork { .. }), "{err}");
    }

    #[test]
    fn a_newer_format_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let newer = STORE_FORMAT + 1;
        fs::write(
            dir.path().join(FORMAT_FILE),
            format!("mutual-store {newer}\n"),
        )
        .expect("write");
        let err = SledStore::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, StoreError::TooNew { found, .. } if found == newer),
            "{err}"
        );
        assert!(err.to_string().contains("newer version"), "{err}");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(FORMAT_FILE)]);
    }

    #[test]
    fn a_directory_that_is_not_a_store_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("notes.txt"), "hello").expect("write");
        let err = SledStore::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::NotAStore(_)), "{err}");
    }

    #[test]
    fn an_event_stored_twice_in_the_log_is_reported_as_corruption() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, g) = founded();
        {
            let mut s = SledStore::open(dir.path()).expect("open");
            s.put_events(&[&g]).expect("events");
            s.sync().expect("sync");
        }
        // Bit rot, or a hand: the file now holds the genesis twice.
        let file = dir.path().join(events::EVENTS_FILE);
        let mut bytes = fs::read(&file).expect("read");
        bytes.extend_from_slice(&bytes.clone());
        fs::write(&file, &bytes).expect("write");
        let err = SledStore::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("appears twice"), "{err}");
    }

    #[test]
    fn a_tail_cut_short_by_a_crash_is_cut_off_and_what_was_made_durable_stays() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut w, g) = founded();
        let durable: Vec<SignedEvent> = (0..5).map(|i| update(&mut w, i)).collect();
        let torn = update(&mut w, 99);
        {
            let mut s = SledStore::open(dir.path()).expect("open");
            s.put_events(&[&g]).expect("genesis");
            s.put_events(&durable.iter().collect::<Vec<_>>())
                .expect("events");
            s.sync().expect("sync");
        }
        // A crash while the next frame was being written: its header and part of it.
        let file = dir.path().join(events::EVENTS_FILE);
        let whole = fs::read(&file).expect("read");
        let wire = torn.to_wire();
        let mut cut = whole.clone();
        cut.extend_from_slice(&(wire.len() as u32).to_be_bytes());
        cut.extend_from_slice(&wire[..wire.len() / 2]);
        fs::write(&file, &cut).expect("write");
        let mut s = SledStore::open(dir.path()).expect("a cut tail is not damage");
        assert_eq!(s.load().expect("load").events.len(), 6);
        assert_eq!(fs::read(&file).expect("read"), whole, "the tail is cut off");
        // Writing goes on at a frame's boundary.
        s.put_events(&[&torn]).expect("again");
        s.sync().expect("sync");
        drop(s);
        let s = SledStore::open(dir.path()).expect("reopen");
        assert_eq!(s.load().expect("load").events.len(), 7);
        assert_eq!(s.event(&torn.id).expect("read"), Some(wire));
    }

    #[test]
    fn a_log_shorter_than_what_was_made_durable_is_reported_as_corruption() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut w, g) = founded();
        {
            let mut s = SledStore::open(dir.path()).expect("open");
            s.put_events(&[&g]).expect("genesis");
            for i in 0..3 {
                s.put_events(&[&update(&mut w, i)]).expect("event");
            }
            s.sync().expect("sync");
        }
        // The last acknowledged event lost (a file system that lost what it synced).
        let file = dir.path().join(events::EVENTS_FILE);
        let bytes = fs::read(&file).expect("read");
        fs::write(&file, &bytes[..bytes.len() - 10]).expect("write");
        let err = SledStore::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("4 were made durable"), "{err}");
        assert_eq!(
            fs::read(&file).expect("read"),
            &bytes[..bytes.len() - 10],
            "left as found"
        );
    }

    #[test]
    fn a_store_of_format_1_has_its_events_moved_out_of_sled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut w, g) = founded();
        let evs: Vec<SignedEvent> = std::iter::once(g)
            .chain((0..20).map(|i| update(&mut w, i)))
            .collect();
        let waiting = update(&mut tests_writer(), 77);
        format_1(dir.path(), &evs, &[&waiting], 21);
        // A move a crash cut short before the mark left a file behind: done again.
        fs::write(dir.path().join(events::EVENTS_FILE), b"half a move").expect("leftover");
        let s = open_when_free(dir.path()).expect("moved");
        let loaded = s.load().expect("load");
        let wires: Vec<Vec<u8>> = evs.iter().map(SignedEvent::to_wire).collect();
        assert_eq!(loaded.events, wires, "every event, in the order stored");
        assert_eq!(
            loaded.pending,
            vec![waiting.to_wire()],
            "pending events stay"
        );
        assert_eq!(s.network(), Some(NetworkId(evs[0].id)));
        assert_eq!(s.feed(&evs[1].event.author, 0).expect("feed").len(), 21);
        assert_eq!(read_format(dir.path()).expect("format"), Some(STORE_FORMAT));
        assert_eq!(read_manifest(dir.path()).expect("manifest"), Some(21));
        let names = s.db.tree_names();
        for old in FORMAT_1_TREES {
            assert!(
                !names.iter().any(|n| n.as_ref() == old.as_bytes()),
                "{old} is gone"
            );
        }
        drop(s);
        let again = SledStore::open(dir.path()).expect("reopen");
        assert_eq!(again.load().expect("load").events, wires);
    }

    #[test]
    fn a_store_of_format_1_missing_durable_events_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut w, g) = founded();
        let evs: Vec<SignedEvent> = std::iter::once(g)
            .chain((0..4).map(|i| update(&mut w, i)))
            .collect();
        // Its MANIFEST says 9 were made durable; its log holds 5.
        format_1(dir.path(), &evs, &[], 9);
        let err = open_when_free(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("9 were made durable"), "{err}");
        assert_eq!(read_format(dir.path()).expect("format"), Some(1));
        assert!(!dir.path().join(events::EVENTS_FILE).exists());
        let db = sled_when_free(dir.path());
        assert_eq!(
            db.open_tree("log").expect("log").len(),
            5,
            "its events stay in sled"
        );
    }

    /// Opens the store once sled has let go of it: a sled handle just dropped (by the test
    /// that wrote the store) may keep its lock a moment, while its flusher thread ends.
    fn open_when_free(dir: &Path) -> Result<SledStore, StoreError> {
        for _ in 0..100 {
            match SledStore::open(dir) {
                Err(StoreError::InUse(_)) => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                other => return other,
            }
        }
        SledStore::open(dir)
    }

    /// sled opened on `dir` once the store's handle has let go of it (see `open_when_free`).
    fn sled_when_free(dir: &Path) -> sled::Db {
        for _ in 0..100 {
            if let Ok(db) = sled::Config::new().path(dir).open() {
                return db;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        sled::Config::new().path(dir).open().expect("sled")
    }

    #[test]
    fn a_store_of_format_1_holding_an_event_twice_is_refused_and_left_as_it_was() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut w, g) = founded();
        let mut evs: Vec<SignedEvent> = std::iter::once(g)
            .chain((0..3).map(|i| update(&mut w, i)))
            .collect();
        evs.push(evs[1].clone());
        format_1(dir.path(), &evs, &[], 5);
        let err = open_when_free(dir.path()).unwrap_err();
        assert!(err.to_string().contains("is not indexed"), "{err}");
        assert_eq!(read_format(dir.path()).expect("format"), Some(1));
        assert_eq!(read_manifest(dir.path()).expect("manifest"), Some(5));
        assert!(!dir.path().join(events::EVENTS_FILE).exists());
    }

    #[test]
    fn stored_events_leave_the_pending_table_only_once_the_file_holding_them_is_synced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut w, g) = founded();
        let later = update(&mut w, 1);
        let mut s = SledStore::open(dir.path()).expect("open");
        s.put_events(&[&g]).expect("genesis");
        s.put_pending(&[&later]).expect("pending");
        s.sync().expect("sync");
        // Its cause came: stored, and the replica waits for nothing any more.
        s.put_events(&[&later]).expect("stored");
        s.retain_pending(&HashSet::new()).expect("retain");
        assert!(
            s.pending.contains_key(later.id.as_bytes()).expect("read"),
            "still pending until the event file is durable"
        );
        s.sync().expect("sync");
        assert!(!s.pending.contains_key(later.id.as_bytes()).expect("read"));
    }

    /// Another partner's feed, for an event that waits on causes the store lacks.
    fn tests_writer() -> FeedWriter {
        let kp = Keypair::from_seed(&[6; 32]).expect("key");
        FeedWriter::resume(kp, NetworkId(EventId([3; 32])), None)
    }

    /// Writes a store as format 1 did: the events in sled's `log` tree by place (with a gap
    /// at 3), indexed by id (an event given twice at its first place) and feed, pending
    /// ones in `pending`, and a MANIFEST saying `durable`.
    fn format_1(dir: &Path, evs: &[SignedEvent], pending: &[&SignedEvent], durable: u64) {
        fs::write(dir.join(FORMAT_FILE), format!("{FORMAT_PREFIX}1\n")).expect("format");
        let db = sled::Config::new().path(dir).open().expect("sled");
        let tree = |n: &str| db.open_tree(n).expect("tree");
        let (log, ids, feeds) = (tree("log"), tree("ids"), tree("feeds"));
        for (i, e) in evs.iter().enumerate() {
            // Place 3 was skipped (a write that failed), as format 1 could leave.
            let place = (i as u64 + u64::from(i >= 3)).to_be_bytes();
            log.insert(place, e.to_wire()).expect("put");
            if ids.get(e.id.as_bytes()).expect("get").is_none() {
                ids.insert(e.id.as_bytes(), &place).expect("put");
            }
            let mut k = e.event.author.as_bytes().to_vec();
            k.extend_from_slice(&e.event.seq.to_be_bytes());
            k.extend_from_slice(e.id.as_bytes());
            feeds.insert(k, &[][..]).expect("put");
        }
        for e in pending {
            tree("pending")
                .insert(e.id.as_bytes(), e.to_wire())
                .expect("put");
        }
        tree("meta")
            .insert(META_NETWORK, evs[0].id.as_bytes().as_slice())
            .expect("network");
        db.flush().expect("flush");
        fs::write(dir.join(MANIFEST_FILE), format!("events {durable}\n")).expect("manifest");
    }

    #[test]
    fn a_store_without_its_manifest_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, g) = founded();
        {
            let mut s = SledStore::open(dir.path()).expect("open");
            s.put_events(&[&g]).expect("genesis");
            s.sync().expect("sync");
        }
        fs::remove_file(dir.path().join(MANIFEST_FILE)).expect("remove");
        let err = SledStore::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("MANIFEST is missing"), "{err}");
    }

    #[test]
    fn a_frame_longer_than_any_event_before_the_durable_count_is_corruption() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut w, g) = founded();
        {
            let mut s = SledStore::open(dir.path()).expect("open");
            s.put_events(&[&g, &update(&mut w, 1)]).expect("events");
            s.sync().expect("sync");
        }
        // The second frame's length says one byte more than any signed event may have.
        let file = dir.path().join(events::EVENTS_FILE);
        let mut bytes = fs::read(&file).expect("read");
        let second = 4 + g.to_wire().len();
        let over = (mutual_protocol::limits::MAX_SIGNED_EVENT_BYTES as u32 + 1).to_be_bytes();
        bytes[second..second + 4].copy_from_slice(&over);
        fs::write(&file, &bytes).expect("write");
        let err = SledStore::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert_eq!(fs::read(&file).expect("read"), bytes, "left as found");
    }

    #[test]
    fn a_second_open_of_the_same_directory_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _first = SledStore::open(dir.path()).expect("open");
        let err = SledStore::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::InUse(_)), "{err}");
    }

    #[test]
    fn records_are_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = SledStore::open(dir.path()).expect("open");
        let at_limit = vec![0u8; MAX_RECORD_BYTES];
        s.put_record("k", &at_limit).expect("at the limit");
        let over = vec![0u8; MAX_RECORD_BYTES + 1];
        assert!(matches!(
            s.put_record("k", &over),
            Err(StoreError::TooLarge { .. })
        ));
        assert_eq!(
            s.record("k").expect("read").map(|v| v.len()),
            Some(MAX_RECORD_BYTES)
        );
        let long_key = "k".repeat(MAX_RECORD_KEY_BYTES + 1);
        assert!(matches!(
            s.put_record(&long_key, b"x"),
            Err(StoreError::TooLarge { .. })
        ));
    }
}

#[cfg(test)]
mod damage {
    use super::*;

    #[test]
    fn a_damaged_event_log_is_refused_with_a_clear_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut s = SledStore::open(dir.path()).expect("open");
            s.set_network(NetworkId(EventId([3; 32]))).expect("bind");
            let (mut w, g) = tests::founded();
            s.put_events(&[&g]).expect("genesis");
            for i in 0..300u32 {
                s.put_events(&[&tests::update(&mut w, i)]).expect("event");
            }
            s.sync().expect("sync");
        }
        let log = dir.path().join(events::EVENTS_FILE);
        let mut bytes = fs::read(&log).expect("read");
        let len = bytes.len();
        for b in &mut bytes[len / 4..len / 2] {
            *b ^= 0x5a;
        }
        fs::write(&log, &bytes).expect("damage");
        let result = SledStore::open(dir.path()).and_then(|s| s.load());
        let err = result.expect_err("a damaged store does not open as if whole");
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("is corrupt"), "{err}");
        assert_eq!(fs::read(&log).expect("read"), bytes, "left as found");
    }
}
