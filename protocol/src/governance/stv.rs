//! The single transferable vote, as every node counts it.
//!
//! The variant (docs/GOVERNANCE.md, "Elections"):
//! - **Quota**: Droop, `floor(valid / (seats + 1)) + 1` whole votes, where `valid` is the
//!   number of ballots ranking at least one candidate. Fixed for the whole count.
//! - **Weights**: each ballot starts at [`VOTE`] units (one vote = 10^6 units); all
//!   arithmetic is on integers, rounding down, so every node gets the same numbers.
//! - **Order of work**: if a continuing candidate has reached the quota, the one with the
//!   most votes is elected and its surplus transferred before anything else; otherwise
//!   the continuing candidate with the fewest votes is excluded. When the continuing
//!   candidates are no more than the seats left, they are all elected.
//! - **Surplus transfer**: inclusive Gregory — every ballot the elected candidate holds
//!   moves on to its next continuing preference at weight `w * surplus / total`.
//!   Exclusion moves each ballot at its current weight. A ballot with no continuing
//!   preference left is exhausted.
//! - **Ties** (most votes to elect, fewest to exclude): broken by the totals at the most
//!   recent earlier round where the tied candidates differed, then by the tie-break key
//!   passed in (the lowest key is treated as the weakest).

use std::cmp::Ordering;

/// Units in one whole vote. Fractions of a vote below one unit are lost to rounding.
pub const VOTE: u64 = 1_000_000;

/// One stage of a count: the totals at its start and what was done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Round {
    /// Each candidate's total at the start of the round, in units (elected candidates
    /// keep the quota; excluded ones show 0).
    pub totals: Vec<u64>,
    /// What happened in the round.
    pub action: Action,
    /// Units exhausted so far.
    pub exhausted: u64,
}

/// What one round did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// The candidate reached the quota and was elected; its surplus (units) moved on.
    Elected {
        /// Candidate index.
        candidate: usize,
        /// Surplus transferred, in units.
        surplus: u64,
    },
    /// The candidate had the fewest votes and was excluded.
    Excluded {
        /// Candidate index.
        candidate: usize,
    },
    /// The continuing candidates filled the seats left without reaching the quota.
    ElectedRemaining {
        /// Candidate indices, strongest first.
        candidates: Vec<usize>,
    },
}

/// The result of a count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Count {
    /// The Droop quota, in units.
    pub quota: u64,
    /// Ballots that ranked at least one candidate.
    pub valid: u64,
    /// Elected candidate indices, in order of election.
    pub elected: Vec<usize>,
    /// The rounds, in order.
    pub rounds: Vec<Round>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Standing {
    Continuing,
    Elected,
    Excluded,
}

struct Paper<'a> {
    prefs: &'a [usize],
    at: usize,
    weight: u64,
}

