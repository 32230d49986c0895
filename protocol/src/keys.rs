//! Identity: ed25519 keys for practice nodes and partners, and their fingerprints.
//!
//! A practice node's key is also its libp2p identity: the 32-byte secret seed here is the
//! same seed libp2p's ed25519 keypair takes, so the node's PeerId is derived from the same
//! public key that signs its events.

use crate::signature;
use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::{Signer, SigningKey};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use std::fmt;

/// Length in bytes of a public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length in bytes of a secret key seed.
pub const SECRET_KEY_LEN: usize = 32;

/// An ed25519 public key that decodes to a curve point of more than small order.
///
/// Small-order keys are refused because under the cofactored verification rule (see
/// [`crate::signature`]) anyone could sign for them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; PUBLIC_KEY_LEN]);

/// Why bytes are not a usable public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not 32 bytes.
    #[error("a public key is {PUBLIC_KEY_LEN} bytes, got {0}")]
    Length(usize),
    /// Not the encoding of a curve point.
    #[error("the bytes are not an ed25519 point")]
    NotAPoint,
    /// A point of small order, for which signatures prove nothing.
    #[error("the key is a small-order (weak) point")]
    Weak,
}

/// Most keys remembered as checked (see [`PublicKey::from_slice`]); past it the memory is
/// emptied and filled again. 65,536 keys cover every practice and partner of a national
/// federation, at 32 bytes each (2 MiB).
pub const MAX_CHECKED_KEYS: usize = 65_536;

/// Keys already checked to be valid points. Checking decompresses a curve point, which
/// costs as much as a fifth of a signature check, and the state asks it of the same few
/// thousand keys on every membership lookup and refold. Only the answer "valid" is kept,
/// so what `from_slice` returns is the same with or without it.
static CHECKED: std::sync::Mutex<Option<std::collections::HashSet<[u8; PUBLIC_KEY_LEN]>>> =
    std::sync::Mutex::new(None);

impl PublicKey {
    /// Checks and wraps 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; PUBLIC_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| KeyError::Length(bytes.len()))?;
        let mut checked = CHECKED.lock().unwrap_or_else(|e| e.into_inner());
        let known = checked.get_or_insert_with(Default::default);
        if known.contains(&arr) {
            return Ok(PublicKey(arr));
        }
        let point = CompressedEdwardsY(arr)
            .decompress()
            .ok_or(KeyError::NotAPoint)?;
        if point.is_small_order() {
            return Err(KeyError::Weak);
        }
        if known.len() >= MAX_CHECKED_KEYS {
            known.clear();
        }
        known.insert(arr);
        Ok(PublicKey(arr))
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.0
    }

    /// The key's short, human-checkable fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(self)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

impl std::str::FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = hex::decode(s).map_err(|_| KeyError::Length(s.len() / 2))?;
        PublicKey::from_slice(&bytes)
    }
}

/// A short form of a public key for people to compare by eye or read over the phone:
/// the first 8 bytes of SHA-256("mutual/v1/fingerprint\0" || key), as four groups of
/// four hex digits, e.g. `3f2a-91c0-7d4e-b812`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 8]);

/// Domain prefix hashed before a key to make its fingerprint.
pub const FINGERPRINT_DOMAIN: &[u8] = b"mutual/v1/fingerprint\0";

impl Fingerprint {
    fn of(key: &PublicKey) -> Self {
        let mut h = Sha256::new();
        h.update(FINGERPRINT_DOMAIN);
        h.update(key.as_bytes());
        let digest = h.finalize();
        let mut out = [0u8; 8];
        out.copy_from_slice(&digest[..8]);
        Fingerprint(out)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = hex::encode(self.0);
        write!(f, "{}-{}-{}-{}", &h[0..4], &h[4..8], &h[8..12], &h[12..16])
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A secret signing key with its public half. Never leaves the machine it was made on.
pub struct Keypair {
    signing: SigningKey,
    public: PublicKey,
}

impl Keypair {
    /// A fresh key from the caller's random number generator.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        loop {
            let mut seed = [0u8; SECRET_KEY_LEN];
            rng.fill_bytes(&mut seed);
            if let Some(kp) = Keypair::from_seed(&seed) {
                return kp;
            }
        }
    }

    /// The keypair for a 32-byte secret seed (RFC 8032), or `None` in the (never seen in
    /// practice) case that the public key would be weak.
    pub fn from_seed(seed: &[u8; SECRET_KEY_LEN]) -> Option<Self> {
        let signing = SigningKey::from_bytes(seed);
        let public = PublicKey::from_slice(signing.verifying_key().as_bytes()).ok()?;
        Some(Keypair { signing, public })
    }

    /// The 32-byte secret seed, for writing to a key file.
    pub fn seed(&self) -> [u8; SECRET_KEY_LEN] {
        self.signing.to_bytes()
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// Signs `domain || message`. Every signature in Mutual is domain-separated so that a
    /// signature made for one purpose can never be replayed as another.
    pub fn sign(&self, domain: &[u8], message: &[u8]) -> [u8; signature::SIGNATURE_LEN] {
        let mut buf = Vec::with_capacity(domain.len() + message.len());
        buf.extend_from_slice(domain);
        buf.extend_from_slice(message);
        self.signing.sign(&buf).to_bytes()
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({})", self.public.fingerprint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memory of checked keys changes no answer: asked again, and after the memory
    /// has been emptied at its limit, a valid key is still valid and a bad one still bad.
    #[test]
    fn remembering_checked_keys_changes_no_answer() {
        let good = Keypair::from_seed(&[9; 32]).expect("key").public();
        let mut identity = [0u8; 32];
        identity[0] = 1;
        for _ in 0..2 {
            assert_eq!(PublicKey::from_slice(good.as_bytes()), Ok(good));
            assert_eq!(PublicKey::from_slice(&identity), Err(KeyError::Weak));
        }
        // Fill the memory past its limit with other valid keys.
        for i in 0..=MAX_CHECKED_KEYS as u64 {
            let mut seed = [0x5c; 32];
            seed[..8].copy_from_slice(&i.to_le_bytes());
            let k = Keypair::from_seed(&seed).expect("key").public();
            assert!(PublicKey::from_slice(k.as_bytes()).is_ok());
        }
        assert_eq!(PublicKey::from_slice(good.as_bytes()), Ok(good));
        assert_eq!(PublicKey::from_slice(&identity), Err(KeyError::Weak));
    }

    #[test]
    fn weak_and_malformed_keys_are_refused() {
        assert_eq!(PublicKey::from_slice(&[1u8; 31]), Err(KeyError::Length(31)));
        // The identity point (y = 1) has order 1.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(PublicKey::from_slice(&identity), Err(KeyError::Weak));
        // y = 2 is not on the curve.
        let mut not_point = [0u8; 32];
        not_point[0] = 2;
        assert_eq!(PublicKey::from_slice(&not_point), Err(KeyError::NotAPoint));
    }

    #[test]
    fn fingerprint_is_stable_and_short() {
        let kp = Keypair::from_seed(&[7u8; 32]).expect("key");
        let fp = kp.public().fingerprint().to_string();
        assert_eq!(fp.len(), 19);
        assert_eq!(fp, kp.public().fingerprint().to_string());
        let other = Keypair::from_seed(&[8u8; 32]).expect("key");
        assert_ne!(fp, other.public().fingerprint().to_string());
    }
}
