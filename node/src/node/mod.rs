//! A running node: the thin driver around the core (`crate::core::NodeCore`). One task
//! owns the core, its sled store and the libp2p swarm; it turns what the swarm, the clock
//! and the [`NodeHandle`] bring into the core's inputs and carries out the actions the
//! core returns (docs/NETWORK.md §1). Every rule lives in the core; what is here is I/O:
//! translating peers' PeerIds to node keys, topics to logs, libp2p's request ids and
//! response channels to the core's numbers, and replies to the callers waiting for them.
//!
//! [`handle`]: the [`NodeHandle`] and the commands it sends; [`driver`]: the task that owns
//! the core, the store and the swarm; [`papers`]: the driver's side of the paper protocol.

pub mod driver;
pub mod handle;
pub mod papers;

use crate::core::{self};
pub use driver::start;
pub use handle::{Change, NodeHandle};
use libp2p::Multiaddr;
use mutual_protocol::event::SignedEvent;
use mutual_protocol::id::NetworkId;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::core::{plan_next, sign_next, Metrics, NodeError, NotNow, Status, Submitted};

/// Events received from peers become durable at most this long after they are stored.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(core::HOUSEKEEPING_MS);
/// Commands waiting for the node's task.
const COMMAND_QUEUE: usize = 256;

/// How a node starts.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the store lives.
    pub data_dir: PathBuf,
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start, each ending in `/p2p/<peer id>`.
    pub bootstrap: Vec<Multiaddr>,
    /// LAN discovery.
    pub mdns: bool,
    /// Time between sync rounds with each connected peer.
    pub sync_interval: Duration,
    /// How long a request to sign waits for the node to learn its own feed head.
    pub head_timeout: Duration,
    /// Shifts this node's clock by this many milliseconds (see [`crate::clock_ms`]).
    pub clock_offset_ms: i64,
    /// The most paper bytes the node stores (docs/NETWORK.md §10).
    pub paper_store_bytes: u64,
}

impl Config {
    /// Defaults for a node storing in `data_dir`: TCP and QUIC on every interface, port
    /// 7700, no bootstrap peers, mDNS off, a sync round every 10 s.
    pub fn new(data_dir: PathBuf) -> Self {
        Config {
            data_dir,
            listen: vec![
                "/ip4/0.0.0.0/tcp/7700".parse().expect("valid"),
                "/ip4/0.0.0.0/udp/7700/quic-v1".parse().expect("valid"),
            ],
            bootstrap: Vec::new(),
            mdns: false,
            sync_interval: Duration::from_secs(10),
            head_timeout: Duration::from_secs(60),
            clock_offset_ms: 0,
            paper_store_bytes: crate::core::papers::DEFAULT_PAPER_STORE_BYTES,
        }
    }
}

/// Which network a node serves.
#[derive(Debug)]
pub enum Network {
    /// The one its store already belongs to.
    Stored,
    /// A new network this node founds with `genesis` (signed with the node key).
    Found(Box<SignedEvent>),
    /// An existing network, to be fetched from the bootstrap peers.
    Join(NetworkId),
}
