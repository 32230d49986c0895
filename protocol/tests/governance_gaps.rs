//! Gaps closed after the first governance version (docs/GOVERNANCE.md §7.3, §8): board
//! elections with one seat per locality, role changes and key replacements for partners
//! whose key was rotated or revoked, and addresses pruned after governance effects.

use crate::common;
use crate::governance_common;

use common::{key, rotation, T0};
use governance_common::*;
use mutual_proto::v1 as pb;
use mutual_protocol::event::Body;
use mutual_protocol::governance::deed::default_deed;
use mutual_protocol::governance::stv::{Action, VOTE};
use mutual_protocol::governance::tally::count_per_locality;
use mutual_protocol::governance::GovernanceError;
use mutual_protocol::membership::{Holder, Membership, MembershipError};
use mutual_protocol::state::Outcome;
use pb::{Choice, DecisionKind, PartnerRole};

/// After the first motions have closed: a second window, T0 + 5 to T0 + 7 days.
const LATER: u64 = T0 + 5 * DAY;

fn later_motion(kind: DecisionKind) -> pb::Motion {
    pb::Motion {
        opens_at_ms: LATER,
        closes_at_ms: LATER + 2 * DAY,
        ..motion(kind)
    }
}

fn per_locality_board(candidates: &[u32]) -> pb::Motion {
    pb::Motion {
        per_locality: true,
        seats: 0,
        candidates: candidates.iter().map(|&k| pk(k)).collect(),
        ..motion(DecisionKind::ElectBoard)
    }
}

fn addresses_of(net: &Net, n: u32) -> bool {
    let k = key(n).public();
    net.r.state().addresses().any(|(a, _)| *a == k)
}

fn announce(net: &mut Net, node: u32, ts: u64) {
    let id = net.event(
        node,
        ts,
        Body::AddressAnnouncement(pb::AddressAnnouncement {
            addresses: vec![format!("/ip4/10.0.0.{node}/tcp/4001")],
        }),
    );
    assert_eq!(net.outcome(&id), Outcome::Applied);
}

// ------------------------------------------------------------ one seat per locality

/// Five practices: localities (practice n → ["North", "South", "East"][n % 3]) South:
/// practices 1 and 4 (partners 102, 103, 108, 109); East: 2 and 5 (104, 105, 110, 111);
/// North: 3 (106, 107).
///
/// Candidates: South 102 (A), 103 (B), 108 (C); East 104, 110; North 106.
/// South, restricted to A, B, C: A 4 (102, 104, 105, 106), B 2 (103, 107, both then C),
/// C 3 (108, 109, 110); 111 ranks no South candidate, so 9 take part and the quota is
/// floor(9 / 2) + 1 = 5. Round 1: A 4, B 2, C 3: B is excluded, both its ballots go to C.
/// Round 2: A 4, C 5: C reaches the quota and is elected — the first-preference leader
/// A loses the runoff. East: 104 4, 110 6 of 10, quota 6: 110 elected in round 1. North:
/// only 106 and 107 rank 106, the sole candidate, who is elected.
#[test]
fn a_board_elected_one_seat_per_locality_by_instant_runoff() {
    let mut net = Net::new(5, Some(default_deed()));
    let m = net.propose(
        102,
        PROPOSED,
        per_locality_board(&[102, 103, 108, 104, 110, 106]),
    );
    let rec = net.r.state().governance().motion(&m).expect("motion");
    assert_eq!(rec.seats, 3, "one seat per locality with a candidate");
    // The localities are fixed at the motion's place: practice 4 moving to East later
    // does not move 108's candidacy.
    let moved = net.event(
        4,
        PROPOSED + 1,
        Body::PracticeUpdate(pb::PracticeUpdate {
            locality: "East".into(),
            ..Default::default()
        }),
    );
    assert_eq!(net.outcome(&moved), Outcome::Applied);
    let ballots: [(u32, &[u32]); 10] = [
        (102, &[102, 104]),
        (103, &[103, 108, 104]),
        (104, &[102, 104]),
        (105, &[102, 104]),
        (106, &[102, 110, 106]),
        (107, &[103, 108, 110, 106]),
        (108, &[108, 110]),
        (109, &[108, 110]),
        (110, &[108, 110]),
        (111, &[110]),
    ];
    for (p, r) in ballots {
        let b = net.cast(p, DURING, m, ranking(m, r));
        assert_eq!(net.outcome(&b), Outcome::Applied);
    }
    close(&mut net, &m);
    let t = net.tally(&m);
    assert!(t.passed, "{t}");
    assert!(t.stv.is_none());
    // In locality order (bytewise): East, North, South.
    assert_eq!(
        t.elected,
        vec![key(110).public(), key(106).public(), key(108).public()]
    );
    let names: Vec<&str> = t.localities.iter().map(|s| s.locality.as_str()).collect();
    assert_eq!(names, ["East", "North", "South"]);
    let south = &t.localities[2];
    assert_eq!(
        south.candidates,
        vec![0, 1, 2],
        "indices into the motion's list"
    );
    assert_eq!(south.elected, Some(2));
    assert_eq!(south.count.valid, 9);
    assert_eq!(south.count.quota, 5 * VOTE);
    let r = &south.count.rounds;
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(r[0].totals, vec![4 * VOTE, 2 * VOTE, 3 * VOTE]);
    assert_eq!(r[0].action, Action::Excluded { candidate: 1 });
    assert_eq!(r[1].totals, vec![4 * VOTE, 0, 5 * VOTE]);
    assert_eq!(
        r[1].action,
        Action::Elected {
            candidate: 2,
            surplus: 0
        }
    );
    let east = &t.localities[0];
    assert_eq!(east.candidates, vec![3, 4]);
    assert_eq!((east.count.valid, east.elected), (10, Some(4)));
    assert_eq!(east.count.rounds.len(), 1);
    let north = &t.localities[1];
    assert_eq!((north.count.valid, north.elected), (2, Some(5)));
    assert!(
        t.reason.starts_with("3 of 3 locality seats filled"),
        "{}",
        t.reason
    );
    let board: Vec<_> = net.r.state().governance().board().iter().copied().collect();
    let mut want = vec![key(106).public(), key(108).public(), key(110).public()];
    want.sort();
    assert_eq!(board, want);
}

