//! A node's federations (docs/FEDERATION.md): one log for each federation its network
//! linked to, each with its own store, gossip topic and sync rounds beside the network's.

use crate::net::topic;
use crate::node::NodeError;
use crate::store::{SledStore, Store, StoreError};
use crate::sync;
use libp2p::{gossipsub, PeerId};
use mutual_proto::v1 as pb;
use mutual_protocol::federation::{
    charter_entry, federation_id, read_charter_event, roster_entry, FederationId, FederationState,
};
use mutual_protocol::id::NetworkId;
use mutual_protocol::membership::{Membership, Status};
use mutual_protocol::replica::{Fold, Replica};
use std::path::{Path, PathBuf};

/// The directory, inside a node's data directory, holding one store per federation.
pub const FEDERATIONS_DIR: &str = "federations";
/// Events a node loads from a store in one batch when it opens it.
const LOAD_BATCH: usize = 1024;

/// One federation's log as this node keeps it.
pub struct FedLog {
    /// The log.
    pub replica: Replica<FederationState>,
    /// Its store.
    pub store: SledStore,
    /// Sync rounds on this log.
    pub rounds: sync::Rounds<PeerId>,
    /// Its gossip topic.
    pub topic: gossipsub::IdentTopic,
    /// Whether a node taking part in this log has shown this node its own feed there
    /// since it opened the log; until then it signs nothing in it (docs/FEDERATION.md §5).
    pub head_confirmed: bool,
}

impl FedLog {
    /// Opens (or creates) the log of the federation whose charter event is
    /// `charter_event`, loading what its store holds.
    pub fn open(data_dir: &Path, charter_event: &[u8], now_ms: u64) -> Result<Self, NodeError> {
        let (ev, _) =
            read_charter_event(charter_event).map_err(|e| NodeError::Refused(e.to_string()))?;
        let id = federation_id(&ev);
        let dir = store_dir(data_dir, &id);
        let mut store = SledStore::open(&dir)?;
        store.set_network(id)?;
        let mut replica = Replica::<FederationState>::empty(id);
        load_log(&mut store, &mut replica, now_ms)?;
        if replica.get(&ev.id).is_none() {
            replica
                .ingest(now_ms, charter_event)
                .map_err(|e| NodeError::Refused(format!("the charter event: {e}")))?;
            if let Some(stored) = replica.get(&ev.id) {
                store.put_events(&[stored])?;
            }
            store.sync()?;
        }
        Ok(FedLog {
            replica,
            store,
            rounds: sync::Rounds::default(),
            topic: topic(&id),
            head_confirmed: false,
        })
    }

    /// The federation's id.
    pub fn id(&self) -> FederationId {
        self.replica.network()
    }
}

/// Where a federation's store lives.
pub fn store_dir(data_dir: &Path, id: &FederationId) -> PathBuf {
    data_dir.join(FEDERATIONS_DIR).join(id.to_string())
}

/// Loads a store's log and pending events into a replica. The log's events were taken in
/// when they arrived, so their dates are not checked against the clock again
/// (docs/NETWORK.md §7); an invalid one means the store is corrupt.
pub fn load_log<S: Fold>(
    store: &mut SledStore,
    replica: &mut Replica<S>,
    now_ms: u64,
) -> Result<(), NodeError> {
    let loaded = store.load()?;
    for (n, chunk) in loaded.events.chunks(LOAD_BATCH).enumerate() {
        let base = n * LOAD_BATCH;
        for (i, r) in replica
            .ingest_batch(u64::MAX, chunk)
            .into_iter()
            .enumerate()
        {
            if let Err(e) = r {
                if e.is_peer_fault() {
                    return Err(StoreError::Corrupt {
                        path: store.path().to_path_buf(),
                        detail: format!("log entry {} is invalid: {e}", base + i),
                    }
                    .into());
                }
            }
        }
    }
    for r in replica.ingest_batch(now_ms, &loaded.pending) {
        if let Err(e) = r {
            tracing::warn!(error = %e, "a pending event from the store was dropped");
        }
    }
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

/// A network's active practices that have a node key, as roster entries, sorted by ODS
/// code: what its nodes say its roster is (docs/FEDERATION.md §5). A practice whose key
/// was revoked cannot speak until the partners give it a new one.
pub fn roster_of(m: &Membership) -> Vec<pb::Practice> {
    let mut v: Vec<pb::Practice> = m
        .practices()
        .filter(|p| p.status == Status::Active && p.practice.node_key.len() == 32)
        .map(|p| roster_entry(&p.practice))
        .collect();
    v.sort_by(|a, b| a.ods_code.cmp(&b.ods_code));
    v
}

/// This network's entry for a charter: its id, name, roster and the given bootstrap
/// addresses.
pub fn card(
    network: NetworkId,
    name: &str,
    m: &Membership,
    bootstrap: &[String],
) -> pb::CharterNetwork {
    charter_entry(network, name, &roster_of(m), bootstrap)
}
