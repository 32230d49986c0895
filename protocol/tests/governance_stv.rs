//! Elections by single transferable vote, checked against a published worked example.
//!
//! Source: Wikipedia, "Single transferable vote", section "Example" (the food election;
//! https://en.wikipedia.org/wiki/Single_transferable_vote#Example, as also mirrored at
//! https://www.liquisearch.com/single_transferable_vote/example). Five candidates —
//! Oranges, Pears, Chocolate, Strawberries, Sweets — three seats, 20 voters:
//!
//! | voters | 1st | 2nd |
//! |---|---|---|
//! | 4 | Oranges | — |
//! | 2 | Pears | Oranges |
//! | 8 | Chocolate | Strawberries |
//! | 4 | Chocolate | Sweets |
//! | 1 | Strawberries | — |
//! | 1 | Sweets | — |
//!
//! Droop quota `floor(20 / (3 + 1)) + 1 = 6`. Round 1: Chocolate (12) is elected; its
//! surplus of 6 moves in proportion to its voters' second choices: 8/12 × 6 = 4 to
//! Strawberries, 4/12 × 6 = 2 to Sweets. Round 2: Oranges 4, Pears 2, Strawberries 5,
//! Sweets 3; no one reaches the quota, so Pears is excluded and its 2 go to Oranges.
//! Round 3: Oranges reaches 6 exactly and is elected (no surplus). Round 4: Strawberries 5,
//! Sweets 3: Sweets is excluded and Strawberries takes the last seat. Winners: Chocolate,
//! Oranges, Strawberries. (Numbers checked by hand against the table above.)

use crate::common;
use crate::governance_common;

use common::key;
use governance_common::*;
use mutual_proto::v1 as pb;
use mutual_protocol::governance::deed::default_deed;
use mutual_protocol::governance::stv::{self, Action, VOTE};
use mutual_protocol::governance::{GovernanceError, MAX_CANDIDATES, MAX_SEATS};
use pb::DecisionKind;

const ORANGES: usize = 0;
const PEARS: usize = 1;
const CHOCOLATE: usize = 2;
const STRAWBERRIES: usize = 3;
const SWEETS: usize = 4;

fn food_ballots() -> Vec<Vec<usize>> {
    let mut b = Vec::new();
    b.extend(std::iter::repeat_n(vec![ORANGES], 4));
    b.extend(std::iter::repeat_n(vec![PEARS, ORANGES], 2));
    b.extend(std::iter::repeat_n(vec![CHOCOLATE, STRAWBERRIES], 8));
    b.extend(std::iter::repeat_n(vec![CHOCOLATE, SWEETS], 4));
    b.push(vec![STRAWBERRIES]);
    b.push(vec![SWEETS]);
    b
}

#[test]
fn the_wikipedia_food_election_counts_as_published() {
    let c = stv::count(5, 3, &food_ballots(), &[[0; 32]; 5]);
    assert_eq!(c.valid, 20);
    assert_eq!(c.quota, 6 * VOTE);
    assert_eq!(c.elected, vec![CHOCOLATE, ORANGES, STRAWBERRIES]);
    let v = |n: u64| n * VOTE;
    let r = &c.rounds;
    assert_eq!(r[0].totals, vec![v(4), v(2), v(12), v(1), v(1)]);
    assert_eq!(
        r[0].action,
        Action::Elected {
            candidate: CHOCOLATE,
            surplus: v(6)
        }
    );
    assert_eq!(r[1].totals, vec![v(4), v(2), v(6), v(5), v(3)]);
    assert_eq!(r[1].action, Action::Excluded { candidate: PEARS });
    assert_eq!(r[2].totals, vec![v(6), 0, v(6), v(5), v(3)]);
    assert_eq!(
        r[2].action,
        Action::Elected {
            candidate: ORANGES,
            surplus: 0
        }
    );
    assert_eq!(r[3].action, Action::Excluded { candidate: SWEETS });
    assert_eq!(
        r[4].action,
        Action::ElectedRemaining {
            candidates: vec![STRAWBERRIES]
        }
    );
    assert_eq!(r.len(), 5);
}

