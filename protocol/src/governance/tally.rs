//! Tallies that explain themselves: turnout, quorum, threshold, counts by option, STV
//! rounds, and the reason a motion passed or failed.
//!
//! The rules (docs/GOVERNANCE.md, "Counting"), with `E` the electorate size (recused
//! partners excluded), `F`/`A`/`X` the ballots for / against / abstaining:
//! - participants `P = F + A + X` if abstentions count toward quorum, else `F + A`;
//! - quorum met iff `P * 10000 >= quorum_bp * E` (so exactly at quorum is enough);
//! - threshold base `B = E` if the threshold is of the electorate, else `F + A`;
//! - threshold met iff `F * 10000 >= threshold_bp * B` **and** `F > A`: at least the
//!   threshold, and a tie never passes — the status quo stands;
//! - an empty electorate never passes.

use super::deed::{Rule, BASIS_POINTS};
use super::stv;
use crate::keys::PublicKey;
use std::fmt;

/// A partner's vote on a motion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Vote {
    /// For the motion.
    For,
    /// Against the motion.
    Against,
    /// Taking part without voting for or against.
    Abstain,
    /// A ranking of candidates (indices into the motion's candidate list), most
    /// preferred first.
    Ranking(Vec<usize>),
}

/// The explained result of counting a motion's ballots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tally {
    /// Partners entitled to vote (the electorate fixed at the motion's place in the fold,
    /// less those recused).
    pub electorate: u32,
    /// Partners recused.
    pub recused: u32,
    /// Partners whose ballot counts.
    pub turnout: u32,
    /// Ballots for (elections: ballots ranking at least one candidate).
    pub votes_for: u32,
    /// Ballots against.
    pub votes_against: u32,
    /// Abstentions.
    pub abstentions: u32,
    /// Participants needed for quorum (rounded up).
    pub quorum_needed: u32,
    /// Whether the quorum was met.
    pub quorum_met: bool,
    /// Whether the threshold was met (elections: whether anyone was elected).
    pub threshold_met: bool,
    /// Whether the motion passed.
    pub passed: bool,
    /// For elections: the count, with candidate indices (`None` for a per-locality
    /// board election, whose counts are in `localities`).
    pub stv: Option<stv::Count>,
    /// For per-locality board elections: one seat per locality, in locality order
    /// (bytewise), each with its own instant-runoff count. Empty otherwise.
    pub localities: Vec<LocalitySeat>,
    /// Elected partner ids, in order of election.
    pub elected: Vec<PublicKey>,
    /// Why it passed or failed, in words.
    pub reason: String,
    /// Valid ballots not (yet) counted, because no event by another practice has witnessed
    /// them or they wait on one that is not counted (docs/GOVERNANCE.md §5.5): before the
    /// close, ballots shown above that would not count if the motion closed now; in the
    /// final tally, ballots that did not count.
    pub unwitnessed: u32,
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: for {}, against {}, abstain {}; turnout {} of {} (quorum {} {}); {}",
            if self.passed { "passed" } else { "failed" },
            self.votes_for,
            self.votes_against,
            self.abstentions,
            self.turnout,
            self.electorate,
            self.quorum_needed,
            if self.quorum_met { "met" } else { "not met" },
            self.reason
        )?;
        if self.unwitnessed > 0 {
            write!(
                f,
                "; {} ballot(s) not witnessed and counted",
                self.unwitnessed
            )?;
        }
        Ok(())
    }
}

/// One locality's seat in a per-locality board election, with the count that filled it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalitySeat {
    /// The locality's name, as in the candidates' practices when the motion was applied.
    pub locality: String,
    /// The locality's candidates, as indices into the motion's candidate list, in that
    /// list's order. The count's candidate `i` is `candidates[i]`.
    pub candidates: Vec<usize>,
    /// The instant-runoff count (single-seat STV) among the locality's candidates, over
    /// every ranking restricted to them.
    pub count: stv::Count,
    /// The elected candidate (index into the motion's candidate list), or `None` if no
    /// ballot ranked any of the locality's candidates.
    pub elected: Option<usize>,
}

