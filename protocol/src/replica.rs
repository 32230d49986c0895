//! A node's copy of one network's log, and the fold that derives its state.
//!
//! [`Replica`] is the sans-IO heart of a node: the caller passes in the current time and
//! the bytes it received, and gets back what happened. It talks to no one; the node
//! persists what it is told was stored and fetches what it is told is missing. Given a
//! body source ([`Bodies`]: the node's own log of stored events) it reads stored events
//! back from there rather than keeping them in memory; given an [`Archive`], it hands
//! closed motions' ballot lists there, and reads them back from there.
//!
//! # The ingest pipeline
//! 1. decode and check structure ([`SignedEvent::decode`]); check the network;
//! 2. check signatures, in batches ([`crate::signature::verify_batch`]);
//! 3. hold events timestamped beyond the local clock plus [`MAX_CLOCK_SKEW_MS`];
//! 4. park events whose `prev` or `deps` are missing in a bounded pending set, and report
//!    which ids to fetch;
//! 5. check the chain (`prev` is the author's `seq - 1`) and that no cause is timestamped
//!    after the event; store; detect forks;
//! 6. fold into the state in the canonical order.
//!
//! # The canonical order
//! Each event has a height: 0 for genesis, otherwise one more than the highest of its
//! causes. Events are folded in order of (height, id). That is a linear extension of
//! causality (an event always comes after its causes) and a pure function of the set of
//! events, so every node folds the same set in the same order. An event that sorts after
//! everything folded so far is applied directly; one that sorts earlier sends the fold
//! back to the last checkpoint before its place, and only what follows is re-applied.
//! Within one call ([`Replica::ingest_batch`], [`Replica::tick`]) the fold goes back once,
//! from the earliest such place, after every event of the call is stored: a branch that
//! was made apart (a partitioned practice's feed) and arrives in a page costs one
//! re-application of what follows it, not one per event.

use crate::event::{body_name, Body, EventError, SignedEvent};
use crate::fork::EquivocationProof;
use crate::id::{EventId, NetworkId};
use crate::keys::PublicKey;
use crate::limits::{MAX_CLOCK_SKEW_MS, MAX_FUTURE_EVENTS, MAX_PENDING_EVENTS};
use crate::runs::{RunFiles, RunMap};
use crate::signature;
use crate::state::{Context, Outcome, State, StateHash};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::ops::Bound;
use std::sync::Arc;

mod archive;
mod checkpoints;
mod feed;
mod heads;
mod kept;

pub use archive::{Archive, ArchiveError, CountedBallots};
pub use checkpoints::checkpoint_kept;
use checkpoints::Checkpoints;
use feed::Feed;
pub use feed::FEED_MARK_EVERY;
pub use kept::{Bodies, BodyError};
use kept::{Kept, Stored};

/// Position of an event in the canonical fold order.
pub type OrderKey = (u64, EventId);

/// Why an event was not taken in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The event is invalid; whoever sent it misbehaved.
    #[error(transparent)]
    Invalid(#[from] EventError),
    /// The pending set is full; the event was dropped for now and can be offered again.
    #[error("pending set is full; try again later")]
    PendingFull,
    /// The set of future-dated events is full; the event was dropped for now.
    #[error("future-dated set is full ({MAX_FUTURE_EVENTS} events); try again later")]
    FutureFull,
    /// A stored event that checking this one must read back (its author's feed, below
    /// the head) could not be read; the event was dropped for now, nothing changed.
    #[error("this node could not read back its own stored events to check this one ({0}); nothing was stored, try again later")]
    Unreadable(BodyError),
}

impl IngestError {
    /// Whether the sender is to blame (and should be penalised).
    pub fn is_peer_fault(&self) -> bool {
        matches!(self, IngestError::Invalid(_))
    }
}

