//! Governance: the deed's rules at their boundaries (quorum, threshold, tie, abstention,
//! recusal), every effect of a passed motion, and board powers (docs/GOVERNANCE.md).

use crate::common;
use crate::governance_common;

use common::{key, T0};
use governance_common::*;
use mutual_proto::v1 as pb;
use mutual_protocol::event::Body;
use mutual_protocol::governance::deed::default_deed;
use mutual_protocol::governance::GovernanceError;
use mutual_protocol::membership::Status;
use mutual_protocol::state::Outcome;
use pb::{Choice, DecisionKind, PartnerRole};

/// Three practices: six partners 102..=107.
fn six() -> Net {
    Net::new(3, Some(default_deed()))
}

#[test]
fn a_general_resolution_passes_by_a_simple_majority_and_explains_itself() {
    let mut net = six();
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    net.vote(102, DURING, m, Choice::For);
    net.vote(103, DURING, m, Choice::For);
    net.vote(104, DURING, m, Choice::Against);
    close(&mut net, &m);
    let t = net.tally(&m);
    assert_eq!((t.electorate, t.turnout), (6, 3));
    assert_eq!((t.votes_for, t.votes_against, t.abstentions), (2, 1, 0));
    assert!(t.quorum_met && t.threshold_met && t.passed);
    assert_eq!(t.quorum_needed, 3);
    assert!(t.reason.contains("passed"), "{}", t.reason);
    assert!(t.to_string().starts_with("passed: for 2, against 1"), "{t}");
}

#[test]
fn quorum_exactly_met_passes_and_one_below_fails() {
    // Six voters, quorum 50%: three must take part.
    let mut net = six();
    let at = net.propose(102, PROPOSED, motion(DecisionKind::General));
    let below = net.propose(103, PROPOSED, motion(DecisionKind::General));
    for p in [102, 103, 104] {
        net.vote(p, DURING, at, Choice::For);
    }
    for p in [102, 103] {
        net.vote(p, DURING, below, Choice::For);
    }
    net.tick(AFTER_GRACE);
    let (a, b) = (net.tally(&at), net.tally(&below));
    assert!(a.quorum_met && a.passed, "{a}");
    assert!(!b.quorum_met && !b.passed, "{b}");
    assert!(
        b.reason.contains("quorum not met: 2 took part, 3 needed"),
        "{}",
        b.reason
    );
}

#[test]
fn abstentions_count_toward_quorum_only_if_the_deed_says_so() {
    for counts in [true, false] {
        let mut net = Net::new(
            3,
            Some(deed_with(DecisionKind::General, |r| {
                r.abstentions_count_toward_quorum = counts
            })),
        );
        let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
        net.vote(102, DURING, m, Choice::For);
        net.vote(103, DURING, m, Choice::Abstain);
        net.vote(104, DURING, m, Choice::Abstain);
        close(&mut net, &m);
        let t = net.tally(&m);
        assert_eq!(t.abstentions, 2);
        // With abstentions: 3 of 6 take part (quorum met), 1 for of 1 cast passes.
        assert_eq!(t.quorum_met, counts, "{t}");
        assert_eq!(t.passed, counts, "{t}");
    }
}

#[test]
fn a_tie_fails_and_the_status_quo_stands() {
    let mut net = six();
    let m = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            subject_key: pk(104),
            new_role: PartnerRole::Managing as i32,
            ..motion(DecisionKind::ChangeRole)
        },
    );
    net.vote(102, DURING, m, Choice::For);
    net.vote(103, DURING, m, Choice::For);
    net.vote(105, DURING, m, Choice::Against);
    net.vote(106, DURING, m, Choice::Against);
    close(&mut net, &m);
    let t = net.tally(&m);
    assert!(t.quorum_met && !t.passed, "{t}");
    assert!(t.reason.contains("tie"), "{}", t.reason);
    let p = net
        .r
        .state()
        .membership()
        .partner(&key(104).public())
        .cloned();
    assert_eq!(p.map(|p| p.partner.role), Some(PartnerRole::Partner as i32));
}

