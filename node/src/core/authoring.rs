//! Signing with the node key, into the network's log or a federation's
//! (docs/NETWORK.md §7). The node signs nothing in a log until a sync round with a node
//! that could hold its own feed there has shown it its latest event (or it founded the
//! log in this run), so a store restored from an old copy cannot make it reuse a sequence
//! number; a request to sign waits for that, up to `head_timeout_ms`. Every event signed
//! is durable before the request is answered.

use super::io::{Action, LogId};
use super::status::NodeError;
use super::store::Store;
use super::{Defect, NodeCore};
use mutual_proto::v1 as pb;
use mutual_protocol::event::{deps_for, Body, FeedPosition, FeedWriter, SignedEvent};
use mutual_protocol::id::EventId;
use mutual_protocol::keys::{Keypair, PublicKey};
use mutual_protocol::limits::MAX_CLOCK_SKEW_MS;
use mutual_protocol::replica::{Fold, Ingested, Replica};
use mutual_protocol::state::Outcome;

/// A request to sign that waits for the node to be shown its own feed head.
pub(super) struct WaitingAuthor {
    /// When it gives up (monotonic ms).
    pub deadline_ms: u64,
    /// The log to sign in: the network's, or a federation's.
    pub log: LogId,
    pub bodies: Vec<Body>,
    pub ticket: u64,
}

/// Why a node may not sign now: signing would reuse a seq, or date an event beyond what
/// its peers accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotNow {
    /// The feed's latest event, or a cause, is dated ahead of the clock.
    #[error(
        "the new event would follow an event dated ahead of this node's clock (was the clock \
         set back?); an event cannot be dated before its causes, so signing waits {wait_s} s \
         more"
    )]
    DatedAhead {
        /// Seconds until the clock is within the skew bound of that date.
        wait_s: u64,
    },
    /// This node's own events at later seqs are known but not yet taken in.
    #[error(
        "this node's own event at seq {seq} is waiting for its causes or its time; signing \
         now would reuse its seq"
    )]
    OwnEventsParked {
        /// The highest such seq.
        seq: u64,
    },
}

/// Where the next event of `author`'s feed in `replica` goes: its feed position, its deps
/// (the body's referent and the replica's heads) and its date, no earlier than any of its
/// causes (docs/PROTOCOL.md §5.9) — unless signing it would reuse a seq or date the event
/// beyond what peers accept (docs/NETWORK.md §7).
pub fn plan_next<F: Fold>(
    replica: &Replica<F>,
    author: PublicKey,
    now_ms: u64,
    body: &Body,
) -> Result<(FeedPosition, u64, Vec<EventId>), NotNow> {
    let own_head = replica.feed_head(&author);
    if let Some(seq) = replica
        .parked_seq(&author)
        .filter(|s| *s > own_head.map_or(0, |h| h.0))
    {
        return Err(NotNow::OwnEventsParked { seq });
    }
    let deps = deps_for(body, &replica.heads(), own_head.map(|h| h.1));
    let latest_cause = deps
        .iter()
        .chain(own_head.map(|h| h.1).iter())
        .filter_map(|id| replica.timestamp_of(id))
        .max()
        .unwrap_or(0);
    let ahead = latest_cause.saturating_sub(now_ms);
    if ahead > MAX_CLOCK_SKEW_MS {
        return Err(NotNow::DatedAhead {
            wait_s: (ahead - MAX_CLOCK_SKEW_MS).div_ceil(1000),
        });
    }
    let position = FeedPosition::after(replica.network(), author, own_head);
    Ok((position, now_ms.max(latest_cause), deps))
}

/// Signs `body` as the next event of `keypair`'s feed in `replica`, as [`plan_next`]
/// places it.
pub fn sign_next<F: Fold>(
    replica: &Replica<F>,
    keypair: Keypair,
    now_ms: u64,
    body: Body,
) -> Result<SignedEvent, NotNow> {
    let (position, at, deps) = plan_next(replica, keypair.public(), now_ms, &body)?;
    let last = position.prev.map(|p| (position.next_seq - 1, p));
    let mut writer = FeedWriter::resume(keypair, replica.network(), last);
    Ok(writer.sign(at, deps, body))
}

