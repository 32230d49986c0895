//! Papers: the files attached to motions and aid requests, and the partnership's
//! agreement (docs/PROTOCOL.md §8.13, docs/NETWORK.md §10). A signed event carries each
//! paper's SHA-256 and size; the bytes travel by the paper protocol, from any node of the
//! network that holds them, and are checked against the hash before they are stored or
//! served.
//!
//! The node wants every paper an event of its log names (a motion's, an aid request's,
//! the agreement a deed names), fetches what it lacks a few at a time from its own
//! network's nodes, and answers their requests; it never sends a paper to a node that is
//! not an active practice of its network (a federation's nodes included). A partner's
//! client hands the proposing node the bytes once the event naming them is stored
//! (`NodeCore::put_paper`): bytes no event names are refused, so nothing can be parked
//! on a node.

use super::io::{Action, PaperStored};
use super::peers::Offence;
use super::status::NodeError;
use super::{NodeCore, Store};
use mutual_proto::v1 as pb;
use mutual_protocol::id::EventId;
use mutual_protocol::keys::PublicKey;
use mutual_protocol::limits::MAX_PAPER_BYTES;
use mutual_protocol::replica::Replica;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A paper's SHA-256.
pub type PaperHash = [u8; 32];

/// Papers fetched from peers at once. A paper is up to 16 MiB: two at a time keep a
/// node's memory and its link modest while a long catch-up runs.
pub const MAX_PAPER_FETCHES: usize = 2;

/// How long after every connected peer was asked for a paper, none giving it, the peers
/// are asked again, ms.
pub const PAPER_RETRY_MS: u64 = 30_000;

/// The most paper bytes a node stores unless its configuration says otherwise: 4 GiB,
/// some 250 of the largest papers, far beyond what a partnership attaches in years.
/// Beyond it the node fetches no more and refuses uploads, saying why.
pub const DEFAULT_PAPER_STORE_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// Paper bytes one peer may be sent at once, and then per second: two of the largest
/// papers (what a fetcher asks for at once, [`MAX_PAPER_FETCHES`]), then 4 MiB/s. Each
/// paper served is read and checked on the node's own thread, so this bounds the work and
/// memory a member node can make it spend.
pub const PAPER_SERVE_BURST_BYTES: u64 = 2 * MAX_PAPER_BYTES;
/// See [`PAPER_SERVE_BURST_BYTES`].
pub const PAPER_SERVE_BYTES_PER_SEC: u64 = 4 * 1024 * 1024;
/// As [`PAPER_SERVE_BURST_BYTES`], for all peers together: four of the largest papers,
/// then 16 MiB/s.
pub const PAPER_SERVE_TOTAL_BURST_BYTES: u64 = 4 * MAX_PAPER_BYTES;
/// See [`PAPER_SERVE_TOTAL_BURST_BYTES`].
pub const PAPER_SERVE_TOTAL_BYTES_PER_SEC: u64 = 16 * 1024 * 1024;

/// A budget of bytes that refills at a steady rate up to a burst.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    bytes: u64,
    at_ms: u64,
}

impl Bucket {
    fn full(burst: u64, now_ms: u64) -> Self {
        Bucket {
            bytes: burst,
            at_ms: now_ms,
        }
    }

    /// Refills to `now_ms`, then takes `n` bytes if there are that many.
    fn take(&mut self, n: u64, burst: u64, per_sec: u64, now_ms: u64) -> bool {
        let refill = now_ms.saturating_sub(self.at_ms).saturating_mul(per_sec) / 1000;
        self.bytes = self.bytes.saturating_add(refill).min(burst);
        self.at_ms = now_ms;
        if self.bytes < n {
            return false;
        }
        self.bytes -= n;
        true
    }
}

/// A paper some event of the log names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// Its size as signed by the earliest event naming it (unknown for an agreement named
    /// only by its hash). Shown, never trusted: the bytes are checked by their hash alone,
    /// so an event naming the same hash with another size cannot keep the paper from
    /// spreading.
    pub size: Option<u64>,
    /// Its name as signed by the earliest event naming it.
    pub name: String,
    /// Its media type as signed by that event.
    pub media_type: String,
    /// The events that name it, earliest first (by timestamp, then id).
    pub events: Vec<EventId>,
}

