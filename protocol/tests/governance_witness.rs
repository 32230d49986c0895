//! Witnessing: a ballot counts at the close only if an event by another practice, dated
//! no later than the motion's final_at, has it in its past and was folded before the
//! close; and only a practice node's event closes a motion (docs/GOVERNANCE.md §5.2, §5.5).
//!
//! Partners 102 and 103 belong to practice 1 (node key 1), 104 and 105 to practice 2,
//! 106 and 107 to practice 3.

use crate::common;
use crate::governance_common;

use common::T0;
use governance_common::*;
use mutual_proto::v1 as pb;
use mutual_protocol::event::Body;
use mutual_protocol::governance::deed::default_deed;
use mutual_protocol::id::EventId;
use mutual_protocol::state::Outcome;
use pb::{Choice, DecisionKind};
use prost::Message;

fn six() -> Net {
    Net::new(3, Some(default_deed()))
}

fn witness() -> Body {
    Body::Witness(pb::Witness {})
}

/// Three practices, under a deed that allows one proxy per holder.
fn with_proxies() -> Net {
    Net::new(
        3,
        Some(pb::Deed {
            max_proxies_per_holder: 1,
            ..default_deed()
        }),
    )
}

/// How many partners have a ballot that counts (witnessed) on `m`.
fn counted(net: &Net, m: &EventId) -> usize {
    let rec = net.r.state().governance().motion(m).expect("motion");
    rec.votes.ballots.len()
}

#[test]
fn a_backdated_change_of_mind_by_a_partner_silent_since_the_close_does_not_count() {
    // 103 votes for, and practice 2's node witnesses it. After the close (the grace has
    // passed, but no practice node has written since), 103 signs a second ballot,
    // against, with a false in-window timestamp and citing only their own first ballot.
    // It sorts before any closing event and is valid where it sits, as a ballot delayed
    // in the network would be; but no other practice saw it in time, so the vote for
    // stands.
    let mut net = six();
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    let first = net.vote(103, DURING, m, Choice::For);
    for p in [104, 106] {
        net.vote(p, DURING, m, Choice::For);
    }
    assert_eq!(counted(&net, &m), 3);
    let backdated = net.sign(103, DURING + 1, vec![first, m], ballot(m, Choice::Against));
    net.put(&backdated);
    assert_eq!(net.outcome(&backdated.id), Outcome::Applied);
    let provisional = net.tally(&m);
    assert_eq!(
        (
            provisional.votes_for,
            provisional.votes_against,
            provisional.unwitnessed
        ),
        (2, 1, 1),
        "the provisional tally shows it, and says it is not witnessed: {provisional}"
    );
    close(&mut net, &m);
    let t = net.tally(&m);
    assert_eq!((t.votes_for, t.votes_against), (3, 0), "{t}");
    assert_eq!(t.unwitnessed, 1);
    assert!(t.passed && t.reason.contains("not witnessed"), "{t}");
    // The same events in any order give the same result.
    let scratch = net.r.fold_from_scratch();
    assert_eq!(
        scratch.hash(&net.fx.network, net.r.forks()),
        net.r.state_hash()
    );
}

#[test]
fn a_partner_s_event_after_the_grace_does_not_close_a_motion_and_a_node_s_does() {
    // 102 votes early, then after the grace writes an event citing only their own
    // ballot: it sorts before the ballots cast after theirs. Were it to close the motion
    // there, it would cut those ballots off; a partner's event never closes.
    let mut net = six();
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    let early = net.vote(102, DURING, m, Choice::Against);
    for p in [104, 105, 106] {
        net.vote(p, DURING + 1, m, Choice::For);
    }
    let cut = net.sign(
        102,
        AFTER_GRACE,
        vec![early],
        Body::PartnerResign(pb::PartnerResign::default()),
    );
    net.put(&cut);
    assert!(!net.closed(&m), "a partner's event does not close a motion");
    net.tick(AFTER_GRACE);
    assert!(net.closed(&m), "a practice node's event does");
    let t = net.tally(&m);
    assert_eq!((t.votes_for, t.votes_against), (3, 1), "{t}");
    assert!(t.passed, "{t}");
}

