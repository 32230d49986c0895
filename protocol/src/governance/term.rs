//! Terms of office (docs/GOVERNANCE.md §8.2): when the seats an election filled lapse.

/// An office's term (docs/GOVERNANCE.md §8.2): when the seats taken at the last
/// election lapse, and when they last lapsed with no election since.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Term {
    /// When the seats lapse, ms: the election's `final_at` plus the deed's term. `None`:
    /// no term runs (the deed sets none, or the seats have lapsed).
    pub ends_at_ms: Option<u64>,
    /// When the seats lapsed, if they did and no election has filled them since.
    pub lapsed_at_ms: Option<u64>,
}

impl Term {
    /// The term of seats taken at `taken_at_ms` under a deed whose term is `term_ms`.
    pub(crate) fn from(taken_at_ms: u64, term_ms: Option<u64>) -> Term {
        Term {
            ends_at_ms: term_ms.map(|t| taken_at_ms.saturating_add(t)),
            lapsed_at_ms: None,
        }
    }

    /// Whether an election is due at local time `now_ms`: the seats have lapsed, or
    /// their term has ended and they lapse at the next event of a practice node.
    pub fn election_due(&self, now_ms: u64) -> bool {
        self.lapsed_at_ms.is_some() || self.ends_at_ms.is_some_and(|e| e < now_ms)
    }
}
