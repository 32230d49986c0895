//! Every limit the node enforces on its peers, with its unit and its reason
//! (docs/NETWORK.md §6). These are capacity limits: they bound one node's memory, work and
//! bandwidth, and never change which events are valid.

use mutual_protocol::limits::MAX_SIGNED_EVENT_BYTES;
use std::time::Duration;

/// Largest encoding of one frontier entry, in bytes: author and head (34 bytes each with
/// tag and length), seq and first forked seq (11 each at most), and the entry's own tag
/// and length (3).
pub const MAX_FRONTIER_ENTRY_BYTES: usize = 2 * 34 + 2 * 11 + 3;

/// Largest encoding of one reconciliation range without entries, in bytes: its bound
/// (34 with tag and length), mode (2), fingerprint (18), and the range's own tag and
/// length (3).
pub const MAX_RANGE_BYTES: usize = 34 + 2 + 18 + 3;

/// Largest sync request read from a peer, in bytes: a reconciliation message of
/// [`MAX_RECONCILE_RANGES`] ranges holding [`MAX_RECONCILE_ENTRIES`] entries, plus
/// framing.
pub const MAX_SYNC_REQUEST_BYTES: usize = MAX_RECONCILE_RANGES * MAX_RANGE_BYTES
    + MAX_RECONCILE_ENTRIES * MAX_FRONTIER_ENTRY_BYTES
    + 4096;

/// Largest sync response read from a peer, in bytes: a page of [`MAX_PAGE_BYTES`] plus
/// one event that may overshoot it, or a reconciliation message as large as a request's,
/// plus framing.
pub const MAX_SYNC_RESPONSE_BYTES: usize =
    if MAX_SYNC_REQUEST_BYTES > MAX_PAGE_BYTES + MAX_SIGNED_EVENT_BYTES + 4096 {
        MAX_SYNC_REQUEST_BYTES
    } else {
        MAX_PAGE_BYTES + MAX_SIGNED_EVENT_BYTES + 4096
    };

/// A page of events stops growing once it holds this many bytes of events.
pub const MAX_PAGE_BYTES: usize = 1024 * 1024;

/// Most events in one page.
pub const MAX_PAGE_EVENTS: usize = 1024;

/// Most event ids in one fetch request.
pub const MAX_FETCH_IDS: usize = 256;

/// Most feeds asked for in one pull request.
pub const MAX_PULL_WANTS: usize = 1024;

/// Most ranges in one reconciliation message. A node with more to say answers the rest
/// with fingerprints, which the peer takes up in its next message.
pub const MAX_RECONCILE_RANGES: usize = 1024;

/// Most frontier entries in one reconciliation message, over all its ranges. However many
/// authors a log holds, an honest node sends them in pieces of at most this many.
pub const MAX_RECONCILE_ENTRIES: usize = 8192;

/// How many sub-ranges a node splits a range into when its fingerprint differs and the
/// node holds more than [`RECONCILE_LIST_AT`] entries there.
pub const RECONCILE_BRANCHES: usize = 8;

/// A node answers a range whose fingerprint differs with all its entries there when it
/// holds at most this many, and splits it otherwise.
pub const RECONCILE_LIST_AT: usize = 4;

/// Most reconciliation messages one round sends before it pulls what it learned.
pub const MAX_RECONCILE_STEPS: usize = 32;

/// Most pages one sync round pulls before it yields to the next round.
pub const MAX_PAGES_PER_ROUND: usize = 64;

/// Most heads a `Summary` carries (docs/NETWORK.md §4.3). A node with more sends none,
/// and a round with it reconciles frontiers instead.
pub const MAX_SUMMARY_HEADS: usize = 8;

/// Most events a node visits, walking back from its own heads, to find what a peer whose
/// heads it holds lacks; past it, the round reconciles frontiers instead.
pub const MAX_HEADS_WALK: usize = 8 * MAX_PAGE_EVENTS;