/// What happened to an event that was taken in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// Stored; `stored` lists it and any pending events it released, in the order stored.
    Stored {
        /// The ids newly stored.
        stored: Vec<EventId>,
    },
    /// Already known (stored, pending or held).
    Duplicate,
    /// Waiting for causes; `missing` are the ids to fetch.
    Pending {
        /// Causes not yet known to this replica.
        missing: Vec<EventId>,
    },
    /// Timestamped in the future; held until the local clock reaches `until_ms`.
    Held {
        /// Local time at which it will be taken in.
        until_ms: u64,
    },
}

/// What [`Replica::beyond`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Beyond {
    /// These events, in fold order (none: the given heads reach everything stored).
    Events(Vec<EventId>),
    /// A given head is not stored here.
    Unknown,
    /// The walk visited more events than its budget allowed.
    TooFar,
    /// An event on the walk could not be read back.
    Unreadable(BodyError),
}

#[derive(Debug)]
struct Parked {
    event: SignedEvent,
    missing: usize,
}

/// What a log's events add up to: the fold a [`Replica`] runs. A network's log folds into
/// a [`State`]; a federation's log into a [`crate::federation::FederationState`].
pub trait Fold: Clone + Default + fmt::Debug {
    /// What this kind of log is called in errors ("a network's log").
    const LOG: &'static str;
    /// Whether a body may appear in this kind of log at all. An event whose body may not
    /// is refused at ingest as the sender's fault (docs/FEDERATION.md §3); a body unknown
    /// to this version is not seen here and is admitted.
    fn admits(body: &Body) -> bool;
    /// Applies one event, in the canonical order, and says what it did.
    fn apply(&mut self, ctx: &Context<'_>, ev: &SignedEvent) -> Outcome;
    /// The hash of the state, given the log's id and its forks.
    fn hash(&self, network: &NetworkId, forks: &HashMap<PublicKey, u64>) -> StateHash;
    /// What the fold let go of from the state since this was last asked: closed
    /// motions' encoded ballot lists, by motion id ([`Replica::closed_votes`]).
    fn take_archived(&mut self) -> Vec<(EventId, Vec<u8>)> {
        Vec::new()
    }
}

impl Fold for State {
    const LOG: &'static str = "a network's log";

    fn admits(body: &Body) -> bool {
        !crate::federation::is_federation_business(body)
    }

    fn apply(&mut self, ctx: &Context<'_>, ev: &SignedEvent) -> Outcome {
        State::apply(self, ctx, ev)
    }

    fn hash(&self, network: &NetworkId, forks: &HashMap<PublicKey, u64>) -> StateHash {
        State::hash(self, network, forks)
    }

