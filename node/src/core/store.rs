//! What the core asks of durable storage: the [`Store`] trait, its errors, and loading a
//! store's log back into a replica. The node's backend (`crate::store::SledStore`)
//! and the simulator's in-memory store (`crate::sim::MemStore`) implement it; the core
//! never names either, so every rule it follows runs the same over both.

use mutual_protocol::event::SignedEvent;
use mutual_protocol::federation::FederationId;
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::keys::PublicKey;
use mutual_protocol::replica::{Archive, Bodies, Fold, IngestError, Ingested, Replica};
use mutual_protocol::runs::RunFiles;
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The store format this version writes and the newest it reads. Format 1 kept the events
/// in sled; format 2 keeps them in a file of their own (a store of format 1 is moved to it
/// when opened).
pub const STORE_FORMAT: u32 = 2;
/// The file naming a store's format, written before anything else.
pub const FORMAT_FILE: &str = "FORMAT";
/// Events loaded from a store in one batch when it is opened.
pub const LOAD_BATCH: usize = 1024;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The directory holds files but no `FORMAT` file.
    #[error("{0} is not a Mutual store: it is not empty and has no {FORMAT_FILE} file; choose an empty or new data directory")]
    NotAStore(PathBuf),
    /// Written by a newer version.
    #[error("the store at {path} was written by a newer version of Mutual (store format {found}; this version reads format {STORE_FORMAT} and older); nothing was changed. Upgrade Mutual to open it")]
    TooNew {
        /// The store directory.
        path: PathBuf,
        /// The format found.
        found: u32,
    },
    /// The store's files or contents fail a check.
    #[error("the store at {path} is corrupt: {detail}; nothing was changed. Restore the data directory from a backup, or start a new one and let it sync from the network's other nodes")]
    Corrupt {
        /// The store directory.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// Another process has the store open.
    #[error("the store at {0} is in use by another process (is a node already running on this data directory?)")]
    InUse(PathBuf),
    /// There is no room to write: the disk is full, or a quota or file-size limit was met.
    #[error("there is no room left for the store (the disk is full, or a quota or file size limit was reached); nothing more was stored. Free some space and try again")]
    DiskFull,
    /// The store belongs to another network.
    #[error("the store belongs to network {found}, not {expected}")]
    WrongNetwork {
        /// The network asked for.
        expected: NetworkId,
        /// The network the store holds.
        found: NetworkId,
    },
    /// A private record is too large.
    #[error("{what} is {len} bytes, over the limit of {max}")]
    TooLarge {
        /// Which item.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Any other I/O failure.
    #[error("store I/O error: {0}")]
    Io(io::Error),
}

impl From<io::Error> for StoreError {
    fn from(e: io::Error) -> Self {
        if matches!(
            e.kind(),
            io::ErrorKind::StorageFull | io::ErrorKind::FileTooLarge | io::ErrorKind::QuotaExceeded
        ) {
            StoreError::DiskFull
        } else {
            StoreError::Io(e)
        }
    }
}

/// The last derived state written, for a quick status without re-folding and as a check
/// after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The state hash.
    pub state_hash: [u8; 32],
    /// Events folded.
    pub events: u64,
    /// The canonical state encoding (an encoded `StateDigest`).
    pub digest: Vec<u8>,
}

impl Snapshot {
    /// The snapshot as the store keeps it: hash, event count (big-endian), digest.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(40 + self.digest.len());
        v.extend_from_slice(&self.state_hash);
        v.extend_from_slice(&self.events.to_be_bytes());
        v.extend_from_slice(&self.digest);
        v
    }

    /// Reads what [`Snapshot::encode`] wrote; `None` if it is too short.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() < 40 {
            return None;
        }
        Some(Snapshot {
            state_hash: b[..32].try_into().ok()?,
            events: u64::from_be_bytes(b[32..40].try_into().ok()?),
            digest: b[40..].to_vec(),
        })
    }
}

/// What a store held when opened.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Stored events' wire bytes, in the order they were stored (causes first).
    pub events: Vec<Vec<u8>>,
    /// Pending events' wire bytes.
    pub pending: Vec<Vec<u8>>,
    /// The last snapshot written.
    pub snapshot: Option<Snapshot>,
}

/// What [`Store::each_event_batch`] hands each batch of wire bytes to.
pub type EachBatch<'a> = dyn FnMut(&[Vec<u8>]) -> Result<(), StoreError> + 'a;