#[test]
fn a_partner_s_ballot_witnesses_the_ballots_of_other_practices_in_its_past() {
    // 104 (practice 2) appoints 102 (practice 1) as proxy; 102's proxy vote for 104
    // follows the appointment, and so witnesses it. Practice 2's node then witnesses
    // the vote, and both count, the appointment first.
    let mut net = with_proxies();
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    let a = net.cast_unwitnessed(104, DURING, m, appoint(m, 102));
    let v = net.cast_unwitnessed(102, DURING + 1, m, as_proxy(m, 104, Choice::For));
    assert_eq!(net.outcome(&v), Outcome::Applied);
    assert!(!net.unwitnessed(m, a) && net.unwitnessed(m, v));
    net.event(2, DURING + 2, witness());
    assert!(!net.unwitnessed(m, v));
    let rec = net.r.state().governance().motion(&m).expect("motion");
    assert_eq!(rec.votes.by_proxy.len(), 1, "counted as a proxy vote");
    close(&mut net, &m);
    assert_eq!(net.tally(&m).votes_for, 1);
}

#[test]
fn a_witnessed_ballot_waits_for_the_unwitnessed_ballots_in_its_past() {
    // Two practices. 104 votes; 105 (same practice) votes after, citing it. Practice 1's
    // node, writing a chain of its own that sees neither, then leaves: one practice is
    // left, so any other key witnesses. 104 writes next, citing everything: that
    // witnesses 105's vote but not 104's own, which is in its past, so 105's vote waits
    // and nothing is counted. Practice 2's node then witnesses 104's vote: both count.
    let mut net = Net::new(2, Some(default_deed()));
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    let a = net.sign(104, DURING, vec![m], ballot(m, Choice::For));
    net.put(&a);
    let v = net.sign(105, DURING, vec![a.id, m], ballot(m, Choice::Against));
    net.put(&v);
    let mut last = m;
    for _ in 0..3 {
        let x = net.sign(1, DURING, vec![m], witness());
        net.put(&x);
        last = x.id;
    }
    let leave = net.sign(
        1,
        DURING,
        vec![last],
        Body::PracticeLeave(pb::PracticeLeave::default()),
    );
    net.put(&leave);
    assert_eq!(net.outcome(&leave.id), Outcome::Applied);
    assert!(net.unwitnessed(m, a.id) && net.unwitnessed(m, v.id));
    let w = net.sign(104, DURING + 1, vec![leave.id, v.id], witness());
    net.put(&w);
    assert!(
        net.unwitnessed(m, a.id) && net.unwitnessed(m, v.id),
        "105's vote is witnessed but waits for 104's"
    );
    assert_eq!(counted(&net, &m), 0);
    net.event(2, DURING + 2, witness());
    assert!(!net.unwitnessed(m, a.id) && !net.unwitnessed(m, v.id));
    assert_eq!(counted(&net, &m), 2);
}

#[test]
fn a_refused_ballot_waits_and_counts_once_what_it_needs_is_counted() {
    // 104 (practice 2) appoints 102 (practice 1). 102's proxy vote sorts after the
    // appointment but does not follow it. Practice 3's node witnesses only the vote: the
    // counted votes have no appointment yet, so it waits. Practice 1's node then
    // witnesses the appointment; it is counted, and so, tried again, is the vote.
    let mut net = with_proxies();
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    let a = net.sign(104, DURING, vec![m], appoint(m, 102));
    net.put(&a);
    let before = net.sign(102, DURING, vec![m], witness());
    net.put(&before);
    let v = net.sign(102, DURING + 1, vec![m], as_proxy(m, 104, Choice::For));
    net.put(&v);
    assert_eq!(
        net.outcome(&v.id),
        Outcome::Applied,
        "the appointment sorts first"
    );
    let w3 = net.sign(3, DURING + 2, vec![v.id], witness());
    net.put(&w3);
    assert!(
        net.unwitnessed(m, v.id),
        "witnessed, refused by the counted votes, waiting"
    );
    assert_eq!(net.tally(&m).unwitnessed, 2);
    let w1 = net.sign(1, DURING + 3, vec![a.id], witness());
    net.put(&w1);
    assert!(!net.unwitnessed(m, a.id) && !net.unwitnessed(m, v.id));
    let rec = net.r.state().governance().motion(&m).expect("motion");
    assert_eq!(rec.votes.by_proxy.len(), 1, "the proxy vote counts");
    close(&mut net, &m);
    let t = net.tally(&m);
    assert_eq!((t.votes_for, t.unwitnessed), (1, 0), "{t}");
}

