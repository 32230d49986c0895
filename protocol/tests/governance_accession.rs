//! Accession to the partnership's agreement (docs/GOVERNANCE.md §8.1): when the deed
//! names an agreement, a partner admitted later — by ADMIT_PARTNER, or as a first partner
//! of a practice admitted by ADMIT_PRACTICE — is pending until they sign an accession to
//! the agreement in force, with their own key. Pending, they neither propose, vote nor
//! stand; a deed without an agreement admits partners active, as before.

use crate::common;
use crate::governance_common;

use common::key;
use governance_common::*;
use mutual_proto::v1 as pb;
use mutual_protocol::event::Body;
use mutual_protocol::governance::deed::default_deed;
use mutual_protocol::membership::Status;
use mutual_protocol::state::{Outcome, Rejection};
use pb::{Choice, DecisionKind};

const AGREEMENT: [u8; 32] = [0xA6; 32];
const LATER: u64 = common::T0 + 5 * DAY;

fn deed_with_agreement() -> pb::Deed {
    pb::Deed {
        agreement_hash: AGREEMENT.to_vec(),
        ..default_deed()
    }
}

fn later(kind: DecisionKind) -> pb::Motion {
    pb::Motion {
        opens_at_ms: LATER,
        closes_at_ms: LATER + 2 * DAY,
        ..motion(kind)
    }
}

fn accession(hash: &[u8]) -> Body {
    Body::Accession(pb::Accession {
        agreement_hash: hash.to_vec(),
    })
}

/// Admits partner `n` to practice 1 by a vote of every founding partner.
fn admit(net: &mut Net, n: u32) {
    let m = propose_admission(net, n, motion(DecisionKind::AdmitPartner));
    for p in [102, 103, 104, 105] {
        net.vote(p, DURING, m, Choice::For);
    }
    close(net, &m);
}

fn status(net: &Net, n: u32) -> Option<Status> {
    net.r
        .state()
        .membership()
        .partner(&key(n).public())
        .map(|p| p.status)
}

#[test]
fn an_admitted_partner_votes_only_after_acceding_to_the_agreement_in_force() {
    let mut net = Net::new(2, Some(deed_with_agreement()));
    admit(&mut net, 150);
    assert_eq!(status(&net, 150), Some(Status::Pending));

    // Pending: proposing is refused, and the electorate of a motion opened now leaves
    // them out.
    let refused = net.event(150, LATER - 10, Body::Motion(later(DecisionKind::General)));
    assert_eq!(
        net.outcome(&refused),
        Outcome::Rejected(Rejection::NotActive)
    );
    let before = net.propose(102, LATER, later(DecisionKind::General));
    let v = net.vote(150, LATER + 1, before, Choice::For);
    assert!(
        matches!(net.outcome(&v), Outcome::Rejected(_)),
        "no vote yet"
    );

    // An accession to another agreement, or by a partner not pending, is rejected.
    let wrong = net.event(150, LATER + 2, accession(&[0x01; 32]));
    assert!(matches!(
        net.outcome(&wrong),
        Outcome::Rejected(Rejection::Unauthorised(_))
    ));
    let founder = net.event(102, LATER + 3, accession(&AGREEMENT));
    assert!(matches!(
        net.outcome(&founder),
        Outcome::Rejected(Rejection::Unauthorised(_))
    ));
    assert_eq!(status(&net, 150), Some(Status::Pending));

    // The accession to the agreement in force makes them a partner who votes.
    let ok = net.event(150, LATER + 4, accession(&AGREEMENT));
    assert_eq!(net.outcome(&ok), Outcome::Applied);
    assert_eq!(status(&net, 150), Some(Status::Active));
    let after = net.propose(102, LATER + 5, later(DecisionKind::General));
    let v = net.vote(150, LATER + 6, after, Choice::For);
    assert_eq!(net.outcome(&v), Outcome::Applied);
    assert_eq!(net.tally(&after).votes_for, 1);
    // Acceding twice is refused.
    let again = net.event(150, LATER + 7, accession(&AGREEMENT));
    assert!(matches!(
        net.outcome(&again),
        Outcome::Rejected(Rejection::Unauthorised(_))
    ));
}

#[test]
fn without_an_agreement_an_admitted_partner_is_active_at_once() {
    let mut net = Net::new(2, Some(default_deed()));
    admit(&mut net, 150);
    assert_eq!(status(&net, 150), Some(Status::Active));
    let a = net.event(150, LATER, accession(&AGREEMENT));
    assert!(
        matches!(net.outcome(&a), Outcome::Rejected(_)),
        "nothing to accede to"
    );
}

/// The practice an admit-practice motion admits (node key 9).
fn parkview() -> pb::Practice {
    pb::Practice {
        name: "Parkview".into(),
        ods_code: "P99999".into(),
        locality: "South".into(),
        list_size: 7000,
        node_key: pk(9),
    }
}

/// First partner `n` of the practice admitted (its ODS code left for the effect to set).
fn first(n: u32) -> pb::Partner {
    pb::Partner {
        name: format!("Dr {n}"),
        practice_ods: String::new(),
        role: pb::PartnerRole::Partner as i32,
        key: pk(n),
    }
}

