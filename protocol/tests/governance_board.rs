//! The board and elections: board powers limited to what the deed gives, board seats by
//! STV and the chair by instant runoff (docs/GOVERNANCE.md, "Groups" and "Elections").

use crate::common;
use crate::governance_common;

use common::{key, T0};
use governance_common::*;
use mutual_proto::v1 as pb;
use mutual_protocol::event::Body;
use mutual_protocol::governance::deed::{default_deed, default_rule};
use mutual_protocol::governance::GovernanceError;
use mutual_protocol::state::Outcome;
use pb::{Choice, DecisionKind, Group};

/// Three practices: six partners 102..=107.
fn six() -> Net {
    Net::new(3, Some(default_deed()))
}

/// A deed in which general resolutions are for the board alone, and admitting a
/// practice stays with all partners.
fn board_deed() -> pb::Deed {
    let mut d = deed_with(DecisionKind::General, |r| {
        r.proposers = Group::Board as i32;
        r.voters = Group::Board as i32;
    });
    for r in d.rules.iter_mut() {
        if r.kind == DecisionKind::AdmitPractice as i32 {
            *r = default_rule(DecisionKind::AdmitPractice).to_pb();
        }
    }
    d
}

fn elect_board(net: &mut Net, members: &[u32]) {
    let (m, _) = elect_offices(net, members, None);
    let t = net.tally(&m);
    assert!(t.passed, "{t}");
    let board: Vec<_> = net.r.state().governance().board().iter().copied().collect();
    let mut want: Vec<_> = members.iter().map(|&k| key(k).public()).collect();
    want.sort();
    assert_eq!(board, want);
}

#[test]
fn the_board_does_what_the_deed_lets_it_and_nothing_more() {
    let mut net = Net::new(3, Some(board_deed()));
    elect_board(&mut net, &[102, 104]);
    let later = T0 + 5 * DAY;
    let window = |kind| pb::Motion {
        opens_at_ms: later,
        closes_at_ms: later + 2 * DAY,
        ..motion(kind)
    };
    // A partner not on the board cannot propose what the deed gives the board.
    let off_board = net.event(103, later, Body::Motion(window(DecisionKind::General)));
    assert!(matches!(
        governance_rejection(&net.outcome(&off_board)),
        Some(GovernanceError::NotAProposer(_))
    ));
    // A board member can; only board members vote on it.
    let g = net.propose(102, later, window(DecisionKind::General));
    assert_eq!(net.tally(&g).electorate, 2);
    let outsider = net.vote(105, later + 1, g, Choice::Against);
    assert_eq!(
        governance_rejection(&net.outcome(&outsider)),
        Some(&GovernanceError::NotInElectorate)
    );
    net.vote(102, later + 1, g, Choice::For);
    net.vote(104, later + 1, g, Choice::For);
    // The deed does not give the board the admission of a practice: the board's two
    // votes are not a quorum of the six partners, so it cannot decide it alone.
    let admit = net.propose(
        102,
        later + 1,
        pb::Motion {
            admit_practice: Some(common::practice(60)),
            ..window(DecisionKind::AdmitPractice)
        },
    );
    net.vote(102, later + 2, admit, Choice::For);
    net.vote(104, later + 2, admit, Choice::For);
    net.tick(later + 3 * DAY + 1);
    assert!(net.tally(&g).passed);
    let t = net.tally(&admit);
    assert_eq!(t.electorate, 6);
    assert!(!t.passed && !t.quorum_met, "{t}");
    assert!(net
        .r
        .state()
        .membership()
        .practice(&common::practice(60).ods_code)
        .is_none());
}

#[test]
fn a_chair_is_elected_by_instant_runoff() {
    let mut net = six();
    let m = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            candidates: vec![pk(102), pk(103), pk(104)],
            ..motion(DecisionKind::ElectChair)
        },
    );
    // First preferences 102: 2, 103: 2, 104: 2 would tie; make 104 weakest: 102 ×2,
    // 103 ×2, 104 ×1 (then 103), 105 abstains. 104 is excluded, its vote goes to 103.
    let prefs: [(u32, &[u32]); 5] = [
        (102, &[102, 103]),
        (103, &[103]),
        (104, &[104, 103]),
        (106, &[102]),
        (107, &[103, 102]),
    ];
    for (p, r) in prefs {
        net.cast(p, DURING, m, ranking(m, r));
    }
    let abstain = net.vote(105, DURING, m, Choice::Abstain);
    assert_eq!(net.outcome(&abstain), Outcome::Applied);
    close(&mut net, &m);
    let t = net.tally(&m);
    assert!(t.passed, "{t}");
    assert_eq!(t.elected, vec![key(103).public()]);
    assert_eq!(net.r.state().governance().chair(), Some(&key(103).public()));
    let rounds = &t.stv.as_ref().expect("count").rounds;
    assert_eq!(rounds.len(), 2, "{rounds:?}");
}

#[test]
fn bad_election_ballots_are_refused() {
    let mut net = six();
    let m = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            seats: 1,
            candidates: vec![pk(102), pk(103)],
            ..motion(DecisionKind::ElectBoard)
        },
    );
    let g = net.propose(102, PROPOSED, motion(DecisionKind::General));
    for body in [
        ranking(m, &[104]),
        ranking(m, &[102, 102]),
        ballot(m, Choice::For),
    ] {
        let id = net.cast(105, DURING, m, body);
        assert!(matches!(
            governance_rejection(&net.outcome(&id)),
            Some(GovernanceError::InvalidBallot(_))
        ));
    }
    let r = net.cast(105, DURING, g, ranking(g, &[102]));
    assert!(matches!(
        governance_rejection(&net.outcome(&r)),
        Some(GovernanceError::InvalidBallot(_))
    ));
}

#[test]
fn a_removed_partner_leaves_the_board() {
    let mut net = six();
    elect_board(&mut net, &[102, 104]);
    let later = T0 + 5 * DAY;
    let m = net.propose(
        102,
        later,
        pb::Motion {
            subject_key: pk(104),
            opens_at_ms: later,
            closes_at_ms: later + 2 * DAY,
            ..motion(DecisionKind::RemovePartner)
        },
    );
    for p in [102, 103, 105] {
        net.vote(p, later + 1, m, Choice::For);
    }
    net.tick(later + 3 * DAY + 1);
    assert!(net.tally(&m).passed);
    let board: Vec<_> = net.r.state().governance().board().iter().copied().collect();
    assert_eq!(board, vec![key(102).public()]);
}
