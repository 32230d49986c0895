//! Taking events in: from peers (gossip and sync pages) and from local users (events a
//! partner signed elsewhere), into the network's log or a federation's; storing what was
//! taken in, and making it durable within [`super::HOUSEKEEPING_MS`].
//!
//! ## The evidence quarantine (docs/NETWORK.md §6.1)
//! A well-signed event by a key that no stored event of the network's log names (as a
//! founding practice or partner, an invited or admitted node, an admitted partner, a
//! replacement or rotated key) and that authored nothing stored can have no effect, and
//! anyone holding a member node's key could make millions of them. So such an event is
//! not taken into the log at all: its signature and network are checked, and it is kept
//! apart, at most [`MAX_QUARANTINE_PER_PEER`] from one sender,
//! [`MAX_QUARANTINE_PER_AUTHOR`] by one author and [`MAX_QUARANTINE`] in all, for at most
//! [`QUARANTINE_TTL_MS`], never forwarded and never served; sync rounds do not ask for
//! such authors' feeds. The set of named keys only grows as events are stored, whatever
//! their outcome in the fold, so a node never refuses an event that another node holding
//! the same events stores. The sender is penalised only for gossiping an event that is
//! provably a stranger's, that is when every cause it names is in the log (so the events
//! that would make an honest author known, its causal past, are there too); an honest node
//! never forwards one. An event whose causes are missing may be by an author this node
//! does not know yet because it lags (a joining node has not even the genesis), and costs
//! its sender nothing but the cap. When its author becomes known (the invitation or
//! admission that names the key arrives), the event is taken in as if it had just arrived.

use super::io::{Action, LogId, Verdict};
use super::peers::Offence;
use super::status::{NodeError, Submitted};
use super::store::{Snapshot, Store, StoreError};
use super::{Defect, NodeCore};
use mutual_protocol::event::{Body, SignedEvent};
use mutual_protocol::id::EventId;
use mutual_protocol::keys::PublicKey;
use mutual_protocol::replica::{BodyError, Fold, IngestError, Ingested, Replica};
use mutual_protocol::signature;
use mutual_protocol::state::Outcome;
use std::collections::{BTreeMap, HashSet};

/// Most quarantined events kept from one sending peer. Enough for a partner's burst of
/// ballots that outran the admission naming their key; far below what one node could
/// otherwise make every other node store.
pub const MAX_QUARANTINE_PER_PEER: usize = 64;
/// Most quarantined events kept by one unknown author.
pub const MAX_QUARANTINE_PER_AUTHOR: usize = 16;
/// Most quarantined events kept in all.
pub const MAX_QUARANTINE: usize = 1_024;
/// How long a quarantined event is kept, ms: ten sync intervals, time for the event that
/// names its author to arrive; after that it is forgotten (and fetched again if ever
/// wanted).
pub const QUARANTINE_TTL_MS: u64 = 10 * 60_000;

/// Events by authors the network's log does not know yet, each with the peer it came
/// from (none: a local user).
#[derive(Debug, Default)]
pub struct Quarantine {
    /// Each event's wire bytes, author, sender and when it was kept (monotonic ms).
    events: BTreeMap<EventId, (Vec<u8>, PublicKey, Option<PublicKey>, u64)>,
    per_peer: BTreeMap<PublicKey, usize>,
    per_author: BTreeMap<PublicKey, usize>,
}

impl Quarantine {
    /// Keeps an event unless a cap is reached; says whether it was kept.
    fn keep(
        &mut self,
        id: EventId,
        wire: &[u8],
        author: PublicKey,
        from: Option<PublicKey>,
        now_ms: u64,
    ) -> bool {
        if self.events.contains_key(&id) {
            return true;
        }
        let peer_full = from.is_some_and(|p| {
            self.per_peer.get(&p).copied().unwrap_or(0) >= MAX_QUARANTINE_PER_PEER
        });
        if peer_full
            || self.per_author.get(&author).copied().unwrap_or(0) >= MAX_QUARANTINE_PER_AUTHOR
            || self.events.len() >= MAX_QUARANTINE
        {
            return false;
        }
        if let Some(p) = from {
            *self.per_peer.entry(p).or_default() += 1;
        }
        *self.per_author.entry(author).or_default() += 1;
        self.events
            .insert(id, (wire.to_vec(), author, from, now_ms));
        true
    }