#[test]
fn a_practice_is_admitted_with_its_first_partners_pending() {
    let mut net = Net::new(2, Some(deed_with_agreement()));
    let practice = parkview();
    // A first partner whose key is used twice, or named on another kind, is refused.
    let twice = net.event(
        102,
        PROPOSED - 2,
        Body::Motion(pb::Motion {
            admit_practice: Some(practice.clone()),
            first_partners: vec![first(160), first(160)],
            ..motion(DecisionKind::AdmitPractice)
        }),
    );
    assert!(matches!(net.outcome(&twice), Outcome::Rejected(_)));
    let elsewhere = net.event(
        102,
        PROPOSED - 1,
        Body::Motion(pb::Motion {
            first_partners: vec![first(160)],
            ..motion(DecisionKind::General)
        }),
    );
    assert!(matches!(net.outcome(&elsewhere), Outcome::Rejected(_)));

    let m = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            admit_practice: Some(practice),
            first_partners: vec![first(160), first(161)],
            ..motion(DecisionKind::AdmitPractice)
        },
    );
    for p in [102, 103, 104, 105] {
        net.vote(p, DURING, m, Choice::For);
    }
    close(&mut net, &m);
    for n in [160, 161] {
        assert_eq!(status(&net, n), Some(Status::Pending));
        let p = net
            .r
            .state()
            .membership()
            .partner(&key(n).public())
            .expect("partner")
            .partner
            .clone();
        assert_eq!(
            p.practice_ods, "P99999",
            "they belong to the practice admitted"
        );
    }
    let ok = net.event(160, LATER, accession(&AGREEMENT));
    assert_eq!(net.outcome(&ok), Outcome::Applied);
    assert_eq!(status(&net, 160), Some(Status::Active));
    assert_eq!(status(&net, 161), Some(Status::Pending));
}

#[test]
fn a_pending_partner_may_resign_and_leaves_with_their_practice() {
    let mut net = Net::new(2, Some(deed_with_agreement()));
    let a = propose_admission(&mut net, 150, motion(DecisionKind::AdmitPartner));
    let b = propose_admission(&mut net, 151, motion(DecisionKind::AdmitPartner));
    for m in [a, b] {
        for p in [102, 103, 104, 105] {
            net.vote(p, DURING, m, Choice::For);
        }
    }
    close(&mut net, &a);
    assert_eq!(status(&net, 151), Some(Status::Pending));
    let r = net.event(
        150,
        LATER,
        Body::PartnerResign(pb::PartnerResign::default()),
    );
    assert_eq!(net.outcome(&r), Outcome::Applied);
    assert_eq!(status(&net, 150), Some(Status::Left));
    // Practice 1 leaves: its pending partner leaves with it.
    let leave = net.event(
        1,
        LATER + 1,
        Body::PracticeLeave(pb::PracticeLeave::default()),
    );
    assert_eq!(net.outcome(&leave), Outcome::Applied);
    assert_eq!(status(&net, 151), Some(Status::Left));
}

#[test]
fn an_amendment_that_names_no_agreement_makes_pending_partners_active() {
    let mut net = Net::new(2, Some(deed_with_agreement()));
    admit(&mut net, 150);
    assert_eq!(status(&net, 150), Some(Status::Pending));
    let m = net.propose(
        102,
        LATER,
        pb::Motion {
            new_deed: Some(default_deed()),
            ..later(DecisionKind::AmendDeed)
        },
    );
    for p in [102, 103, 104, 105] {
        net.vote(p, LATER + DAY, m, Choice::For);
    }
    // A practice node's event after the close and the grace period closes it.
    net.event(2, LATER + 4 * DAY, Body::Witness(pb::Witness {}));
    assert!(net.closed(&m), "closed");
    assert_eq!(status(&net, 150), Some(Status::Active));
}

#[test]
fn a_first_partner_whose_key_was_taken_is_left_out_and_the_rest_admitted() {
    let mut net = Net::new(2, Some(default_deed()));
    let practice = parkview();
    let m = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            admit_practice: Some(practice),
            first_partners: vec![first(160), first(161)],
            ..motion(DecisionKind::AdmitPractice)
        },
    );
    // Meanwhile 160's key is admitted to practice 1 by a motion that closes first.
    let other = propose_admission(
        &mut net,
        160,
        pb::Motion {
            closes_at_ms: common::T0 + 2 * DAY + DAY / 2,
            ..motion(DecisionKind::AdmitPartner)
        },
    );
    for id in [other, m] {
        for p in [102, 103, 104, 105] {
            net.vote(p, DURING, id, Choice::For);
        }
    }
    close(&mut net, &m);
    assert!(net.closed(&other));
    let ms = net.r.state().membership();
    assert!(ms.practice("P99999").is_some(), "the practice is admitted");
    let p161 = ms.partner(&key(161).public()).expect("161 admitted");
    assert_eq!(p161.partner.practice_ods, "P99999");
    let p160 = ms.partner(&key(160).public()).expect("160");
    assert_eq!(
        p160.partner.practice_ods,
        common::practice(1).ods_code,
        "160 stays where it was admitted first"
    );
}

/// Proposes admitting partner `n` to practice 1 with `base` (its window).
fn propose_admission(net: &mut Net, n: u32, base: pb::Motion) -> mutual_protocol::id::EventId {
    net.propose(
        103,
        PROPOSED,
        pb::Motion {
            admit_partner: Some(pb::Partner {
                name: format!("Dr {n}"),
                practice_ods: common::practice(1).ods_code,
                role: pb::PartnerRole::Partner as i32,
                key: pk(n),
            }),
            ..base
        },
    )
}