#[test]
fn seventy_five_percent_exactly_passes_and_just_below_fails() {
    // Admitting a partner needs 75% of votes cast for or against.
    let mut net = six();
    let new_partner = |k: u32| pb::Motion {
        admit_partner: Some(common::partner(k, 1)),
        ..motion(DecisionKind::AdmitPartner)
    };
    let at = net.propose(102, PROPOSED, new_partner(900));
    let below = net.propose(102, PROPOSED, new_partner(901));
    for (p, c) in [(102, Choice::For), (103, Choice::For), (104, Choice::For)] {
        net.vote(p, DURING, at, c);
        net.vote(p, DURING, below, c);
    }
    net.vote(105, DURING, at, Choice::Against);
    net.vote(105, DURING, below, Choice::Against);
    net.vote(106, DURING, below, Choice::Against);
    net.tick(AFTER_GRACE);
    let (a, b) = (net.tally(&at), net.tally(&below));
    assert!(a.passed, "3 of 4 is 75%: {a}");
    assert!(!b.passed && b.quorum_met, "3 of 5 is 60%: {b}");
    assert!(
        b.reason.contains("threshold not met: 3 for, 4 needed"),
        "{}",
        b.reason
    );
    let m = net.r.state().membership();
    assert!(m.partner(&key(900).public()).is_some(), "admitted");
    assert!(m.partner(&key(901).public()).is_none(), "not admitted");
}

#[test]
fn a_threshold_of_the_electorate_counts_those_who_did_not_vote() {
    // Two thirds of the whole electorate of six: four must vote for. (Two thirds is
    // written 6666 basis points: 6667 would mean at least 66.67%, which 4 of 6 is not.)
    let mut net = Net::new(
        3,
        Some(deed_with(DecisionKind::General, |r| {
            r.threshold = Some(pb::Threshold {
                basis_points: 6_666,
                of_electorate: true,
            })
        })),
    );
    let four = net.propose(102, PROPOSED, motion(DecisionKind::General));
    let three = net.propose(103, PROPOSED, motion(DecisionKind::General));
    for p in [102, 103, 104, 105] {
        net.vote(p, DURING, four, Choice::For);
    }
    for p in [102, 103, 104] {
        net.vote(p, DURING, three, Choice::For);
    }
    net.tick(AFTER_GRACE);
    assert!(net.tally(&four).passed);
    let t = net.tally(&three);
    assert!(!t.passed && t.quorum_met, "{t}");
}

#[test]
fn unanimity_needs_everyone_who_votes() {
    let mut net = Net::new(
        3,
        Some(deed_with(DecisionKind::General, |r| {
            r.threshold = Some(pb::Threshold {
                basis_points: 10_000,
                of_electorate: false,
            })
        })),
    );
    let all = net.propose(102, PROPOSED, motion(DecisionKind::General));
    let one_against = net.propose(103, PROPOSED, motion(DecisionKind::General));
    for p in [102, 103, 104] {
        net.vote(p, DURING, all, Choice::For);
        net.vote(p, DURING, one_against, Choice::For);
    }
    net.vote(105, DURING, one_against, Choice::Against);
    net.tick(AFTER_GRACE);
    assert!(net.tally(&all).passed);
    assert!(!net.tally(&one_against).passed);
}

#[test]
fn the_subject_recuses_and_the_quorum_is_of_the_rest() {
    let mut net = six();
    let m = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            subject_key: pk(107),
            ..motion(DecisionKind::RemovePartner)
        },
    );
    let own = net.vote(107, DURING, m, Choice::Against);
    assert_eq!(
        governance_rejection(&net.outcome(&own)),
        Some(&GovernanceError::Recused)
    );
    // Five voters, quorum 50%: three; 75% of cast.
    for p in [102, 103, 104] {
        net.vote(p, DURING, m, Choice::For);
    }
    close(&mut net, &m);
    let t = net.tally(&m);
    assert_eq!((t.electorate, t.recused, t.quorum_needed), (5, 1, 3));
    assert!(t.passed, "{t}");
    let p = net
        .r
        .state()
        .membership()
        .partner(&key(107).public())
        .cloned();
    assert_eq!(p.map(|p| p.status), Some(Status::Removed));
    // A removed partner's later events are refused.
    let after = net.event(
        107,
        AFTER_GRACE + 1,
        Body::PartnerResign(pb::PartnerResign::default()),
    );
    assert!(matches!(net.outcome(&after), Outcome::Rejected(_)));
}