/// Fills one seat per locality: for each distinct locality (bytewise order), an
/// instant-runoff count among its candidates, each ranking restricted to them (in its
/// order); a ranking naming none of them takes no part in that locality's count.
pub fn count_per_locality(
    localities: &[String],
    rankings: &[Vec<usize>],
    tiebreak: &[[u8; 32]],
) -> Vec<LocalitySeat> {
    let mut names: Vec<&String> = localities.iter().collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let members: Vec<usize> = localities
                .iter()
                .enumerate()
                .filter(|(_, l)| *l == name)
                .map(|(i, _)| i)
                .collect();
            let local: Vec<Vec<usize>> = rankings
                .iter()
                .map(|r| {
                    r.iter()
                        .filter_map(|g| members.iter().position(|m| m == g))
                        .collect::<Vec<usize>>()
                })
                .filter(|r| !r.is_empty())
                .collect();
            let keys: Vec<[u8; 32]> = members
                .iter()
                .map(|&i| tiebreak.get(i).copied().unwrap_or([0; 32]))
                .collect();
            let count = stv::count(members.len(), 1, &local, &keys);
            let elected = count.elected.first().and_then(|&l| members.get(l).copied());
            LocalitySeat {
                locality: name.clone(),
                candidates: members,
                count,
                elected,
            }
        })
        .collect()
}

/// What an election count needs besides the ballots.
#[derive(Clone, Copy, Debug)]
pub struct Election<'a> {
    /// Seats to fill.
    pub seats: usize,
    /// Candidate partner ids, in the motion's order.
    pub candidates: &'a [PublicKey],
    /// One tie-break key per candidate.
    pub tiebreak: &'a [[u8; 32]],
    /// For a per-locality board election: each candidate's locality (parallel to
    /// `candidates`); one seat per locality is filled by [`count_per_locality`].
    pub localities: Option<&'a [String]>,
}

/// Sets whether an election passed and why, once `t.elected` is known: it passes when
/// quorum is met and at least one candidate is elected. `filled` words the success, given
/// how many were elected.
fn election_verdict(t: &mut Tally, participants: u32, filled: impl FnOnce(usize) -> String) {
    t.threshold_met = !t.elected.is_empty();
    t.passed = t.quorum_met && t.threshold_met;
    t.reason = if t.electorate == 0 {
        "no one is entitled to vote".into()
    } else if !t.quorum_met {
        format!(
            "quorum not met: {participants} took part, {} needed",
            t.quorum_needed
        )
    } else if t.elected.is_empty() {
        "no candidate was elected".into()
    } else {
        filled(t.elected.len())
    };
}

/// `ceil(bp * n / 10000)`: how many of `n` make up `bp` basis points.
pub fn share_needed(bp: u32, n: u32) -> u32 {
    let num = u64::from(bp) * u64::from(n);
    u32::try_from(num.div_ceil(u64::from(BASIS_POINTS))).unwrap_or(u32::MAX)
}

