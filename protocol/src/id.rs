//! Event and network identifiers.
//!
//! An event id is SHA-256 of the exact `event` bytes that were signed (not of the
//! `SignedEvent` wrapper, and never of a re-encoding). A network id is the event id of the
//! network's genesis event, so a network id names its founding facts.

use sha2::{Digest, Sha256};
use std::fmt;

/// Length in bytes of an event id or network id.
pub const ID_LEN: usize = 32;

/// The id of an event: SHA-256 of its signed `event` bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(pub [u8; ID_LEN]);

impl EventId {
    /// The id of the event whose exact encoded bytes are `event_bytes`.
    pub fn of(event_bytes: &[u8]) -> Self {
        EventId(Sha256::digest(event_bytes).into())
    }

    /// Reads an id from a field that must hold exactly [`ID_LEN`] bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(EventId)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.0
    }

    /// The first 8 hex digits, for logs and tables.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({})", self.short())
    }
}

impl std::str::FromStr for EventId {
    type Err = hex::FromHexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; ID_LEN];
        hex::decode_to_slice(s, &mut out)?;
        Ok(EventId(out))
    }
}

/// The id of a network: the [`EventId`] of its genesis event.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetworkId(pub EventId);

impl NetworkId {
    /// The raw bytes, as carried in every event's `network` field.
    pub fn as_bytes(&self) -> &[u8; ID_LEN] {
        self.0.as_bytes()
    }

    /// A network id from 32 bytes; `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        EventId::from_slice(bytes).map(NetworkId)
    }

    /// The genesis event's id.
    pub fn genesis(&self) -> EventId {
        self.0
    }
}

impl fmt::Display for NetworkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for NetworkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetworkId({})", self.0.short())
    }
}

impl std::str::FromStr for NetworkId {
    type Err = hex::FromHexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(NetworkId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_is_sha256_of_the_exact_bytes() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        let id = EventId::of(b"abc");
        assert_eq!(
            id.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(id.to_string().parse::<EventId>().ok(), Some(id));
        assert!(EventId::from_slice(&[0u8; 31]).is_none());
    }
}