#[test]
fn without_recusal_the_subject_votes() {
    let mut net = Net::new(
        3,
        Some(deed_with(DecisionKind::RemovePartner, |r| {
            r.subject_recuses = false
        })),
    );
    let m = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            subject_key: pk(107),
            ..motion(DecisionKind::RemovePartner)
        },
    );
    let own = net.vote(107, DURING, m, Choice::Against);
    assert_eq!(net.outcome(&own), Outcome::Applied);
    assert_eq!(net.tally(&m).electorate, 6);
}

#[test]
fn every_effect_applies_when_its_motion_passes() {
    let mut net = six();
    let mut new_deed = default_deed();
    new_deed.grace_period_ms = 2 * DAY;
    let motions = [
        pb::Motion {
            admit_practice: Some(common::practice(50)),
            ..motion(DecisionKind::AdmitPractice)
        },
        pb::Motion {
            admit_partner: Some(common::partner(901, 2)),
            ..motion(DecisionKind::AdmitPartner)
        },
        pb::Motion {
            subject_key: pk(103),
            new_role: PartnerRole::Managing as i32,
            ..motion(DecisionKind::ChangeRole)
        },
        pb::Motion {
            subject_key: pk(105),
            ..motion(DecisionKind::RemovePartner)
        },
        pb::Motion {
            subject_ods: common::practice(3).ods_code,
            ..motion(DecisionKind::RemovePractice)
        },
        pb::Motion {
            new_deed: Some(new_deed.clone()),
            ..motion(DecisionKind::AmendDeed)
        },
        pb::Motion {
            text: "We adopt the winter rota.".into(),
            ..motion(DecisionKind::General)
        },
        pb::Motion {
            subject_key: pk(104),
            replacement_key: pk(777),
            ..motion(DecisionKind::ReplaceKey)
        },
        pb::Motion {
            charter_event: charter_event(&net),
            ..motion(DecisionKind::LinkFederation)
        },
    ];
    let ids: Vec<_> = motions
        .into_iter()
        .map(|m| net.propose(102, PROPOSED, m))
        .collect();
    // Everyone votes for everything (recused subjects' ballots are refused).
    for &m in &ids {
        for p in net.partners() {
            net.vote(p, DURING, m, Choice::For);
        }
    }
    net.tick(AFTER_GRACE);
    for m in &ids {
        let rep = net
            .r
            .state()
            .governance()
            .report(m, AFTER_GRACE)
            .expect("motion");
        assert!(rep.closed && rep.tally.passed, "{}", rep.tally);
        assert_eq!(
            rep.effect,
            Some(Ok(())),
            "{:?}",
            net.r.state().governance().motion(m)
        );
    }
    let st = net.r.state();
    let mem = st.membership();
    assert!(mem.practice(&common::practice(50).ods_code).is_some());
    assert!(mem.partner(&key(901).public()).is_some());
    let role = |k: u32| mem.partner(&key(k).public()).map(|p| p.partner.role);
    assert_eq!(role(103), Some(PartnerRole::Managing as i32));
    let status = |k: u32| mem.partner(&key(k).public()).map(|p| p.status);
    assert_eq!(status(105), Some(Status::Removed));
    assert_eq!(
        mem.practice(&common::practice(3).ods_code)
            .map(|p| p.status),
        Some(Status::Removed)
    );
    assert_eq!(status(106), Some(Status::Removed), "with its practice");
    assert_eq!(st.deed(), Some(&new_deed));
    assert_eq!(
        mem.partner(&key(104).public())
            .map(|p| p.partner.key.clone()),
        Some(pk(777))
    );
    assert!(mem.is_retired(&key(104).public()));
    assert_eq!(st.governance().federation_links().count(), 1);
}

