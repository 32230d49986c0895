//! Governance without a trusted clock: which ballots count, when a result is final, and
//! what happens when membership changes while a vote is in flight (docs/GOVERNANCE.md,
//! "Deadlines" and "Concurrent change").

use crate::common;
use crate::governance_common;

use common::{key, rotation, T0};
use governance_common::*;
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, FeedWriter};
use mutual_protocol::governance::deed::default_deed;
use mutual_protocol::governance::{Finality, GovernanceError};
use mutual_protocol::replica::{IngestError, Ingested};
use mutual_protocol::state::{Outcome, Rejection};
use pb::{Choice, DecisionKind, PartnerRole};

const CLOSE: u64 = T0 + 3 * DAY;

fn six() -> Net {
    Net::new(3, Some(default_deed()))
}

#[test]
fn ballots_outside_the_window_do_not_count() {
    let mut net = six();
    let m = net.propose(
        102,
        T0 + 1000,
        pb::Motion {
            opens_at_ms: T0 + DAY,
            ..motion(DecisionKind::General)
        },
    );
    let early = net.vote(103, T0 + 2000, m, Choice::For);
    assert_eq!(
        governance_rejection(&net.outcome(&early)),
        Some(&GovernanceError::BeforeOpening)
    );
    let on_open = net.vote(104, T0 + DAY, m, Choice::For);
    let on_close = net.vote(105, CLOSE, m, Choice::For);
    let late = net.vote(106, CLOSE + 1, m, Choice::For);
    assert_eq!(net.outcome(&on_open), Outcome::Applied);
    assert_eq!(
        net.outcome(&on_close),
        Outcome::Applied,
        "the close is inclusive"
    );
    assert_eq!(
        governance_rejection(&net.outcome(&late)),
        Some(&GovernanceError::AfterClose)
    );
    assert_eq!(net.tally(&m).turnout, 2);
}

#[test]
fn a_backdated_ballot_that_follows_a_post_close_event_is_refused() {
    let mut net = six();
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    net.vote(102, DURING, m, Choice::For);
    // Someone writes after the close (but inside the grace period, so nothing closes).
    let after = net.tick(CLOSE + 60_000);
    // A ballot that has seen that event but claims a time before the close: its own
    // timestamp is before a cause's, so no node stores it.
    let backdated = net.sign(103, DURING, vec![m, after], ballot(m, Choice::Against));
    let res = net.r.ingest(NOW, &backdated.to_wire());
    assert!(
        matches!(res, Err(IngestError::Invalid(_))),
        "refused on receipt: {res:?}"
    );
    assert!(net.r.get(&backdated.id).is_none());
    // The same through the author's own feed: a partner who wrote after the close cannot
    // slip an earlier-dated ballot in behind it.
    let own_late = net.vote(104, CLOSE + 120_000, m, Choice::Against);
    assert_eq!(
        governance_rejection(&net.outcome(&own_late)),
        Some(&GovernanceError::AfterClose)
    );
    let behind = net.sign(104, DURING, vec![m], ballot(m, Choice::Against));
    assert!(net.r.ingest(NOW, &behind.to_wire()).is_err());
    let t = net.tally(&m);
    assert_eq!((t.votes_for, t.votes_against), (1, 0));
}

#[test]
fn a_result_is_open_then_provisional_then_final() {
    let mut net = six();
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    for p in [102, 103, 104] {
        net.vote(p, DURING, m, Choice::For);
    }
    let gov = |net: &Net, now| net.r.state().governance().report(&m, now).expect("motion");
    assert_eq!(gov(&net, DURING).finality, Finality::Open);
    assert_eq!(gov(&net, CLOSE).finality, Finality::Open);
    let p = gov(&net, CLOSE + 1);
    assert_eq!(p.finality, Finality::Provisional);
    assert!(p.tally.passed && !p.closed && p.effect.is_none());
    let f = gov(&net, AFTER_GRACE);
    assert_eq!(f.finality, Finality::Final);
    assert!(!f.closed, "no event has closed it in the fold yet");
    // An event exactly at close + grace does not close it; the next millisecond does.
    net.tick(AFTER_GRACE - 1);
    assert!(!net.closed(&m));
    net.tick(AFTER_GRACE);
    assert!(net.closed(&m));
    let c = gov(&net, 0);
    assert_eq!(
        c.finality,
        Finality::Final,
        "closed by the fold: final whatever the clock"
    );
    assert_eq!(c.effect, Some(Ok(())));
}

