//! Signature verification: one rule, whether signatures are checked one at a time or in a
//! batch.
//!
//! Ed25519 verifiers disagree at the edges: a signature crafted with a small-order
//! component can pass the "cofactored" equation and fail the "cofactorless" one, and
//! batch verifiers are cofactored in effect only sometimes. In a replicated log that is a
//! consensus bug: two nodes could store different sets of events. Mutual therefore fixes
//! one rule, the cofactored equation
//!
//! ```text
//! [8][s]B = [8]R + [8][k]A,   k = SHA-512(R || A || M) mod ℓ
//! ```
//!
//! with `s` required to be canonical (`s < ℓ`) and `A` not of small order (see
//! [`crate::keys::PublicKey`]). [`verify`] and [`verify_batch`] both implement exactly this
//! rule, so the result never depends on which events happened to arrive together.

use crate::keys::PublicKey;
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};

/// Length in bytes of a signature.
pub const SIGNATURE_LEN: usize = 64;

/// Domain prefix of an event signature: the signed message is this prefix followed by
/// the exact `event` bytes.
pub const EVENT_DOMAIN: &[u8] = b"mutual/v1/event\0";

/// Domain prefix of a key-rotation proof signed by the new key.
pub const ROTATE_DOMAIN: &[u8] = b"mutual/v1/rotate\0";

/// Domain prefix used to derive the batch coefficients from the batch's contents.
const BATCH_DOMAIN: &[u8] = b"mutual/v1/batch\0";

/// One signature to check: the key, the domain prefix and message, and the signature.
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    /// Who claims to have signed.
    pub key: &'a PublicKey,
    /// The domain prefix, e.g. [`EVENT_DOMAIN`].
    pub domain: &'a [u8],
    /// The message after the prefix.
    pub message: &'a [u8],
    /// The 64-byte signature.
    pub signature: &'a [u8; SIGNATURE_LEN],
}

/// An item decoded into curve points and scalars.
struct Prepared {
    a: EdwardsPoint,
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

fn prepare(item: &Item<'_>) -> Option<Prepared> {
    let a = CompressedEdwardsY(*item.key.as_bytes()).decompress()?;
    let mut r_bytes = [0u8; 32];
    r_bytes.copy_from_slice(&item.signature[..32]);
    let r = CompressedEdwardsY(r_bytes).decompress()?;
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&item.signature[32..]);
    let s: Scalar = Option::from(Scalar::from_canonical_bytes(s_bytes))?;
    let mut h = Sha512::new();
    h.update(r_bytes);
    h.update(item.key.as_bytes());
    h.update(item.domain);
    h.update(item.message);
    let k = Scalar::from_hash(h);
    Some(Prepared { a, r, s, k })
}

/// Checks one signature under the cofactored rule.
pub fn verify(item: &Item<'_>) -> bool {
    let Some(p) = prepare(item) else {
        return false;
    };
    // [s]B - [k]A - R, then clear the cofactor.
    let check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&-p.k, &p.a, &p.s) - p.r;
    check.mul_by_cofactor().is_identity()
}