/// The papers a node holds and wants, and its fetches under way.
#[derive(Debug, Default)]
pub struct Papers {
    held: BTreeMap<PaperHash, u64>,
    wanted: BTreeMap<PaperHash, Wanted>,
    /// The log's length when `wanted` was last read from it.
    read_at: Option<usize>,
    inflight: HashMap<u64, (PaperHash, PublicKey)>,
    /// Peers asked for a paper that did not give it, and when every connected peer had
    /// been (monotonic ms): the round starts again [`PAPER_RETRY_MS`] after that.
    tried: BTreeMap<PaperHash, (BTreeSet<PublicKey>, Option<u64>)>,
    next_id: u64,
    /// The store's limit in bytes.
    limit: u64,
    /// Bytes each peer, and all together, may still be sent now.
    budgets: HashMap<PublicKey, Bucket>,
    total: Option<Bucket>,
    fetched: u64,
    bad: u64,
    served: u64,
    refused: u64,
}

/// Every paper the log's events name, with who names it.
pub fn wanted_by(r: &Replica) -> BTreeMap<PaperHash, Wanted> {
    // (timestamp, event id) of each naming, so the earliest names the paper for people.
    type Naming = ((u64, Option<EventId>), Option<u64>, String, String);
    let mut named: BTreeMap<PaperHash, Vec<Naming>> = BTreeMap::new();
    let at = |id: &EventId| r.timestamp_of(id).unwrap_or(0);
    let mut add = |hash: &[u8], size: Option<u64>, name: &str, media: &str, ev: Option<EventId>| {
        if let Ok(h) = PaperHash::try_from(hash) {
            let when = (ev.as_ref().map_or(0, at), ev);
            named
                .entry(h)
                .or_default()
                .push((when, size, name.to_string(), media.to_string()));
        }
    };
    let state = r.state();
    for rec in state.governance().motions() {
        for p in &rec.motion.papers {
            add(
                &p.sha256,
                Some(p.size),
                &p.name,
                &p.media_type,
                Some(rec.id),
            );
        }
        if let Some(d) = &rec.motion.new_deed {
            add(&d.agreement_hash, None, "agreement", "", Some(rec.id));
        }
    }
    for req in state.aid().requests() {
        for p in &req.papers {
            add(
                &p.sha256,
                Some(p.size),
                &p.name,
                &p.media_type,
                Some(req.id),
            );
        }
    }
    if let Some(d) = state.deed() {
        add(&d.agreement_hash, None, "agreement", "", None);
    }
    named
        .into_iter()
        .map(|(h, mut list)| {
            list.sort_by_key(|n| n.0);
            let first = list
                .iter()
                .find(|n| n.1.is_some())
                .or(list.first())
                .cloned();
            let (_, size, name, media_type) = first.unwrap_or_default();
            let mut events: Vec<EventId> = list.iter().filter_map(|n| n.0 .1).collect();
            events.dedup();
            (
                h,
                Wanted {
                    size,
                    name,
                    media_type,
                    events,
                },
            )
        })
        .collect()
}

/// A paper's SHA-256 in hex.
pub fn hex_of(h: &PaperHash) -> String {
    hex::encode(h)
}

impl Papers {
    /// The papers a store holds, under a store limit of `limit` bytes.
    pub fn new(held: Vec<(PaperHash, u64)>, limit: u64) -> Self {
        Papers {
            held: held.into_iter().collect(),
            limit,
            ..Default::default()
        }
    }

    /// The papers held, with their sizes.
    pub fn held(&self) -> &BTreeMap<PaperHash, u64> {
        &self.held
    }

    /// Every paper the log names, as last read.
    pub fn wanted(&self) -> &BTreeMap<PaperHash, Wanted> {
        &self.wanted
    }

    /// Bytes held in all.
    pub fn bytes_held(&self) -> u64 {
        self.held.values().sum()
    }

    /// Fetches under way.
    pub fn fetching(&self) -> usize {
        self.inflight.len()
    }

    /// Fills the paper counters of `m`.
    pub fn count_into(&self, m: &mut super::Metrics) {
        m.papers_fetched = self.fetched;
        m.papers_rejected = self.bad;
        m.papers_served = self.served;
        m.papers_refused = self.refused;
    }

    /// Papers the log `r` names, and how many of them are held, read afresh if the log
    /// has grown since the last reading.
    pub fn counts(&self, r: &Replica) -> (usize, usize) {
        let count = |w: &BTreeMap<PaperHash, Wanted>| {
            (
                w.len(),
                w.keys().filter(|h| self.held.contains_key(*h)).count(),
            )
        };
        if self.read_at == Some(r.len()) {
            count(&self.wanted)
        } else {
            count(&wanted_by(r))
        }
    }

