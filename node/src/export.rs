//! The audit format and offline verification (docs/PROTOCOL.md §13).
//!
//! An export is one log, a network's or a federation's: a sequence of frames, each an
//! encoded `SignedEvent` preceded by its length as a protobuf varint (what prost calls
//! length-delimited encoding), with nothing before, between or after them. The writer puts
//! the log's root first (the genesis, or the federation's charter event), then every other
//! stored event once, each after its causes; a verifier must not rely on any order, and
//! [`verify`] does not: it sorts the frames by their causes before taking them in.
//!
//! A frame whose length is over [`MAX_SIGNED_EVENT_BYTES`], a malformed length, or a
//! length that runs past the end of the file makes the whole file unreadable: the writer
//! never makes one, so the file is damaged, and a report on what is left could be mistaken
//! for a report on the log.

use anyhow::{bail, Context as _};
use mutual_protocol::event::{Body, SignedEvent};
use mutual_protocol::federation::{FederationId, FederationState};
use mutual_protocol::governance::Finality;
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::limits::MAX_SIGNED_EVENT_BYTES;
use mutual_protocol::replica::{Fold, IngestError, Ingested, Replica};
use mutual_protocol::state::{Outcome, State};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// Why an export file cannot be read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// A length prefix is malformed, over the limit, or runs past the end of the file.
    #[error("corrupt export at byte {offset}: {reason}")]
    Framing {
        /// Where.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// No frame holds a root event: a network's genesis or a federation's charter.
    #[error(
        "the export holds no root event (a network's genesis or a federation's charter), \
         so there is no log to verify against"
    )]
    NoGenesis,
}

/// Frames events as an export.
pub fn write<E: std::borrow::Borrow<SignedEvent>>(events: impl IntoIterator<Item = E>) -> Vec<u8> {
    write_wires(events.into_iter().map(|e| e.borrow().to_wire()))
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

/// Splits an export into its frames, without judging their contents. A frame over
/// [`MAX_SIGNED_EVENT_BYTES`] aborts the whole file (see the module documentation); a
/// frame of any length up to it, 0 included, is returned for the verifier to judge.
pub fn frames(mut bytes: &[u8]) -> Result<Vec<&[u8]>, ExportError> {
    let total = bytes.len();
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let offset = total - bytes.len();
        let len = prost::encoding::decode_varint(&mut bytes).map_err(|e| ExportError::Framing {
            offset,
            reason: e.to_string(),
        })?;
        if len > MAX_SIGNED_EVENT_BYTES as u64 {
            return Err(ExportError::Framing {
                offset,
                reason: format!(
                    "frame of {len} bytes is over the event limit of {MAX_SIGNED_EVENT_BYTES}"
                ),
            });
        }
        let len = len as usize;
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

/// Which kind of log an export holds, told by its root event's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogKind {
    /// A network's log: its root is a `Genesis`.
    Network,
    /// A federation's log: its root is a `FederationCharter`.
    Federation,
}

/// A motion of a verified network log, as of the verification's time.
#[derive(Debug, Serialize)]
pub struct MotionLine {
    /// The motion's event id (hex).
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its kind, e.g. `general`.
    pub kind: String,
    /// When voting closes (UTC).
    pub closes_at: String,
    /// When the grace period ends (UTC): from then, the next practice node event closes it.
    pub final_at: String,
    /// Whether the log's own events closed it: a practice node event dated after
    /// `final_at` is in the log (docs/GOVERNANCE.md §5.2).
    pub closed: bool,
    /// For a closed motion, whether it passed.
    pub passed: Option<bool>,
    /// How settled it is as of the verification's time: open, provisional or final.
    pub finality: &'static str,
}

/// A network of a verified federation log.
#[derive(Debug, Serialize)]
pub struct PartyLine {
    /// The network's id (hex).
    pub network: String,
    /// Its name, from the charter.
    pub name: String,
    /// Whether it has joined.
    pub joined: bool,
    /// Whether it has left.
    pub left: bool,
}

/// The result of verifying an export.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Which kind of log the export holds.
    pub log: LogKind,
    /// The log's id (hex): the network id, or the federation id.
    pub network: String,
    /// The network's or federation's name, if its root applied.
    pub name: Option<String>,
    /// Whether the root is stored: it is valid and not dated after `as_of` + 5 minutes.
    pub root_stored: bool,
    /// The verification's time, ms since the Unix epoch: events dated more than five
    /// minutes after it are set aside, as a node whose clock read this would hold them.
    pub as_of_ms: u64,
    /// The same, for people (UTC).
    pub as_of: String,
    /// Events in the file.
    pub events: usize,
    /// Events that are valid and stored.
    pub valid: usize,
    /// Events refused, by reason.
    pub invalid: BTreeMap<String, usize>,
    /// Events whose causes are not in the file (or are not valid).
    pub incomplete: usize,
    /// Events dated more than five minutes after `as_of`, set aside.
    pub future_dated: usize,
    /// Duplicate copies.
    pub duplicates: usize,
    /// Valid events that took effect.
    pub applied: usize,
    /// Well-signed events refused by the rules (kept as evidence).
    pub rejected_by_rules: usize,
    /// Authors proven to have equivocated.
    pub forks: usize,
    /// The state hash (hex).
    pub state_hash: String,
    /// A network's motions, in closing order (by `final_at`, then id).
    pub motions: Vec<MotionLine>,
    /// A federation's networks, in the charter's order.
    pub parties: Vec<PartyLine>,
}

