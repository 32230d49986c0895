//! Fixes from a review of governance (docs/GOVERNANCE.md §2.2, §3.1, §4.3, §8, §11): no
//! partner can hold motions open for ever or fill every open-motion slot, a deed cannot
//! make motions that never close, a proxy re-appointment withdraws the earlier proxy
//! vote, and only eligible partners sit on the board or in the chair.

use crate::common;
use crate::governance_common;

use common::{key, T0};
use governance_common::*;
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, SignedEvent};
use mutual_protocol::governance::deed::{
    check_rule, default_deed, default_rule, rule_for, DEFAULT_GRACE_PERIOD_MS,
    DEFAULT_MAX_VOTING_PERIOD_MS, MAX_GRACE_PERIOD_MS, MAX_VOTING_PERIOD_MS,
};
use mutual_protocol::governance::{
    GovernanceError, MAX_OPENING_DELAY_MS, MAX_OPEN_MOTIONS, MAX_OPEN_MOTIONS_PER_PROPOSER,
};
use mutual_protocol::id::EventId;
use mutual_protocol::limits::MAX_CLOCK_SKEW_MS;
use mutual_protocol::replica::Ingested;
use mutual_protocol::state::Outcome;
use pb::{Choice, DecisionKind};

/// A general motion, numbered so that each is a distinct event.
fn general(i: usize) -> pb::Motion {
    pb::Motion {
        title: format!("general {i}"),
        ..motion(DecisionKind::General)
    }
}

fn rejection(net: &Net, id: &EventId) -> Option<GovernanceError> {
    governance_rejection(&net.outcome(id)).cloned()
}

/// Proposes `mo` by `who` at `PROPOSED`; returns the event id whatever its outcome.
fn try_propose(net: &mut Net, who: u32, mo: pb::Motion) -> EventId {
    net.event(who, PROPOSED, Body::Motion(mo))
}

// ---- 1. One partner cannot freeze governance ---------------------------------------

#[test]
fn a_motion_opens_at_most_the_opening_delay_after_it_is_proposed() {
    let mut net = Net::new(3, None);
    let at = |opens: u64| pb::Motion {
        opens_at_ms: opens,
        closes_at_ms: opens + 2 * DAY,
        ..motion(DecisionKind::General)
    };
    // At the limit: accepted.
    let ok = try_propose(&mut net, 102, at(PROPOSED + MAX_OPENING_DELAY_MS));
    assert_eq!(net.outcome(&ok), Outcome::Applied);
    // One over: refused.
    let over = try_propose(&mut net, 102, at(PROPOSED + MAX_OPENING_DELAY_MS + 1));
    assert_eq!(rejection(&net, &over), Some(GovernanceError::OpensTooLate));
    // The reviewer's scenario: a motion for the year 2500, or just short of u64::MAX.
    let y2500 = 16_725_225_600_000;
    let far = try_propose(&mut net, 102, at(y2500));
    assert_eq!(rejection(&net, &far), Some(GovernanceError::OpensTooLate));
    let end = try_propose(
        &mut net,
        102,
        pb::Motion {
            opens_at_ms: u64::MAX - 2 * DAY,
            closes_at_ms: u64::MAX - DAY,
            ..motion(DecisionKind::General)
        },
    );
    assert_eq!(rejection(&net, &end), Some(GovernanceError::OpensTooLate));
}

#[test]
fn an_opening_before_the_motion_reads_as_its_own_timestamp() {
    let mut net = Net::new(3, None);
    // opens_at_ms long before the motion (or 0): the window opens at the motion's own
    // timestamp, and the period is measured from there.
    let ok = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            opens_at_ms: 0,
            closes_at_ms: PROPOSED + DAY,
            ..motion(DecisionKind::General)
        },
    );
    let rec = net.r.state().governance().motion(&ok).expect("motion");
    assert_eq!(rec.opens_at_ms, PROPOSED);
    // One ms short of the shortest period, counted from the timestamp, not from
    // opens_at_ms: refused.
    let short = try_propose(
        &mut net,
        102,
        pb::Motion {
            opens_at_ms: PROPOSED - 10 * DAY,
            closes_at_ms: PROPOSED + DAY - 1,
            ..motion(DecisionKind::General)
        },
    );
    assert!(matches!(
        rejection(&net, &short),
        Some(GovernanceError::VotingPeriod { got_ms, .. }) if got_ms == DAY - 1
    ));
}

