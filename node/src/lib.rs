//! # mutual-node
//!
//! The Mutual node and its command-line interface, `mutual`. This crate does the I/O that
//! the sans-IO core (`mutual-protocol`) leaves out: files, clocks, randomness, storage and
//! networking.
//!
//! ## Map of the crate
//! From the bottom up; no module imports one above it, and none import each other in a
//! circle.
//! - [`core`]: the node's logic with no I/O (`NodeCore`): taking events in, signing,
//!   attesting and witnessing, peers and the gate's policy, federations' logs, sync
//!   sessions and the sync protocol's rounds, papers (which the log names, fetching,
//!   checking and serving them), and the storage trait it writes through.
//!   Inputs and the time in, actions out; no tokio, libp2p, sled, clock or randomness.
//! - [`limits`]: every limit enforced on peers; [`dates`]: dates and times for people.
//! - [`keyfile`]: key files on disk (mode 0600), fingerprints, and the node key's libp2p
//!   identity; [`keystore`]: a partner's key, encrypted with a passphrase; [`invite`]:
//!   one-line invites.
//! - [`store`]: the node's backend of the core's storage trait (an event file, a file of closed motions' ballot lists, and sled), and the data directory's
//!   storage layout; [`federation`]: this network's entry for a charter.
//! - [`net`]: the libp2p behaviours and transports; [`gate`]: the libp2p behaviour that
//!   enforces the core's gate policy on every connection.
//! - [`node`]: a running node: the thin driver that turns libp2p, tokio and sled into the
//!   core's inputs and carries out its actions, and the [`node::NodeHandle`] to it.
//! - [`export`]: the audit format: a signed log as varint-length-prefixed `SignedEvent`s,
//!   and offline verification of such a file.
//! - [`api`]: the HTTP API, one file per resource; [`daemon`]: a data directory, its
//!   configuration, founding, and the daemon; [`client`]: the command line's side of the
//!   API, from the node's machine or a partner's; [`tls`]: the API over TLS (rustls);
//!   [`deed`]: the deed as people write (TOML) and read it (in words, as a table, with
//!   diffs), its powers and terms included.
//! - [`demo`]: `mutual demo`, a narrated partnership of node processes on loopback.
//! - [`sim`]: the deterministic simulator: the core on every node of a simulated
//!   partnership, over a faulty network, from a seed; [`simulate`]: the in-process check
//!   that replicas fed in different orders converge.
//! - [`fuzzing`]: what the fuzz targets check; [`bench`]: `mutual bench`, the performance
//!   figures measured in one run.
//!
//! The binary `mutual` is `main.rs` and `cli/`, one file per group of commands.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
pub mod bench;
pub mod client;
pub mod core;
pub mod daemon;
pub mod dates;
pub mod deed;
pub mod demo;
pub mod export;
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
pub mod tls;

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
