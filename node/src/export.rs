//! The audit format and offline verification.
//!
//! An export is a sequence of `SignedEvent` messages, each preceded by its length as a
//! protobuf varint (what prost calls length-delimited encoding). The genesis comes first;
//! the rest follow in fold order, though a verifier must not rely on any order.

use mutual_protocol::event::SignedEvent;
use mutual_protocol::id::NetworkId;
use mutual_protocol::limits::MAX_SIGNED_EVENT_BYTES;
use mutual_protocol::replica::{Ingested, Replica};
use serde::Serialize;
use std::collections::BTreeMap;

/// Why an export file cannot be read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// A length prefix is malformed or runs past the end of the file.
    #[error("corrupt export at byte {offset}: {reason}")]
    Framing {
        /// Where.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// No event in the file is a genesis.
    #[error("the export holds no genesis event, so there is no network to verify against")]
    NoGenesis,
}

/// Frames events as an export.
pub fn write<'a>(events: impl IntoIterator<Item = &'a SignedEvent>) -> Vec<u8> {
    write_wires(events.into_iter().map(SignedEvent::to_wire))
}

/// Frames events' wire bytes (`SignedEvent` messages) as an export.
pub fn write_wires<W: AsRef<[u8]>>(wires: impl IntoIterator<Item = W>) -> Vec<u8> {
    let mut out = Vec::new();
    for wire in wires {
        let wire = wire.as_ref();
        prost::encoding::encode_varint(wire.len() as u64, &mut out);
        out.extend_from_slice(wire);
    }
    out
}

/// Splits an export into its frames, without judging their contents.
pub fn frames(mut bytes: &[u8]) -> Result<Vec<&[u8]>, ExportError> {
    let total = bytes.len();
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let offset = total - bytes.len();
        let len = prost::encoding::decode_varint(&mut bytes).map_err(|e| ExportError::Framing {
            offset,
            reason: e.to_string(),
        })? as usize;
        if len > MAX_SIGNED_EVENT_BYTES {
            return Err(ExportError::Framing {
                offset,
                reason: format!(
                    "frame of {len} bytes is over the event limit of {MAX_SIGNED_EVENT_BYTES}"
                ),
            });
        }
        if len > bytes.len() {
            return Err(ExportError::Framing {
                offset,
                reason: format!("frame of {len} bytes runs past the end of the file"),
            });
        }
        let (frame, rest) = bytes.split_at(len);
        out.push(frame);
        bytes = rest;
    }
    Ok(out)
}

/// The result of verifying an export.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The network id (hex).
    pub network: String,
    /// The network's name, if its genesis is valid.
    pub name: Option<String>,
    /// Events in the file.
    pub events: usize,
    /// Events that are valid and stored.
    pub valid: usize,
    /// Events refused, by reason.
    pub invalid: BTreeMap<String, usize>,
    /// Events whose causes are not in the file.
    pub incomplete: usize,
    /// Events dated beyond the local clock.
    pub future_dated: usize,
    /// Duplicate copies.
    pub duplicates: usize,
    /// Valid events that took effect / were rejected by the rules / had no effect.
    pub applied: usize,
    /// Well-signed events refused by the rules (kept as evidence).
    pub rejected_by_rules: usize,
    /// Authors proven to have equivocated.
    pub forks: usize,
    /// The state hash (hex).
    pub state_hash: String,
}

/// Verifies an export offline: every signature, chain and rule, as a node would.
pub fn verify(bytes: &[u8], now_ms: u64) -> Result<Report, ExportError> {
    let frames = frames(bytes)?;
    let genesis = frames
        .iter()
        .filter_map(|f| SignedEvent::decode(f).ok())
        .find(SignedEvent::is_genesis)
        .ok_or(ExportError::NoGenesis)?;
    let network = NetworkId(genesis.id);
    let mut replica = Replica::new(network);
    let mut report = Report {
        network: network.to_string(),
        name: None,
        events: frames.len(),
        valid: 0,
        invalid: BTreeMap::new(),
        incomplete: 0,
        future_dated: 0,
        duplicates: 0,
        applied: 0,
        rejected_by_rules: 0,
        forks: 0,
        state_hash: String::new(),
    };
    for result in replica.ingest_batch(now_ms, &frames) {
        match result {
            Ok(Ingested::Stored { .. }) | Ok(Ingested::Pending { .. }) => {}
            Ok(Ingested::Duplicate) => report.duplicates += 1,
            Ok(Ingested::Held { .. }) => report.future_dated += 1,
            Err(e) => *report.invalid.entry(e.to_string()).or_default() += 1,
        }
    }
    report.incomplete = replica.pending_len();
    report.valid = replica.len();
    for ev in replica.events_in_order() {
        match replica.outcome(&ev.id) {
            Some(mutual_protocol::state::Outcome::Applied) => report.applied += 1,
            Some(mutual_protocol::state::Outcome::Rejected(_)) => report.rejected_by_rules += 1,
            _ => {}
        }
    }
    report.name = replica.state().name().map(str::to_owned);
    report.forks = replica.forks().len();
    report.state_hash = replica.state_hash().to_string();
    Ok(report)
}