    /// Forgets events kept longer than [`QUARANTINE_TTL_MS`].
    fn expire(&mut self, now_ms: u64) {
        let old: Vec<EventId> = self
            .events
            .iter()
            .filter(|(_, e)| now_ms.saturating_sub(e.3) >= QUARANTINE_TTL_MS)
            .map(|(id, _)| *id)
            .collect();
        for id in old {
            if let Some((_, author, from, _)) = self.events.remove(&id) {
                decrement(&mut self.per_author, &author);
                if let Some(p) = &from {
                    decrement(&mut self.per_peer, p);
                }
            }
        }
    }

    /// Takes out the events whose authors `known` now accepts.
    fn release(&mut self, known: impl Fn(&PublicKey) -> bool) -> Vec<(Vec<u8>, Option<PublicKey>)> {
        let ready: Vec<EventId> = self
            .events
            .iter()
            .filter(|(_, (_, author, _, _))| known(author))
            .map(|(id, _)| *id)
            .collect();
        ready
            .into_iter()
            .filter_map(|id| self.events.remove(&id))
            .map(|(wire, author, from, _)| {
                decrement(&mut self.per_author, &author);
                if let Some(p) = &from {
                    decrement(&mut self.per_peer, p);
                }
                (wire, from)
            })
            .collect()
    }

    /// Events kept.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

fn decrement(counts: &mut BTreeMap<PublicKey, usize>, key: &PublicKey) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

/// What taking in a batch of events came to: the ids stored, the events parked (pending
/// or held, to keep across a restart), the causes to fetch, and the errors that are the
/// sender's fault.
pub(super) struct Sorted {
    pub stored: Vec<EventId>,
    pub parked: Vec<SignedEvent>,
    pub missing: Vec<EventId>,
    pub invalid: Vec<IngestError>,
}

pub(super) fn sort_ingested<W: AsRef<[u8]>>(
    wires: &[W],
    results: &[Result<Ingested, IngestError>],
) -> Sorted {
    let mut out = Sorted {
        stored: Vec::new(),
        parked: Vec::new(),
        missing: Vec::new(),
        invalid: Vec::new(),
    };
    for (w, r) in wires.iter().zip(results) {
        match r {
            Ok(Ingested::Stored { stored: ids }) => out.stored.extend(ids.iter().copied()),
            Ok(Ingested::Pending { missing: m }) => {
                out.missing.extend(m.iter().copied());
                out.parked.extend(SignedEvent::decode(w.as_ref()).ok());
            }
            Ok(Ingested::Held { .. }) => out.parked.extend(SignedEvent::decode(w.as_ref()).ok()),
            Ok(Ingested::Duplicate) => {}
            Err(e) if e.is_peer_fault() => out.invalid.push(e.clone()),
            Err(e) => tracing::debug!(error = %e, "event not taken now"),
        }
    }
    out
}

/// Stores what a log took in: the events `stored` in `replica`'s log, and the events
/// `parked` for their causes. Returns whether it wrote anything.
pub(super) fn store_taken<F: Fold, S: Store>(
    replica: &Replica<F>,
    store: &mut S,
    stored: &[EventId],
    parked: &[SignedEvent],
) -> Result<bool, StoreError> {
    if !parked.is_empty() {
        store.put_pending(&parked.iter().collect::<Vec<_>>())?;
    }
    let evs = super::store::stored_events(replica, stored)?;
    if !evs.is_empty() {
        store.put_events(&evs.iter().collect::<Vec<_>>())?;
    }
    Ok(!parked.is_empty() || !evs.is_empty())
}

/// The ids of the events a replica's tick took into its log: held events whose time came,
/// and the events that waited on them.
fn take_released<F: Fold>(replica: &mut Replica<F>, now_ms: u64) -> Vec<EventId> {
    replica
        .tick(now_ms)
        .into_iter()
        .filter_map(|r| match r {
            Ok(Ingested::Stored { stored }) => Some(stored),
            _ => None,
        })
        .flatten()
        .collect()
}

/// What `submit` reports for one event taken in; an error is the event's refusal.
fn submitted_as(r: Result<Ingested, IngestError>) -> Result<&'static str, NodeError> {
    match r {
        Ok(Ingested::Stored { .. }) => Ok("stored"),
        Ok(Ingested::Duplicate) => Ok("duplicate"),
        Ok(Ingested::Pending { .. }) => Ok("pending"),
        Ok(Ingested::Held { .. }) => Ok("held"),
        Err(e) => Err(NodeError::Refused(e.to_string())),
    }
}