/// Signs `bodies` in order as the next events of the key's feed in a log, takes each in,
/// stores it and makes the store durable (unless `durable` is off, a planted defect);
/// returns their ids and wire bytes. Each is refused before anything is taken in (see
/// [`sign_next`]), so a refused event is never held to be released later beside a retry
/// at the same seq.
fn sign_into<F: Fold, S: Store>(
    log: &mut super::Log<F, S>,
    seed: &[u8; 32],
    now: u64,
    bodies: Vec<Body>,
    durable: bool,
) -> Result<(Vec<EventId>, Vec<Vec<u8>>), NodeError> {
    let mut ids = Vec::with_capacity(bodies.len());
    let mut wires = Vec::with_capacity(bodies.len());
    for body in bodies {
        let key = Keypair::from_seed(seed).expect("a valid seed");
        let ev = sign_next(&log.replica, key, now, body)
            .map_err(|e| NodeError::Refused(e.to_string()))?;
        // A body the rules refuse is refused before it is stored: only peers' events are
        // kept as evidence.
        if let outcome @ Outcome::Rejected(_) = log.replica.trial(&ev) {
            return Err(NodeError::Refused(format!(
                "the event would be {outcome}; nothing was signed into the log"
            )));
        }
        let wire = ev.to_wire();
        match log.replica.ingest(now, &wire) {
            Ok(Ingested::Stored { .. }) => {}
            other => {
                return Err(NodeError::Refused(format!(
                    "this node's own event was not stored: {other:?}"
                )))
            }
        }
        log.store.put_events(&[&ev])?;
        ids.push(ev.id);
        wires.push(wire);
    }
    if durable {
        log.store.sync()?;
    }
    Ok((ids, wires))
}

impl<S: Store> NodeCore<S> {
    /// Signs `bodies` into a log (the network's, or a federation's) now if this node has
    /// been shown its own feed there, else once it has (docs/NETWORK.md §7); the reply
    /// goes to `ticket`.
    pub(super) fn author_or_wait(&mut self, log: LogId, bodies: Vec<Body>, ticket: u64) {
        if self.head_confirmed_in(log) {
            let r = self.author_in_log(log, bodies);
            self.reply_authored(ticket, r);
        } else if let Some(why) = self.dated_ahead(log, bodies.first()) {
            // Waiting for a peer would not help: the feed's latest event is ahead of this
            // node's clock, and only the clock catching up lets it sign.
            self.reply_authored(ticket, Err(NodeError::Refused(why.to_string())));
        } else {
            self.waiting.push(WaitingAuthor {
                // The clock is counted in whole ms, rounded down: one more ms keeps the
                // wait from ever being shorter than the timeout.
                deadline_ms: self.now.mono_ms + self.config.head_timeout_ms + 1,
                log,
                bodies,
                ticket,
            });
            self.sync_all();
        }
    }

