//! Mutual's wire format: the `mutual.v1` protobuf messages, generated with prost from
//! `proto/mutual/v1/*.proto`.
//!
//! This crate only carries types; what the bytes mean and which are valid is defined in
//! `docs/PROTOCOL.md` and enforced by `mutual-protocol`.
#![forbid(unsafe_code)]

/// The `mutual.v1` package.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/mutual.v1.rs"));
}