    /// Whether a paper of `len` bytes with hash `h` would be taken from a local user now,
    /// read before its bytes are: `Ok(Some(size))` if held already (with its size),
    /// `Ok(None)` if named by an event of `r` with room for it, else why not.
    pub fn may_take(&self, r: &Replica, h: &PaperHash, len: u64) -> Result<Option<u64>, String> {
        if let Some(size) = self.held.get(h) {
            return Ok(Some(*size));
        }
        let named = if self.read_at == Some(r.len()) {
            self.wanted.contains_key(h)
        } else {
            wanted_by(r).contains_key(h)
        };
        if !named {
            return Err(format!(
                "no event of this partnership names a paper with SHA-256 {}; attach the file \
                 to a motion or an aid request (`--attach`) and it is sent after the event",
                hex_of(h)
            ));
        }
        if !self.room_for(len) {
            return Err(format!(
                "the node's paper store is full ({} of {} bytes); raise paper_store_bytes in \
                 its configuration",
                self.bytes_held(),
                self.limit
            ));
        }
        Ok(None)
    }

    /// Bytes of papers the store may still take.
    pub fn room(&self) -> u64 {
        self.limit.saturating_sub(self.bytes_held())
    }

    /// Takes paper `h`'s size from `peer`'s budget and the total one, if both have it.
    fn may_send(&mut self, peer: PublicKey, h: &PaperHash, now_ms: u64) -> bool {
        let n = self.held.get(h).copied().unwrap_or(0);
        let total = self
            .total
            .get_or_insert(Bucket::full(PAPER_SERVE_TOTAL_BURST_BYTES, now_ms));
        let mut trial = *total;
        if !trial.take(
            n,
            PAPER_SERVE_TOTAL_BURST_BYTES,
            PAPER_SERVE_TOTAL_BYTES_PER_SEC,
            now_ms,
        ) {
            return false;
        }
        let mine = self
            .budgets
            .entry(peer)
            .or_insert(Bucket::full(PAPER_SERVE_BURST_BYTES, now_ms));
        if !mine.take(
            n,
            PAPER_SERVE_BURST_BYTES,
            PAPER_SERVE_BYTES_PER_SEC,
            now_ms,
        ) {
            return false;
        }
        self.total = Some(trial);
        true
    }

    fn refresh(&mut self, r: &Replica) {
        if self.read_at != Some(r.len()) {
            self.wanted = wanted_by(r);
            self.read_at = Some(r.len());
        }
    }

    fn room_for(&self, size: u64) -> bool {
        self.bytes_held().saturating_add(size) <= self.limit
    }
}

/// Whether `bytes` are the paper `hash` names: its SHA-256, and within
/// [`MAX_PAPER_BYTES`]. The size an event signs is not compared: the hash decides, so no
/// event can make the true bytes look false.
fn matches(hash: &PaperHash, bytes: &[u8]) -> bool {
    bytes.len() as u64 <= MAX_PAPER_BYTES && Sha256::digest(bytes).as_slice() == hash
}

impl<S: Store> NodeCore<S> {
    /// The papers held and wanted.
    pub fn papers(&self) -> &Papers {
        &self.papers
    }