#[test]
fn a_partner_cannot_witness_their_own_ballot_with_a_new_key() {
    // In a network of one practice any other member witnesses, but not the same partner
    // under a rotated key.
    let mut net = Net::new(1, Some(default_deed()));
    let m = net.propose(102, T0 + DAY, motion(DecisionKind::General));
    let b = net.sign(103, DURING, vec![m], ballot(m, Choice::For));
    net.put(&b);
    let network = net.fx.network;
    let rot = net.sign(
        103,
        DURING,
        vec![b.id],
        common::rotation(&network, &common::key(103).public(), &common::key(150)),
    );
    net.put(&rot);
    assert_eq!(net.outcome(&rot.id), Outcome::Applied);
    let w = net.sign(150, DURING, vec![rot.id], witness());
    net.put(&w);
    assert_eq!(net.outcome(&w.id), Outcome::Applied);
    assert!(
        net.unwitnessed(m, b.id),
        "the same partner, whatever the key"
    );
    net.event(102, DURING, witness());
    assert!(!net.unwitnessed(m, b.id), "another partner of the practice");
}

#[test]
fn a_witness_must_be_an_active_member_of_another_practice_dated_in_time() {
    let mut net = six();
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    let b = net.cast_unwitnessed(104, DURING, m, ballot(m, Choice::For));
    // Its own practice's node and its practice partner do not witness it.
    net.event(2, DURING, witness());
    net.event(105, DURING, witness());
    assert!(net.unwitnessed(m, b));
    // Another practice's partner does, with a body of any kind.
    net.event(
        106,
        DURING + 1,
        Body::PracticeUpdate(pb::PracticeUpdate::default()),
    );
    assert!(!net.unwitnessed(m, b));
    assert_eq!(counted(&net, &m), 1);

    // Dated after final_at, even by another practice's partner (whose event does not
    // close the motion), is too late.
    let mut net = six();
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    let b = net.cast_unwitnessed(104, DURING, m, ballot(m, Choice::For));
    net.event(106, AFTER_GRACE, witness());
    assert!(!net.closed(&m));
    assert!(net.unwitnessed(m, b));
    net.tick(AFTER_GRACE + 1);
    assert_eq!(net.tally(&m).turnout, 0);
}

#[test]
fn in_a_network_of_one_practice_another_key_witnesses() {
    let mut net = Net::new(1, Some(default_deed()));
    let m = net.propose(102, T0 + DAY, motion(DecisionKind::General));
    let b = net.cast_unwitnessed(103, DURING, m, ballot(m, Choice::For));
    net.event(103, DURING, witness());
    assert!(net.unwitnessed(m, b), "not by its own author");
    net.event(1, DURING, witness());
    assert!(!net.unwitnessed(m, b), "by the practice's node");
    close(&mut net, &m);
    assert!(net.tally(&m).passed);
}

#[test]
fn the_state_digest_lists_the_ballots_not_yet_witnessed_and_counts_only_witnessed_ones() {
    let mut net = six();
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    let b = net.cast_unwitnessed(104, DURING, m, ballot(m, Choice::For));
    let digest = |net: &Net| {
        let bytes = net
            .r
            .state()
            .canonical_bytes(&net.fx.network, net.r.forks());
        let d = pb::StateDigest::decode(bytes.as_slice()).expect("a digest");
        let e = d.motions.into_iter().next().expect("one motion");
        (e.ballots.len(), e.unwitnessed)
    };
    assert_eq!(digest(&net), (0, vec![b.as_bytes().to_vec()]));
    net.event(1, DURING, witness());
    assert_eq!(digest(&net), (1, Vec::<Vec<u8>>::new()));
}