/// Checks many signatures; `result[i]` says whether `items[i]` is valid.
///
/// All items are first checked together with one multi-scalar multiplication, using
/// 128-bit coefficients derived by hashing the whole batch (so the outcome is a pure
/// function of the input). Only if that fails is each item checked alone, to find the bad
/// ones. Either way the answer for each item equals [`verify`] on it.
pub fn verify_batch(items: &[Item<'_>]) -> Vec<bool> {
    if items.len() < 2 {
        return items.iter().map(verify).collect();
    }
    let prepared: Option<Vec<Prepared>> = items.iter().map(prepare).collect();
    if let Some(prepared) = prepared {
        if batch_equation_holds(items, &prepared) {
            return vec![true; items.len()];
        }
    }
    items.iter().map(verify).collect()
}

fn batch_equation_holds(items: &[Item<'_>], prepared: &[Prepared]) -> bool {
    let mut seed = Sha512::new();
    seed.update(BATCH_DOMAIN);
    for (item, p) in items.iter().zip(prepared) {
        seed.update(item.signature);
        seed.update(item.key.as_bytes());
        seed.update(p.k.as_bytes());
    }
    let seed = seed.finalize();
    let zs: Vec<Scalar> = (0..items.len() as u64)
        .map(|i| {
            let mut h = Sha512::new();
            h.update(seed);
            h.update(i.to_le_bytes());
            let mut z = [0u8; 32];
            z[..16].copy_from_slice(&h.finalize()[..16]);
            Scalar::from_bytes_mod_order(z)
        })
        .collect();
    let b_coefficient: Scalar = prepared.iter().zip(&zs).map(|(p, z)| z * p.s).sum();
    let scalars = std::iter::once(-b_coefficient)
        .chain(zs.iter().copied())
        .chain(prepared.iter().zip(&zs).map(|(p, z)| z * p.k));
    let points = std::iter::once(ED25519_BASEPOINT_POINT)
        .chain(prepared.iter().map(|p| p.r))
        .chain(prepared.iter().map(|p| p.a));
    // Σ z·R + Σ z·k·A - (Σ z·s)·B must be the identity once the cofactor is cleared.
    EdwardsPoint::vartime_multiscalar_mul(scalars, points)
        .mul_by_cofactor()
        .is_identity()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keypair;
    use curve25519_dalek::constants::EIGHT_TORSION;

    fn keypair(n: u8) -> Keypair {
        Keypair::from_seed(&[n; 32]).expect("key")
    }

    #[test]
    fn agrees_with_rfc8032_signatures() {
        let kp = keypair(1);
        let sig = kp.sign(EVENT_DOMAIN, b"hello");
        let item = Item {
            key: &kp.public(),
            domain: EVENT_DOMAIN,
            message: b"hello",
            signature: &sig,
        };
        assert!(verify(&item));
        let wrong = Item {
            message: b"hellO",
            ..item
        };
        assert!(!verify(&wrong));
        let other_domain = Item {
            domain: ROTATE_DOMAIN,
            ..item
        };
        assert!(!verify(&other_domain));
        // dalek's strict verifier accepts the same signature.
        let vk = ed25519_dalek::VerifyingKey::from_bytes(kp.public().as_bytes()).expect("vk");
        let mut msg = EVENT_DOMAIN.to_vec();
        msg.extend_from_slice(b"hello");
        assert!(vk
            .verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(&sig))
            .is_ok());
    }

    #[test]
    fn batch_finds_exactly_the_bad_signatures() {
        let keys: Vec<Keypair> = (1..=6).map(keypair).collect();
        let pubs: Vec<PublicKey> = keys.iter().map(Keypair::public).collect();
        let msgs: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 10]).collect();
        let mut sigs: Vec<[u8; 64]> = keys
            .iter()
            .zip(&msgs)
            .map(|(k, m)| k.sign(EVENT_DOMAIN, m))
            .collect();
        sigs[2][5] ^= 1;
        sigs[4][40] ^= 1;
        let items: Vec<Item<'_>> = (0..6)
            .map(|i| Item {
                key: &pubs[i],
                domain: EVENT_DOMAIN,
                message: &msgs[i],
                signature: &sigs[i],
            })
            .collect();
        assert_eq!(
            verify_batch(&items),
            vec![true, true, false, true, false, true]
        );
        let good: Vec<Item<'_>> = [0, 1, 3, 5].iter().map(|&i| items[i]).collect();
        assert_eq!(verify_batch(&good), vec![true; 4]);
    }

    #[test]
    fn non_canonical_s_is_refused() {
        let kp = keypair(3);
        let mut sig = kp.sign(EVENT_DOMAIN, b"m");
        // s + ℓ is the same scalar mod ℓ but not canonical.
        // ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian.
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for i in 0..32 {
            let v = sig[32 + i] as u16 + l[i] as u16 + carry;
            sig[32 + i] = v as u8;
            carry = v >> 8;
        }
        let item = Item {
            key: &kp.public(),
            domain: EVENT_DOMAIN,
            message: b"m",
            signature: &sig,
        };
        assert!(!verify(&item));
    }

    /// A signature whose R carries a small-order component passes the cofactored rule. The
    /// point of the test: single and batch checks give the same answer for it, whatever
    /// else is in the batch, so nodes that batch differently still agree.
    #[test]
    fn torsion_in_r_gets_the_same_answer_alone_and_in_any_batch() {
        let kp = keypair(9);
        let good = kp.sign(EVENT_DOMAIN, b"m");
        // Rebuild a signature (R + T, s') that satisfies the cofactored equation only.
        let nonce = Scalar::from_bytes_mod_order([42u8; 32]);
        let r = EdwardsPoint::mul_base(&nonce) + EIGHT_TORSION[1];
        let r_bytes = r.compress().to_bytes();
        let mut h = Sha512::new();
        h.update(r_bytes);
        h.update(kp.public().as_bytes());
        h.update(EVENT_DOMAIN);
        h.update(b"m");
        let k = Scalar::from_hash(h);
        let a = Scalar::from_bytes_mod_order(expanded_secret(&kp));
        let s = nonce + k * a;
        let mut crafted = [0u8; 64];
        crafted[..32].copy_from_slice(&r_bytes);
        crafted[32..].copy_from_slice(s.as_bytes());
        let public = kp.public();
        let crafted_item = Item {
            key: &public,
            domain: EVENT_DOMAIN,
            message: b"m",
            signature: &crafted,
        };
        let good_item = Item {
            signature: &good,
            ..crafted_item
        };
        let alone = verify(&crafted_item);
        assert!(alone, "cofactored rule accepts torsion in R");
        for n in 1..6 {
            let mut batch = vec![good_item; n];
            batch.push(crafted_item);
            assert_eq!(verify_batch(&batch)[n], alone);
        }
    }

    fn expanded_secret(kp: &Keypair) -> [u8; 32] {
        let h = Sha512::digest(kp.seed());
        let mut a = [0u8; 32];
        a.copy_from_slice(&h[..32]);
        a[0] &= 248;
        a[31] &= 127;
        a[31] |= 64;
        a
    }
}