/// Ingests `ev` with a local clock at the end of time, so nothing is held as future.
fn put_at_end_of_time(net: &mut Net, ev: &SignedEvent) {
    let res = net.r.ingest(u64::MAX, &ev.to_wire());
    assert!(matches!(res, Ok(Ingested::Stored { .. })), "{res:?}");
}

#[test]
fn a_close_plus_grace_past_the_largest_timestamp_is_refused() {
    let mut net = Net::new(3, None);
    let ts = u64::MAX - 3 * DAY;
    let closing = |closes: u64| {
        Body::Motion(pb::Motion {
            opens_at_ms: 0,
            closes_at_ms: closes,
            ..motion(DecisionKind::General)
        })
    };
    // closes + grace (one day) == u64::MAX: accepted.
    let heads = net.r.heads();
    let ok = net.sign(102, ts, heads, closing(u64::MAX - DEFAULT_GRACE_PERIOD_MS));
    put_at_end_of_time(&mut net, &ok);
    assert_eq!(net.outcome(&ok.id), Outcome::Applied);
    let rec = net.r.state().governance().motion(&ok.id).expect("motion");
    assert_eq!(rec.final_at_ms, u64::MAX);
    // One more ms would overflow: refused.
    let heads = net.r.heads();
    let over = net.sign(
        102,
        ts,
        heads,
        closing(u64::MAX - DEFAULT_GRACE_PERIOD_MS + 1),
    );
    put_at_end_of_time(&mut net, &over);
    assert!(matches!(
        rejection(&net, &over.id),
        Some(GovernanceError::InvalidMotion(_))
    ));
}

#[test]
fn one_partner_may_have_at_most_the_per_proposer_limit_open() {
    let mut net = Net::new(3, None);
    for i in 0..MAX_OPEN_MOTIONS_PER_PROPOSER {
        net.propose(102, PROPOSED, general(i));
    }
    let over = try_propose(&mut net, 102, general(MAX_OPEN_MOTIONS_PER_PROPOSER));
    assert_eq!(
        rejection(&net, &over),
        Some(GovernanceError::TooManyOpenMotionsByProposer)
    );
    // Another partner still can.
    net.propose(103, PROPOSED, general(0));
    // Once the motions close there is room again.
    net.tick(AFTER_GRACE);
    let later = T0 + 5 * DAY;
    net.propose(
        102,
        later,
        pb::Motion {
            opens_at_ms: later,
            closes_at_ms: later + 2 * DAY,
            ..motion(DecisionKind::General)
        },
    );
}

#[test]
fn a_partner_cannot_block_their_own_removal_by_filling_the_open_motions() {
    let mut net = Net::new(3, None);
    // Partner 102 signs as many motions as the network-wide limit, all far in the
    // future or ordinary: only MAX_OPEN_MOTIONS_PER_PROPOSER of them apply.
    let mut applied = 0;
    for i in 0..MAX_OPEN_MOTIONS {
        let mo = if i % 2 == 0 {
            general(i)
        } else {
            pb::Motion {
                opens_at_ms: u64::MAX - 2 * DAY,
                closes_at_ms: u64::MAX - DAY,
                ..general(i)
            }
        };
        let id = try_propose(&mut net, 102, mo);
        if net.outcome(&id) == Outcome::Applied {
            applied += 1;
        }
    }
    assert_eq!(applied, MAX_OPEN_MOTIONS_PER_PROPOSER);
    // Another partner can still move to remove them, and amend the deed.
    let remove = net.propose(
        103,
        PROPOSED,
        pb::Motion {
            subject_key: pk(102),
            ..motion(DecisionKind::RemovePartner)
        },
    );
    net.propose(
        104,
        PROPOSED,
        pb::Motion {
            new_deed: Some(default_deed()),
            ..motion(DecisionKind::AmendDeed)
        },
    );
    for p in [103, 104, 105, 106, 107] {
        net.vote(p, DURING, remove, Choice::For);
    }
    close(&mut net, &remove);
    assert!(net.tally(&remove).passed);
    assert!(!net.r.state().membership().is_active(&key(102).public()));
}

