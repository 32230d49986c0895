//! A stored event as the replica keeps it: not decoded, and once the node holds it durably
//! in its own log, not in memory at all, so that a long log takes little more than its
//! indexes; and the replica's reads of stored events, from the bytes kept or back from the
//! node's log.

use super::{Fold, OrderKey, Replica};
use crate::event::{wire_of, SignedEvent};
use crate::id::EventId;
use crate::keys::PublicKey;
use crate::signature;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// Slots of an emptied table of unwritten bytes worth keeping for the next call's events.
const RELEASED_TABLE_KEPT: usize = 4096;

/// Where a replica reads back the events it no longer keeps in memory: the node's own log
/// of stored events. A replica given one ([`super::Replica::set_bodies`]) lets go of an
/// event's bytes once this holds it, and reads them here when the event is asked for or
/// folded again.
pub trait Bodies: fmt::Debug + Send + Sync {
    /// Whether the event's bytes can be read here and are durable: the replica lets go of
    /// its own copy when this says so.
    fn holds(&self, id: &EventId) -> bool;
    /// The event's wire bytes (an encoded `SignedEvent`), as it was taken in.
    fn read(&self, id: &EventId) -> Result<Vec<u8>, BodyError>;
}

/// Why a stored event could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {id} could not be read back: {detail}")]
pub struct BodyError {
    /// The event asked for.
    pub id: EventId,
    /// What went wrong.
    pub detail: String,
}

/// A stored event as the replica keeps it, under its id: what taking in other events reads
/// of it. Its bytes are in the replica's `unwritten` table ([`Kept`]) until the body source
/// holds them, and are read back from the body source after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Stored {
    /// Its height: with its id, its place in the fold order.
    pub(super) height: u64,
    pub(super) timestamp_ms: u64,
}

impl crate::runs::Record for Stored {
    const LEN: usize = 16;
    fn put(&self, out: &mut [u8]) {
        let (h, t) = out.split_at_mut(8);
        self.height.put(h);
        self.timestamp_ms.put(t);
    }
    fn take(bytes: &[u8]) -> Self {
        let (h, t) = bytes.split_at(8);
        Stored {
            height: u64::take(h),
            timestamp_ms: u64::take(t),
        }
    }
}

/// A stored event's signature, then its signed bytes, while the replica keeps them.
#[derive(Debug)]
pub(super) struct Kept(Box<[u8]>);

impl Kept {
    pub(super) fn of(ev: &SignedEvent) -> Self {
        let mut kept = Vec::with_capacity(signature::SIGNATURE_LEN + ev.event_bytes.len());
        kept.extend_from_slice(&ev.signature);
        kept.extend_from_slice(&ev.event_bytes);
        Kept(kept.into_boxed_slice())
    }

    fn split(&self) -> Option<(&[u8; signature::SIGNATURE_LEN], &[u8])> {
        self.0.split_first_chunk()
    }

    /// The event's signature.
    pub(super) fn signature(&self) -> Option<&[u8; signature::SIGNATURE_LEN]> {
        self.split().map(|(sig, _)| sig)
    }
}

fn no_source(id: &EventId) -> BodyError {
    BodyError {
        id: *id,
        detail: "neither kept nor given a body source".into(),
    }
}

/// The event stored under `id`: decoded again from the bytes kept, or read back from
/// `bodies` and checked to be the event asked for.
pub(super) fn load(
    id: &EventId,
    kept: Option<&Kept>,
    bodies: Option<&dyn Bodies>,
) -> Result<SignedEvent, BodyError> {
    let fail = |detail: String| BodyError { id: *id, detail };
    if let Some((sig, bytes)) = kept.and_then(Kept::split) {
        // Bytes once taken in always decode.
        return SignedEvent::from_kept(*id, bytes, *sig)
            .ok_or_else(|| fail("the bytes kept do not decode".into()));
    }
    let wire = bodies.ok_or_else(|| no_source(id))?.read(id)?;
    let ev = SignedEvent::decode(&wire).map_err(|e| fail(e.to_string()))?;
    if ev.id != *id {
        return Err(fail(format!("the bytes read back are event {}", ev.id)));
    }
    Ok(ev)
}

/// The `prev` of the event stored under `id`, as [`load`] reads it.
pub(super) fn prev(
    id: &EventId,
    kept: Option<&Kept>,
    bodies: Option<&dyn Bodies>,
) -> Result<EventId, BodyError> {
    load(id, kept, bodies)?.event.prev.ok_or_else(|| BodyError {
        id: *id,
        detail: "it has no prev, yet an event of its feed follows it".into(),
    })
}

/// The wire bytes of the event stored under `id`, without decoding it.
pub(super) fn wire(
    id: &EventId,
    kept: Option<&Kept>,
    bodies: Option<&dyn Bodies>,
) -> Result<Vec<u8>, BodyError> {
    match (kept.and_then(Kept::split), bodies) {
        (Some((sig, bytes)), _) => Ok(wire_of(bytes, sig)),
        (None, Some(b)) => b.read(id),
        (None, None) => Err(no_source(id)),
    }
}

