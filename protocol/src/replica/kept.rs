//! A stored event as the replica keeps it: not decoded, so that a long log takes what its
//! events' signed bytes take and little more.

use crate::event::SignedEvent;
use crate::id::EventId;
use crate::signature;

/// A stored event as the replica keeps it, under its id: its signature and signed bytes,
/// decoded again when it is asked for, and what taking in other events reads of it.
#[derive(Debug)]
pub(super) struct Stored {
    /// Its height: with its id, its place in the fold order.
    pub(super) height: u64,
    pub(super) timestamp_ms: u64,
    /// The signature, then the signed bytes.
    kept: Box<[u8]>,
}

impl Stored {
    pub(super) fn keep(height: u64, ev: SignedEvent) -> Self {
        let mut kept = Vec::with_capacity(signature::SIGNATURE_LEN + ev.event_bytes.len());
        kept.extend_from_slice(&ev.signature);
        kept.extend_from_slice(&ev.event_bytes);
        Stored {
            height,
            timestamp_ms: ev.event.timestamp_ms,
            kept: kept.into_boxed_slice(),
        }
    }

    pub(super) fn signature(&self) -> &[u8; signature::SIGNATURE_LEN] {
        self.kept
            .first_chunk()
            .unwrap_or(&[0; signature::SIGNATURE_LEN])
    }

    pub(super) fn event_bytes(&self) -> &[u8] {
        self.kept
            .get(signature::SIGNATURE_LEN..)
            .unwrap_or_default()
    }

    /// The event stored under `id`, decoded again (bytes once taken in always decode).
    pub(super) fn decode(&self, id: &EventId) -> Option<SignedEvent> {
        SignedEvent::from_kept(*id, self.event_bytes(), *self.signature())
    }
}
