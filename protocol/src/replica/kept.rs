//! A stored event as the replica keeps it: not decoded, and once the node holds it durably
//! in its own log, not in memory at all, so that a long log takes little more than its
//! indexes.

use crate::event::{wire_of, SignedEvent};
use crate::id::EventId;
use crate::signature;
use std::fmt;

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
/// of it. Its bytes are in the replica's `unwritten` table until the body source holds
/// them ([`Kept`]), and read back from there after.
#[derive(Debug)]
pub(super) struct Stored {
    /// Its height: with its id, its place in the fold order.
    pub(super) height: u64,
    pub(super) timestamp_ms: u64,
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