/// Reading stored events: from the bytes kept, or back from the body source.
impl<S: Fold> Replica<S> {
    /// Reads stored events back from `bodies` (the node's log of them) rather than keeping
    /// their bytes: from now on an event's bytes are let go of once `bodies` holds it,
    /// checked at the start of every call that takes events in and by
    /// [`Replica::release_written`].
    ///
    /// # Panics
    /// Folding again after a late event, and [`Replica::events_in_order`], read events back
    /// from `bodies`; one that `bodies` said it holds and then cannot give back stops the
    /// replica with a panic, since the state cannot be derived without it. (Checking an
    /// event against its author's feed below the head, or a fork, which reads the feed back
    /// whole, refuses the event for now instead: [`super::IngestError::Unreadable`].) ([`Replica::get`]
    /// and [`Replica::wire`] answer `None` for it; [`Replica::load`] says why.)
    pub fn set_bodies(&mut self, bodies: Arc<dyn Bodies>) {
        self.bodies = Some(bodies);
        self.release_written();
    }

    /// Lets go of the bytes of every stored event the body source now holds.
    pub fn release_written(&mut self) {
        let Some(bodies) = &self.bodies else {
            return;
        };
        self.unwritten.retain(|id, _| !bodies.holds(id));
        if self.unwritten.is_empty() && self.unwritten.capacity() > RELEASED_TABLE_KEPT {
            // A large batch (a sync page, a load) would otherwise leave its table behind.
            self.unwritten = HashMap::new();
        }
    }

    /// How many stored events have their bytes kept in memory (for benchmarks and tests).
    pub fn kept_len(&self) -> usize {
        self.unwritten.len()
    }

    /// A stored event, decoded from the bytes kept or read back from the body source
    /// (`None` if it is not stored or cannot be read back; [`Replica::load`] says why).
    pub fn get(&self, id: &EventId) -> Option<SignedEvent> {
        self.load(id).ok().flatten()
    }

    /// A stored event (`None` if it is not stored), or why it could not be read back.
    pub fn load(&self, id: &EventId) -> Result<Option<SignedEvent>, BodyError> {
        self.stored_or_error(id)?.map(|_| self.body(id)).transpose()
    }

    /// What the table keeps of `id`, if it is stored, or why the table could not be read.
    pub(super) fn stored_or_error(&self, id: &EventId) -> Result<Option<Stored>, BodyError> {
        self.events.try_get(id).map_err(|e| BodyError {
            id: *id,
            detail: format!("the table of stored events could not be read: {e}"),
        })
    }

    /// A stored event's wire bytes (an encoded `SignedEvent`), without decoding it (`None`
    /// if it is not stored or cannot be read back; [`Replica::read_wire`] says why).
    pub fn wire(&self, id: &EventId) -> Option<Vec<u8>> {
        self.read_wire(id).ok().flatten()
    }

    /// A stored event's wire bytes (`None` if it is not stored), or why they could not be
    /// read back.
    pub fn read_wire(&self, id: &EventId) -> Result<Option<Vec<u8>>, BodyError> {
        self.stored_or_error(id)?
            .map(|_| wire(id, self.unwritten.get(id), self.bodies.as_deref()))
            .transpose()
    }

    /// Stored events in fold order, each decoded as it is reached.
    ///
    /// # Panics
    /// If a stored event cannot be read back from the body source: a log read in order
    /// (an export, a fold) must not go on without it.
    pub fn events_in_order(&self) -> impl Iterator<Item = SignedEvent> + '_ {
        self.try_events_in_order()
            .map(|r| r.unwrap_or_else(|e| panic!("{e}: the log cannot be read in order")))
    }

    /// Stored events in fold order, each read back as it is reached, or why it could not
    /// be: what a node serving its log to others reads, so that a failing disk is an
    /// error it answers rather than a stop.
    pub fn try_events_in_order(&self) -> impl Iterator<Item = Result<SignedEvent, BodyError>> + '_ {
        // The last id read names where the order could not be read on.
        let mut last: Option<EventId> = None;
        self.order
            .try_range_from(std::ops::Bound::Unbounded)
            .map(move |entry| match entry {
                Ok(((_, id), ())) => {
                    last = Some(id);
                    self.body(&id)
                }
                Err(e) => Err(match last {
                    Some(id) => BodyError {
                        id,
                        detail: format!("the fold order after it could not be read: {e}"),
                    },
                    None => BodyError {
                        id: EventId([0; 32]),
                        detail: format!("the fold order could not be read from its start: {e}"),
                    },
                }),
            })
    }

    /// A stored event that must be there, for folding again.
    pub(super) fn read_back(&self, id: &EventId) -> SignedEvent {
        super::must_read(self.body(id))
    }

    /// A stored event, from the bytes kept or read back from the body source.
    fn body(&self, id: &EventId) -> Result<SignedEvent, BodyError> {
        load(id, self.unwritten.get(id), self.bodies.as_deref())
    }

    /// `author`'s stored events with seq at least `from_seq`, in seq order (both events
    /// of a forked seq), each with its place in the fold order, or why it could not be
    /// read back. Along one feed the places only increase, since each event follows its
    /// `prev`.
    pub fn feed_from(
        &self,
        author: &PublicKey,
        from_seq: u64,
    ) -> impl Iterator<Item = Result<(OrderKey, SignedEvent), BodyError>> + '_ {
        self.feed_keys_from(author, from_seq)
            .map(|key| key.and_then(|key| Ok((key, self.body(&key.1)?))))
    }
}
