//! Entries of a [`super::RunMap`] as fixed-length bytes, the way they are written to runs.

use crate::id::EventId;

/// A key or value kept in runs: written as exactly [`Record::LEN`] bytes and read back
/// equal. Keys are compared as values, never as bytes, so the bytes need not sort.
pub trait Record: Copy + Ord + std::fmt::Debug {
    /// Bytes it takes in a run.
    const LEN: usize;
    /// Writes it to `out`, which is `LEN` bytes long.
    fn put(&self, out: &mut [u8]);
    /// Reads it from `bytes`, which are `LEN` bytes long and were written by [`Record::put`].
    fn take(bytes: &[u8]) -> Self;
}

impl Record for () {
    const LEN: usize = 0;
    fn put(&self, _: &mut [u8]) {}
    fn take(_: &[u8]) -> Self {}
}

impl Record for u64 {
    const LEN: usize = 8;
    fn put(&self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_be_bytes());
    }
    fn take(bytes: &[u8]) -> Self {
        let mut b = [0u8; 8];
        b.copy_from_slice(bytes);
        u64::from_be_bytes(b)
    }
}

impl Record for EventId {
    const LEN: usize = 32;
    fn put(&self, out: &mut [u8]) {
        out.copy_from_slice(&self.0);
    }
    fn take(bytes: &[u8]) -> Self {
        let mut b = [0u8; 32];
        b.copy_from_slice(bytes);
        EventId(b)
    }
}

impl<A: Record, B: Record> Record for (A, B) {
    const LEN: usize = A::LEN + B::LEN;
    fn put(&self, out: &mut [u8]) {
        let (a, b) = out.split_at_mut(A::LEN);
        self.0.put(a);
        self.1.put(b);
    }
    fn take(bytes: &[u8]) -> Self {
        let (a, b) = bytes.split_at(A::LEN);
        (A::take(a), B::take(b))
    }
}

/// A 64-bit hash of a record's bytes, for the runs' filters: every 8 bytes mixed in by
/// multiplication, then scrambled (SplitMix64's finaliser), so that keys differing in any
/// byte spread over the whole range.
pub(super) fn hash<K: Record>(key: &K) -> u64 {
    let mut bytes = [0u8; 64];
    let mut heap;
    let buf: &mut [u8] = if K::LEN <= bytes.len() {
        &mut bytes[..K::LEN]
    } else {
        heap = vec![0u8; K::LEN];
        &mut heap
    };
    key.put(buf);
    let mut h = 0x243f_6a88_85a3_08d3u64 ^ K::LEN as u64;
    for chunk in buf.chunks(8) {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 29;
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_equal() {
        let id = EventId([7; 32]);
        let entry = ((42u64, id), ());
        let mut out = vec![0u8; <((u64, EventId), ())>::LEN];
        entry.put(&mut out);
        assert_eq!(out.len(), 40);
        assert_eq!(<((u64, EventId), ())>::take(&out), entry);
    }

    #[test]
    fn hashes_differ_with_any_byte() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..32 {
            for v in [1u8, 2, 128] {
                let mut b = [0u8; 32];
                b[i] = v;
                assert!(seen.insert(hash(&EventId(b))), "byte {i} = {v}");
            }
        }
        assert!(seen.insert(hash(&EventId([0; 32]))));
        assert_ne!(
            hash(&(1u64, EventId([0; 32]))),
            hash(&(2u64, EventId([0; 32])))
        );
    }
}
