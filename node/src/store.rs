//! Durable storage: a small [`Store`] trait and its sled backend, [`SledStore`].
//! (One concept in one file, past 600 lines because its tests live beside it.)
//!
//! What is kept (each in its own sled tree):
//! - `log`: every stored event's wire bytes, in the order they were stored. Each was
//!   stored after its causes, so reading the log in order re-creates the replica without
//!   parking anything;
//! - `ids`: event id to its place in `log`;
//! - `feeds`: an index `(author, seq, id)`, so an author's feed can be read in order and a
//!   forked seq keeps both events;
//! - `pending`: events received whose causes have not arrived, so a restart does not lose
//!   them;
//! - `meta`: the network id and the latest derived-state snapshot;
//! - `records`: the practice's private records. They live beside the log but are never
//!   gossiped, exported or hashed.
//!
//! # Durability
//! [`Store::sync`] makes everything written so far durable. sled's own `flush` writes its
//! log with `sync_file_range` on Linux, which neither flushes the drive's cache nor the
//! file's metadata, and it writes large pages to separate blob files without syncing them.
//! So `sync` flushes sled and then `fsync`s the log file, every blob file not yet synced,
//! and the directories that name them. The node acknowledges an event only after `sync`
//! returns.
//!
//! # Opening
//! [`SledStore::open`] checks the `FORMAT` file before sled touches anything: a directory
//! that is not a store, or a store written by a newer format, is refused and left as it
//! was. It then reads every event back and checks that its bytes decode and hash to the
//! key it is stored under; a mismatch is reported as a corrupt store, before anything is
//! written.

pub use crate::core::store::{Loaded, Snapshot, Store, StoreError, FORMAT_FILE, STORE_FORMAT};
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
/// Written beside sled at every [`Store::sync`]: how many events the log held then. sled
/// repairs a damaged log by dropping what it cannot read; this file is how such a loss of
/// acknowledged events is noticed.
const MANIFEST_FILE: &str = "MANIFEST";
const LOG_FILE: &str = "db";
const BLOBS_DIR: &str = "blobs";
/// Papers (docs/NETWORK.md §10), one file each, named by the hex of its SHA-256.
const PAPERS_DIR: &str = "papers";
const META_NETWORK: &[u8] = b"network";
const META_SNAPSHOT: &[u8] = b"snapshot";

