//! Rules of docs/PROTOCOL.md and docs/GOVERNANCE.md that an outsider could otherwise
//! settle only by running a node: what a capped invitation forgets, which deed the state
//! digest carries, two thirds in basis points, linking again after leaving a federation,
//! who may witness a proxy vote, a second declaration of interest, and who recuses on
//! `REPLACE_KEY`.

use crate::common;
use crate::governance_common;

use common::{key, Fixture, T0};
use governance_common::*;
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, FeedWriter, SignedEvent};
use mutual_protocol::federation::charter_entry;
use mutual_protocol::governance::deed::{default_deed, default_rule};
use mutual_protocol::governance::tally::{self, Vote};
use mutual_protocol::governance::GovernanceError;
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::limits::MAX_OPEN_INVITATIONS;
use mutual_protocol::replica::Replica;
use mutual_protocol::state::{Outcome, Rejection};
use pb::{Choice, DecisionKind};
use prost::Message;

// ------------------------------------------------------------------ invitations (§8.10)

fn invite(n: u32, expires_ms: u64) -> Body {
    Body::Invitation(pb::Invitation {
        node_key: key(n).public().as_bytes().to_vec(),
        expires_ms,
        practice_name: format!("Joining practice {n}"),
        ods_code: format!("Y{n:05}"),
        bootstrap: vec![],
    })
}

#[test]
fn an_invitation_refused_by_the_cap_forgets_nothing_and_one_that_applies_forgets_every_lapsed_one()
{
    let (fx, mut founder) = Fixture::new(1);
    let mut r = fx.replica();
    let (mut partner, mut other) = (fx.writer(102), fx.writer(103));
    fn put(r: &mut Replica, w: &mut FeedWriter, ts: u64, body: Body) -> Outcome {
        let ev = w.sign(ts, r.heads(), body);
        r.ingest(T0 + 400_000, &ev.to_wire()).expect("stored");
        r.outcome(&ev.id).cloned().expect("folded")
    }
    // Two invitations that lapse at T0 + 100, by two partners.
    assert_eq!(
        put(&mut r, &mut partner, T0 + 1, invite(950, T0 + 100)),
        Outcome::Applied
    );
    assert_eq!(
        put(&mut r, &mut other, T0 + 2, invite(960, T0 + 100)),
        Outcome::Applied
    );
    // The founder fills its cap with invitations open until T0 + 100 000.
    for i in 0..MAX_OPEN_INVITATIONS as u32 {
        let o = put(
            &mut r,
            &mut founder,
            T0 + 10 + u64::from(i),
            invite(900 + i, T0 + 100_000),
        );
        assert_eq!(o, Outcome::Applied, "invitation {i}");
    }
    let recorded = |r: &Replica| r.state().invitations().count();
    assert_eq!(recorded(&r), MAX_OPEN_INVITATIONS + 2);
    // At T0 + 200 the partners' two have lapsed. The founder's ninth is refused by the
    // cap (lapsed invitations would not have counted toward it)...
    let over = put(&mut r, &mut founder, T0 + 200, invite(999, T0 + 100_000));
    assert!(matches!(
        over,
        Outcome::Rejected(Rejection::Unauthorised(_))
    ));
    // ...and the rejected invitation changed nothing: both lapsed ones are still recorded.
    assert_eq!(recorded(&r), MAX_OPEN_INVITATIONS + 2);
    let hash_before = r.state_hash();
    // An invitation that applies (here renewing one of the founder's) forgets every
    // invitation lapsed by its timestamp, whoever signed it.
    let renew = put(&mut r, &mut founder, T0 + 300, invite(900, T0 + 200_000));
    assert_eq!(renew, Outcome::Applied);
    assert_eq!(recorded(&r), MAX_OPEN_INVITATIONS);
    assert!(r.state().invitation(&key(950).public(), T0).is_none());
    assert!(r.state().invitation(&key(960).public(), T0).is_none());
    assert_ne!(hash_before, r.state_hash());
}