/// Counts `ballots` (each a ranking of candidate indices `< candidates`, most preferred
/// first; indices out of range or repeated are skipped) for `seats` seats. `tiebreak`
/// holds one key per candidate for the last tie-break.
pub fn count(
    candidates: usize,
    seats: usize,
    ballots: &[Vec<usize>],
    tiebreak: &[[u8; 32]],
) -> Count {
    let mut standing = vec![Standing::Continuing; candidates];
    let mut papers: Vec<Paper<'_>> = Vec::new();
    for b in ballots {
        let mut p = Paper {
            prefs: b,
            at: 0,
            weight: VOTE,
        };
        if next_continuing(&mut p, &standing, &mut vec![false; candidates]) {
            papers.push(p);
        }
    }
    let valid = papers.len() as u64;
    let quota = (valid / (seats as u64 + 1) + 1) * VOTE;
    let mut out = Count {
        quota,
        valid,
        elected: Vec::new(),
        rounds: Vec::new(),
    };
    if valid == 0 || seats == 0 {
        return out;
    }
    let mut exhausted = 0u64;
    let mut history: Vec<Vec<u64>> = Vec::new();
    // Each round does one thing; at most one round per candidate, plus one.
    for _ in 0..=candidates {
        let mut totals = vec![0u64; candidates];
        for p in &papers {
            if let Some(&c) = p.prefs.get(p.at) {
                if standing[c] == Standing::Continuing {
                    totals[c] += p.weight;
                }
            }
        }
        for (c, s) in standing.iter().enumerate() {
            if *s == Standing::Elected {
                totals[c] = quota;
            }
        }
        history.push(totals.clone());
        let left = seats - out.elected.len();
        let mut continuing: Vec<usize> = (0..candidates)
            .filter(|&c| standing[c] == Standing::Continuing)
            .collect();
        if left == 0 || continuing.is_empty() {
            history.pop();
            break;
        }
        let stronger = |a: &usize, b: &usize| compare(*a, *b, &history, tiebreak).reverse();
        continuing.sort_by(stronger);
        let action = if continuing.len() <= left {
            for &c in &continuing {
                standing[c] = Standing::Elected;
            }
            out.elected.extend(continuing.iter().copied());
            Action::ElectedRemaining {
                candidates: continuing,
            }
        } else if totals[continuing[0]] >= quota {
            let c = continuing[0];
            let total = totals[c];
            let surplus = total - quota;
            standing[c] = Standing::Elected;
            out.elected.push(c);
            let mut seen = vec![false; candidates];
            for p in papers.iter_mut() {
                if p.prefs.get(p.at) != Some(&c) {
                    continue;
                }
                p.weight = transfer_weight(p.weight, surplus, total);
                seen.iter_mut().for_each(|s| *s = false);
                if !next_continuing(p, &standing, &mut seen) {
                    exhausted += p.weight;
                    p.weight = 0;
                }
            }
            Action::Elected {
                candidate: c,
                surplus,
            }
        } else {
            let c = continuing[continuing.len() - 1];
            standing[c] = Standing::Excluded;
            let mut seen = vec![false; candidates];
            for p in papers.iter_mut() {
                if p.prefs.get(p.at) != Some(&c) {
                    continue;
                }
                seen.iter_mut().for_each(|s| *s = false);
                if !next_continuing(p, &standing, &mut seen) {
                    exhausted += p.weight;
                    p.weight = 0;
                }
            }
            Action::Excluded { candidate: c }
        };
        out.rounds.push(Round {
            totals,
            action,
            exhausted,
        });
    }
    out
}

/// `weight * surplus / total`, rounded down, without overflow.
fn transfer_weight(weight: u64, surplus: u64, total: u64) -> u64 {
    if total == 0 {
        return 0;
    }
    let w = u128::from(weight) * u128::from(surplus) / u128::from(total);
    u64::try_from(w).unwrap_or(u64::MAX)
}

/// Moves the paper to its first continuing preference at or after the current one
/// (skipping out-of-range and repeated indices); false if there is none.
fn next_continuing(p: &mut Paper<'_>, standing: &[Standing], seen: &mut [bool]) -> bool {
    for (i, &c) in p.prefs.iter().enumerate() {
        let Some(s) = standing.get(c) else { continue };
        let repeated = std::mem::replace(&mut seen[c], true);
        if i < p.at || repeated {
            continue;
        }
        if *s == Standing::Continuing {
            p.at = i;
            return true;
        }
    }
    p.at = p.prefs.len();
    false
}

/// Orders two candidates by strength: current total, then the most recent earlier round
/// where they differ, then the tie-break key.
fn compare(a: usize, b: usize, history: &[Vec<u64>], tiebreak: &[[u8; 32]]) -> Ordering {
    for totals in history.iter().rev() {
        match totals[a].cmp(&totals[b]) {
            Ordering::Equal => continue,
            o => return o,
        }
    }
    tiebreak.get(a).cmp(&tiebreak.get(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_weight_rounds_down() {
        assert_eq!(transfer_weight(VOTE, 1, 3), VOTE / 3);
        assert_eq!(transfer_weight(VOTE, 0, 3), 0);
        assert_eq!(transfer_weight(u64::MAX, u64::MAX, 1), u64::MAX);
    }

    #[test]
    fn repeated_and_out_of_range_preferences_are_skipped() {
        let ballots = vec![vec![9, 0, 0, 1], vec![1], vec![1]];
        let c = count(2, 1, &ballots, &[[0; 32], [1; 32]]);
        assert_eq!(c.valid, 3);
        assert_eq!(c.elected, vec![1]);
    }

    #[test]
    fn no_ballots_elect_no_one() {
        let c = count(3, 2, &[], &[[0; 32]; 3]);
        assert!(c.elected.is_empty());
    }
}
