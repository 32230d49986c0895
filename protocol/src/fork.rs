//! Equivocation: two different events by one author with the same `seq`.
//!
//! The two signed events are the proof. Anyone can check it with nothing but the bytes:
//! both decode, both are for the same network, same author and same seq, their ids
//! differ, and both signatures verify.

use crate::event::{EventError, SignedEvent};
use crate::id::NetworkId;
use crate::keys::PublicKey;
use crate::limits::MAX_SIGNED_EVENT_BYTES;
use mutual_proto::v1 as pb;
use prost::Message;

/// Largest encoded proof, in bytes (capacity): two event wrappers and their framing.
pub const MAX_PROOF_BYTES: usize = 2 * MAX_SIGNED_EVENT_BYTES + 64;

/// Why a proof does not prove equivocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The bytes are not a proof.
    #[error("malformed proof: {0}")]
    Malformed(String),
    /// One of the events is invalid.
    #[error("invalid event in proof: {0}")]
    Event(#[from] EventError),
    /// The events do not share author, network and seq, or are the same event.
    #[error("the two events are not an equivocation: {0}")]
    NotAFork(&'static str),
}

/// Two signed events proving that their author forked its feed.
#[derive(Clone, Debug)]
pub struct EquivocationProof {
    /// One event.
    pub first: SignedEvent,
    /// Another event with the same author and seq.
    pub second: SignedEvent,
}

impl EquivocationProof {
    /// Checks the proof and returns the author and the forked seq.
    pub fn verify(&self) -> Result<(PublicKey, u64, NetworkId), ProofError> {
        let (a, b) = (&self.first, &self.second);
        if a.id == b.id {
            return Err(ProofError::NotAFork("the same event twice"));
        }
        if a.event.author != b.event.author {
            return Err(ProofError::NotAFork("different authors"));
        }
        if a.event.seq != b.event.seq {
            return Err(ProofError::NotAFork("different sequence numbers"));
        }
        // A genesis belongs to the network it founds, so a founder that signs another
        // seq-1 event in its own network has equivocated; two geneses are two networks.
        if a.network() != b.network() {
            return Err(ProofError::NotAFork("different networks"));
        }
        if !a.verify_signature() || !b.verify_signature() {
            return Err(ProofError::Event(EventError::BadSignature));
        }
        Ok((a.event.author, a.event.seq, a.network()))
    }

    /// Encodes as a `mutual.v1.EquivocationProof`.
    pub fn encode(&self) -> Vec<u8> {
        let wrap = |e: &SignedEvent| pb::SignedEvent {
            event: e.event_bytes.clone(),
            signature: e.signature.to_vec(),
        };
        pb::EquivocationProof {
            first: Some(wrap(&self.first)),
            second: Some(wrap(&self.second)),
        }
        .encode_to_vec()
    }

    /// Decodes (but does not verify) a proof.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProofError> {
        if bytes.len() > MAX_PROOF_BYTES {
            return Err(ProofError::Malformed(format!(
                "{} bytes, over the limit of {MAX_PROOF_BYTES}",
                bytes.len()
            )));
        }
        let raw = pb::EquivocationProof::decode(bytes)
            .map_err(|e| ProofError::Malformed(e.to_string()))?;
        let one = |e: Option<pb::SignedEvent>| -> Result<SignedEvent, ProofError> {
            let e = e.ok_or(ProofError::Malformed("missing event".into()))?;
            Ok(SignedEvent::decode(&e.encode_to_vec())?)
        };
        Ok(EquivocationProof {
            first: one(raw.first)?,
            second: one(raw.second)?,
        })
    }
}