/// Peers a node keeps in its gossip mesh for a topic (gossipsub's D): each event reaches
/// a node from about this many peers, all but the first a duplicate.
pub const GOSSIP_MESH: usize = 3;
/// Fewest mesh peers before a node grafts more (gossipsub's D_low).
pub const GOSSIP_MESH_LOW: usize = 2;
/// Most mesh peers before a node prunes some (gossipsub's D_high).
pub const GOSSIP_MESH_HIGH: usize = 4;
/// Peers outside the mesh told of recent events' ids at each heartbeat (gossipsub's
/// D_lazy), so one that missed an event asks for it.
pub const GOSSIP_LAZY: usize = 2;
/// Heartbeats (1 s each) during which an event's id is told to peers outside the mesh.
/// Each telling costs about a tenth of the event; sync rounds (every 10 s) bring what
/// gossip misses, so one heartbeat's telling is enough.
pub const GOSSIP_HISTORY: usize = 1;

/// Gossip messages larger than this are announced as held (IDONTWANT) to mesh peers on
/// arrival: a signed event with gossipsub's envelope is about 350 bytes, and the
/// announcement about 40, so it pays for itself once it saves one duplicate in eight.
pub const GOSSIP_IDONTWANT_BYTES: usize = 256;

// Gossipsub's own rule for its mesh, which it does not check for the defaults a node
// sets: D_low <= D <= D_high, and the outbound minimum (D_low / 2) at most D / 2.
const _: () = assert!(
    GOSSIP_MESH_LOW <= GOSSIP_MESH
        && GOSSIP_MESH <= GOSSIP_MESH_HIGH
        && GOSSIP_MESH_LOW / 2 <= GOSSIP_MESH / 2
        && GOSSIP_MESH_LOW / 2 >= 1
);

/// Largest gossip message, in bytes: one signed event and gossipsub's envelope.
pub const MAX_GOSSIP_BYTES: usize = MAX_SIGNED_EVENT_BYTES + 1024;

/// Most connections to or from one peer.
pub const MAX_CONNECTIONS_PER_PEER: u32 = 2;

/// Most established connections in total.
pub const MAX_CONNECTIONS: u32 = 256;

/// Most connections being set up at once, in each direction.
pub const MAX_PENDING_CONNECTIONS: u32 = 64;

/// Sync requests a peer may send per second, sustained.
pub const MAX_REQUESTS_PER_SEC: u32 = 20;

/// Sync requests a peer may send in a burst above the sustained rate.
pub const MAX_REQUEST_BURST: u32 = 60;

/// A peer whose score falls to this or below is banned.
pub const BAN_SCORE: i32 = -100;

/// How long a ban lasts.
pub const BAN_DURATION: Duration = Duration::from_secs(15 * 60);

/// Score lost for each invalid event (bad signature, malformed, broken chain).
pub const PENALTY_INVALID_EVENT: i32 = 25;

/// Score lost for a message that does not decode or breaks a size limit.
pub const PENALTY_MALFORMED: i32 = 50;

/// Score lost for a request over the rate limit.
pub const PENALTY_RATE: i32 = 10;

/// Score lost for gossiping an event provably by a key the network does not know (every
/// cause it names is in the log; `core::intake`): an honest node never forwards one, so
/// four of them ban the sender.
pub const PENALTY_UNKNOWN_AUTHOR: i32 = 25;

/// Score lost for sending bytes as a paper that do not match its signed hash: an honest
/// node checks a paper before it stores or serves it, so two of them ban the sender.
pub const PENALTY_BAD_PAPER: i32 = 50;

/// Score regained per minute of good behaviour, up to zero.
pub const SCORE_RECOVERY_PER_MIN: i32 = 20;

/// How long a sync request may take before it is abandoned.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a paper request may take before it is abandoned: a paper is up to 16 MiB.
pub const PAPER_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a connection with no open streams stays up.
pub const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(120);

/// Most addresses kept per peer from identify and LAN discovery.
pub const MAX_ADDRESSES_PER_PEER: usize = 16;

/// Least time between two dials of the same peer.
pub const REDIAL_INTERVAL: Duration = Duration::from_secs(10);