    fn take_archived(&mut self) -> Vec<(EventId, Vec<u8>)> {
        State::take_archived(self)
    }
}

/// One log's events and derived state: a network's (the default) or a federation's. See
/// the module documentation.
#[derive(Debug)]
pub struct Replica<S: Fold = State> {
    network: NetworkId,
    /// Every stored event, under its id (in memory, or mostly in runs: see
    /// [`crate::runs`] and [`Replica::set_runs`]).
    events: RunMap<EventId, Stored>,
    /// Where stored events are read back once the node holds them durably (see
    /// [`Replica::set_bodies`]); none: every event's bytes are kept here.
    bodies: Option<Arc<dyn Bodies>>,
    /// The bytes of stored events, kept here until `bodies` holds them (all of them,
    /// without a body source).
    unwritten: HashMap<EventId, Kept>,
    /// Where closed motions' ballot lists are kept (see [`Replica::set_archive`]).
    archive: Option<Arc<dyn Archive>>,
    /// Closed motions' ballot lists not in `archive`: all of them without one.
    archived: HashMap<EventId, Vec<u8>>,
    /// Each author's stored events by seq: the first stored at each seq (see
    /// [`Replica::slot`]), read back along `prev` where not kept (see [`feed`]).
    feeds: HashMap<PublicKey, Feed>,
    /// The events stored at a seq after its first: an author's equivocations.
    forked_ids: HashMap<(PublicKey, u64), Vec<EventId>>,
    forks: HashMap<PublicKey, u64>,
    proofs: HashMap<PublicKey, EquivocationProof>,
    heads: BTreeSet<OrderKey>,
    /// Every stored event's place in the fold order (its id is the second half), kept
    /// as `events` is.
    order: RunMap<OrderKey, ()>,
    state: S,
    applied_upto: Option<OrderKey>,
    /// The earliest place from which the fold must be redone before the state is read
    /// again: set by an event stored out of order, cleared by [`Replica::settle`] at the
    /// end of the call that stored it.
    refold_from: Option<OrderKey>,
    /// States saved along the fold, thinned as it goes on.
    checkpoints: Checkpoints<S>,
    /// Events folded into `state`.
    folded: u64,
    /// What each stored event did, where it did other than take effect: most events do,
    /// and are not listed.
    outcomes: HashMap<EventId, Outcome>,
    pending: HashMap<EventId, Parked>,
    /// Most events `pending` holds (at most [`MAX_PENDING_EVENTS`]); one more is refused,
    /// and comes again by sync once its causes are stored.
    pending_cap: usize,
    waiting: HashMap<EventId, Vec<EventId>>,
    future: BTreeMap<(u64, EventId), SignedEvent>,
    future_ids: HashMap<EventId, u64>,
    reapplied: u64,
    /// The state hash of the log as it was when it held this many events. A log only
    /// grows, and the state is a function of its events, so the count names the state:
    /// summaries and snapshots ask for the hash far more often than the log changes.
    hash_cache: std::sync::Mutex<Option<(usize, StateHash)>>,
    /// The frontier of the log as it was when it held this many events, for the same
    /// reason: every sync round with every peer asks for it.
    frontier_cache: std::sync::Mutex<Option<(usize, Frontier)>>,
}

/// Places in the fold order read at a time when it is folded again.
const REFOLD_CHUNK: usize = 256;

/// The outcome of every stored event not listed in [`Replica`]'s `outcomes`.
static APPLIED: Outcome = Outcome::Applied;

/// What the fold must read back to go on: a stored event that cannot be read stops the
/// replica (see [`Replica::set_bodies`]).
fn must_read<T>(read: Result<T, BodyError>) -> T {
    read.unwrap_or_else(|e| panic!("{e}: the fold cannot go on without it"))
}

/// Every author's highest stored seq with its event id, in author order.
type Frontier = Vec<(PublicKey, u64, EventId)>;

impl Replica<State> {
    /// An empty replica of `network` (its genesis arrives like any other event).
    pub fn new(network: NetworkId) -> Self {
        Self::empty(network)
    }
}

impl<S: Fold> Replica<S> {
    /// An empty replica of a log with this id, folding into `S` (its first event arrives
    /// like any other).
    pub fn empty(network: NetworkId) -> Self {
        Replica {
            network,
            events: RunMap::new(true),
            bodies: None,
            unwritten: HashMap::new(),
            archive: None,
            archived: HashMap::new(),
            feeds: HashMap::new(),
            forked_ids: HashMap::new(),
            forks: HashMap::new(),
            proofs: HashMap::new(),
            heads: BTreeSet::new(),
            order: RunMap::new(false),
            state: S::default(),
            applied_upto: None,
            refold_from: None,
            checkpoints: Checkpoints::default(),
            folded: 0,
            outcomes: HashMap::new(),
            pending: HashMap::new(),
            pending_cap: MAX_PENDING_EVENTS,
            waiting: HashMap::new(),
            future: BTreeMap::new(),
            future_ids: HashMap::new(),
            reapplied: 0,
            hash_cache: std::sync::Mutex::new(None),
            frontier_cache: std::sync::Mutex::new(None),
        }
    }

    /// The network.
    pub fn network(&self) -> NetworkId {
        self.network
    }