// ------------------------------------------------------------ the digest's deed (§9.2)

fn digest(net: &Net) -> pb::StateDigest {
    let bytes = net
        .r
        .state()
        .canonical_bytes(&net.fx.network, net.r.forks());
    pb::StateDigest::decode(bytes.as_slice()).expect("a StateDigest")
}

#[test]
fn the_state_digest_carries_the_deed_in_force_after_an_amendment() {
    let genesis_deed = default_deed();
    let mut net = Net::new(3, Some(genesis_deed.clone()));
    assert_eq!(digest(&net).deed.as_ref(), Some(&genesis_deed));
    let amended = pb::Deed {
        grace_period_ms: 2 * DAY,
        ..deed_with(DecisionKind::General, |r| r.quorum_basis_points = 6_000)
    };
    let m = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            new_deed: Some(amended.clone()),
            ..motion(DecisionKind::AmendDeed)
        },
    );
    for p in net.partners() {
        net.vote(p, DURING, m, Choice::For);
    }
    assert_eq!(
        digest(&net).deed.as_ref(),
        Some(&genesis_deed),
        "not before the motion closes"
    );
    close(&mut net, &m);
    assert_eq!(net.r.state().deed(), Some(&amended));
    assert_eq!(
        digest(&net).deed.as_ref(),
        Some(&amended),
        "the deed in force"
    );
    // A network founded without a deed has none in its digest until an amendment applies.
    let bare = Net::new(2, None);
    assert_eq!(digest(&bare).deed, None);
}

// --------------------------------------------------------- two thirds (GOVERNANCE §6)

fn passes(threshold_bp: u32, for_: u32, against: u32) -> bool {
    let rule = tally::count(
        &mutual_protocol::governance::deed::Rule {
            threshold_bp,
            quorum_bp: 0,
            ..default_rule(DecisionKind::General)
        },
        for_ + against,
        0,
        std::iter::repeat_n(&Vote::For, for_ as usize)
            .chain(std::iter::repeat_n(&Vote::Against, against as usize)),
        None,
    );
    rule.threshold_met
}

#[test]
fn two_thirds_is_6666_basis_points_exactly_below_a_base_of_5000() {
    // 4 of 6: two thirds. 6666 takes it; 6667 ("at least 66.67%") does not.
    assert!(passes(6_666, 4, 2));
    assert!(!passes(6_667, 4, 2));
    // For every base below 5 000, 6666 passes exactly when for ≥ two thirds of the base.
    for base in 1..5_000u32 {
        let needed = (2 * base).div_ceil(3);
        assert!(passes(6_666, needed, base - needed), "{needed} of {base}");
        assert!(
            !passes(6_666, needed - 1, base - needed + 1),
            "{} of {base}",
            needed - 1
        );
    }
    // From 5 000 on, 6666 is "at least 66.66%": 3 333 of 5 000 passes, under two thirds.
    assert!(passes(6_666, 3_333, 1_667), "3 333 × 3 = 9 999 < 2 × 5 000");
}

// ----------------------------------------- linking again after leaving (FEDERATION §2)

fn charter(net: &Net, name: &str) -> Vec<u8> {
    let ours: Vec<pb::Practice> = net
        .fx
        .practices
        .iter()
        .map(|&p| common::practice(p))
        .collect();
    let mut members = vec![
        charter_entry(net.fx.network, "Test Partnership", &ours, &[]),
        charter_entry(
            NetworkId(EventId([9; 32])),
            "Elsewhere",
            &[common::practice(70)],
            &[],
        ),
    ];
    members.sort_by(|a, b| a.network.cmp(&b.network));
    let c = pb::FederationCharter {
        name: name.into(),
        members,
        ..Default::default()
    };
    FeedWriter::root(key(1), T0, Body::FederationCharter(c))
        .1
        .to_wire()
}