/// Ingests `wires` into a log and stores what it took in; returns the results, the
/// sorted outcome and whether the store wrote anything.
fn ingest_into<F: Fold, S: Store>(
    log: &mut super::Log<F, S>,
    now_ms: u64,
    wires: &[&[u8]],
) -> (
    Vec<Result<Ingested, IngestError>>,
    Sorted,
    Result<bool, StoreError>,
) {
    let results = log.replica.ingest_batch(now_ms, wires);
    let sorted = sort_ingested(wires, &results);
    let wrote = store_taken(&log.replica, &mut log.store, &sorted.stored, &sorted.parked);
    (results, sorted, wrote)
}

/// The keys a network event names as ones that may author events in the log: the
/// founding practices and partners, an invited node, an admitted practice's node and
/// first partners, an admitted partner, a replacement key, a rotated key. Whatever the event's outcome in the fold.
fn named_keys(body: &Body) -> Vec<&[u8]> {
    match body {
        Body::Genesis(g) => g
            .practices
            .iter()
            .map(|p| p.node_key.as_slice())
            .chain(g.partners.iter().map(|p| p.key.as_slice()))
            .collect(),
        Body::Invitation(i) => vec![i.node_key.as_slice()],
        Body::Motion(m) => m
            .admit_practice
            .iter()
            .map(|p| p.node_key.as_slice())
            .chain(m.admit_partner.iter().map(|p| p.key.as_slice()))
            .chain(m.first_partners.iter().map(|p| p.key.as_slice()))
            .chain(std::iter::once(m.replacement_key.as_slice()))
            .collect(),
        Body::KeyRotation(r) => vec![r.new_key.as_slice()],
        _ => Vec::new(),
    }
}

/// What became of one event offered to [`NodeCore::take_in`].
#[derive(Debug)]
pub(super) enum Taken {
    /// The log took it in (or refused it).
    Log(Result<Ingested, IngestError>),
    /// Its author is unknown: kept apart, or dropped for a full cap.
    Quarantined {
        /// Every cause is in the log, so the author is a stranger, not merely not yet
        /// known to a node that lags behind.
        proven: bool,
    },
}

impl<S: Store> NodeCore<S> {
    /// Whether the network's log knows `author`: a stored event names it or is by it. The
    /// genesis's author is not yet known when the genesis arrives; the genesis is let in
    /// by its id.
    pub(super) fn knows_author(&self, author: &PublicKey) -> bool {
        self.named.contains(author)
    }

    /// Notes the authors of newly stored events of the network's log and the keys they
    /// name (see [`named_keys`]).
    pub(super) fn note_stored(&mut self, ids: &[EventId]) {
        for id in ids {
            if let Some(ev) = self.net.replica.get(id) {
                Self::note_named(&mut self.named, &ev);
            }
        }
    }