    /// Asks connected nodes of the network for the papers the log names and this node
    /// lacks, if it is an active practice's node itself: at most [`MAX_PAPER_FETCHES`] at
    /// a time, each of the connected peers in turn, and once every one has been asked,
    /// all of them again after [`PAPER_RETRY_MS`]. Run by housekeeping.
    pub(super) fn fetch_papers(&mut self) {
        self.papers.refresh(&self.net.replica);
        let now = self.now.mono_ms;
        let m = self.net.replica.state().membership();
        // Only the network's own nodes are sent papers: a node not (or no longer) an
        // active practice asks no one.
        if !m.is_active_practice_node(&self.me) {
            return;
        }
        let p = &mut self.papers;
        // A paper every peer was asked for is asked for again once the retry interval
        // has passed since the last of them was.
        // A paper held since is forgotten.
        let held = &p.held;
        p.tried.retain(|h, (_, all_asked)| {
            !held.contains_key(h)
                && all_asked.is_none_or(|t| now < t.saturating_add(PAPER_RETRY_MS))
        });
        let missing: Vec<(PaperHash, Option<u64>)> = p
            .wanted
            .iter()
            .filter(|(h, _)| !p.held.contains_key(*h))
            .filter(|(h, _)| !p.inflight.values().any(|(f, _)| f == *h))
            .map(|(h, w)| (*h, w.size))
            .collect();
        if missing.is_empty() {
            return;
        }
        let peers: Vec<PublicKey> = self
            .connected
            .iter()
            .filter(|q| **q != self.me && m.is_active_practice_node(q))
            .copied()
            .collect();
        for (hash, size) in missing {
            if p.inflight.len() >= MAX_PAPER_FETCHES {
                break;
            }
            // A size not signed (an agreement's) may be as large as any paper.
            if !p.room_for(size.unwrap_or(MAX_PAPER_BYTES)) {
                continue;
            }
            let tried = p.tried.get(&hash).map(|(t, _)| t);
            // Each paper starts from its own place among the peers, so that the papers a
            // node lacks are not all asked of the same peer; each peer is asked in turn.
            let start = usize::from(hash[0]) % peers.len().max(1);
            let Some(peer) = peers[start..]
                .iter()
                .chain(&peers[..start])
                .find(|q| tried.is_none_or(|t| !t.contains(*q)))
                .copied()
            else {
                if let Some((_, all_asked)) = p.tried.get_mut(&hash) {
                    all_asked.get_or_insert(now);
                }
                continue;
            };
            p.next_id += 1;
            let id = p.next_id;
            p.inflight.insert(id, (hash, peer));
            self.out.push(Action::PaperRequest {
                peer,
                id,
                req: pb::PaperRequest {
                    sha256: hash.to_vec(),
                },
            });
        }
    }

    fn tried(&mut self, hash: PaperHash, peer: PublicKey) {
        self.papers.tried.entry(hash).or_default().0.insert(peer);
    }

    /// A peer's answer to paper request `id`: bytes that match the hash are stored; bytes
    /// that do not are dropped and the peer penalised.
    pub(super) fn on_paper_response(&mut self, id: u64, resp: Option<pb::PaperResponse>) {
        let Some((hash, peer)) = self.papers.inflight.remove(&id) else {
            return;
        };
        let Some(resp) = resp.filter(|r| r.status == pb::PaperStatus::Here as i32) else {
            self.tried(hash, peer);
            return;
        };
        let Some(w) = self.papers.wanted.get(&hash).cloned() else {
            return;
        };
        if !matches(&hash, &resp.data) {
            self.papers.bad += 1;
            tracing::warn!(%peer, paper = %hex_of(&hash), "a peer sent bytes that are not the paper named; not stored");
            self.tried(hash, peer);
            self.punish(peer, Offence::BadPaper);
            return;
        }
        if self.papers.held.contains_key(&hash) {
            return;
        }
        if !self.papers.room_for(resp.data.len() as u64) {
            // Not asked of this peer again until the retry interval: the store is full.
            self.tried(hash, peer);
            return;
        }
        match self.net.store.put_paper(&hash, &resp.data) {
            Ok(()) => {
                self.papers.held.insert(hash, resp.data.len() as u64);
                self.papers.fetched += 1;
                tracing::info!(paper = %hex_of(&hash), name = %w.name, "paper fetched");
            }
            Err(e) => tracing::warn!(error = %e, "a fetched paper could not be stored"),
        }
    }

    /// A peer asks for a paper: only a node of an active practice of this network gets
    /// it, only if it is one the log names and is held here, within the request rate and
    /// the byte budgets ([`PAPER_SERVE_BURST_BYTES`]); otherwise `BUSY`, `NOT_HELD` or,
    /// to a node outside the network, `REFUSED`.
    pub(super) fn on_paper_request(&mut self, from: PublicKey, req: pb::PaperRequest, token: u64) {
        let member = self
            .net
            .replica
            .state()
            .membership()
            .is_active_practice_node(&from);
        let refused = pb::PaperResponse {
            status: pb::PaperStatus::Refused as i32,
            data: Vec::new(),
        };
        let busy = pb::PaperResponse {
            status: pb::PaperStatus::Busy as i32,
            data: Vec::new(),
        };
        self.papers.refresh(&self.net.replica);
        // Only a paper the log names, and held here.
        let held = PaperHash::try_from(req.sha256.as_slice())
            .ok()
            .filter(|h| self.papers.wanted.contains_key(h) && self.papers.held.contains_key(h));
        let resp = if !member {
            self.papers.refused += 1;
            tracing::info!(peer = %from, "a paper asked for by a node outside the network: refused");
            refused
        } else if !self.allow_request(from)
            || held.is_some_and(|h| !self.papers.may_send(from, &h, self.now.mono_ms))
        {
            busy
        } else {
            // Checked again before it leaves: a file damaged on disk is not sent.
            match held.map(|h| (h, self.net.store.paper(&h))) {
                Some((h, Ok(Some(data)))) if Sha256::digest(&data).as_slice() == h => {
                    self.papers.served += 1;
                    pb::PaperResponse {
                        status: pb::PaperStatus::Here as i32,
                        data,
                    }
                }
                other => {
                    if let Some((h, _)) = other {
                        tracing::warn!(paper = %hex_of(&h), "a stored paper no longer matches its hash; it is fetched again");
                        self.papers.held.remove(&h);
                    }
                    pb::PaperResponse {
                        status: pb::PaperStatus::NotHeld as i32,
                        data: Vec::new(),
                    }
                }
            }
        };
        self.out.push(Action::PaperRespond { token, resp });
    }