fn pass_at(net: &mut Net, t: u64, mo: pb::Motion) -> EventId {
    let id = net.propose(
        102,
        t,
        pb::Motion {
            opens_at_ms: t,
            closes_at_ms: t + 2 * DAY,
            ..mo
        },
    );
    for p in net.partners() {
        net.vote(p, t + 1, id, Choice::For);
    }
    net.tick(t + 3 * DAY + 1);
    assert!(net.closed(&id) && net.tally(&id).passed);
    id
}

#[test]
fn a_network_that_left_a_federation_cannot_link_to_it_again_but_can_link_to_a_new_charter() {
    let mut net = Net::new(3, None);
    let first = charter(&net, "Alliance");
    let fid = NetworkId(SignedEvent::decode(&first).expect("charter").id);
    let t = T0 + DAY;
    pass_at(
        &mut net,
        t,
        pb::Motion {
            charter_event: first.clone(),
            ..motion(DecisionKind::LinkFederation)
        },
    );
    let t = t + 4 * DAY;
    let leave = pass_at(
        &mut net,
        t,
        pb::Motion {
            federation: fid.as_bytes().to_vec(),
            ..motion(DecisionKind::LeaveFederation)
        },
    );
    assert_eq!(
        net.r
            .state()
            .governance()
            .link(&fid)
            .and_then(|l| l.left_by),
        Some(leave)
    );
    // The same charter again: refused at proposal.
    let t = t + 4 * DAY;
    let again = net.event(
        102,
        t,
        Body::Motion(pb::Motion {
            charter_event: first,
            opens_at_ms: t,
            closes_at_ms: t + 2 * DAY,
            ..motion(DecisionKind::LinkFederation)
        }),
    );
    assert!(matches!(
        governance_rejection(&net.outcome(&again)),
        Some(GovernanceError::InvalidMotion(s)) if s.contains("is, or was, linked")
    ));
    // A new charter for the same networks is a new federation, and links.
    let second = charter(&net, "Alliance, again");
    let sid = NetworkId(SignedEvent::decode(&second).expect("charter").id);
    assert_ne!(sid, fid);
    pass_at(
        &mut net,
        t + 1,
        pb::Motion {
            charter_event: second,
            ..motion(DecisionKind::LinkFederation)
        },
    );
    let l = net.r.state().governance().link(&sid).expect("linked");
    assert_eq!(l.left_by, None);
}

// ------------------------------------------------- witnessing proxy votes (GOVERNANCE §5.5)

#[test]
fn a_proxy_vote_is_witnessed_as_its_signer_s_ballot_so_the_appointer_may_witness_it() {
    // Practice 1: partners 102, 103; practice 2: 104, 105; practice 3: 106, 107.
    let mut net = Net::new(
        3,
        Some(pb::Deed {
            max_proxies_per_holder: 1,
            ..default_deed()
        }),
    );
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    // 104 (practice 2) appoints 102 (practice 1); 102's proxy vote follows the appointment
    // and, being of another practice, witnesses it.
    let a = net.cast_unwitnessed(104, DURING, m, appoint(m, 102));
    let pv = net.cast_unwitnessed(102, DURING + 1, m, as_proxy(m, 104, Choice::For));
    assert_eq!(net.outcome(&pv), Outcome::Applied);
    assert!(!net.unwitnessed(m, a), "the appointment counted");
    assert!(net.unwitnessed(m, pv));
    // The signer's own practice cannot witness it: not 103, not practice 1's node.
    net.event(103, DURING + 2, Body::Witness(pb::Witness {}));
    net.event(1, DURING + 2, Body::Witness(pb::Witness {}));
    assert!(
        net.unwitnessed(m, pv),
        "the holder's practice does not witness"
    );
    // The appointer is another partner, of another practice: their event witnesses it.
    net.event(104, DURING + 3, Body::Witness(pb::Witness {}));
    assert!(!net.unwitnessed(m, pv));
    let rec = net.r.state().governance().motion(&m).expect("motion");
    let (appointer, holder) = (key(104).public(), key(102).public());
    assert_eq!(rec.votes.by_proxy.get(&appointer), Some(&holder));
    assert_eq!(rec.votes.ballots.get(&appointer).map(|b| b.0), Some(pv));
}