#[test]
fn a_ballot_that_follows_the_closing_event_is_refused() {
    let mut net = six();
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    net.vote(102, DURING, m, Choice::For);
    let closing = net.tick(AFTER_GRACE);
    let after = net.sign(103, AFTER_GRACE, vec![m, closing], ballot(m, Choice::For));
    net.put(&after);
    assert_eq!(
        governance_rejection(&net.outcome(&after.id)),
        Some(&GovernanceError::MotionClosed)
    );
}

#[test]
fn a_ballot_cast_in_time_but_delivered_late_counts_where_it_sorts() {
    // Partner 105 voted in time and practice 3's node witnessed it in time, but neither
    // event reached this node until after the closing event. Both name only events from
    // before the close, so they sort before the closing event in the fold, and every
    // node counts the ballot, whatever order they received things in.
    let mut late = six();
    let m = late.propose(102, PROPOSED, motion(DecisionKind::General));
    let slow = late.sign(105, DURING, vec![m], ballot(m, Choice::For));
    let seen_by_3 = late.sign(3, DURING, vec![slow.id], Body::Witness(pb::Witness {}));
    for p in [102, 103] {
        late.vote(p, DURING, m, Choice::For);
    }
    late.tick(AFTER_GRACE);
    assert!(!late.tally(&m).passed, "two of six is below quorum");
    late.put(&slow);
    late.put(&seen_by_3);
    assert_eq!(late.outcome(&slow.id), Outcome::Applied);
    let t = late.tally(&m);
    assert!(t.passed && t.turnout == 3 && t.unwitnessed == 0, "{t}");
    assert!(late.closed(&m));
    let from_scratch = late.r.fold_from_scratch();
    assert_eq!(
        from_scratch.hash(&late.fx.network, late.r.forks()),
        late.r.state_hash()
    );
}

#[test]
fn a_ballot_no_other_practice_saw_before_the_close_does_not_count() {
    // The same late ballot, but with no witness: nothing distinguishes it from one
    // signed after the close with a false, in-window timestamp (docs/GOVERNANCE.md §5.5),
    // so it is stored and valid where it sits, and does not count.
    let mut late = six();
    let m = late.propose(102, PROPOSED, motion(DecisionKind::General));
    let backdated = late.sign(105, DURING, vec![m], ballot(m, Choice::For));
    for p in [102, 103] {
        late.vote(p, DURING, m, Choice::For);
    }
    late.tick(AFTER_GRACE);
    late.put(&backdated);
    assert_eq!(late.outcome(&backdated.id), Outcome::Applied);
    let t = late.tally(&m);
    assert!(!t.passed && t.turnout == 2 && t.unwitnessed == 1, "{t}");
    assert!(t.reason.contains("not witnessed"), "{}", t.reason);
    // A witness dated after final_at comes too late, even one that sorts before the
    // closing event: here another practice's partner (whose event closes nothing)
    // follows only the backdated ballot.
    let too_late = late.sign(
        106,
        AFTER_GRACE + 1,
        vec![backdated.id],
        Body::Witness(pb::Witness {}),
    );
    late.put(&too_late);
    assert_eq!(late.tally(&m).turnout, 2);
    // Its own practice's node, or a forged witness by a key that is no member, does not
    // witness it either, even dated in time.
    let mut own = six();
    let m = own.propose(102, PROPOSED, motion(DecisionKind::General));
    let b = own.sign(105, DURING, vec![m], ballot(m, Choice::For));
    let by_own_node = own.sign(2, DURING, vec![b.id], Body::Witness(pb::Witness {}));
    let by_stranger = own.sign(77, DURING, vec![b.id], Body::Witness(pb::Witness {}));
    let by_itself_again = own.sign(105, DURING, vec![b.id], Body::Witness(pb::Witness {}));
    for ev in [&b, &by_own_node, &by_stranger, &by_itself_again] {
        own.put(ev);
    }
    assert!(own.unwitnessed(m, b.id));
    own.tick(AFTER_GRACE);
    let t = own.tally(&m);
    assert_eq!((t.turnout, t.unwitnessed), (0, 1), "{t}");
}

