//! A run's filter: which keys it may hold, in memory, so that looking up a key a run does
//! not hold almost never reads the run. A blocked Bloom filter: each key sets
//! [`FILTER_PROBES`] bits in one 512-bit block (one cache line), chosen by its hash, so an
//! answer costs one memory read.

/// Bits of filter per key: about one key in a hundred that a run does not hold is
/// reported as maybe held (and the run read to find it is not).
pub const FILTER_BITS_PER_KEY: usize = 10;
/// Bits each key sets in its block.
const FILTER_PROBES: u32 = 7;
/// Words in a block: 512 bits.
const BLOCK_WORDS: usize = 8;

/// See the module documentation.
#[derive(Debug, Clone)]
pub(super) struct Filter {
    words: Vec<u64>,
}

impl Filter {
    /// A filter with room for `keys` keys.
    pub(super) fn with_room(keys: usize) -> Filter {
        let blocks = (keys.max(1) * FILTER_BITS_PER_KEY).div_ceil(BLOCK_WORDS * 64);
        Filter {
            words: vec![0; blocks * BLOCK_WORDS],
        }
    }

    fn spots(&self, hash: u64) -> (usize, u64) {
        let blocks = (self.words.len() / BLOCK_WORDS) as u64;
        // The high half picks the block; the hash mixed again, nine bits at a time, the
        // bits in it, so that they do not follow from the block.
        let block = (((hash >> 32) * blocks) >> 32) as usize * BLOCK_WORDS;
        let bits = (hash ^ (hash >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        (block, bits ^ (bits >> 29))
    }

    /// Notes a key by its hash.
    pub(super) fn add(&mut self, hash: u64) {
        let (block, mut bits) = self.spots(hash);
        for _ in 0..FILTER_PROBES {
            let bit = (bits & 511) as usize;
            self.words[block + bit / 64] |= 1 << (bit % 64);
            bits = bits.rotate_right(9);
        }
    }

    /// Whether a key with this hash may have been noted: false only if it was not.
    pub(super) fn may_hold(&self, hash: u64) -> bool {
        let (block, mut bits) = self.spots(hash);
        for _ in 0..FILTER_PROBES {
            let bit = (bits & 511) as usize;
            if self.words[block + bit / 64] & (1 << (bit % 64)) == 0 {
                return false;
            }
            bits = bits.rotate_right(9);
        }
        true
    }

    /// Bytes it takes.
    pub(super) fn bytes(&self) -> usize {
        self.words.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::hash;
    use super::*;

    #[test]
    fn every_key_noted_is_held_and_few_others_seem_so() {
        let n = 20_000u64;
        let mut f = Filter::with_room(n as usize);
        for k in 0..n {
            f.add(hash(&k));
        }
        assert!((0..n).all(|k| f.may_hold(hash(&k))));
        let false_hits = (n..n * 6).filter(|k| f.may_hold(hash(k))).count();
        // About 1%: 5% would mean the filter is far worse than its size promises.
        assert!(
            false_hits < (n * 5 / 20) as usize,
            "{false_hits} of {} keys not noted seem held",
            n * 5
        );
        assert_eq!(
            f.bytes(),
            (n as usize * FILTER_BITS_PER_KEY).div_ceil(512) * 64
        );
    }
}
