//! # mutual-node
//!
//! The Mutual node and its command-line interface, `mutual`. This crate does the I/O that
//! the sans-IO core (`mutual-protocol`) leaves out: files, clocks, randomness, storage and
//! networking.
//!
//! ## Map of the crate
//! - [`keyfile`]: key files on disk (mode 0600), fingerprints, and the node key's libp2p
//!   identity.
//! - [`keystore`]: a partner's key, encrypted with a passphrase.
//! - [`export`]: the audit format: a signed log as varint-length-prefixed `SignedEvent`s,
//!   and offline verification of such a file.
//! - [`store`]: durable storage (a small trait and its sled backend).
//! - [`daemon`]: a data directory, its configuration, founding, and the daemon;
//!   [`api`]: its local HTTP API; [`client`]: the command line's side of it; [`invite`]: one-line invites.
//! - [`node`]: a running node: the task that owns the replica, the store and the swarm.
//! - [`net`]: the libp2p behaviours and transports; [`gate`]: who may connect;
//!   [`peers`]: scores, bans and request budgets; [`sync`]: the sync protocol's logic;
//!   [`limits`]: every limit enforced on peers.
//! - [`demo`]: `mutual demo`, a narrated partnership of node processes on loopback.
//! - [`simulate`]: an in-process partnership of several replicas fed in different orders,
//!   showing convergence of the core.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
pub mod client;
pub mod core;
pub mod daemon;
pub mod demo;
pub mod export;
pub mod fedapi;
pub mod federation;
pub mod fuzzing;
pub mod gate;
pub mod invite;
pub mod keyfile;
pub mod keystore;
pub mod limits;
pub mod net;
pub mod node;
pub mod sim;
pub mod simulate;
pub mod store;

/// Milliseconds since the Unix epoch by the local clock (the node is the only place
/// that reads the clock; the core is handed the time).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The local clock shifted by `offset_ms` (`clock_offset_ms` in `mutual.toml`). Every
/// timestamp a node signs and every time it judges by comes from here. The offset exists
/// for demonstrations and tests that must let a voting or grace period pass without
/// waiting for it; the nodes of one network must keep their clocks within
/// `MAX_CLOCK_SKEW_MS` (5 minutes) of each other, offset included.
pub fn clock_ms(offset_ms: i64) -> u64 {
    now_ms().saturating_add_signed(offset_ms)
}
