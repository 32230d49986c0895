//! The simulator's store: the [`Store`] trait in memory, with a crash that loses exactly
//! what was written since the last [`Store::sync`], as a power cut loses what the disk
//! had not been told to keep. What a node "had on disk" lives in a [`Disk`] the simulator
//! holds across the node's crash, so a restart runs the core's real recovery path
//! (`Store::load`, `load_log`) over it.

use crate::core::store::{Loaded, Snapshot, Store, StoreError};
use imbl::{HashSet as SharedSet, OrdMap, Vector};
use mutual_protocol::event::SignedEvent;
use mutual_protocol::federation::FederationId;
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::keys::PublicKey;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// One store's contents, in persistent collections: a sync keeps a copy of them all, which
/// then costs what changed since the last, not the whole store.
#[derive(Debug, Clone, Default)]
struct Contents {
    network: Option<NetworkId>,
    /// Stored events' wire bytes, in the order stored.
    log: Vector<Vec<u8>>,
    ids: SharedSet<EventId>,
    /// Events waiting for causes, by id.
    pending: OrdMap<EventId, Vec<u8>>,
    snapshot: Option<Arc<Snapshot>>,
    records: OrdMap<String, Vec<u8>>,
    papers: OrdMap<[u8; 32], Vec<u8>>,
}

/// What a store wrote: the synced contents survive a crash, the rest does not.
#[derive(Debug, Default)]
struct Cell {
    synced: Contents,
    live: Contents,
}

/// A node's disk: its network store and one store per federation, each of which keeps
/// what was synced across a crash.
#[derive(Debug, Clone, Default)]
pub struct Disk {
    stores: Arc<Mutex<BTreeMap<String, Cell>>>,
}

impl Disk {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Cell>> {
        // A panic elsewhere cannot leave a cell half written: every write is one call.
        self.stores.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens the store named `name` on this disk.
    pub fn open(&self, name: &str) -> MemStore {
        self.lock().entry(name.to_string()).or_default();
        MemStore {
            disk: self.clone(),
            name: name.to_string(),
            path: PathBuf::from(format!("sim:{name}")),
        }
    }

    /// Damages the paper `sha256` in every store of this disk (its first byte flipped), as
    /// a failing disk might: for the tests that show a node never serves it.
    pub fn damage_paper(&self, sha256: &[u8; 32]) {
        for cell in self.lock().values_mut() {
            for c in [&mut cell.live, &mut cell.synced] {
                if let Some(b) = c.papers.get_mut(sha256).and_then(|b| b.first_mut()) {
                    *b ^= 1;
                }
            }
        }
    }

    /// A power cut: every store loses what it had not synced. Returns how many events
    /// (stored and pending) were lost.
    pub fn crash(&self) -> usize {
        let mut lost = 0;
        for cell in self.lock().values_mut() {
            lost += cell.live.log.len() - cell.synced.log.len().min(cell.live.log.len());
            lost += cell
                .live
                .pending
                .keys()
                .filter(|k| !cell.synced.pending.contains_key(*k))
                .count();
            cell.live = cell.synced.clone();
        }
        lost
    }
}

/// A store on a simulated [`Disk`].
#[derive(Debug)]
pub struct MemStore {
    disk: Disk,
    name: String,
    path: PathBuf,
}

impl MemStore {
    fn with<T>(&self, f: impl FnOnce(&mut Contents) -> T) -> T {
        let mut stores = self.disk.lock();
        let cell = stores.entry(self.name.clone()).or_default();
        f(&mut cell.live)
    }
}

impl Store for MemStore {
    fn network(&self) -> Option<NetworkId> {
        self.with(|c| c.network)
    }

    fn set_network(&mut self, network: NetworkId) -> Result<(), StoreError> {
        self.with(|c| match c.network {
            Some(found) if found != network => Err(StoreError::WrongNetwork {
                expected: network,
                found,
            }),
            _ => {
                c.network = Some(network);
                Ok(())
            }
        })
    }

    fn load(&self) -> Result<Loaded, StoreError> {
        self.with(|c| {
            Ok(Loaded {
                events: c.log.iter().cloned().collect(),
                pending: c.pending.values().cloned().collect(),
                snapshot: c.snapshot.as_deref().cloned(),
            })
        })
    }