#[test]
fn the_food_election_run_as_a_board_election_of_twenty_partners() {
    // Ten practices: partners 102..=121. Candidates are five of them.
    let mut net = Net::new(10, Some(default_deed()));
    let cands = [102u32, 103, 104, 105, 106]; // Oranges, Pears, Chocolate, Strawberries, Sweets
    let m = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            seats: 3,
            candidates: cands.iter().map(|&k| pk(k)).collect(),
            ..motion(DecisionKind::ElectBoard)
        },
    );
    let voters = net.partners();
    assert_eq!(voters.len(), 20);
    for (voter, prefs) in voters.iter().zip(food_ballots()) {
        let ranked: Vec<u32> = prefs.iter().map(|&i| cands[i]).collect();
        net.cast(*voter, DURING, m, ranking(m, &ranked));
    }
    net.tick(AFTER_GRACE);
    let t = net.tally(&m);
    assert!(t.passed, "{t}");
    assert_eq!(
        t.elected,
        vec![key(104).public(), key(102).public(), key(105).public()]
    );
    assert_eq!(net.r.state().governance().board().len(), 3);
    assert!(
        t.reason
            .contains("3 elected of 3 seats after 5 rounds (quota 6 votes)"),
        "{}",
        t.reason
    );
}

#[test]
fn fractional_surpluses_round_down_identically() {
    // Two seats, four ballots: quota floor(4/3) + 1 = 2. A has 3 and is elected; the
    // surplus of 1 moves on all three of A's ballots at weight floor(10^6 / 3) = 333333
    // units, so B holds 999999 units, one unit short of C's whole vote: B is excluded
    // and C takes the second seat. Every node rounds the same way.
    let ballots = vec![vec![0, 1], vec![0, 1], vec![0, 1], vec![2]];
    let c = stv::count(3, 2, &ballots, &[[0; 32]; 3]);
    assert_eq!(c.quota, 2 * VOTE);
    assert_eq!(c.rounds[1].totals, vec![2 * VOTE, 999_999, VOTE]);
    assert_eq!(c.rounds[1].action, Action::Excluded { candidate: 1 });
    assert_eq!(c.elected, vec![0, 2]);
}

#[test]
fn exclusion_ties_are_broken_by_earlier_rounds_then_by_the_tiebreak_key() {
    // B and C tie at 1 with no earlier round to separate them: the lower tie-break key
    // is the weaker and is excluded.
    let ballots = vec![vec![0], vec![0], vec![1], vec![2]];
    let keys = [[5u8; 32], [9u8; 32], [1u8; 32]];
    let c = stv::count(3, 1, &ballots, &keys);
    assert_eq!(c.rounds[0].action, Action::Excluded { candidate: 2 });
    let keys = [[5u8; 32], [1u8; 32], [9u8; 32]];
    let c = stv::count(3, 1, &ballots, &keys);
    assert_eq!(c.rounds[0].action, Action::Excluded { candidate: 1 });
}

#[test]
fn seats_and_candidates_are_bounded() {
    // MAX_CANDIDATES + 1 active partners are needed: 33 practices, 66 partners.
    let mut net = Net::new(33, Some(default_deed()));
    let partners = net.partners();
    let too_many = pb::Motion {
        seats: 1,
        candidates: partners[..MAX_CANDIDATES + 1]
            .iter()
            .map(|&k| pk(k))
            .collect(),
        ..motion(DecisionKind::ElectBoard)
    };
    let id = net.event(102, PROPOSED, pb_motion(too_many));
    assert!(matches!(
        governance_rejection(&net.outcome(&id)),
        Some(GovernanceError::InvalidMotion(_))
    ));
    net.propose(
        102,
        PROPOSED,
        pb::Motion {
            seats: MAX_SEATS as u32,
            candidates: partners[..MAX_CANDIDATES].iter().map(|&k| pk(k)).collect(),
            ..motion(DecisionKind::ElectBoard)
        },
    );
    let too_many_seats = pb::Motion {
        seats: MAX_SEATS as u32 + 1,
        candidates: partners[..MAX_CANDIDATES].iter().map(|&k| pk(k)).collect(),
        ..motion(DecisionKind::ElectBoard)
    };
    let id = net.event(102, PROPOSED, pb_motion(too_many_seats));
    assert!(matches!(
        governance_rejection(&net.outcome(&id)),
        Some(GovernanceError::InvalidMotion(_))
    ));
}

fn pb_motion(m: pb::Motion) -> mutual_protocol::event::Body {
    mutual_protocol::event::Body::Motion(m)
}