    /// Gives up on requests to sign that waited longer than `head_timeout_ms`.
    pub(super) fn expire_waiting(&mut self) {
        let now = self.now.mono_ms;
        let (expired, still): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|w| w.deadline_ms <= now);
        self.waiting = still;
        for w in expired {
            let e = match w.log {
                None => NodeError::HeadUnconfirmed,
                Some(f) => NodeError::FederationHeadUnconfirmed(f),
            };
            self.reply_authored(w.ticket, Err(e));
        }
    }

    /// Signs what waited for `log`'s head, now that it is confirmed.
    pub(super) fn release_waiting(&mut self, log: LogId) {
        let (ready, still): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|w| w.log == log);
        self.waiting = still;
        for w in ready {
            let r = self.author_in_log(log, w.bodies);
            self.reply_authored(w.ticket, r);
        }
    }

    /// Why signing `body` in a log is refused now because an event it would follow is
    /// dated ahead of this node's clock, if it is.
    fn dated_ahead(&self, log: LogId, body: Option<&Body>) -> Option<NotNow> {
        let key = self.node_key();
        let now = self.now.wall_ms;
        let r = match log {
            None => sign_next(&self.net.replica, key, now, body?.clone()),
            Some(f) => sign_next(&self.feds.get(&f)?.replica, key, now, body?.clone()),
        };
        r.err().filter(|e| matches!(e, NotNow::DatedAhead { .. }))
    }

    /// Whether this node has been shown its own feed in a log.
    pub(super) fn head_confirmed_in(&self, log: LogId) -> bool {
        match log {
            None => self.net.head_confirmed,
            Some(f) => self.feds.get(&f).is_none_or(|l| l.head_confirmed),
        }
    }

    /// Signs `bodies` into a log: the network's, or a federation's.
    pub(super) fn author_in_log(
        &mut self,
        log: LogId,
        bodies: Vec<Body>,
    ) -> Result<Vec<EventId>, NodeError> {
        self.guarded(|core| match log {
            None => core.author_now(bodies),
            Some(f) => core.author_fed(f, bodies),
        })
    }

    /// Signs `bodies` into the network's log, durable before it returns.
    pub(super) fn author(&mut self, bodies: Vec<Body>) -> Result<Vec<EventId>, NodeError> {
        self.guarded(|core| core.author_now(bodies))
    }

    fn author_now(&mut self, bodies: Vec<Body>) -> Result<Vec<EventId>, NodeError> {
        let seed = self.keypair.seed();
        let now = self.now.wall_ms;
        let durable = !self.defective(Defect::AckBeforeDurable);
        let signed = sign_into(&mut self.net, &seed, now, bodies, durable);
        // Events signed before one that was refused are in the store but not synced.
        self.unflushed |= signed.is_err();
        let (ids, wires) = signed?;
        self.note_stored(&ids);
        self.snapshot_due = true;
        self.unflushed |= !durable;
        self.metrics.events_authored += ids.len() as u64;
        // An invitation this node just signed opens its gate at once, so the invited
        // node's first dial is not refused (authoring is rare; the refresh is cheap).
        self.refresh_gate();
        for wire in wires {
            self.out.push(Action::Publish { log: None, wire });
        }
        Ok(ids)
    }

    /// Signs `bodies` into a federation's log with the node key; durable before it returns.
    pub(super) fn author_fed(
        &mut self,
        federation: mutual_protocol::federation::FederationId,
        bodies: Vec<Body>,
    ) -> Result<Vec<EventId>, NodeError> {
        self.may_author_fed(&federation, &bodies)?;
        let now = self.now.wall_ms;
        let seed = self.keypair.seed();
        let log = self
            .feds
            .get_mut(&federation)
            .ok_or_else(|| NodeError::Refused(format!("no federation {federation} here")))?;
        let signed = sign_into(log, &seed, now, bodies, true);
        self.unflushed |= signed.is_err();
        let (ids, wires) = signed?;
        self.metrics.events_authored += ids.len() as u64;
        for wire in wires {
            self.out.push(Action::Publish {
                log: Some(federation),
                wire,
            });
        }
        Ok(ids)
    }

    /// Signs a federation's charter with the node key (docs/FEDERATION.md §2): the first
    /// event of the federation's log. The charter must be valid and name this network.
    pub(super) fn sign_charter(
        &self,
        charter: pb::FederationCharter,
    ) -> Result<SignedEvent, NodeError> {
        let own = self.net.replica.network();
        mutual_protocol::federation::validate_charter(&charter)
            .map_err(|e| NodeError::Refused(e.to_string()))?;
        if !charter.members.iter().any(|n| n.network == own.as_bytes()) {
            return Err(NodeError::Refused(
                "the charter does not name this node's network".into(),
            ));
        }
        let body = Body::FederationCharter(charter);
        Ok(FeedWriter::root(self.node_key(), self.now.wall_ms, body).1)
    }

    /// A copy of the node key, for a writer that takes one by value.
    pub(super) fn node_key(&self) -> Keypair {
        Keypair::from_seed(&self.keypair.seed()).expect("a valid seed")
    }
}