/// Events taken into the replica at a time: bounds the decoded events held at once.
const INGEST_BATCH: usize = 1024;

/// Verifies an export offline: every signature, chain and rule, as a node whose clock
/// reads `as_of_ms` would after receiving every event in the file.
pub fn verify(bytes: &[u8], as_of_ms: u64) -> Result<Report, ExportError> {
    let frames = frames(bytes)?;
    let root = frames
        .iter()
        .filter_map(|f| SignedEvent::decode(f).ok())
        .find(SignedEvent::is_genesis)
        .ok_or(ExportError::NoGenesis)?;
    let id = NetworkId(root.id);
    let ordered = causal_order(&frames);
    let mut report = Report {
        log: LogKind::Network,
        network: id.to_string(),
        name: None,
        root_stored: false,
        as_of_ms,
        as_of: format_ms(as_of_ms),
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
        motions: Vec::new(),
        parties: Vec::new(),
    };
    if matches!(root.event.body, Some(Body::FederationCharter(_))) {
        report.log = LogKind::Federation;
        let mut replica = Replica::<FederationState>::empty(id);
        take_in(&mut replica, as_of_ms, &ordered, &mut report);
        let state = replica.state();
        report.name = state.charter().map(|c| c.name.clone());
        report.parties = state
            .parties()
            .map(|p| PartyLine {
                network: p.network.to_string(),
                name: p.name.clone(),
                joined: p.joined.is_some(),
                left: p.left.is_some(),
            })
            .collect();
    } else {
        let mut replica = Replica::<State>::new(id);
        take_in(&mut replica, as_of_ms, &ordered, &mut report);
        report.name = replica.state().name().map(str::to_owned);
        report.motions = motions(replica.state(), as_of_ms);
    }
    Ok(report)
}

/// Takes the frames into `replica` and fills in the counts, the forks and the state hash.
fn take_in<S: Fold>(replica: &mut Replica<S>, as_of_ms: u64, frames: &[&[u8]], r: &mut Report) {
    let mut not_taken = 0;
    for chunk in frames.chunks(INGEST_BATCH) {
        for result in replica.ingest_batch(as_of_ms, chunk) {
            match result {
                Ok(Ingested::Stored { .. }) | Ok(Ingested::Pending { .. }) => {}
                Ok(Ingested::Duplicate) => r.duplicates += 1,
                Ok(Ingested::Held { .. }) | Err(IngestError::FutureFull) => r.future_dated += 1,
                // Only events whose causes are missing go to the pending set, so these
                // are incomplete too (the file is in causal order, see `causal_order`).
                Err(IngestError::PendingFull) => not_taken += 1,
                Err(e) => *r.invalid.entry(e.to_string()).or_default() += 1,
            }
        }
    }
    r.incomplete = replica.pending_len() + not_taken;
    r.valid = replica.len();
    for (_, outcome) in replica.ids_in_order() {
        match outcome {
            Outcome::Applied => r.applied += 1,
            Outcome::Rejected(_) => r.rejected_by_rules += 1,
            _ => {}
        }
    }
    r.forks = replica.forks().len();
    r.state_hash = replica.state_hash().to_string();
    r.root_stored = replica.contains(&replica.network().genesis());
}

/// The frames in an order where every event comes after those of its causes that the
/// file holds (copies of one event together; frames that do not decode first), so the
/// result never depends on the file's order or on the pending set's capacity.
fn causal_order<'a>(frames: &[&'a [u8]]) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(frames.len());
    let mut copies: HashMap<EventId, Vec<usize>> = HashMap::new();
    let mut causes: HashMap<EventId, Vec<EventId>> = HashMap::new();
    let mut first_seen: Vec<EventId> = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        match SignedEvent::decode(f) {
            Ok(ev) => {
                let slot = copies.entry(ev.id).or_default();
                if slot.is_empty() {
                    first_seen.push(ev.id);
                    causes.insert(ev.id, ev.event.causes().collect());
                }
                slot.push(i);
            }
            Err(_) => out.push(*f),
        }
    }
    // Depth-first, with an explicit stack: each id is pushed at most once.
    let mut done: HashSet<EventId> = HashSet::with_capacity(first_seen.len());
    let mut on_stack: HashSet<EventId> = HashSet::new();
    for start in first_seen {
        if done.contains(&start) {
            continue;
        }
        let mut stack: Vec<(EventId, usize)> = vec![(start, 0)];
        on_stack.insert(start);
        while let Some(top) = stack.last_mut() {
            let (id, next) = (top.0, top.1);
            let cs = causes.get(&id).map(Vec::as_slice).unwrap_or_default();
            if let Some(c) = cs.get(next).copied() {
                top.1 += 1;
                if copies.contains_key(&c) && !done.contains(&c) && on_stack.insert(c) {
                    stack.push((c, 0));
                }
                continue;
            }
            stack.pop();
            on_stack.remove(&id);
            done.insert(id);
            out.extend(copies[&id].iter().map(|&i| frames[i]));
        }
    }
    out
}