// ------------------------------------------- declaring an interest twice (GOVERNANCE §4.2)

fn declare(motion: EventId) -> Body {
    Body::Ballot(pb::Ballot {
        motion: motion.as_bytes().to_vec(),
        choice: Choice::DeclareInterest as i32,
        statement: "my spouse works there".into(),
        ..Default::default()
    })
}

#[test]
fn a_second_declaration_of_interest_is_refused_if_it_recuses_and_otherwise_replaces_the_first() {
    // Under a rule that recuses: the first recuses, the second is refused like any later
    // ballot by a recused partner.
    let mut net = Net::new(3, Some(default_deed()));
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    let d1 = net.cast(103, DURING, m, declare(m));
    assert_eq!(net.outcome(&d1), Outcome::Applied);
    let d2 = net.cast(103, DURING + 1, m, declare(m));
    assert_eq!(
        governance_rejection(&net.outcome(&d2)),
        Some(&GovernanceError::Recused)
    );
    let rec = net.r.state().governance().motion(&m).expect("motion");
    assert_eq!(rec.votes.declared.get(&key(103).public()), Some(&d1));

    // Under a rule that does not: both apply, the later is the one recorded, and the
    // partner still votes.
    let mut net = Net::new(
        3,
        Some(deed_with(DecisionKind::General, |r| {
            r.interest_recuses = false
        })),
    );
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    let d1 = net.cast(103, DURING, m, declare(m));
    let d2 = net.cast(103, DURING + 1, m, declare(m));
    assert_eq!(
        (net.outcome(&d1), net.outcome(&d2)),
        (Outcome::Applied, Outcome::Applied)
    );
    let v = net.vote(103, DURING + 2, m, Choice::For);
    assert_eq!(net.outcome(&v), Outcome::Applied);
    let rec = net.r.state().governance().motion(&m).expect("motion");
    assert_eq!(rec.votes.declared.get(&key(103).public()), Some(&d2));
    assert_eq!(rec.votes.declared.len(), 1);
    let t = net.tally(&m);
    assert_eq!((t.electorate, t.recused, t.votes_for), (6, 0, 1));
}

// --------------------------------------------------- recusal on REPLACE_KEY (GOVERNANCE §3.3)

#[test]
fn replace_key_recuses_a_partner_subject_and_no_one_for_a_practice_subject() {
    let mut net = Net::new(3, None);
    let partner = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            subject_key: pk(104),
            replacement_key: pk(777),
            ..motion(DecisionKind::ReplaceKey)
        },
    );
    let practice = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            // Practice 2's node key.
            subject_key: pk(2),
            replacement_key: pk(778),
            ..motion(DecisionKind::ReplaceKey)
        },
    );
    let t = net.tally(&partner);
    assert_eq!((t.electorate, t.recused), (5, 1));
    let refused = net.vote(104, DURING, partner, Choice::For);
    assert_eq!(
        governance_rejection(&net.outcome(&refused)),
        Some(&GovernanceError::Recused)
    );
    let t = net.tally(&practice);
    assert_eq!((t.electorate, t.recused), (6, 0));
    for p in [104, 105] {
        let v = net.vote(p, DURING, practice, Choice::For);
        assert_eq!(
            net.outcome(&v),
            Outcome::Applied,
            "partner {p} of that practice votes"
        );
    }
    // A deed whose REPLACE_KEY rule does not recuse: the partner subject votes too.
    let mut net = Net::new(
        3,
        Some(deed_with(DecisionKind::ReplaceKey, |r| {
            r.subject_recuses = false
        })),
    );
    let m = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            subject_key: pk(104),
            replacement_key: pk(777),
            ..motion(DecisionKind::ReplaceKey)
        },
    );
    assert_eq!(net.tally(&m).recused, 0);
}