#[test]
fn the_latest_ballot_counts_and_a_ballot_must_name_its_motion_as_a_cause() {
    let mut net = six();
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    net.vote(103, DURING, m, Choice::For);
    net.vote(103, DURING + 1, m, Choice::Against);
    let t = net.tally(&m);
    assert_eq!((t.turnout, t.votes_for, t.votes_against), (1, 0, 1));
    // A ballot that follows the motion only indirectly is refused: the rule is that the
    // motion is its prev or one of its deps.
    let heads = net.r.heads();
    assert!(!heads.contains(&m));
    let indirect = net.sign(104, DURING + 2, heads, ballot(m, Choice::For));
    net.put(&indirect);
    assert_eq!(
        governance_rejection(&net.outcome(&indirect.id)),
        Some(&GovernanceError::MotionNotACause)
    );
    // A ballot for a motion that never took effect is refused.
    let bogus = net.event(104, DURING + 3, ballot(indirect.id, Choice::For));
    assert_eq!(
        governance_rejection(&net.outcome(&bogus)),
        Some(&GovernanceError::UnknownMotion)
    );
}

#[test]
fn a_double_ballot_via_a_forked_feed_counts_for_nothing_from_the_fork_on() {
    let mut net = six();
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    // 103 signs two different first events: both are ballots, one for, one against.
    let yes = net.sign(103, DURING, vec![m], ballot(m, Choice::For));
    let mut twin = FeedWriter::resume(key(103), net.fx.network, None);
    let no = twin.sign(DURING, vec![m], ballot(m, Choice::Against));
    net.put(&yes);
    assert_eq!(net.tally(&m).votes_for, 1);
    net.put(&no);
    for id in [yes.id, no.id] {
        assert_eq!(
            net.outcome(&id),
            Outcome::Rejected(Rejection::Forked { seq: 1 })
        );
    }
    // 104 votes, then forks at its second event: the first ballot still counts.
    let first = net.sign(104, DURING, vec![m], ballot(m, Choice::Against));
    net.put(&first);
    let a = net.sign(104, DURING + 1, vec![m], ballot(m, Choice::For));
    let mut twin = FeedWriter::resume(key(104), net.fx.network, Some((1, first.id)));
    let b = twin.sign(DURING + 1, vec![m], ballot(m, Choice::Abstain));
    net.put(&a);
    net.put(&b);
    assert_eq!(net.outcome(&first.id), Outcome::Applied);
    let t = net.tally(&m);
    assert_eq!(
        (t.turnout, t.votes_for, t.votes_against, t.abstentions),
        (1, 0, 1, 0)
    );
}

#[test]
fn a_rotated_key_votes_for_the_same_partner() {
    let mut net = six();
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    net.vote(103, DURING, m, Choice::Against);
    let new = key(5103);
    let rot = net.event(
        103,
        DURING + 1,
        rotation(&net.fx.network, &key(103).public(), &new),
    );
    assert_eq!(net.outcome(&rot), Outcome::Applied);
    net.vote(5103, DURING + 2, m, Choice::For);
    let t = net.tally(&m);
    assert_eq!((t.turnout, t.votes_for, t.votes_against), (1, 1, 0));
    // The retired key's later ballots are refused.
    let old = net.vote(103, DURING + 3, m, Choice::Against);
    assert_eq!(net.outcome(&old), Outcome::Rejected(Rejection::KeyRetired));
}