/// Counts for/against/abstain votes (and rankings) under `rule`; `election` is given for
/// elections.
pub fn count<'a>(
    rule: &Rule,
    electorate: u32,
    recused: u32,
    votes: impl Iterator<Item = &'a Vote>,
    election: Option<Election<'_>>,
) -> Tally {
    let (mut f, mut a, mut x) = (0u32, 0u32, 0u32);
    let mut rankings: Vec<Vec<usize>> = Vec::new();
    for v in votes {
        match v {
            Vote::For => f += 1,
            Vote::Against => a += 1,
            Vote::Abstain => x += 1,
            Vote::Ranking(r) => {
                f += 1;
                rankings.push(r.clone());
            }
        }
    }
    let participants = if rule.abstentions_count {
        f + a + x
    } else {
        f + a
    };
    let quorum_needed = share_needed(rule.quorum_bp, electorate);
    let quorum_met = electorate > 0
        && u64::from(participants) * u64::from(BASIS_POINTS)
            >= u64::from(rule.quorum_bp) * u64::from(electorate);
    let mut t = Tally {
        electorate,
        recused,
        turnout: f + a + x,
        votes_for: f,
        votes_against: a,
        abstentions: x,
        quorum_needed,
        quorum_met,
        threshold_met: false,
        passed: false,
        stv: None,
        localities: Vec::new(),
        elected: Vec::new(),
        reason: String::new(),
        unwitnessed: 0,
    };
    if let Some(Election {
        candidates,
        tiebreak,
        localities: Some(localities),
        ..
    }) = election
    {
        let seats = count_per_locality(localities, &rankings, tiebreak);
        t.elected = seats
            .iter()
            .filter_map(|s| s.elected.and_then(|i| candidates.get(i).copied()))
            .collect();
        election_verdict(&mut t, participants, |filled| {
            let each: Vec<String> = seats
                .iter()
                .map(|s| match s.elected {
                    Some(_) => format!(
                        "{}: elected after {} rounds of {} ballots",
                        s.locality,
                        s.count.rounds.len(),
                        s.count.valid
                    ),
                    None => format!("{}: no ballot ranked its candidates", s.locality),
                })
                .collect();
            format!(
                "{} of {} locality seats filled by instant runoff ({})",
                filled,
                seats.len(),
                each.join("; ")
            )
        });
        t.localities = seats;
        return t;
    }
    if let Some(Election {
        seats,
        candidates,
        tiebreak,
        localities: None,
    }) = election
    {
        let c = stv::count(candidates.len(), seats, &rankings, tiebreak);
        t.elected = c
            .elected
            .iter()
            .filter_map(|&i| candidates.get(i).copied())
            .collect();
        election_verdict(&mut t, participants, |filled| {
            format!(
                "{} elected of {} seats after {} rounds (quota {} votes)",
                filled,
                seats,
                c.rounds.len(),
                c.quota / stv::VOTE
            )
        });
        t.stv = Some(c);
        return t;
    }
    let base = if rule.of_electorate {
        electorate
    } else {
        f + a
    };
    // For the explanation: the least number for that meets both conditions.
    let needed = if rule.of_electorate {
        share_needed(rule.threshold_bp, base)
    } else {
        share_needed(rule.threshold_bp, base).max(base / 2 + 1)
    };
    let at_least = base > 0
        && u64::from(f) * u64::from(BASIS_POINTS) >= u64::from(rule.threshold_bp) * u64::from(base);
    t.threshold_met = at_least && f > a;
    t.passed = quorum_met && t.threshold_met;
    let of = if rule.of_electorate {
        "of the electorate"
    } else {
        "of votes for and against"
    };
    t.reason = if electorate == 0 {
        "no one is entitled to vote".into()
    } else if !quorum_met {
        format!("quorum not met: {participants} took part, {quorum_needed} needed")
    } else if f == a {
        format!("a tie ({f} for, {a} against): the status quo stands")
    } else if !at_least || f < a {
        format!(
            "threshold not met: {f} for, {needed} needed ({}.{:02}% {of})",
            rule.threshold_bp / 100,
            rule.threshold_bp % 100
        )
    } else {
        format!(
            "passed: {f} for, {needed} needed ({}.{:02}% {of}), quorum met",
            rule.threshold_bp / 100,
            rule.threshold_bp % 100
        )
    };
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_needed_rounds_up() {
        assert_eq!(share_needed(5_000, 7), 4);
        assert_eq!(share_needed(5_000, 8), 4);
        assert_eq!(share_needed(7_500, 5), 4);
        assert_eq!(share_needed(10_000, 3), 3);
        assert_eq!(share_needed(0, 3), 0);
    }
}