    /// Makes room for `additional` more stored events than it holds, at once, as a node
    /// does before loading a log whose length it knows: the table of stored events and
    /// the fold order, if kept in memory, are then each made once at the log's size,
    /// rather than grown at every merge along the way (kept in runs, they need no room).
    /// (Like any allocation, one past what the machine has aborts.)
    pub fn reserve(&mut self, additional: usize) {
        self.events.reserve(additional);
        self.order.reserve(additional);
    }

    /// Keeps the table of stored events and the fold order mostly in `files` from now on,
    /// rather than in memory (see [`crate::runs`]): what a node does for a long log. Their
    /// recent entries stay in memory, up to [`crate::runs::RECENT_ENTRIES`] each while runs
    /// can be written. The first files given stay.
    ///
    /// # Panics
    /// Reading either back is then reading `files`: a run that cannot be read back once
    /// written stops the replica with a panic, as a stored event that cannot be read back
    /// for the fold does.
    pub fn set_runs(&mut self, files: Arc<dyn RunFiles>) {
        self.set_runs_with(files, crate::runs::RECENT_ENTRIES);
    }

    /// [`Replica::set_runs`], writing a run once `limit` recent entries are held (the fold
    /// order a quarter fewer): for tests, which make runs with few events.
    #[doc(hidden)]
    pub fn set_runs_with(&mut self, files: Arc<dyn RunFiles>, limit: usize) {
        self.events.set_files(files.clone(), limit);
        // A quarter fewer, and one, so that the two seldom write runs, and merge them, on
        // the same event.
        self.order
            .set_files(files, (limit - limit / 4).saturating_sub(1).max(1));
    }

    /// Takes in one event's wire bytes (an encoded `SignedEvent`).
    pub fn ingest(&mut self, now_ms: u64, wire: &[u8]) -> Result<Ingested, IngestError> {
        let mut results = self.ingest_batch(now_ms, &[wire]);
        results.pop().unwrap_or(Ok(Ingested::Duplicate))
    }