/// A charter naming this network (with its founding practices) and one other.
fn charter_event(net: &Net) -> Vec<u8> {
    use mutual_protocol::federation::charter_entry;
    let practices: Vec<pb::Practice> = net
        .fx
        .practices
        .iter()
        .map(|&p| common::practice(p))
        .collect();
    let mut members = vec![
        charter_entry(net.fx.network, "Test Partnership", &practices, &[]),
        charter_entry(
            mutual_protocol::id::NetworkId(mutual_protocol::id::EventId([9; 32])),
            "Elsewhere",
            &[common::practice(70)],
            &[],
        ),
    ];
    members.sort_by(|a, b| a.network.cmp(&b.network));
    let c = pb::FederationCharter {
        name: "North Federation".into(),
        members,
        ..Default::default()
    };
    mutual_protocol::event::FeedWriter::root(key(1), PROPOSED, Body::FederationCharter(c))
        .1
        .to_wire()
}

#[test]
fn a_failed_motion_changes_nothing() {
    let mut net = six();
    let before = net.r.state().membership().clone();
    let m = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            subject_key: pk(105),
            ..motion(DecisionKind::RemovePartner)
        },
    );
    for p in [102, 103, 104] {
        net.vote(p, DURING, m, Choice::Against);
    }
    close(&mut net, &m);
    assert!(!net.tally(&m).passed);
    assert_eq!(net.r.state().membership(), &before);
}

#[test]
fn malformed_motions_and_periods_outside_the_deed_are_refused() {
    let mut net = six();
    let cases = [
        (
            pb::Motion {
                closes_at_ms: PROPOSED + DAY - 1,
                ..motion(DecisionKind::General)
            },
            "shorter than the minimum",
        ),
        (
            pb::Motion {
                closes_at_ms: PROPOSED + 28 * DAY + 1,
                ..motion(DecisionKind::General)
            },
            "longer than the maximum",
        ),
        (motion(DecisionKind::Unspecified), "no kind"),
        (motion(DecisionKind::AdmitPractice), "no practice"),
        (
            pb::Motion {
                admit_practice: Some(common::practice(1)),
                ..motion(DecisionKind::AdmitPractice)
            },
            "existing ODS code",
        ),
        (
            pb::Motion {
                subject_key: pk(999),
                ..motion(DecisionKind::RemovePartner)
            },
            "unknown subject",
        ),
        (
            pb::Motion {
                new_deed: Some(deed_with(DecisionKind::General, |r| {
                    r.quorum_basis_points = 10_001
                })),
                ..motion(DecisionKind::AmendDeed)
            },
            "invalid new deed",
        ),
        (
            pb::Motion {
                subject_key: pk(104),
                replacement_key: pk(105),
                ..motion(DecisionKind::ReplaceKey)
            },
            "replacement key in use",
        ),
    ];
    for (mo, why) in cases {
        let id = net.event(102, PROPOSED, Body::Motion(mo));
        assert!(
            governance_rejection(&net.outcome(&id)).is_some(),
            "{why}: {:?}",
            net.outcome(&id)
        );
    }
    // Exactly at the bounds is fine.
    for closes in [PROPOSED + DAY, PROPOSED + 28 * DAY] {
        net.propose(
            102,
            PROPOSED,
            pb::Motion {
                closes_at_ms: closes,
                ..motion(DecisionKind::General)
            },
        );
    }
}