    /// Takes a paper's bytes from a local user: refused unless some event of the log
    /// names these bytes (by their hash) and the store has room; stored durably before the
    /// answer.
    pub(super) fn put_paper(&mut self, bytes: &[u8]) -> Result<PaperStored, NodeError> {
        if bytes.len() as u64 > MAX_PAPER_BYTES {
            return Err(NodeError::Refused(format!(
                "the file is {} bytes; a paper has at most {MAX_PAPER_BYTES}",
                bytes.len()
            )));
        }
        let hash: PaperHash = Sha256::digest(bytes).into();
        self.papers.refresh(&self.net.replica);
        let size = bytes.len() as u64;
        // The same rules the API applies before it reads an upload's body.
        let held = self
            .papers
            .may_take(&self.net.replica, &hash, size)
            .map_err(NodeError::Refused)?;
        let stored = |already| PaperStored {
            sha256: hex_of(&hash),
            size,
            already,
        };
        if held.is_some() {
            return Ok(stored(true));
        }
        self.net.store.put_paper(&hash, bytes)?;
        self.papers.held.insert(hash, size);
        Ok(stored(false))
    }

    /// A paper's bytes, if held and still matching their hash (one damaged on disk is
    /// forgotten, and so fetched again).
    pub(super) fn read_paper(&mut self, hash: &PaperHash) -> Result<Option<Vec<u8>>, NodeError> {
        if !self.papers.held.contains_key(hash) {
            return Ok(None);
        }
        match self.net.store.paper(hash)? {
            Some(data) if Sha256::digest(&data).as_slice() == hash => Ok(Some(data)),
            _ => {
                tracing::warn!(paper = %hex_of(hash), "a stored paper no longer matches its hash; it is fetched again");
                self.papers.held.remove(hash);
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutual_protocol::keys::Keypair;

    fn peer(n: u8) -> PublicKey {
        Keypair::from_seed(&[n; 32]).expect("key").public()
    }

    #[test]
    fn all_peers_together_are_sent_at_most_the_total_budget() {
        let h = [1u8; 32];
        let mut p = Papers::new(vec![(h, MAX_PAPER_BYTES)], DEFAULT_PAPER_STORE_BYTES);
        let per_peer = (PAPER_SERVE_BURST_BYTES / MAX_PAPER_BYTES) as u8;
        let total = (PAPER_SERVE_TOTAL_BURST_BYTES / MAX_PAPER_BYTES) as u8;
        // Peers each take their own burst until the total's is spent.
        let mut sent = 0u8;
        for q in 1..=total {
            for _ in 0..per_peer {
                if sent < total {
                    assert!(p.may_send(peer(q), &h, 0), "paper {sent}");
                    sent += 1;
                }
            }
        }
        let fresh = peer(99);
        assert!(!p.may_send(fresh, &h, 0), "one past the total burst");
        // A refusal by the total costs the peer nothing of its own budget; once the
        // total has refilled by a paper's worth, the fresh peer is sent one.
        let refill = MAX_PAPER_BYTES * 1000 / PAPER_SERVE_TOTAL_BYTES_PER_SEC + 1;
        assert!(p.may_send(fresh, &h, refill));
        // A second one as soon as the total allows: the peer's own burst (two papers) was
        // whole, so the refusal took nothing from it.
        assert!(p.may_send(fresh, &h, 2 * refill));
        assert!(
            !p.may_send(fresh, &h, 3 * refill),
            "and then its own budget is spent"
        );
    }
}