#[test]
fn a_locality_that_no_ballot_ranks_stays_empty_and_ties_use_the_tiebreak_key() {
    let localities: Vec<String> = ["North", "South", "South", "West"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    // South's two candidates tie at every round; the lower tie-break key is the weaker.
    let rankings = vec![vec![1, 0], vec![2, 0], vec![0]];
    let keys = [[5; 32], [1; 32], [9; 32], [3; 32]];
    let seats = count_per_locality(&localities, &rankings, &keys);
    let got: Vec<(&str, Option<usize>)> = seats
        .iter()
        .map(|s| (s.locality.as_str(), s.elected))
        .collect();
    assert_eq!(
        got,
        [("North", Some(0)), ("South", Some(2)), ("West", None)]
    );
    assert_eq!(
        seats[1].count.rounds[0].action,
        Action::Excluded { candidate: 0 }
    );
    // Swap the keys: the other candidate wins.
    let swapped = [[5; 32], [9; 32], [1; 32], [3; 32]];
    let seats = count_per_locality(&localities, &rankings, &swapped);
    assert_eq!(seats[1].elected, Some(1));
}

#[test]
fn per_locality_is_only_for_board_elections_with_no_seat_count() {
    let mut net = Net::new(3, Some(default_deed()));
    let cases = [
        pb::Motion {
            seats: 2,
            ..per_locality_board(&[102, 104])
        },
        pb::Motion {
            kind: DecisionKind::ElectChair as i32,
            ..per_locality_board(&[102, 104])
        },
        pb::Motion {
            kind: DecisionKind::General as i32,
            candidates: vec![],
            ..per_locality_board(&[])
        },
    ];
    for mo in cases {
        let id = net.event(102, PROPOSED, Body::Motion(mo));
        assert!(
            matches!(
                governance_rejection(&net.outcome(&id)),
                Some(GovernanceError::InvalidMotion(_))
            ),
            "{:?}",
            net.outcome(&id)
        );
    }
    net.propose(102, PROPOSED, per_locality_board(&[102, 104]));
}

#[test]
fn a_per_locality_election_without_quorum_changes_no_board() {
    let mut net = Net::new(3, Some(default_deed()));
    let m = net.propose(102, PROPOSED, per_locality_board(&[102, 104, 106]));
    net.cast(102, DURING, m, ranking(m, &[102]));
    net.cast(103, DURING, m, ranking(m, &[104]));
    close(&mut net, &m);
    let t = net.tally(&m);
    assert!(!t.passed && !t.quorum_met, "{t}");
    assert!(net.r.state().governance().board().is_empty());
}

// ------------------------------------------------- rotated and revoked partner keys

#[test]
fn a_partner_whose_key_was_rotated_can_have_their_role_changed() {
    let mut net = Net::new(3, Some(default_deed()));
    let new = key(5103);
    let rot = net.event(
        103,
        T0 + 1,
        rotation(&net.fx.network, &key(103).public(), &new),
    );
    assert_eq!(net.outcome(&rot), Outcome::Applied);
    let m = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            subject_key: pk(5103),
            new_role: PartnerRole::Managing as i32,
            ..motion(DecisionKind::ChangeRole)
        },
    );
    for p in [102, 104, 105] {
        net.vote(p, DURING, m, Choice::For);
    }
    close(&mut net, &m);
    let rep = net
        .r
        .state()
        .governance()
        .report(&m, AFTER_GRACE)
        .expect("motion");
    assert!(rep.tally.passed);
    assert_eq!(rep.effect, Some(Ok(())));
    let ms = net.r.state().membership();
    let p = ms.partner(&key(103).public()).expect("partner");
    assert_eq!(p.partner.role, PartnerRole::Managing as i32);
    assert_eq!(p.partner.key, pk(5103), "still on the rotated key");
    assert_eq!(ms.partners().count(), 6, "no second record");
}