#[test]
fn a_practice_node_can_neither_propose_nor_vote() {
    let mut net = six();
    let by_node = net.event(2, PROPOSED, Body::Motion(motion(DecisionKind::General)));
    assert_eq!(
        governance_rejection(&net.outcome(&by_node)),
        Some(&GovernanceError::NotAPartner)
    );
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    // A node key posing as a partner: the ballot is signed by the node, so it is the
    // node's ballot, and nodes do not vote.
    let posing = net.vote(2, DURING, m, Choice::For);
    assert_eq!(
        governance_rejection(&net.outcome(&posing)),
        Some(&GovernanceError::NotAPartner)
    );
    assert_eq!(net.tally(&m).turnout, 0);
}

#[test]
fn associates_vote_only_if_the_deed_says_so() {
    for associates_vote in [false, true] {
        let mut net = Net::new(
            3,
            Some(deed_with(DecisionKind::General, |r| {
                r.associates_vote = associates_vote
            })),
        );
        let demote = net.propose(
            102,
            PROPOSED,
            pb::Motion {
                subject_key: pk(107),
                new_role: PartnerRole::Associate as i32,
                ..motion(DecisionKind::ChangeRole)
            },
        );
        for p in [102, 103, 104, 105] {
            net.vote(p, DURING, demote, Choice::For);
        }
        net.tick(AFTER_GRACE);
        assert!(net.tally(&demote).passed);
        let later = T0 + 5 * DAY;
        let m = net.propose(
            102,
            later,
            pb::Motion {
                opens_at_ms: later,
                closes_at_ms: later + 2 * DAY,
                ..motion(DecisionKind::General)
            },
        );
        let v = net.vote(107, later + 1, m, Choice::For);
        assert_eq!(
            net.tally(&m).electorate,
            if associates_vote { 6 } else { 5 }
        );
        if associates_vote {
            assert_eq!(net.outcome(&v), Outcome::Applied);
        } else {
            assert_eq!(
                governance_rejection(&net.outcome(&v)),
                Some(&GovernanceError::NotInElectorate)
            );
        }
    }
}

fn declare(motion: mutual_protocol::id::EventId, statement: &str) -> Body {
    Body::Ballot(pb::Ballot {
        motion: motion.as_bytes().to_vec(),
        choice: Choice::DeclareInterest as i32,
        ranking: vec![],
        statement: statement.into(),
        ..Default::default()
    })
}

#[test]
fn a_declared_interest_recuses_and_withdraws_the_vote() {
    let mut net = six();
    let m = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            admit_practice: Some(common::practice(50)),
            ..motion(DecisionKind::AdmitPractice)
        },
    );
    // 103 votes, then declares an interest (their spouse is a partner at the practice):
    // the vote is withdrawn and they leave the electorate.
    net.vote(103, DURING, m, Choice::For);
    let d = net.cast(
        103,
        DURING + 1,
        m,
        declare(m, "my spouse is a partner there"),
    );
    assert_eq!(net.outcome(&d), Outcome::Applied);
    let again = net.vote(103, DURING + 2, m, Choice::For);
    assert_eq!(
        governance_rejection(&net.outcome(&again)),
        Some(&GovernanceError::Recused)
    );
    // Five voters now: quorum three. Two for is not enough; a third is.
    net.vote(102, DURING + 3, m, Choice::For);
    net.vote(104, DURING + 3, m, Choice::For);
    let t = net.tally(&m);
    assert_eq!((t.electorate, t.recused, t.turnout), (5, 1, 2));
    assert!(!t.quorum_met);
    net.vote(105, DURING + 3, m, Choice::For);
    let rec = net
        .r
        .state()
        .governance()
        .motion(&m)
        .cloned()
        .expect("motion");
    assert_eq!(rec.seen.declared.get(&key(103).public()), Some(&d));
    close(&mut net, &m);
    assert!(net.tally(&m).passed);
    // Once closed, the declaration is among the lists kept beside the state.
    let kept = net.r.closed_votes(&m).expect("kept").expect("closed");
    assert_eq!(kept.declared.get(&key(103).public()), Some(&d));
    assert!(!kept.ballots.contains_key(&key(103).public()));
}