    /// Takes in several events, checking their signatures together. `result[i]` is the
    /// outcome for `wires[i]`.
    pub fn ingest_batch<W: AsRef<[u8]>>(
        &mut self,
        now_ms: u64,
        wires: &[W],
    ) -> Vec<Result<Ingested, IngestError>> {
        self.release_written();
        let decoded: Vec<Result<SignedEvent, IngestError>> = wires
            .iter()
            .map(|w| {
                let ev = SignedEvent::decode(w.as_ref())?;
                self.check_network(&ev)?;
                Ok(ev)
            })
            .collect();
        // An exact copy of a known event needs no check; anything else does, including a
        // known event under a different signature (so a bad copy is still caught).
        let fresh: Vec<usize> = decoded
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let e = r.as_ref().ok()?;
                (!self.is_known_copy(e, wires[i].as_ref())).then_some(i)
            })
            .collect();
        let items: Vec<signature::Item<'_>> = fresh
            .iter()
            .filter_map(|&i| decoded[i].as_ref().ok().map(SignedEvent::signature_item))
            .collect();
        let verdicts = signature::verify_batch(&items);
        let valid: HashMap<usize, bool> = fresh.into_iter().zip(verdicts).collect();
        let results = decoded
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let ev = r?;
                match valid.get(&i) {
                    None => Ok(Ingested::Duplicate),
                    Some(false) => Err(EventError::BadSignature.into()),
                    Some(true) => self.accept(now_ms, ev),
                }
            })
            .collect();
        self.settle();
        results
    }

    fn check_network(&self, ev: &SignedEvent) -> Result<(), EventError> {
        if let Some(b) = &ev.event.body {
            if !S::admits(b) {
                return Err(EventError::OutOfScope {
                    body: body_name(b),
                    log: S::LOG,
                });
            }
        }
        match ev.event.network {
            None if ev.id == self.network.genesis() => Ok(()),
            None => Err(EventError::NotGenesis(format!(
                "genesis {} is not network {}",
                ev.id.short(),
                self.network
            ))),
            Some(n) if n == self.network => Ok(()),
            Some(n) => Err(EventError::WrongNetwork {
                expected: self.network,
                found: n.to_string(),
            }),
        }
    }

    /// Whether the event is stored, pending or held.
    pub fn knows(&self, id: &EventId) -> bool {
        self.events.contains_key(id)
            || self.pending.contains_key(id)
            || self.future_ids.contains_key(id)
    }

    /// Whether `ev` (whose wire bytes are `wire`) is an exact copy of a stored, pending or
    /// held event: the same signature. A stored event read back from the body source is
    /// compared by its wire bytes, so nothing is decoded; a copy encoded otherwise, or of
    /// an event that cannot be read back, is checked like a new one.
    fn is_known_copy(&self, ev: &SignedEvent, wire: &[u8]) -> bool {
        let id = &ev.id;
        let known = if self.events.contains_key(id) {
            match self.unwritten.get(id) {
                Some(kept) => kept.signature().copied(),
                None => {
                    return kept::wire(id, None, self.bodies.as_deref()).is_ok_and(|w| w == wire)
                }
            }
        } else if let Some(p) = self.pending.get(id) {
            Some(p.event.signature)
        } else {
            self.future_ids
                .get(id)
                .and_then(|ts| self.future.get(&(*ts, *id)))
                .map(|e| e.signature)
        };
        known == Some(ev.signature)
    }

    /// Takes in an event whose signature has been checked.
    fn accept(&mut self, now_ms: u64, ev: SignedEvent) -> Result<Ingested, IngestError> {
        if self.knows(&ev.id) {
            return Ok(Ingested::Duplicate);
        }
        let horizon = now_ms.saturating_add(MAX_CLOCK_SKEW_MS);
        if ev.event.timestamp_ms > horizon {
            if self.future.len() >= MAX_FUTURE_EVENTS {
                return Err(IngestError::FutureFull);
            }
            let until_ms = ev.event.timestamp_ms - MAX_CLOCK_SKEW_MS;
            self.future_ids.insert(ev.id, ev.event.timestamp_ms);
            self.future.insert((ev.event.timestamp_ms, ev.id), ev);
            return Ok(Ingested::Held { until_ms });
        }
        let missing: Vec<EventId> = ev
            .event
            .causes()
            .filter(|c| !self.events.contains_key(c))
            .collect();
        if !missing.is_empty() {
            if self.pending.len() >= self.pending_cap {
                return Err(IngestError::PendingFull);
            }
            for m in &missing {
                self.waiting.entry(*m).or_default().push(ev.id);
            }
            let to_fetch = missing.iter().copied().filter(|m| !self.knows(m)).collect();
            self.pending.insert(
                ev.id,
                Parked {
                    missing: missing.len(),
                    event: ev,
                },
            );
            return Ok(Ingested::Pending { missing: to_fetch });
        }
        let first = ev.id;
        self.store(ev)?;
        let mut stored = vec![first];
        self.release_waiters(first, &mut stored);
        Ok(Ingested::Stored { stored })
    }

    /// Stores events that were waiting only for `id`, and what they release in turn.
    fn release_waiters(&mut self, id: EventId, stored: &mut Vec<EventId>) {
        let mut queue = VecDeque::from([id]);
        while let Some(done) = queue.pop_front() {
            for waiter in self.waiting.remove(&done).unwrap_or_default() {
                let ready = match self.pending.get_mut(&waiter) {
                    Some(p) => {
                        p.missing -= 1;
                        p.missing == 0
                    }
                    None => false,
                };
                if !ready {
                    continue;
                }
                if let Some(p) = self.pending.remove(&waiter) {
                    if self.store(p.event).is_ok() {
                        stored.push(waiter);
                        queue.push_back(waiter);
                    } else {
                        // An invalid chain found only now: dropped like any invalid
                        // event, and so is everything that waits on it, since it can
                        // never be stored. (Or a feed that could not be read back to
                        // check it: dropped for now, and fetched again by sync.)
                        self.drop_waiters_of(waiter);
                    }
                }
            }
        }
    }

    /// Removes from the pending set everything that (transitively) waits for `id`.
    fn drop_waiters_of(&mut self, id: EventId) {
        let mut queue = vec![id];
        while let Some(gone) = queue.pop() {
            for waiter in self.waiting.remove(&gone).unwrap_or_default() {
                if self.pending.remove(&waiter).is_some() {
                    queue.push(waiter);
                }
            }
        }
        // Waiters on other missing causes may still list dropped events; prune them.
        self.waiting.retain(|_, ws| {
            ws.retain(|w| self.pending.contains_key(w));
            !ws.is_empty()
        });
    }

    /// Checks the chain and causal timestamps, stores, detects forks, and folds the event
    /// in if it comes next in the fold order (else notes where the call's fold must be
    /// redone from; see [`Replica::settle`]).
    fn store(&mut self, ev: SignedEvent) -> Result<(), IngestError> {
        let e = &ev.event;
        let mut height = 0;
        if let Some(prev) = e.prev {
            let below = match (e.seq.checked_sub(1), self.feeds.get(&e.author)) {
                (Some(seq), Some(feed)) => feed
                    .get(seq, &|id| self.prev_of(id))
                    .map_err(IngestError::Unreadable)?
                    .map(|first| (seq, first)),
                _ => None,
            };
            let follows = below.is_some_and(|(seq, first)| {
                self.slot(&e.author, seq, &first).any(|id| *id == prev)
            });
            if !follows {
                return Err(EventError::BrokenChain(format!(
                    "prev {} is not this author's event with seq {}",
                    prev.short(),
                    e.seq - 1
                ))
                .into());
            }
        } else if e.network.is_some() && !e.deps.contains(&self.network.genesis()) {
            return Err(EventError::BrokenChain(
                "an author's first event must list the genesis in deps".into(),
            )
            .into());
        }
        let causes: Vec<(EventId, Stored)> = e.causes().map(|c| (c, self.stored(&c))).collect();
        for &(cause, c) in &causes {
            if c.timestamp_ms > e.timestamp_ms {
                return Err(EventError::TimestampBeforeCause {
                    timestamp_ms: e.timestamp_ms,
                    cause,
                }
                .into());
            }
            height = height.max(c.height + 1);
        }
        let key = (height, ev.id);
        let author = e.author;
        let seq = e.seq;
        let mut refold_from = key;
        // First, as it may fail (a fork reads the author's feed back whole) and must then
        // leave everything as it was.
        let (unwritten, bodies) = (&self.unwritten, self.bodies.as_deref());
        let other = match self.feeds.get_mut(&author) {
            Some(feed) => feed
                .put(seq, ev.id, &|id| kept::prev(id, unwritten.get(id), bodies))
                .map_err(IngestError::Unreadable)?,
            None => {
                self.feeds.insert(author, Feed::first(seq, ev.id));
                None
            }
        };
        for (cause, c) in causes {
            self.heads.remove(&(c.height, cause));
        }
        self.heads.insert(key);
        if let Some(other) = other {
            self.forked_ids
                .entry((author, seq))
                .or_default()
                .push(ev.id);
            let earlier = self.forks.get(&author).is_none_or(|&s| seq < s);
            if earlier {
                self.forks.insert(author, seq);
                if let Some(first) = self.get(&other) {
                    self.proofs.insert(
                        author,
                        EquivocationProof {
                            first,
                            second: ev.clone(),
                        },
                    );
                }
                // Everything this author made from `seq` on loses its effect: fold again
                // from the earliest such event.
                if let Some(first) = self.earliest_from(&author, seq) {
                    refold_from = refold_from.min(first);
                }
            }
        }
        self.order.insert(key, ());
        let next_in_order = refold_from == key
            && self.refold_from.is_none()
            && self.applied_upto.is_none_or(|a| a < key);
        if next_in_order {
            self.apply_at(key, &ev);
        }
        self.unwritten.insert(ev.id, Kept::of(&ev));
        self.events.insert(
            ev.id,
            Stored {
                height,
                timestamp_ms: ev.event.timestamp_ms,
            },
        );
        if !next_in_order {
            // Folded again once, from the earliest such place, when the call ends.
            self.refold_from = Some(self.refold_from.map_or(refold_from, |f| f.min(refold_from)));
        }
        Ok(())
    }

    /// Redoes the fold from the earliest place an event of this call was stored out of
    /// order, if any: after it the state is the fold of every stored event again.
    fn settle(&mut self) {
        if let Some(from) = self.refold_from.take() {
            self.refold(from);
        }
    }

    /// A stored event's place in the fold order.
    fn key_of(&self, id: &EventId) -> Option<OrderKey> {
        self.events.get(id).map(|s| (s.height, *id))
    }

    /// What the table keeps of an event known to be stored.
    ///
    /// # Panics
    /// If it is not stored: callers ask only for events they found stored.
    fn stored(&self, id: &EventId) -> Stored {
        self.events
            .get(id)
            .unwrap_or_else(|| panic!("event {} is stored", id.short()))
    }

    fn apply_at(&mut self, key: OrderKey, ev: &SignedEvent) {
        let ctx = Context {
            network: &self.network,
            forks: &self.forks,
        };
        let outcome = self.state.apply(&ctx, ev);
        for (motion, lists) in self.state.take_archived() {
            self.keep_archived(motion, lists);
        }
        if outcome == Outcome::Applied {
            self.outcomes.remove(&key.1);
        } else {
            self.outcomes.insert(key.1, outcome);
        }
        self.applied_upto = Some(key);
        self.folded += 1;
        self.checkpoints.save(self.folded, key, &self.state);
    }

    /// How many state checkpoints are held (for benchmarks and tests).
    pub fn checkpoints_held(&self) -> usize {
        self.checkpoints.len()
    }

    /// Goes back to the last checkpoint before `from` and re-applies everything after it.
    fn refold(&mut self, from: OrderKey) {
        let (start, state, folded) = match self.checkpoints.back_before(from) {
            Some((k, s, folded)) => (Bound::Excluded(k), s, folded),
            None => (Bound::Unbounded, S::default(), 0),
        };
        self.state = state;
        self.folded = folded;
        self.applied_upto = match start {
            Bound::Excluded(k) => Some(k),
            _ => None,
        };
        // A chunk of places at a time, since folding needs the replica mutable.
        let mut from = start;
        loop {
            let keys: Vec<OrderKey> = self
                .order
                .range_from(from)
                .take(REFOLD_CHUNK)
                .map(|(k, ())| k)
                .collect();
            let Some(&last) = keys.last() else {
                break;
            };
            from = Bound::Excluded(last);
            self.reapplied += keys.len() as u64;
            for k in keys {
                let ev = self.read_back(&k.1);
                self.apply_at(k, &ev);
            }
        }
    }

    /// Takes in held future-dated events whose time has come. Call as the clock advances.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Result<Ingested, IngestError>> {
        self.release_written();
        let horizon = now_ms.saturating_add(MAX_CLOCK_SKEW_MS);
        let later = self
            .future
            .split_off(&(horizon.saturating_add(1), EventId([0; 32])));
        let due = std::mem::replace(&mut self.future, later);
        let results = due
            .into_values()
            .map(|ev| {
                self.future_ids.remove(&ev.id);
                self.accept(now_ms, ev)
            })
            .collect();
        self.settle();
        results
    }

    /// What `ev` would do if it were taken in now, after every event held: the state is
    /// not changed, and the signature is not checked. A node asks this before a user's
    /// event is signed or stored, so a mistake is refused rather than kept forever as a
    /// rejected event (docs/PROTOCOL.md §5.10). An event that sorts before events already
    /// held is tried after them all; taken in, it would be folded in its place.
    pub fn trial(&self, ev: &SignedEvent) -> Outcome {
        let ctx = Context {
            network: &self.network,
            forks: &self.forks,
        };
        self.state.clone().apply(&ctx, ev)
    }

    /// The derived state.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// The state hash: equal on two replicas iff they hold the same events.
    pub fn state_hash(&self) -> StateHash {
        let len = self.events.len();
        let mut cache = self.hash_cache.lock().unwrap_or_else(|e| e.into_inner());
        match *cache {
            Some((n, h)) if n == len => h,
            _ => {
                let h = self.state.hash(&self.network, &self.forks);
                *cache = Some((len, h));
                h
            }
        }
    }

    /// Whether an event is stored (not pending or held).
    pub fn contains(&self, id: &EventId) -> bool {
        self.events.contains_key(id)
    }

    /// A stored event's timestamp (ms), without reading it back.
    pub fn timestamp_of(&self, id: &EventId) -> Option<u64> {
        self.events.get(id).map(|s| s.timestamp_ms)
    }

    /// What a stored event did.
    pub fn outcome(&self, id: &EventId) -> Option<&Outcome> {
        match self.outcomes.get(id) {
            Some(o) => Some(o),
            None => self.events.contains_key(id).then_some(&APPLIED),
        }
    }

    /// Number of stored events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Stored events' ids in fold order, each with what it did.
    ///
    /// # Panics
    /// If the fold order is kept in runs that cannot be read back ([`Replica::set_runs`]).
    pub fn ids_in_order(&self) -> impl Iterator<Item = (EventId, &Outcome)> + '_ {
        self.order
            .iter()
            .map(|((_, id), ())| (id, self.outcomes.get(&id).unwrap_or(&APPLIED)))
    }

    /// Number of events waiting for causes.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// Holds at most `cap` pending events (1 to [`MAX_PENDING_EVENTS`]); an event past it is
    /// refused (`PendingFull`), as a peer's sync round brings it again once its causes
    /// are stored. Events already pending stay.
    pub fn set_pending_cap(&mut self, cap: usize) {
        self.pending_cap = cap.clamp(1, MAX_PENDING_EVENTS);
    }

    /// Number of future-dated events held.
    pub fn held_len(&self) -> usize {
        self.future.len()
    }

    /// Ids that pending events wait for and that this replica does not have at all.
    pub fn missing(&self) -> Vec<EventId> {
        let mut m: Vec<EventId> = self
            .waiting
            .keys()
            .filter(|id| !self.knows(id))
            .copied()
            .collect();
        m.sort();
        m
    }

    /// Authors that equivocated, with the first forked seq.
    pub fn forks(&self) -> &HashMap<PublicKey, u64> {
        &self.forks
    }

    /// The proof of an author's equivocation.
    pub fn fork_proof(&self, author: &PublicKey) -> Option<&EquivocationProof> {
        self.proofs.get(author)
    }

    /// The highest seq among `author`'s events waiting for causes or for their time.
    pub fn parked_seq(&self, author: &PublicKey) -> Option<u64> {
        self.pending
            .values()
            .map(|p| &p.event)
            .chain(self.future.values())
            .filter(|e| e.event.author == *author)
            .map(|e| e.event.seq)
            .max()
    }

    /// The ids of the future-dated events held.
    pub fn held_ids(&self) -> impl Iterator<Item = &EventId> {
        self.future_ids.keys()
    }

    /// The ids of the events waiting for causes.
    pub fn pending_ids(&self) -> impl Iterator<Item = &EventId> {
        self.pending.keys()
    }

    /// How many event applications re-folding has cost so far (for benchmarks and tests).
    pub fn reapplied(&self) -> u64 {
        self.reapplied
    }

    /// Checks that the cached state equals a fold from scratch (for tests; costly).
    pub fn fold_from_scratch(&self) -> S {
        let mut state = S::default();
        let ctx = Context {
            network: &self.network,
            forks: &self.forks,
        };
        for ev in self.events_in_order() {
            state.apply(&ctx, &ev);
        }
        state
    }
}