    /// Notes the keys every stored event names (on opening: one event decoded at a time).
    pub(super) fn note_all_stored(&mut self) -> Result<(), BodyError> {
        let mut named = std::mem::take(&mut self.named);
        for ev in self.net.replica.try_events_in_order() {
            Self::note_named(&mut named, &ev?);
        }
        self.named = named;
        Ok(())
    }

    /// Adds to `named` the author of `ev` and the keys its body names.
    fn note_named(named: &mut HashSet<PublicKey>, ev: &SignedEvent) {
        named.insert(ev.event.author);
        if let Some(body) = &ev.event.body {
            for k in named_keys(body) {
                if let Ok(k) = PublicKey::from_slice(k) {
                    named.insert(k);
                }
            }
        }
    }

    /// Takes in events for a log (see [`NodeCore::take_in_log`]), then any quarantined
    /// events whose authors they made known.
    pub(super) fn take_in(
        &mut self,
        log: LogId,
        wires: &[&[u8]],
        from: Option<PublicKey>,
    ) -> (Vec<Taken>, Result<(), StoreError>) {
        let r = self.take_in_log(log, wires, from);
        if log.is_none() {
            self.release_quarantine();
        }
        r
    }

    /// Takes in events for a log; stores what was stored; punishes `from` for invalid
    /// ones; fetches missing causes from `from`. Events for the network's log by unknown
    /// authors go to the quarantine (see the module documentation).
    fn take_in_log(
        &mut self,
        log: LogId,
        wires: &[&[u8]],
        from: Option<PublicKey>,
    ) -> (Vec<Taken>, Result<(), StoreError>) {
        // Sort out what the quarantine takes before the log sees the batch.
        let mut taken: Vec<Option<Taken>> = Vec::with_capacity(wires.len());
        let mut to_log: Vec<&[u8]> = Vec::with_capacity(wires.len());
        let genesis = self.net.replica.network().genesis();
        for w in wires {
            let unknown = match (log, SignedEvent::decode(w)) {
                // Only a well-signed event of this network is kept apart; anything else
                // goes to the log, which refuses it and names the fault.
                (None, Ok(ev))
                    if ev.id != genesis
                        && !self.knows_author(&ev.event.author)
                        && ev.event.network == Some(self.net.replica.network())
                        && signature::verify(&ev.signature_item()) =>
                {
                    // With every cause in the log, the events that would make an honest
                    // author known (its causal past) are here: its author is a stranger.
                    let proven = ev.event.causes().all(|c| self.net.replica.contains(&c));
                    Some((ev.id, ev.event.author, proven))
                }
                _ => None,
            };
            match unknown {
                Some((id, author, proven)) => {
                    let kept = self.quarantine.keep(id, w, author, from, self.now.mono_ms);
                    if !kept {
                        self.metrics.evidence_refused += 1;
                    }
                    taken.push(Some(Taken::Quarantined { proven }));
                }
                None => {
                    taken.push(None);
                    to_log.push(w);
                }
            }
        }
        let now = self.now.wall_ms;
        let (results, sorted, wrote) = match log {
            None => ingest_into(&mut self.net, now, &to_log),
            Some(f) => match self.feds.get_mut(&f) {
                Some(l) => ingest_into(l, now, &to_log),
                None => return (Vec::new(), Ok(())),
            },
        };
        if log.is_none() {
            self.note_stored(&sorted.stored);
        }
        let persisted = match wrote {
            Ok(w) => {
                self.unflushed |= w;
                if log.is_none() && !sorted.stored.is_empty() {
                    self.snapshot_due = true;
                }
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "could not store events");
                self.note_store(&e);
                Err(e)
            }
        };
        self.note_invalid(from, &sorted.invalid);
        if from.is_some() {
            self.metrics.events_received += results
                .iter()
                .filter(|r| {
                    matches!(
                        r,
                        Ok(Ingested::Stored { .. }
                            | Ingested::Pending { .. }
                            | Ingested::Held { .. })
                    )
                })
                .count() as u64;
        }
        if let (Some(p), false) = (from, sorted.missing.is_empty()) {
            self.chase(log, p, sorted.missing);
        }
        let mut results = results.into_iter();
        let taken = taken
            .into_iter()
            .map(|t| {
                t.unwrap_or_else(|| Taken::Log(results.next().unwrap_or(Ok(Ingested::Duplicate))))
            })
            .collect();
        (taken, persisted)
    }

    /// Takes quarantined events whose authors the log now knows into the log.
    /// Each event released may make more authors known, so this repeats until none is;
    /// the quarantine is bounded, so it ends.
    pub(super) fn release_quarantine(&mut self) {
        while !self.quarantine.is_empty() {
            let named = &self.named;
            let ready = self.quarantine.release(|a| named.contains(a));
            if ready.is_empty() {
                return;
            }
            for (wire, from) in ready {
                let _ = self.take_in_log(None, &[&wire], from);
            }
        }
    }

    /// Counts invalid events and penalises the peer that sent them, once each.
    fn note_invalid(&mut self, from: Option<PublicKey>, invalid: &[IngestError]) {
        for e in invalid {
            self.metrics.invalid_events += 1;
            if let Some(p) = from {
                tracing::warn!(peer = %p, error = %e, "invalid event");
                self.punish(p, Offence::InvalidEvent);
            }
        }
    }

    /// A gossip message: one event on a log's topic.
    pub(super) fn on_gossip(&mut self, from: PublicKey, log: LogId, data: &[u8], token: u64) {
        self.metrics.gossip_bytes_in += data.len() as u64;
        let verdict = if !self.shares(log, &from) {
            self.metrics.out_of_scope_messages += 1;
            tracing::warn!(peer = %from, "gossip on a topic the peer does not share");
            self.punish(from, Offence::Malformed);
            Verdict::Reject
        } else {
            match self.take_in(log, &[data], Some(from)).0.pop() {
                Some(Taken::Log(Ok(Ingested::Duplicate))) => Verdict::Ignore,
                Some(Taken::Log(Ok(_))) => Verdict::Accept,
                Some(Taken::Log(Err(e))) if !e.is_peer_fault() => Verdict::Ignore,
                Some(Taken::Quarantined { proven }) => {
                    // An honest node never forwards an event by a stranger; one whose
                    // causes this node lacks may be by an author it does not know yet.
                    if proven {
                        self.punish(from, Offence::UnknownAuthor);
                    }
                    Verdict::Ignore
                }
                _ => Verdict::Reject,
            }
        };
        self.out.push(Action::Validate { token, verdict });
    }

    /// A page of events answering a sync request: returns whether the log grew.
    pub(super) fn take_page(&mut self, log: LogId, peer: PublicKey, events: &[Vec<u8>]) -> bool {
        let held = |core: &Self| match log {
            None => Some(core.net.replica.len() + core.net.replica.pending_len()),
            Some(f) => core
                .feds
                .get(&f)
                .map(|l| l.replica.len() + l.replica.pending_len()),
        };
        let before = held(self);
        let wires: Vec<&[u8]> = events.iter().map(Vec::as_slice).collect();
        // A store failure is noted by take_in; a peer's events come again.
        // Events by unknown authors here cost the sender nothing but the quarantine's cap:
        // rounds do not ask for such feeds, and a lagging node may not know an honest
        // author yet.
        let _ = self.take_in(log, &wires, Some(peer));
        held(self) > before
    }

    /// Takes in an event signed elsewhere, for the network's log (`log` = `None`) or a
    /// federation's, makes it durable and passes it on. An event by a key the network's
    /// log does not know is refused: a local user's mistake is not kept.
    pub(super) fn submit_now(&mut self, log: LogId, wire: Vec<u8>) -> Result<Submitted, NodeError> {
        let ev = SignedEvent::decode(&wire).map_err(|e| NodeError::Refused(e.to_string()))?;
        if let Some(f) = log.filter(|f| !self.feds.contains_key(f)) {
            return Err(NodeError::Refused(format!("no federation {f} here")));
        }
        if log.is_none()
            && ev.id != self.net.replica.network().genesis()
            && !self.knows_author(&ev.event.author)
        {
            return Err(NodeError::Refused(format!(
                "the event is signed by key {}, which is not a member's, a partner's or an \
                 invited node's in this network; nothing was stored",
                ev.event.author
            )));
        }
        match log.and_then(|f| self.feds.get(&f)) {
            Some(l) => refuse_mistake(&l.replica, &ev)?,
            None => refuse_mistake(&self.net.replica, &ev)?,
        }
        let id = ev.id;
        let (mut taken, persisted) = self.take_in(log, &[&wire], None);
        persisted?;
        let r = match taken.pop() {
            Some(Taken::Log(r)) => r,
            _ => return Err(NodeError::Refused("the event was not taken in".into())),
        };
        let result = submitted_as(r)?;
        let outcome = match log.and_then(|f| self.feds.get_mut(&f)) {
            Some(l) => {
                l.store.sync()?;
                l.replica.outcome(&id)
            }
            None => {
                self.net.store.sync()?;
                self.net.replica.outcome(&id)
            }
        }
        .map(|o| o.to_string());
        if result != "duplicate" {
            self.out.push(Action::Publish { log, wire });
        }
        Ok(Submitted {
            id: id.to_string(),
            result: result.into(),
            outcome,
        })
    }

    /// Takes in the held events of every log whose time has come.
    pub(super) fn release_held(&mut self) {
        let now = self.now.wall_ms;
        let released = take_released(&mut self.net.replica, now);
        self.note_stored(&released);
        self.quarantine.expire(self.now.mono_ms);
        let mut failed = None;
        match store_taken(&self.net.replica, &mut self.net.store, &released, &[]) {
            Ok(wrote) => {
                self.unflushed |= wrote;
                self.snapshot_due |= wrote;
            }
            Err(e) => failed = Some(e),
        }
        for l in self.feds.values_mut() {
            let released = take_released(&mut l.replica, now);
            match store_taken(&l.replica, &mut l.store, &released, &[]) {
                Ok(wrote) => self.unflushed |= wrote,
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed {
            tracing::error!(error = %e, "could not store released events");
            self.note_store(&e);
        }
    }

    /// Records a store failure (see `store_failed`).
    pub(super) fn note_store(&mut self, e: &StoreError) {
        if self.store_failed.is_none() {
            tracing::error!(error = %e, "the store failed a write; this node takes no more writes and serves no events until restarted");
            self.store_failed = Some(e.to_string());
        }
    }

    /// Refuses a write once the store has failed.
    pub(super) fn writable(&self) -> Result<(), NodeError> {
        match &self.store_failed {
            None => Ok(()),
            Some(why) => Err(NodeError::Refused(format!(
                "{why} (the store failed a write earlier: restart the node once that is fixed)"
            ))),
        }
    }

    /// Runs a write unless the store has failed, and records it if the store fails now.
    pub(super) fn guarded<T>(
        &mut self,
        write: impl FnOnce(&mut Self) -> Result<T, NodeError>,
    ) -> Result<T, NodeError> {
        self.writable()?;
        let r = write(self);
        if let Err(NodeError::Store(e)) = &r {
            self.note_store(e);
        }
        r
    }

    /// Whether the store has failed (the node then serves no events).
    pub(super) fn store_failed(&self) -> bool {
        self.store_failed.is_some()
    }

    /// Writes everything durably; with `snapshot`, also the derived-state snapshot.
    pub(super) fn flush(&mut self, snapshot: bool) {
        if self.defective(Defect::AckBeforeDurable) {
            return;
        }
        let result = (|| -> Result<(), StoreError> {
            if snapshot && self.snapshot_due {
                let r = &self.net.replica;
                let keep: HashSet<EventId> = r.pending_ids().chain(r.held_ids()).copied().collect();
                self.net.store.retain_pending(&keep)?;
                let state = r.state();
                let snap = Snapshot {
                    state_hash: r.state_hash().0,
                    events: state.events(),
                    digest: state.canonical_bytes(&r.network(), r.forks()),
                };
                self.net.store.save_snapshot(&snap)?;
                self.snapshot_due = false;
                self.last_snapshot = Some(self.now.mono_ms);
                self.unflushed = true;
            }
            if self.unflushed {
                for l in self.feds.values_mut() {
                    l.store.sync()?;
                }
                self.net.store.sync()?;
                self.unflushed = false;
            }
            Ok(())
        })();
        if let Err(e) = &result {
            self.note_store(e);
        }
    }

    /// Whether a planted defect is on (simulator tests only).
    pub(super) fn defective(&self, d: Defect) -> bool {
        self.config.defect == Some(d)
    }
}

/// Refuses a user's event signed elsewhere that could only be kept as a rejected event or
/// would fork its author's feed, before anything is stored (docs/PROTOCOL.md §5.10): a
/// user's mistake is not kept forever as evidence. A peer's events are not judged here:
/// they are evidence whatever they did.
pub(super) fn refuse_mistake<F: Fold>(
    replica: &Replica<F>,
    ev: &SignedEvent,
) -> Result<(), NodeError> {
    // A known event is a duplicate; a body this log does not take is refused as such by
    // the intake.
    if replica.knows(&ev.id) || ev.event.body.as_ref().is_some_and(|b| !F::admits(b)) {
        return Ok(());
    }
    if !ev.verify_signature() {
        return Err(NodeError::Refused(format!(
            "event {} does not carry a valid signature by its author {}; nothing was stored",
            ev.id.short(),
            ev.event.author
        )));
    }
    let head = replica.feed_head(&ev.event.author);
    let head_seq = head.map_or(0, |h| h.0);
    if ev.event.seq <= head_seq {
        let held = replica
            .feed_keys_from(&ev.event.author, ev.event.seq)
            .next()
            .and_then(Result::ok)
            .map(|(_, id)| id.short().to_string())
            .unwrap_or_else(|| "another event".into());
        return Err(NodeError::Refused(format!(
            "key {} already signed event {held} at seq {}; a second event at that seq would \
             fork the feed and silence the key for good. Was it signed from a second device \
             or a restored copy of the keystore? Nothing was stored: prepare the event again \
             from this node (it follows seq {head_seq})",
            ev.event.author, ev.event.seq
        )));
    }
    if let Some(parked) = replica
        .parked_seq(&ev.event.author)
        .filter(|p| *p >= ev.event.seq)
    {
        return Err(NodeError::Refused(format!(
            "key {}'s event at seq {parked} is here, waiting for its causes; an event at seq \
             {} would fork the feed. Nothing was stored: try again once it is taken in",
            ev.event.author, ev.event.seq
        )));
    }
    if ev.event.seq != head_seq + 1 || ev.event.prev != head.map(|h| h.1) {
        return Err(NodeError::Refused(format!(
            "this node holds key {}'s feed up to seq {head_seq}, and the event does not \
             follow it (seq {}): prepare it again from this node. Nothing was stored",
            ev.event.author, ev.event.seq
        )));
    }
    if ev.event.causes().all(|c| replica.contains(&c)) {
        if let outcome @ Outcome::Rejected(_) = replica.trial(ev) {
            return Err(NodeError::Refused(format!(
                "the event would be {outcome}; nothing was stored"
            )));
        }
    }
    Ok(())
}
