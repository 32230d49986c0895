//! Who signs what commits a practice to mutual aid (docs/AID.md §3.1): under the deed's
//! `aid_signers`, offers, acceptances and countersignatures are signed by the practice's
//! node (NODE, the default), by a partner of the practice who is not an associate
//! (PARTNERS), or by a managing partner (MANAGING_PARTNERS); a partner acts for their own
//! practice.

use crate::aid_common;
use crate::common;

use aid_common::*;
use common::{key, partner, practice, Fixture, T0};
use mutual_proto::v1 as pb;
use mutual_protocol::aid::AidError;
use mutual_protocol::event::FeedWriter;
use mutual_protocol::id::NetworkId;
use mutual_protocol::state::Outcome;
use std::collections::HashMap;

fn deed(signers: pb::AidSigners) -> Option<pb::Deed> {
    Some(pb::Deed {
        aid_signers: signers as i32,
        ..Default::default()
    })
}

const DAYS: u64 = 30 * DAY;

#[test]
fn under_partners_a_partner_commits_their_practice_and_its_node_does_not() {
    // Practices 1 and 2; partners 102, 103 (practice 1) and 104, 105 (practice 2).
    let mut net = Net::with_deed(2, deed(pb::AidSigners::Partners));
    // A request commits no one: the node signs it.
    let req = net.request(1, &[(3, "AM"), (4, "AM")], DAYS);
    net.assert_applied(&req);
    // Practice 2's node may not offer; its partner does, for practice 2.
    let by_node = net.offer(2, &req, &[(3, "AM")]);
    assert!(matches!(
        net.aid_error(&by_node),
        AidError::SignerNotAllowed(_)
    ));
    let offer = net.offer(104, &req, &[(3, "AM")]);
    net.assert_applied(&offer);
    // Acceptance: not by practice 2's partner (it is not their request), nor by the node;
    // by a partner of practice 1.
    let wrong = net.accept(105, &offer, &[(3, "AM")]);
    assert!(matches!(net.outcome(&wrong), Outcome::Rejected(_)));
    let by_node = net.accept(1, &offer, &[(3, "AM")]);
    assert!(matches!(
        net.aid_error(&by_node),
        AidError::SignerNotAllowed(_)
    ));
    let acc = net.accept(103, &offer, &[(3, "AM")]);
    net.assert_applied(&acc);
    let by_node = net.countersign(2, &acc);
    assert!(matches!(
        net.aid_error(&by_node),
        AidError::SignerNotAllowed(_)
    ));
    let cs = net.countersign(105, &acc);
    net.assert_applied(&cs);
    // What does not commit the practice may still come from its node.
    let f = net.fulfil(1, &acc);
    net.assert_applied(&f);
}

#[test]
fn under_node_a_partner_makes_no_aid_event() {
    let mut net = Net::with_deed(2, deed(pb::AidSigners::Node));
    let req = net.request(102, &[(3, "AM")], DAYS);
    assert!(matches!(net.aid_error(&req), AidError::NotAPractice));
    let req = net.request(1, &[(3, "AM")], DAYS);
    let offer = net.offer(2, &req, &[(3, "AM")]);
    net.assert_applied(&offer);
}

#[test]
fn under_managing_partners_only_a_managing_partner_commits_the_practice() {
    let mut partners: Vec<pb::Partner> = [102, 103, 104, 105]
        .iter()
        .map(|&k| partner(k, (k - 100) / 2))
        .collect();
    partners[2].role = pb::PartnerRole::Managing as i32; // 104, practice 2
    partners[3].role = pb::PartnerRole::Associate as i32; // 105, practice 2
    let g = pb::Genesis {
        name: "Managed".into(),
        practices: vec![practice(1), practice(2)],
        partners,
        deed: deed(pb::AidSigners::ManagingPartners),
        nonce: vec![9; 16],
    };
    let (founder, genesis) = FeedWriter::found(key(1), T0, g);
    let fx = Fixture {
        network: NetworkId(genesis.id),
        genesis,
        practices: vec![1, 2],
        partners: vec![102, 103, 104, 105],
    };
    let r = fx.replica();
    let wires = vec![fx.genesis.to_wire()];
    let mut net = Net {
        fx,
        r,
        writers: HashMap::from([(1, founder)]),
        wires,
        t: T0,
    };
    let req = net.request(1, &[(3, "AM"), (4, "PM")], DAYS);
    // 105, practice 2's associate, does not commit it; 104, its managing partner, does.
    let e = net.offer(105, &req, &[(3, "AM")]);
    assert!(matches!(net.aid_error(&e), AidError::SignerNotAllowed(_)));
    let offer = net.offer(104, &req, &[(3, "AM")]);
    net.assert_applied(&offer);
    // Practice 1 has no managing partner: its ordinary partner cannot accept.
    let e = net.accept(102, &offer, &[(3, "AM")]);
    assert!(matches!(net.aid_error(&e), AidError::SignerNotAllowed(_)));
}