/// The sled backend.
pub struct SledStore {
    path: PathBuf,
    db: sled::Db,
    log: sled::Tree,
    ids: sled::Tree,
    next: u64,
    feeds: sled::Tree,
    pending: sled::Tree,
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

fn feed_key(author: &PublicKey, seq: u64, id: &EventId) -> Vec<u8> {
    let mut k = Vec::with_capacity(72);
    k.extend_from_slice(author.as_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
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
        match read_format(path)? {
            Some(n) if n > STORE_FORMAT => {
                return Err(StoreError::TooNew {
                    path: path.to_path_buf(),
                    found: n,
                })
            }
            Some(_) => {}
            None => {
                if fs::read_dir(path)?.next().is_some() {
                    return Err(StoreError::NotAStore(path.to_path_buf()));
                }
                write_durably(
                    path,
                    FORMAT_FILE,
                    format!("{FORMAT_PREFIX}{STORE_FORMAT}\n").as_bytes(),
                )?;
            }
        }
        let db = sled::Config::new()
            .path(path)
            .open()
            .map_err(|e| Self::open_error(path, e))?;
        let tree = |name: &str| db.open_tree(name).map_err(|e| Self::open_error(path, e));
        let log = tree("log")?;
        let next = match log.last().map_err(|e| Self::open_error(path, e))? {
            Some((k, _)) => {
                let n: [u8; 8] = k.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    path: path.to_path_buf(),
                    detail: "a log key is not 8 bytes".into(),
                })?;
                u64::from_be_bytes(n) + 1
            }
            None => 0,
        };
        if let Some(durable) = read_manifest(path)? {
            if next < durable {
                return Err(StoreError::Corrupt {
                    path: path.to_path_buf(),
                    detail: format!(
                        "the log holds {next} events but {durable} were made durable; \
                         sled's files are damaged"
                    ),
                });
            }
        }
        let store = SledStore {
            path: path.to_path_buf(),
            log,
            next,
            ids: tree("ids")?,
            feeds: tree("feeds")?,
            pending: tree("pending")?,
            meta: tree("meta")?,
            records: tree("records")?,
            db,
            synced_blobs: HashSet::new(),
        };
        Ok(store)
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
        let mut loaded = Loaded::default();
        for item in self.log.iter() {
            let (k, v) = item.map_err(|e| self.err(e))?;
            let ev = self.check_event("log", &k, &v, None)?;
            let place = self.ids.get(ev.id.as_bytes()).map_err(|e| self.err(e))?;
            if place.as_deref() != Some(k.as_ref()) {
                return Err(self.corrupt(format!(
                    "log entry {} (event {}) is not indexed",
                    hex::encode(&k),
                    ev.id
                )));
            }
            loaded.events.push(v.to_vec());
        }
        if loaded.events.len() != self.ids.len() {
            return Err(self.corrupt(format!(
                "{} events in the log but {} in the index",
                loaded.events.len(),
                self.ids.len()
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
        let mut log_batch = sled::Batch::default();
        let mut id_batch = sled::Batch::default();
        let mut feed_batch = sled::Batch::default();
        let mut pending_batch = sled::Batch::default();
        for ev in events {
            if self
                .ids
                .contains_key(ev.id.as_bytes())
                .map_err(|e| self.err(e))?
            {
                continue;
            }
            let place = self.next.to_be_bytes();
            self.next += 1;
            log_batch.insert(&place[..], ev.to_wire());
            id_batch.insert(ev.id.as_bytes().as_slice(), &place[..]);
            feed_batch.insert(feed_key(&ev.event.author, ev.event.seq, &ev.id), &[][..]);
            pending_batch.remove(ev.id.as_bytes().as_slice());
        }
        // One transaction over the log and its indexes, so that a crash leaves all of an
        // event's entries or none: a log entry is never left without its index (the crash
        // test in node/tests/crash.rs found this when the batches were applied one by one).
        use sled::Transactional;
        (&self.log, &self.ids, &self.feeds, &self.pending)
            .transaction(|(log, ids, feeds, pending)| {
                log.apply_batch(&log_batch)?;
                ids.apply_batch(&id_batch)?;
                feeds.apply_batch(&feed_batch)?;
                pending.apply_batch(&pending_batch)?;
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                sled::transaction::TransactionError::Storage(e) => self.err(e),
                sled::transaction::TransactionError::Abort(()) => {
                    self.corrupt("a store transaction aborted".into())
                }
            })
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
            let keep_it = <[u8; 32]>::try_from(k.as_ref())
                .map(|b| keep.contains(&EventId(b)))
                .unwrap_or(false);
            if !keep_it {
                batch.remove(k);
            }
        }
        self.pending.apply_batch(batch).map_err(|e| self.err(e))
    }

    fn event(&self, id: &EventId) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(place) = self.ids.get(id.as_bytes()).map_err(|e| self.err(e))? else {
            return Ok(None);
        };
        Ok(self
            .log
            .get(place)
            .map_err(|e| self.err(e))?
            .map(|v| v.to_vec()))
    }

    fn feed(&self, author: &PublicKey, from_seq: u64) -> Result<Vec<(u64, EventId)>, StoreError> {
        let mut start = author.as_bytes().to_vec();
        start.extend_from_slice(&from_seq.to_be_bytes());
        let mut out = Vec::new();
        for item in self.feeds.range(start..) {
            let (k, _) = item.map_err(|e| self.err(e))?;
            if k.len() != 72 || &k[..32] != author.as_bytes().as_slice() {
                break;
            }
            let seq = u64::from_be_bytes(k[32..40].try_into().expect("8 bytes"));
            let id = EventId(k[40..72].try_into().expect("32 bytes"));
            out.push((seq, id));
        }
        Ok(out)
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
        self.db.flush().map_err(|e| self.err(e))?;
        fs::File::open(self.path.join(LOG_FILE))?.sync_all()?;
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
            format!("events {}\n", self.next).as_bytes(),
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
        fs::write(dir.path().join(FORMAT_FILE), "mutual-store 2\n").expect("write");
        let err = SledStore::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::TooNew { found: 2, .. }), "{err}");
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
    fn an_event_that_does_not_match_its_key_is_reported_as_corruption() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut w, g) = founded();
        let a = update(&mut w, 1);
        {
            let mut s = SledStore::open(dir.path()).expect("open");
            s.put_events(&[&g]).expect("events");
            // Bit rot: the log entry now holds another event than the one indexed.
            s.log
                .insert(0u64.to_be_bytes(), a.to_wire())
                .expect("raw write");
            s.sync().expect("sync");
        }
        let s = SledStore::open(dir.path()).expect("reopen");
        let err = s.load().unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("is not indexed"), "{err}");
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
    fn a_damaged_log_file_is_refused_with_a_clear_message() {
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
        let log = dir.path().join(LOG_FILE);
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
    }
}
