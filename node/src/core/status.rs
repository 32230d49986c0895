//! What the core reports: its errors, its counters and its condition.

use super::store::StoreError;
use mutual_protocol::federation::FederationId;
use serde::Serialize;

/// Why a node could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The node is not running.
    #[error("the node has stopped")]
    Stopped,
    /// The node has not yet seen its own feed head from a peer.
    #[error("this node has not yet heard its own latest event from any member's node, so it will not sign (a store restored from an old copy could otherwise reuse a sequence number); check that it can reach the other nodes")]
    HeadUnconfirmed,
    /// The node has not yet seen its own feed head in a federation's log from a peer.
    #[error("this node has not yet heard its own latest event in federation {0} from a node taking part in it, so it will not sign there (a store restored from an old copy could otherwise reuse a sequence number); check that it can reach the other nodes")]
    FederationHeadUnconfirmed(FederationId),
    /// The event was refused.
    #[error("event refused: {0}")]
    Refused(String),
    /// Starting failed.
    #[error("{0}")]
    Start(String),
}

/// Counters a node keeps about its traffic and its peers.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Metrics {
    /// Bytes of sync responses received.
    pub sync_bytes_in: u64,
    /// Bytes of sync responses sent.
    pub sync_bytes_out: u64,
    /// Bytes of gossip messages received.
    pub gossip_bytes_in: u64,
    /// Bytes the node's connections read, every protocol together, as libp2p's
    /// bandwidth counters count them (above encryption and multiplexing); the driver's
    /// to fill.
    pub transport_bytes_in: u64,
    /// Bytes the node's connections wrote, counted the same way; the driver's to fill.
    pub transport_bytes_out: u64,
    /// Sync rounds started by this node.
    pub sync_rounds: u64,
    /// Sync rounds that ended with both sides in sync at the first step.
    pub sync_rounds_in_sync: u64,
    /// Events taken in from peers (stored, pending or held).
    pub events_received: u64,
    /// Invalid events received.
    pub invalid_events: u64,
    /// Events by keys of no member (nor anyone the log knows) that were not kept because
    /// the evidence cap for their sender or their author was reached (docs/NETWORK.md §6).
    pub evidence_refused: u64,
    /// Malformed or oversized messages received.
    pub malformed_messages: u64,
    /// Requests refused for exceeding the rate limit.
    pub rate_limited: u64,
    /// Bans imposed.
    pub bans: u64,
    /// Connections refused by the gate.
    pub connections_refused: u64,
    /// Events this node signed.
    pub events_authored: u64,
    /// Sync requests refused because the peer does not share the log asked for (a
    /// federation's peer asking for this network's log, or for another federation's).
    pub out_of_scope_requests: u64,
    /// Gossip subscriptions refused for the same reason; the peer is banned at once.
    pub out_of_scope_subscriptions: u64,
    /// Gossip messages refused because they came on a topic the sender does not share.
    pub out_of_scope_messages: u64,
    /// Papers fetched from peers, checked against their hashes and stored.
    pub papers_fetched: u64,
    /// Papers peers sent whose bytes did not match the hash (not stored; the peer is
    /// penalised).
    pub papers_rejected: u64,
    /// Papers sent to the network's nodes.
    pub papers_served: u64,
    /// Paper requests refused because the asker is not a node of the network.
    pub papers_refused: u64,
}

/// A snapshot of a node's condition.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Status {
    /// The node's PeerId.
    pub peer_id: String,
    /// The network id.
    pub network: String,
    /// Stored events.
    pub events: usize,
    /// Events waiting for causes.
    pub pending: usize,
    /// Future-dated events held.
    pub held: usize,
    /// Events by keys the network does not know, kept apart until their authors are known
    /// (at most the caps of docs/NETWORK.md §6).
    pub quarantined: usize,
    /// The state hash.
    pub state_hash: String,
    /// Connected peers.
    pub peers: Vec<String>,
    /// The most events a connected peer said it holds in its last sync summary (0 before
    /// any): more than `events` while this node catches up. A peer's word, shown to
    /// people, never relied on.
    #[serde(default)]
    pub peers_hold: u64,
    /// Addresses the node listens on.
    pub listen: Vec<String>,
    /// Whether the node knows its own feed head (so signing cannot reuse a seq).
    pub head_confirmed: bool,
    /// Whether this node's key speaks for an active member practice: an invited node not
    /// yet admitted by the partners' vote is not one, and what it signs has no effect.
    #[serde(default)]
    pub admitted: bool,
    /// The node's clock (ms since the epoch, its clock offset included), so a client
    /// elsewhere reads times as the node does.
    #[serde(default)]
    pub now_ms: u64,
    /// Offices whose term has ended with no election since ("board", "chair";
    /// docs/GOVERNANCE.md §8.2).
    #[serde(default)]
    pub elections_due: Vec<String>,
    /// Papers the log names (docs/NETWORK.md §10).
    #[serde(default)]
    pub papers_named: usize,
    /// Of those, held here; the rest are being fetched from peers.
    #[serde(default)]
    pub papers_held: usize,
    /// Traffic and peer counters.
    pub metrics: Metrics,
}

/// What happened to a submitted event.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Submitted {
    /// Its id.
    pub id: String,
    /// "stored", "duplicate", "pending" or "held".
    pub result: String,
    /// Its outcome in the fold, once stored.
    pub outcome: Option<String>,
}