// ---- 2. A deed cannot make motions that never close --------------------------------

fn amend(net: &mut Net, d: pb::Deed) -> Option<GovernanceError> {
    let id = try_propose(
        net,
        102,
        pb::Motion {
            new_deed: Some(d),
            ..motion(DecisionKind::AmendDeed)
        },
    );
    rejection(net, &id)
}

fn with_grace(ms: u64) -> pb::Deed {
    pb::Deed {
        grace_period_ms: ms,
        ..default_deed()
    }
}

#[test]
fn an_amended_deed_needs_a_grace_period_in_range() {
    let mut net = Net::new(3, None);
    assert!(matches!(
        amend(&mut net, with_grace(u64::MAX)),
        Some(GovernanceError::InvalidDeed(_))
    ));
    assert!(matches!(
        amend(&mut net, with_grace(MAX_GRACE_PERIOD_MS + 1)),
        Some(GovernanceError::InvalidDeed(_))
    ));
    assert_eq!(amend(&mut net, with_grace(MAX_GRACE_PERIOD_MS)), None);
    assert_eq!(amend(&mut net, with_grace(MAX_CLOCK_SKEW_MS)), None);
    assert!(matches!(
        amend(&mut net, with_grace(MAX_CLOCK_SKEW_MS - 1)),
        Some(GovernanceError::InvalidDeed(_))
    ));
    assert!(matches!(
        amend(&mut net, with_grace(0)),
        Some(GovernanceError::InvalidDeed(_))
    ));
}

#[test]
fn an_amended_deed_needs_a_bounded_voting_period() {
    let mut net = Net::new(3, None);
    let max = |ms: u64| deed_with(DecisionKind::General, |r| r.max_voting_period_ms = ms);
    assert_eq!(amend(&mut net, max(MAX_VOTING_PERIOD_MS)), None);
    assert!(matches!(
        amend(&mut net, max(MAX_VOTING_PERIOD_MS + 1)),
        Some(GovernanceError::InvalidDeed(_))
    ));
    assert!(matches!(
        amend(&mut net, max(u64::MAX)),
        Some(GovernanceError::InvalidDeed(_))
    ));
    // 0 reads as the default longest period (28 days), not as "no maximum".
    assert_eq!(amend(&mut net, max(0)), None);
    let mut r = default_rule(DecisionKind::General).to_pb();
    r.max_voting_period_ms = 0;
    assert_eq!(
        check_rule(&r).expect("valid").max_period_ms,
        DEFAULT_MAX_VOTING_PERIOD_MS
    );
    // ... so a shortest period above 28 days with max 0 is an invalid rule.
    r.min_voting_period_ms = DEFAULT_MAX_VOTING_PERIOD_MS + 1;
    assert!(check_rule(&r).is_err());
}

#[test]
fn a_genesis_deed_out_of_range_falls_back_to_the_defaults() {
    // Grace u64::MAX and an unbounded general rule in the genesis deed.
    let mut d = deed_with(DecisionKind::General, |r| {
        r.max_voting_period_ms = u64::MAX;
    });
    d.grace_period_ms = u64::MAX;
    assert_eq!(
        rule_for(Some(&d), DecisionKind::General),
        default_rule(DecisionKind::General)
    );
    let mut net = Net::new(3, Some(d));
    // The default grace applies: the motion closes a day after its close.
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    let rec = net.r.state().governance().motion(&m).expect("motion");
    assert_eq!(rec.final_at_ms, T0 + 3 * DAY + DEFAULT_GRACE_PERIOD_MS);
    // The default rule applies: at most 28 days.
    let long = try_propose(
        &mut net,
        102,
        pb::Motion {
            closes_at_ms: T0 + DAY + DEFAULT_MAX_VOTING_PERIOD_MS + 1,
            ..motion(DecisionKind::General)
        },
    );
    assert!(matches!(
        rejection(&net, &long),
        Some(GovernanceError::VotingPeriod { max_ms, .. }) if max_ms == DEFAULT_MAX_VOTING_PERIOD_MS
    ));
    close(&mut net, &m);
}

