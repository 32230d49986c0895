//! # mutual-protocol
//!
//! The sans-IO core of Mutual, a peer-to-peer federation protocol for GP partnerships.
//! No sockets, no disk, no clock, no randomness: the caller passes the time and random
//! numbers in, and persists and sends what this crate says (a replica may be given a way
//! to read back the events the node persisted, [`replica::Bodies`], and a place to keep
//! closed motions' ballot lists, [`replica::Archive`], and files for its indexes,
//! [`runs::RunFiles`]). Every rule can therefore be
//! tested in microseconds, and every node computes the same result from the same events.
//!
//! ## Map of the crate
//! - [`id`]: event and network ids (SHA-256 of the exact signed bytes).
//! - [`keys`]: ed25519 keys for practice nodes and partners, fingerprints.
//! - [`signature`]: the one signature rule, checked singly or in batches.
//! - [`event`]: decoding and structural validation of signed events; authoring feeds.
//! - [`limits`]: every limit, with its unit and reason.
//! - [`fork`]: equivocation proofs.
//! - [`replica`]: a node's copy of a network's log: ingest, pending, held, fold.
//! - [`state`]: the derived state, event outcomes and the state hash.
//! - [`membership`]: practices, partners and keys.
//! - [`aid`]: mutual aid between practices: requests, offers, agreements, the board.
//! - [`governance`]: the partnership deed (its rules, its powers, terms of office),
//!   motions, signed ballots, elections (STV and one seat per locality) and their effects.
//! - [`federation`]: networks linking without any of them owning the link: their own log.
//! - [`sorted`]: an ordered map kept as a sorted list and a small map of recent entries:
//!   the in-memory part of the per-event indexes.
//! - [`runs`]: the same indexes kept mostly out of memory, in sorted runs the node keeps on
//!   disk ([`runs::RunFiles`]), for a log too long to index in memory.
//!
//! ## Example
//! ```
//! use mutual_protocol::{event::{Body, FeedWriter}, keys::Keypair, replica::Replica};
//! use mutual_proto::v1 as pb;
//!
//! let practice = Keypair::from_seed(&[1; 32]).unwrap();
//! let genesis = pb::Genesis {
//!     name: "Example Health Partnership".into(),
//!     practices: vec![pb::Practice {
//!         name: "Riverside Surgery".into(),
//!         ods_code: "M85001".into(),
//!         locality: "North".into(),
//!         list_size: 9_000,
//!         node_key: practice.public().as_bytes().to_vec(),
//!     }],
//!     ..Default::default()
//! };
//! let (mut feed, first) = FeedWriter::found(practice, 1_700_000_000_000, genesis);
//! let mut replica = Replica::new(mutual_protocol::id::NetworkId(first.id));
//! replica.ingest(1_700_000_000_000, &first.to_wire()).unwrap();
//!
//! let update = feed.sign(
//!     1_700_000_000_500,
//!     replica.heads(),
//!     Body::PracticeUpdate(pb::PracticeUpdate { list_size: 9_100, ..Default::default() }),
//! );
//! replica.ingest(1_700_000_001_000, &update.to_wire()).unwrap();
//! let rec = replica.state().membership().practice("M85001").unwrap();
//! assert_eq!(rec.practice.list_size, 9_100);
//! println!("state hash {}", replica.state_hash());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod aid;
pub mod event;
pub mod federation;
pub mod fork;
pub mod governance;
pub mod id;
pub mod keys;
pub mod limits;
pub mod membership;
pub mod replica;
pub mod runs;
pub mod signature;
pub mod sorted;
pub mod state;
