//! A stored event as the replica keeps it: not decoded, and once the node has written it
//! to its own log, not in memory at all, so that a long log takes little more than its
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
    /// Whether the event's bytes can be read here.
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
/// of it, and its signature and signed bytes until the body source holds them.
#[derive(Debug)]
pub(super) struct Stored {
    /// Its height: with its id, its place in the fold order.
    pub(super) height: u64,
    pub(super) timestamp_ms: u64,
    /// The signature, then the signed bytes; `None` once the body source holds them.
    kept: Option<Box<[u8]>>,
}

impl Stored {
    pub(super) fn keep(height: u64, ev: SignedEvent) -> Self {
        let mut kept = Vec::with_capacity(signature::SIGNATURE_LEN + ev.event_bytes.len());
        kept.extend_from_slice(&ev.signature);
        kept.extend_from_slice(&ev.event_bytes);
        Stored {
            height,
            timestamp_ms: ev.event.timestamp_ms,
            kept: Some(kept.into_boxed_slice()),
        }
    }

    pub(super) fn is_kept(&self) -> bool {
        self.kept.is_some()
    }

    /// Lets go of the bytes (the body source holds them).
    pub(super) fn release(&mut self) {
        self.kept = None;
    }

    fn split(&self) -> Option<(&[u8; signature::SIGNATURE_LEN], &[u8])> {
        let kept = self.kept.as_deref()?;
        let (sig, bytes) = kept.split_first_chunk()?;
        Some((sig, bytes))
    }

    /// The event stored under `id`: decoded again from the bytes kept, or read back from
    /// `bodies` and checked to be the event asked for.
    pub(super) fn load(
        &self,
        id: &EventId,
        bodies: Option<&dyn Bodies>,
    ) -> Result<SignedEvent, BodyError> {
        let fail = |detail: String| BodyError { id: *id, detail };
        if let Some((sig, bytes)) = self.split() {
            // Bytes once taken in always decode.
            return SignedEvent::from_kept(*id, bytes, *sig)
                .ok_or_else(|| fail("the bytes kept do not decode".into()));
        }
        let wire = bodies
            .ok_or_else(|| fail("neither kept nor given a body source".into()))?
            .read(id)?;
        let ev = SignedEvent::decode(&wire).map_err(|e| fail(e.to_string()))?;
        if ev.id != *id {
            return Err(fail(format!("the bytes read back are event {}", ev.id)));
        }
        Ok(ev)
    }

    /// The event's wire bytes, without decoding it.
    pub(super) fn wire(
        &self,
        id: &EventId,
        bodies: Option<&dyn Bodies>,
    ) -> Result<Vec<u8>, BodyError> {
        match (self.split(), bodies) {
            (Some((sig, bytes)), _) => Ok(wire_of(bytes, sig)),
            (None, Some(b)) => b.read(id),
            (None, None) => Err(BodyError {
                id: *id,
                detail: "neither kept nor given a body source".into(),
            }),
        }
    }

    /// The event's signature, while its bytes are kept.
    pub(super) fn kept_signature(&self) -> Option<&[u8; signature::SIGNATURE_LEN]> {
        self.split().map(|(sig, _)| sig)
    }
}
