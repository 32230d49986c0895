//! A node's federations on disk (docs/FEDERATION.md): where each federation's log is
//! stored, and this network's entry for a charter. The logs themselves are kept by the
//! core (`crate::core::federations`).

use crate::core::federations::roster_of;
use crate::store::SledStore;
use mutual_proto::v1 as pb;
use mutual_protocol::federation::{charter_entry, FederationId};
use mutual_protocol::id::NetworkId;
use mutual_protocol::membership::Membership;
use std::path::{Path, PathBuf};

/// The directory, inside a node's data directory, holding one store per federation.
pub const FEDERATIONS_DIR: &str = "federations";

/// One federation's log as a running node keeps it.
pub type FedLog = crate::core::FedLog<SledStore>;

/// Where a federation's store lives.
pub fn store_dir(data_dir: &Path, id: &FederationId) -> PathBuf {
    data_dir.join(FEDERATIONS_DIR).join(id.to_string())
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