    fn put_events(&mut self, events: &[&SignedEvent]) -> Result<(), StoreError> {
        self.with(|c| {
            for e in events {
                c.pending.remove(&e.id);
                if c.ids.insert(e.id).is_none() {
                    c.log.push_back(e.to_wire());
                }
            }
        });
        Ok(())
    }

    fn put_pending(&mut self, events: &[&SignedEvent]) -> Result<(), StoreError> {
        self.with(|c| {
            for e in events {
                c.pending.insert(e.id, e.to_wire());
            }
        });
        Ok(())
    }

    fn retain_pending(&mut self, keep: &HashSet<EventId>) -> Result<(), StoreError> {
        self.with(|c| {
            let gone: Vec<EventId> = c
                .pending
                .keys()
                .filter(|id| !keep.contains(*id))
                .copied()
                .collect();
            for id in gone {
                c.pending.remove(&id);
            }
        });
        Ok(())
    }

    fn event(&self, id: &EventId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.with(|c| {
            c.log
                .iter()
                .find(|w| SignedEvent::decode(w).is_ok_and(|e| e.id == *id))
                .cloned()
        }))
    }

    fn feed(&self, author: &PublicKey, from_seq: u64) -> Result<Vec<(u64, EventId)>, StoreError> {
        let mut v: Vec<(u64, EventId)> = self.with(|c| {
            c.log
                .iter()
                .filter_map(|w| SignedEvent::decode(w).ok())
                .filter(|e| e.event.author == *author && e.event.seq >= from_seq)
                .map(|e| (e.event.seq, e.id))
                .collect()
        });
        v.sort();
        Ok(v)
    }

    fn save_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.with(|c| c.snapshot = Some(Arc::new(snapshot.clone())));
        Ok(())
    }

    fn put_record(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.with(|c| c.records.insert(key.to_string(), value.to_vec()));
        Ok(())
    }

    fn record(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.with(|c| c.records.get(key).cloned()))
    }

    fn records(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(self.with(|c| {
            c.records
                .range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }))
    }

    fn remove_record(&mut self, key: &str) -> Result<(), StoreError> {
        self.with(|c| c.records.remove(key));
        Ok(())
    }

    fn put_paper(&mut self, sha256: &[u8; 32], bytes: &[u8]) -> Result<(), StoreError> {
        // Durable at once, as the node's store writes it.
        let mut stores = self.disk.lock();
        let cell = stores.entry(self.name.clone()).or_default();
        cell.live.papers.insert(*sha256, bytes.to_vec());
        cell.synced.papers.insert(*sha256, bytes.to_vec());
        Ok(())
    }

    fn paper(&self, sha256: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.with(|c| c.papers.get(sha256).cloned()))
    }

    fn papers(&self) -> Result<Vec<([u8; 32], u64)>, StoreError> {
        Ok(self.with(|c| c.papers.iter().map(|(h, b)| (*h, b.len() as u64)).collect()))
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        let mut stores = self.disk.lock();
        if let Some(cell) = stores.get_mut(&self.name) {
            cell.synced = cell.live.clone();
        }
        Ok(())
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn open_federation(&self, id: &FederationId) -> Result<Self, StoreError> {
        Ok(self.disk.open(&format!("{}/federations/{id}", self.name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutual_proto::v1 as pb;
    use mutual_protocol::event::{Body, FeedWriter};
    use mutual_protocol::keys::Keypair;

    #[test]
    fn a_crash_keeps_what_was_synced_and_loses_the_rest() {
        let kp = Keypair::from_seed(&[3; 32]).expect("key");
        let (mut w, g) = FeedWriter::found(
            kp,
            1_000,
            pb::Genesis {
                name: "Disk test".into(),
                ..Default::default()
            },
        );
        let next = w.sign(2_000, vec![g.id], Body::Witness(pb::Witness {}));
        let disk = Disk::default();
        let mut s = disk.open("node");
        s.put_events(&[&g]).expect("put");
        s.sync().expect("sync");
        s.put_events(&[&next]).expect("put");
        assert_eq!(s.load().expect("load").events.len(), 2);
        assert_eq!(disk.crash(), 1, "the unsynced event is lost");
        let again = disk.open("node");
        assert_eq!(again.load().expect("load").events, vec![g.to_wire()]);
    }
}