// ---- 3. Proxy re-appointment -------------------------------------------------------

#[test]
fn re_appointing_the_same_holder_withdraws_their_proxy_vote() {
    let mut net = Net::new(
        3,
        Some(pb::Deed {
            max_proxies_per_holder: 2,
            ..default_deed()
        }),
    );
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    let a = net.cast(102, DURING, m, appoint(m, 103));
    assert_eq!(net.outcome(&a), Outcome::Applied);
    let v = net.cast(103, DURING + 1, m, as_proxy(m, 102, Choice::For));
    assert_eq!(net.outcome(&v), Outcome::Applied);
    assert_eq!(net.tally(&m).votes_for, 1);
    // A re-appoints H: H's vote for A no longer counts.
    let again = net.cast(102, DURING + 2, m, appoint(m, 103));
    assert_eq!(net.outcome(&again), Outcome::Applied);
    assert_eq!(net.tally(&m).votes_for, 0);
    assert_eq!(net.tally(&m).turnout, 0);
    // ... until H votes again.
    let v2 = net.cast(103, DURING + 3, m, as_proxy(m, 102, Choice::For));
    assert_eq!(net.outcome(&v2), Outcome::Applied);
    assert_eq!(net.tally(&m).votes_for, 1);
}

// ---- 4. Only eligible partners hold office ---------------------------------------

fn board(net: &Net) -> Vec<mutual_protocol::keys::PublicKey> {
    net.r.state().governance().board().iter().copied().collect()
}

#[test]
fn an_elected_partner_who_left_before_the_closing_is_not_seated() {
    let mut net = Net::new(3, None);
    let m = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            seats: 2,
            candidates: vec![pk(102), pk(104)],
            ..motion(DecisionKind::ElectBoard)
        },
    );
    for p in net.partners() {
        net.cast(p, DURING, m, ranking(m, &[102, 104]));
    }
    // 104 is elected but resigns before the closing.
    net.event(
        104,
        DURING + 1,
        Body::PartnerResign(pb::PartnerResign::default()),
    );
    close(&mut net, &m);
    let t = net.tally(&m);
    assert!(t.passed && t.elected.len() == 2, "{t}");
    assert_eq!(board(&net), vec![key(102).public()]);

    // A chair whose practice leaves before the closing is not seated either.
    let later = T0 + 5 * DAY;
    let c = net.propose(
        102,
        later,
        pb::Motion {
            opens_at_ms: later,
            closes_at_ms: later + 2 * DAY,
            candidates: vec![pk(106)],
            ..motion(DecisionKind::ElectChair)
        },
    );
    for p in [102, 103, 105, 106, 107] {
        net.cast(p, later + 1, c, ranking(c, &[106]));
    }
    net.event(
        3,
        later + 2,
        Body::PracticeLeave(pb::PracticeLeave {
            reason: "merging".into(),
        }),
    );
    net.tick(later + 3 * DAY + 1);
    assert!(net.tally(&c).passed);
    assert_eq!(net.r.state().governance().chair(), None);
}

#[test]
fn a_seated_partner_who_resigns_or_whose_practice_leaves_loses_their_office() {
    let mut net = Net::new(3, None);
    elect_offices(&mut net, &[104, 106], Some(106));
    let mut want = vec![key(104).public(), key(106).public()];
    want.sort();
    assert_eq!(board(&net), want);
    assert_eq!(net.r.state().governance().chair(), Some(&key(106).public()));
    // 104 resigns: off the board.
    net.event(
        104,
        AFTER_GRACE + 1,
        Body::PartnerResign(pb::PartnerResign::default()),
    );
    assert_eq!(board(&net), vec![key(106).public()]);
    // 106's practice leaves: off the board, and no longer chair.
    net.event(
        3,
        AFTER_GRACE + 2,
        Body::PracticeLeave(pb::PracticeLeave {
            reason: "merging".into(),
        }),
    );
    assert!(board(&net).is_empty());
    assert_eq!(net.r.state().governance().chair(), None);
}