/// A network's motions as of `as_of_ms`, in closing order.
fn motions(state: &State, as_of_ms: u64) -> Vec<MotionLine> {
    let gov = state.governance();
    let mut list: Vec<_> = gov.motions().collect();
    list.sort_by_key(|m| (m.final_at_ms, m.id));
    list.into_iter()
        .map(|m| {
            let report = gov.report(&m.id, as_of_ms);
            let finality = match report.as_ref().map(|r| &r.finality) {
                Some(Finality::Open) => "open",
                Some(Finality::Provisional) => "provisional",
                _ => "final",
            };
            MotionLine {
                id: m.id.to_string(),
                title: m.motion.title.clone(),
                kind: m
                    .kind
                    .as_str_name()
                    .trim_start_matches("DECISION_KIND_")
                    .to_lowercase(),
                closes_at: format_ms(m.closes_at_ms),
                final_at: format_ms(m.final_at_ms),
                closed: m.closed.is_some(),
                passed: m.closed.as_ref().map(|c| c.tally.passed),
                finality,
            }
        })
        .collect()
}

/// Reads, as an export, the log a data directory keeps of one federation (a store of its
/// own beside the network's: `store/federations/<id>/` under the data directory).
/// `federation` is the federation's id or a prefix of it (hex) that names one federation
/// the directory keeps. The node must not be running: its stores are open while it runs.
pub fn export_federation(dir: &Path, federation: &str) -> anyhow::Result<(FederationId, Vec<u8>)> {
    use crate::store::FEDERATIONS_DIR;
    use crate::store::{SledStore, Store, StoreError, FORMAT_FILE};
    let network_store = dir.join(crate::store::STORE_DIR);
    let id = find_federation(&network_store.join(FEDERATIONS_DIR), federation)
        .with_context(|| format!("in {}", dir.display()))?;
    let store_dir = crate::store::store_dir(&network_store, &id);
    if !store_dir.join(FORMAT_FILE).exists() {
        bail!(
            "{} has no store of federation {id}; the node opens it when its network links",
            store_dir.display()
        );
    }
    let store = match SledStore::open(&store_dir) {
        Ok(s) => s,
        Err(StoreError::InUse(_)) => bail!(
            "the node of {} is running and holds federation {id}'s store open; stop it \
             (`kill -TERM` its process) and export again (a running node exports only its \
             network's log)",
            dir.display()
        ),
        Err(e) => return Err(e.into()),
    };
    if let Some(n) = store.network() {
        if n != id {
            bail!("{} holds the log of {n}, not of {id}", store_dir.display());
        }
    }
    let mut events = store.load()?.events;
    // The root first, as the format says; the store keeps events in the order it stored
    // them, each after its causes.
    if let Some(i) = events
        .iter()
        .position(|w| SignedEvent::decode(w).is_ok_and(|e| e.id == id.genesis()))
    {
        let root = events.remove(i);
        events.insert(0, root);
    }
    Ok((id, write_wires(&events)))
}

/// The federation in `federations_dir` whose id is `wanted` or starts with it.
fn find_federation(federations_dir: &Path, wanted: &str) -> anyhow::Result<FederationId> {
    let wanted = wanted.trim().to_ascii_lowercase();
    if wanted.is_empty() || !wanted.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("{wanted:?} is not a federation id: give its id (64 hex digits) or the start of it");
    }
    let mut known: Vec<FederationId> = match std::fs::read_dir(federations_dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|name| {
                let bytes = hex::decode(name).ok()?;
                EventId::from_slice(&bytes).map(NetworkId)
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", federations_dir.display())),
    };
    known.sort();
    if known.is_empty() {
        bail!(
            "no federation's log is kept here: the network has linked to none \
             (`mutual federation list` shows its federations)"
        );
    }
    let matching: Vec<&FederationId> = known
        .iter()
        .filter(|f| f.to_string().starts_with(&wanted))
        .collect();
    match matching.as_slice() {
        [one] => Ok(**one),
        [] => bail!(
            "no federation kept here has an id starting {wanted}; kept here: {}",
            list(&known)
        ),
        many => bail!(
            "{} federations kept here have ids starting {wanted} ({}); give more of the id",
            many.len(),
            list(&many.iter().map(|f| **f).collect::<Vec<_>>())
        ),
    }
}

fn list(ids: &[FederationId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

pub use crate::dates::{format_ms, parse_time, TimeError};