#[test]
fn a_partner_whose_key_was_revoked_gets_a_new_key_and_votes_with_it() {
    let mut net = Net::new(3, Some(default_deed()));
    // Practice 2's node revokes its partner 104's key.
    let rev = net.event(
        2,
        T0 + 1,
        Body::KeyRevocation(pb::KeyRevocation {
            key: pk(104),
            reason: "laptop stolen".into(),
        }),
    );
    assert_eq!(net.outcome(&rev), Outcome::Applied);
    let m = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            subject_key: pk(104),
            replacement_key: pk(5104),
            ..motion(DecisionKind::ReplaceKey)
        },
    );
    for p in [102, 103, 105] {
        net.vote(p, DURING, m, Choice::For);
    }
    close(&mut net, &m);
    let rep = net
        .r
        .state()
        .governance()
        .report(&m, AFTER_GRACE)
        .expect("motion");
    assert!(rep.tally.passed);
    assert_eq!(rep.effect, Some(Ok(())));
    let ms = net.r.state().membership();
    assert_eq!(
        ms.holder(&key(5104).public()),
        Some(&Holder::Partner(key(104).public()))
    );
    assert!(ms.is_retired(&key(104).public()));
    assert_eq!(
        ms.partner(&key(104).public())
            .map(|p| p.partner.key.clone()),
        Some(pk(5104))
    );
    // The new key votes for partner 104 on a later motion.
    let g = net.propose(102, LATER, later_motion(DecisionKind::General));
    let v = net.vote(5104, LATER + 1, g, Choice::For);
    assert_eq!(net.outcome(&v), Outcome::Applied);
    let rec = net.r.state().governance().motion(&g).expect("motion");
    assert!(rec.seen.ballots.contains_key(&key(104).public()));
    assert_eq!(net.tally(&g).votes_for, 1);
}

#[test]
fn assign_key_refuses_any_key_ever_used() {
    let g = pb::Genesis {
        name: "Membership".into(),
        practices: vec![common::practice(1)],
        partners: vec![common::partner(102, 1), common::partner(103, 1)],
        ..Default::default()
    };
    let mut m = Membership::from_genesis(&g);
    let id = key(102).public();
    for used in [1, 102, 103] {
        assert_eq!(
            m.assign_key(&id, key(used).public()),
            Err(MembershipError::KeyInUse(key(used).public()))
        );
    }
    assert_eq!(
        m.assign_key(&key(999).public(), key(700).public()),
        Err(MembershipError::UnknownKey(key(999).public()))
    );
    // With a current key: it is retired, and can never be assigned again.
    m.assign_key(&id, key(700).public()).expect("fresh key");
    assert!(m.is_retired(&id));
    assert_eq!(m.holder(&id), None);
    assert_eq!(m.holder(&key(700).public()), Some(&Holder::Partner(id)));
    assert_eq!(
        m.assign_key(&key(103).public(), key(700).public()),
        Err(MembershipError::KeyInUse(key(700).public()))
    );
    m.set_partner_role(&id, PartnerRole::Associate)
        .expect("partner");
    assert_eq!(
        m.partner(&id).map(|p| p.partner.role),
        Some(PartnerRole::Associate as i32)
    );
    assert!(m
        .set_partner_role(&key(999).public(), PartnerRole::Partner)
        .is_err());
}

// ------------------------------------------------------- addresses after governance

#[test]
fn a_practice_removed_by_motion_loses_its_addresses() {
    let mut net = Net::new(3, Some(default_deed()));
    announce(&mut net, 3, T0 + 1);
    announce(&mut net, 2, T0 + 2);
    let m = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            subject_ods: common::practice(3).ods_code,
            ..motion(DecisionKind::RemovePractice)
        },
    );
    for p in [102, 103, 104] {
        net.vote(p, DURING, m, Choice::For);
    }
    assert!(addresses_of(&net, 3));
    close(&mut net, &m);
    assert!(net.tally(&m).passed);
    assert!(
        !addresses_of(&net, 3),
        "the removed practice's node is pruned"
    );
    assert!(addresses_of(&net, 2), "other practices keep theirs");
}

#[test]
fn a_node_key_replaced_by_motion_loses_its_addresses() {
    let mut net = Net::new(3, Some(default_deed()));
    announce(&mut net, 2, T0 + 1);
    let m = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            subject_key: pk(2),
            replacement_key: pk(702),
            ..motion(DecisionKind::ReplaceKey)
        },
    );
    for p in [102, 103, 104] {
        net.vote(p, DURING, m, Choice::For);
    }
    close(&mut net, &m);
    assert!(net.tally(&m).passed);
    assert!(!addresses_of(&net, 2), "the replaced node key is pruned");
    announce(&mut net, 702, AFTER_GRACE + 1);
    assert!(addresses_of(&net, 702));
}