#[test]
fn a_partner_removed_while_a_vote_is_open_keeps_the_ballot_already_cast() {
    let mut net = six();
    // A long motion, and a removal of partner 107 that closes while it is open.
    let long = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            closes_at_ms: T0 + 10 * DAY,
            ..motion(DecisionKind::General)
        },
    );
    let remove = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            subject_key: pk(107),
            ..motion(DecisionKind::RemovePartner)
        },
    );
    net.vote(107, DURING, long, Choice::For);
    for p in [102, 103, 104] {
        net.vote(p, DURING, remove, Choice::For);
    }
    net.tick(AFTER_GRACE);
    assert!(net.tally(&remove).passed);
    // 107's ballot cast while a partner still counts; a later change of mind does not,
    // and the electorate stays as it was when the motion opened.
    let again = net.vote(107, T0 + 5 * DAY, long, Choice::Against);
    assert_eq!(net.outcome(&again), Outcome::Rejected(Rejection::NotActive));
    let t = net.tally(&long);
    assert_eq!((t.electorate, t.votes_for, t.votes_against), (6, 1, 0));
}

#[test]
fn conflicting_effects_apply_in_closing_order() {
    for managing_closes_first in [true, false] {
        let mut net = six();
        let (first, second) = if managing_closes_first {
            (CLOSE, CLOSE + 3_600_000)
        } else {
            (CLOSE + 3_600_000, CLOSE)
        };
        let change = |role: PartnerRole, closes| pb::Motion {
            subject_key: pk(104),
            new_role: role as i32,
            closes_at_ms: closes,
            ..motion(DecisionKind::ChangeRole)
        };
        let a = net.propose(102, PROPOSED, change(PartnerRole::Managing, first));
        let b = net.propose(102, PROPOSED, change(PartnerRole::Associate, second));
        for m in [a, b] {
            for p in [102, 103, 105] {
                net.vote(p, DURING, m, Choice::For);
            }
        }
        net.tick(T0 + 5 * DAY);
        assert!(net.tally(&a).passed && net.tally(&b).passed);
        let role = net
            .r
            .state()
            .membership()
            .partner(&key(104).public())
            .map(|p| p.partner.role);
        let want = if managing_closes_first {
            PartnerRole::Associate
        } else {
            PartnerRole::Managing
        };
        assert_eq!(role, Some(want as i32), "the later closing wins");
    }
}

#[test]
fn a_passed_motion_whose_subject_left_meanwhile_records_why_nothing_happened() {
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
    for p in [102, 103, 105] {
        net.vote(p, DURING, m, Choice::For);
    }
    let resign = net.event(
        104,
        DURING + 1,
        Body::PartnerResign(pb::PartnerResign::default()),
    );
    assert_eq!(net.outcome(&resign), Outcome::Applied);
    net.tick(AFTER_GRACE);
    let rep = net
        .r
        .state()
        .governance()
        .report(&m, AFTER_GRACE)
        .expect("motion");
    assert!(rep.tally.passed);
    assert!(matches!(rep.effect, Some(Err(_))), "{:?}", rep.effect);
}

#[test]
fn a_held_future_closing_event_waits_for_the_clock() {
    // An event dated after the grace period arrives early: the replica holds it, so it
    // cannot close the motion before the local clock is near that time.
    let mut net = six();
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    let early = net.sign(2, AFTER_GRACE, vec![m], common::update(1));
    let res = net.r.ingest(DURING, &early.to_wire());
    assert!(matches!(res, Ok(Ingested::Held { .. })), "{res:?}");
    assert!(!net.closed(&m));
    net.r.tick(AFTER_GRACE);
    assert!(net.closed(&m));
}