#[test]
fn a_declared_interest_is_recorded_but_does_not_recuse_if_the_deed_says_so() {
    let mut net = Net::new(
        3,
        Some(deed_with(DecisionKind::General, |r| {
            r.interest_recuses = false
        })),
    );
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    net.vote(103, DURING, m, Choice::For);
    let d = net.cast(103, DURING + 1, m, declare(m, "I chair the working group"));
    assert_eq!(net.outcome(&d), Outcome::Applied);
    let t = net.tally(&m);
    assert_eq!((t.electorate, t.recused, t.votes_for), (6, 0, 1));
    // A declaration after the close is refused like a late ballot.
    let late = net.cast(104, T0 + 3 * DAY + 1, m, declare(m, "late"));
    assert_eq!(
        governance_rejection(&net.outcome(&late)),
        Some(&GovernanceError::AfterClose)
    );
}

#[test]
fn a_motion_keeps_the_rule_it_was_proposed_under() {
    let mut net = six();
    let stricter = deed_with(DecisionKind::General, |r| {
        r.threshold = Some(pb::Threshold {
            basis_points: 7_500,
            of_electorate: false,
        })
    });
    let amend = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            new_deed: Some(stricter.clone()),
            ..motion(DecisionKind::AmendDeed)
        },
    );
    let open_before = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            closes_at_ms: T0 + 8 * DAY,
            ..motion(DecisionKind::General)
        },
    );
    for p in [102, 103, 104, 105] {
        net.vote(p, DURING, amend, Choice::For);
    }
    net.tick(AFTER_GRACE);
    assert_eq!(net.r.state().deed(), Some(&stricter));
    let later = T0 + 5 * DAY;
    let open_after = net.propose(
        102,
        later,
        pb::Motion {
            opens_at_ms: later,
            closes_at_ms: T0 + 8 * DAY,
            ..motion(DecisionKind::General)
        },
    );
    for m in [open_before, open_after] {
        net.vote(102, later + 1, m, Choice::For);
        net.vote(103, later + 1, m, Choice::For);
        net.vote(104, later + 1, m, Choice::Against);
    }
    net.tick(T0 + 9 * DAY + 1);
    assert!(
        net.tally(&open_before).passed,
        "2 of 3 under the old 50% rule"
    );
    let t = net.tally(&open_after);
    assert!(!t.passed, "2 of 3 under the new 75% rule: {t}");
}

/// Motions proposed with the same electorate hold one set between them, not a copy each
/// (a national network's 40,000 partners would cost megabytes a motion); a motion whose
/// electorate differs, one from which its subject recuses, holds its own.
#[test]
fn motions_with_the_same_electorate_share_one_set() {
    let mut net = six();
    let first = net.propose(102, PROPOSED, motion(DecisionKind::General));
    let second = net.propose(103, PROPOSED, motion(DecisionKind::General));
    let mut removal = motion(DecisionKind::RemovePartner);
    removal.subject_key = pk(107);
    let third = net.propose(104, PROPOSED, removal);
    let g = net.r.state().governance();
    let electorate = |id| &g.motion(&id).expect("a motion").seen.electorate;
    assert_eq!(electorate(first).len(), 6);
    assert!(electorate(first).ptr_eq(electorate(second)));
    assert!(electorate(first).ptr_eq(&g.motion(&second).expect("a motion").votes.electorate));
    assert_eq!(electorate(third).len(), 5, "the subject recuses");
    assert!(!electorate(first).ptr_eq(electorate(third)));
    // A partner who declares an interest in the first recuses from it alone: the second
    // keeps its six.
    net.cast(105, DURING, first, ballot(first, Choice::DeclareInterest));
    let g = net.r.state().governance();
    let electorate = |id| &g.motion(&id).expect("a motion").seen.electorate;
    assert_eq!(electorate(first).len(), 5);
    assert_eq!(electorate(second).len(), 6);
    // The same state as a fold from scratch.
    assert_eq!(net.r.fold_from_scratch(), *net.r.state());
}