/// Where a node keeps its log, pending events, snapshot and private records.
pub trait Store: Send {
    /// The network the store belongs to, once set.
    fn network(&self) -> Option<NetworkId>;
    /// Binds the store to a network; refuses a store already bound to another.
    fn set_network(&mut self, network: NetworkId) -> Result<(), StoreError>;
    /// Everything stored, checked (see the module documentation).
    fn load(&self) -> Result<Loaded, StoreError>;
    /// What [`Store::load`] returns but the log's events (`events` is empty).
    fn load_held(&self) -> Result<Loaded, StoreError> {
        let mut loaded = self.load()?;
        loaded.events = Vec::new();
        Ok(loaded)
    }
    /// The log's events' wire bytes as [`Store::load`] returns them, handed to `each`
    /// [`LOAD_BATCH`] at a time. A store that can reads them a batch at a time, so that
    /// opening a long log never holds all of it at once.
    fn each_event_batch(&self, each: &mut EachBatch<'_>) -> Result<(), StoreError> {
        for batch in self.load()?.events.chunks(LOAD_BATCH) {
            each(batch)?;
        }
        Ok(())
    }
    /// Stores events; they stop being pending.
    fn put_events(&mut self, events: &[&SignedEvent]) -> Result<(), StoreError>;
    /// How many events the log holds (0 if it cannot say cheaply): a hint for making room.
    fn event_count(&self) -> u64 {
        0
    }
    /// Where a replica can read back the events this store's log holds, so that it need
    /// not keep them in memory; none if it cannot (a replica then keeps them all).
    fn bodies(&self) -> Option<Arc<dyn Bodies>> {
        None
    }
    /// Where a replica can keep closed motions' ballot lists, so that it need not keep
    /// them in memory; none if it cannot (a replica then keeps them all).
    fn archive(&self) -> Option<Arc<dyn Archive>> {
        None
    }
    /// Where a replica can keep the runs of its per-event indexes, so that they need not
    /// be in memory; none if it cannot (a replica then keeps them in memory).
    fn runs(&self) -> Option<Arc<dyn RunFiles>> {
        None
    }
    /// Records events waiting for causes.
    fn put_pending(&mut self, events: &[&SignedEvent]) -> Result<(), StoreError>;
    /// Keeps only the pending events in `keep`.
    fn retain_pending(&mut self, keep: &HashSet<EventId>) -> Result<(), StoreError>;
    /// A stored event's wire bytes.
    fn event(&self, id: &EventId) -> Result<Option<Vec<u8>>, StoreError>;
    /// The ids stored for `author` from `from_seq` on, in seq order. For tools and checks:
    /// a store may read its whole log to answer (a node reads feeds from its replica).
    fn feed(&self, author: &PublicKey, from_seq: u64) -> Result<Vec<(u64, EventId)>, StoreError>;
    /// Replaces the snapshot.
    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StoreError>;
    /// Writes a private record.
    fn put_record(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Reads a private record.
    fn record(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Private records whose keys start with `prefix`, in key order.
    fn records(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Deletes a private record.
    fn remove_record(&mut self, key: &str) -> Result<(), StoreError>;
    /// Makes everything written so far durable.
    fn sync(&mut self) -> Result<(), StoreError>;
    /// Writes a paper's bytes under their SHA-256 (checked by the caller), durably before
    /// it returns (docs/NETWORK.md §10).
    fn put_paper(&mut self, sha256: &[u8; 32], bytes: &[u8]) -> Result<(), StoreError>;
    /// A paper's bytes, if held.
    fn paper(&self, sha256: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every paper held, with its size.
    fn papers(&self) -> Result<Vec<([u8; 32], u64)>, StoreError>;
    /// Where the store lives, for messages.
    fn path(&self) -> &Path;
    /// Opens (or creates) the store of a federation's log beside this one
    /// (docs/FEDERATION.md §5).
    fn open_federation(&self, id: &FederationId) -> Result<Self, StoreError>
    where
        Self: Sized;
}

/// The events stored under `ids` in `replica`, read back to be written to the store: an
/// event that cannot be read is an error, never one left out of the write while the
/// replica counts it stored. (An id not stored is left out.)
pub fn stored_events<F: Fold>(
    replica: &Replica<F>,
    ids: &[EventId],
) -> Result<Vec<SignedEvent>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match replica.load(id) {
            Ok(Some(ev)) => out.push(ev),
            Ok(None) => {}
            Err(e) => return Err(StoreError::Io(io::Error::other(e.to_string()))),
        }
    }
    Ok(out)
}

/// Loads a store's log and pending events into a replica. The log's events were taken in
/// when they arrived, so their dates are not checked against the clock again
/// (docs/NETWORK.md §7); an invalid one means the store is corrupt.
pub fn load_log<F: Fold, S: Store>(
    store: &mut S,
    replica: &mut Replica<F>,
    now_ms: u64,
) -> Result<(), StoreError> {
    if let Some(bodies) = store.bodies() {
        replica.set_bodies(bodies);
    }
    if let Some(archive) = store.archive() {
        replica.set_archive(archive);
    }
    if let Some(runs) = store.runs() {
        replica.set_runs(runs);
    }
    replica.reserve(usize::try_from(store.event_count()).unwrap_or(0));
    let loaded = store.load_held()?;
    let path = store.path().to_path_buf();
    let mut base = 0;
    store.each_event_batch(&mut |batch| {
        for (i, r) in replica
            .ingest_batch(u64::MAX, batch)
            .into_iter()
            .enumerate()
        {
            match r {
                Err(e) if e.is_peer_fault() => {
                    return Err(StoreError::Corrupt {
                        path: path.clone(),
                        detail: format!("log entry {} is invalid: {e}", base + i),
                    });
                }
                // The log's own events, read back to check the next: a log that cannot
                // be read back cannot be loaded.
                Err(e @ IngestError::Unreadable(_)) => {
                    return Err(StoreError::Corrupt {
                        path: path.clone(),
                        detail: format!("log entry {} could not be checked: {e}", base + i),
                    });
                }
                _ => {}
            }
        }
        base += batch.len();
        Ok(())
    })?;
    // Pending events whose causes the log holds are stored now, and written to the log
    // as such: left only in the pending table, the next flush (which keeps the pending
    // table to what the replica still waits for) would drop them while later events that
    // follow them went into the log.
    let mut released = Vec::new();
    for r in replica.ingest_batch(now_ms, &loaded.pending) {
        match r {
            Ok(Ingested::Stored { stored }) => released.extend(stored),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "a pending event from the store was dropped"),
        }
    }
    let events = stored_events(replica, &released)?;
    if !events.is_empty() {
        store.put_events(&events.iter().collect::<Vec<_>>())?;
        store.sync()?;
    }
    replica.release_written();
    if let Some(snap) = &loaded.snapshot {
        if snap.state_hash != replica.state_hash().0 {
            tracing::warn!(
                "the state re-derived from the store differs from the last snapshot; \
                 the fold rules changed or the snapshot is stale"
            );
        }
    }
    Ok(())
}
