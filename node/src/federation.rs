//! A node's federations on disk (docs/FEDERATION.md): where each federation's log is
//! stored, and this network's entry for a charter. The logs themselves are kept by the
//! core (`crate::core::federations`).

use crate::core::federations::roster_of;
use crate::store::SledStore;
pub use crate::store::{store_dir, FEDERATIONS_DIR};
use mutual_proto::v1 as pb;
use mutual_protocol::federation::charter_entry;
use mutual_protocol::id::NetworkId;
use mutual_protocol::membership::Membership;

/// One federation's log as a running node keeps it.
pub type FedLog = crate::core::FedLog<SledStore>;

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
