//! Invariant 3, authorisation by the rules: well-signed but unauthorised events are kept
//! as evidence with a reason and change nothing. Also key rotation and revocation, and
//! invariant 5, equivocation.

use crate::common;

use common::{key, rotation, update, Fixture, T0};
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, FeedWriter, SignedEvent};
use mutual_protocol::fork::EquivocationProof;
use mutual_protocol::membership::{rotation_message, Status};
use mutual_protocol::replica::Ingested;
use mutual_protocol::signature::ROTATE_DOMAIN;
use mutual_protocol::state::{Outcome, Rejection};

fn list_size(r: &mutual_protocol::replica::Replica, ods: &str) -> Option<u32> {
    r.state()
        .membership()
        .practice(ods)
        .map(|p| p.practice.list_size)
}

#[test]
fn a_strangers_event_is_kept_as_evidence_and_changes_nothing() {
    let (fx, _) = Fixture::new(2);
    let mut r = fx.replica();
    let before = r.state().membership().clone();
    let mut stranger = fx.writer(77);
    let ev = stranger.sign(T0 + 1, vec![], update(1));
    assert!(matches!(
        r.ingest(T0 + 2, &ev.to_wire()),
        Ok(Ingested::Stored { .. })
    ));
    assert!(r.get(&ev.id).is_some(), "kept as evidence");
    assert_eq!(
        r.outcome(&ev.id),
        Some(&Outcome::Rejected(Rejection::NotAMember))
    );
    assert_eq!(r.state().membership(), &before);
}

#[test]
fn a_partner_cannot_make_practice_events() {
    let (fx, _) = Fixture::new(2);
    let mut r = fx.replica();
    let mut partner = fx.writer(fx.partners[0]);
    let ev = partner.sign(T0 + 1, vec![], update(1));
    r.ingest(T0 + 2, &ev.to_wire()).expect("stored");
    assert!(matches!(
        r.outcome(&ev.id),
        Some(Outcome::Rejected(Rejection::Unauthorised(_)))
    ));
    assert_eq!(list_size(&r, "M85001"), Some(8001));
}

#[test]
fn key_rotation_moves_the_member_to_the_new_key() {
    let (fx, mut w) = Fixture::new(2);
    let mut r = fx.replica();
    let new = key(555);
    let rot = w.sign(
        T0 + 1,
        vec![],
        rotation(&fx.network, &key(1).public(), &new),
    );
    r.ingest(T0 + 2, &rot.to_wire()).expect("stored");
    assert_eq!(r.outcome(&rot.id), Some(&Outcome::Applied));
    // The old key's later events have no effect; the new key's do.
    let old = w.sign(T0 + 3, vec![], update(1111));
    r.ingest(T0 + 4, &old.to_wire()).expect("stored");
    assert_eq!(
        r.outcome(&old.id),
        Some(&Outcome::Rejected(Rejection::KeyRetired))
    );
    let mut nw = FeedWriter::resume(key(555), fx.network, None);
    let fresh = nw.sign(T0 + 5, vec![rot.id], update(2222));
    r.ingest(T0 + 6, &fresh.to_wire()).expect("stored");
    assert_eq!(r.outcome(&fresh.id), Some(&Outcome::Applied));
    assert_eq!(list_size(&r, "M85001"), Some(2222));

    // A rotation whose proof is signed by the wrong key does nothing.
    let mut w2 = fx.writer(2);
    let bad = w2.sign(
        T0 + 7,
        vec![],
        Body::KeyRotation(pb::KeyRotation {
            new_key: key(556).public().as_bytes().to_vec(),
            new_key_signature: key(557)
                .sign(
                    ROTATE_DOMAIN,
                    &rotation_message(&fx.network, &key(2).public()),
                )
                .to_vec(),
        }),
    );
    r.ingest(T0 + 8, &bad.to_wire()).expect("stored");
    assert!(matches!(
        r.outcome(&bad.id),
        Some(Outcome::Rejected(Rejection::Conflict(_)))
    ));
    // Rotating onto a key already in use does nothing either.
    let taken = key(fx.partners[0]);
    let clash = w2.sign(
        T0 + 9,
        vec![],
        rotation(&fx.network, &key(2).public(), &taken),
    );
    r.ingest(T0 + 10, &clash.to_wire()).expect("stored");
    assert!(matches!(
        r.outcome(&clash.id),
        Some(Outcome::Rejected(Rejection::Conflict(_)))
    ));
}

#[test]
fn a_practice_can_revoke_its_own_partners_key_but_not_anothers() {
    let (fx, mut w1) = Fixture::new(2);
    let mut r = fx.replica();
    let (own, other) = (fx.partners[0], fx.partners[2]);
    let revoke = |k: u32| {
        Body::KeyRevocation(pb::KeyRevocation {
            key: key(k).public().as_bytes().to_vec(),
            reason: "laptop stolen".into(),
        })
    };
    let denied = w1.sign(T0 + 1, vec![], revoke(other));
    r.ingest(T0 + 2, &denied.to_wire()).expect("stored");
    assert!(matches!(
        r.outcome(&denied.id),
        Some(Outcome::Rejected(Rejection::Unauthorised(_)))
    ));
    let ok = w1.sign(T0 + 3, vec![], revoke(own));
    r.ingest(T0 + 4, &ok.to_wire()).expect("stored");
    assert_eq!(r.outcome(&ok.id), Some(&Outcome::Applied));
    // The revoked key now counts for nothing, even for events it signs "earlier" in time
    // but after the revocation in causal order.
    let mut pw = fx.writer(own);
    let late = pw.sign(
        T0 + 5,
        vec![ok.id],
        Body::PartnerResign(pb::PartnerResign::default()),
    );
    r.ingest(T0 + 6, &late.to_wire()).expect("stored");
    assert_eq!(
        r.outcome(&late.id),
        Some(&Outcome::Rejected(Rejection::KeyRetired))
    );
}

#[test]
fn a_practice_leaving_takes_its_partners_with_it() {
    let (fx, mut w1) = Fixture::new(2);
    let mut r = fx.replica();
    let leave = w1.sign(
        T0 + 1,
        vec![],
        Body::PracticeLeave(pb::PracticeLeave {
            reason: "merger".into(),
        }),
    );
    r.ingest(T0 + 2, &leave.to_wire()).expect("stored");
    let m = r.state().membership();
    assert_eq!(m.practice("M85001").map(|p| p.status), Some(Status::Left));
    let partner = m.partner(&key(fx.partners[0]).public()).expect("partner");
    assert_eq!(partner.status, Status::Left);
    let after = w1.sign(T0 + 3, vec![], update(5));
    r.ingest(T0 + 4, &after.to_wire()).expect("stored");
    assert_eq!(
        r.outcome(&after.id),
        Some(&Outcome::Rejected(Rejection::NotActive))
    );
}

#[test]
fn an_invalid_genesis_founds_nothing() {
    let writer_key = key(1);
    let g = pb::Genesis {
        name: "Bad".into(),
        practices: vec![common::practice(2)],
        ..Default::default()
    };
    // Signed by a key that is not a founding practice's.
    let (_, genesis) = FeedWriter::found(writer_key, T0, g);
    let mut r = mutual_protocol::replica::Replica::new(mutual_protocol::id::NetworkId(genesis.id));
    r.ingest(T0, &genesis.to_wire()).expect("stored");
    assert!(matches!(
        r.outcome(&genesis.id),
        Some(Outcome::Rejected(Rejection::InvalidGenesis(_)))
    ));
    assert!(!r.state().is_founded());
}

/// Practice 2's feed forked at seq 2: `base` (seq 1), then `left` from its own writer and
/// `right` from a twin resumed after `base`; both writers go on signing.
struct Forked {
    fx: Fixture,
    honest: FeedWriter,
    twin: FeedWriter,
    base: SignedEvent,
    left: SignedEvent,
    right: SignedEvent,
}

fn forked() -> Forked {
    let (fx, _) = Fixture::new(2);
    let mut honest = fx.writer(2);
    let base = honest.sign(T0 + 1, vec![], update(10));
    let mut twin = FeedWriter::resume(key(2), fx.network, Some((1, base.id)));
    let left = honest.sign(T0 + 2, vec![], update(20));
    let right = twin.sign(T0 + 2, vec![], update(30));
    Forked {
        fx,
        honest,
        twin,
        base,
        left,
        right,
    }
}

#[test]
fn equivocation_is_detected_proven_and_voids_the_fork_everywhere() {
    let Forked {
        fx,
        mut honest,
        base,
        left,
        right,
        ..
    } = forked();
    let after = honest.sign(T0 + 3, vec![], update(40));
    let wires: Vec<Vec<u8>> = [&base, &left, &right, &after]
        .iter()
        .map(|e| e.to_wire())
        .collect();

    let mut a = fx.replica();
    let mut b = fx.replica();
    for w in &wires {
        a.ingest(T0 + 9, w).expect("a");
    }
    for w in wires.iter().rev() {
        b.ingest(T0 + 9, w).expect("b");
    }
    for r in [&a, &b] {
        assert_eq!(r.forks().get(&key(2).public()), Some(&2));
        assert_eq!(r.outcome(&base.id), Some(&Outcome::Applied));
        for ev in [&left, &right, &after] {
            assert_eq!(
                r.outcome(&ev.id),
                Some(&Outcome::Rejected(Rejection::Forked { seq: 2 }))
            );
        }
        // Only the event before the fork took effect.
        assert_eq!(
            r.state()
                .membership()
                .practice("M85002")
                .map(|p| p.practice.list_size),
            Some(10)
        );
    }
    assert_eq!(a.state_hash(), b.state_hash());

    // The proof travels as bytes and checks out anywhere.
    let bytes = a.fork_proof(&key(2).public()).expect("proof").encode();
    let proof = EquivocationProof::decode(&bytes).expect("decodes");
    assert_eq!(
        proof.verify().map(|(k, s, _)| (k, s)),
        Ok((key(2).public(), 2))
    );
    // Two copies of one event, or events of different seq, prove nothing.
    let same = EquivocationProof {
        first: left.clone(),
        second: left.clone(),
    };
    assert!(same.verify().is_err());
    let unrelated = EquivocationProof {
        first: base.clone(),
        second: left.clone(),
    };
    assert!(unrelated.verify().is_err());
}

/// A twin that goes on signing after the fork: its next event follows the second event
/// stored at the forked seq, and is stored, in whatever order the five events arrive.
#[test]
fn a_fork_extended_past_the_forked_seq_is_stored_in_any_order() {
    let Forked {
        fx,
        mut honest,
        mut twin,
        base,
        left,
        right,
    } = forked();
    let right_next = twin.sign(T0 + 3, vec![], update(31));
    let after = honest.sign(T0 + 3, vec![], update(40));
    assert_eq!(right_next.event.prev, Some(right.id));
    let orders: [[&SignedEvent; 5]; 3] = [
        [&base, &left, &right, &right_next, &after],
        [&base, &right, &right_next, &left, &after],
        [&after, &right_next, &right, &left, &base],
    ];
    let mut hashes = Vec::new();
    for order in orders {
        let mut r = fx.replica();
        for ev in order {
            r.ingest(T0 + 9, &ev.to_wire()).expect("taken in");
        }
        assert_eq!(r.pending_len(), 0);
        for ev in [&base, &left, &right, &right_next, &after] {
            assert!(r.contains(&ev.id), "every event is stored");
        }
        assert_eq!(r.forks().get(&key(2).public()), Some(&2));
        assert_eq!(r.feed_keys_from(&key(2).public(), 1).count(), 5);
        assert_eq!(r.feed_head(&key(2).public()).map(|(seq, _)| seq), Some(3));
        hashes.push(r.state_hash());
    }
    assert!(hashes.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn a_leaving_practice_s_addresses_are_forgotten() {
    let (fx, mut w1) = Fixture::new(2);
    let mut r = fx.replica();
    let ann = w1.sign(
        T0 + 1,
        vec![],
        Body::AddressAnnouncement(pb::AddressAnnouncement {
            addresses: vec!["/ip4/127.0.0.1/tcp/4001".into()],
        }),
    );
    r.ingest(T0 + 2, &ann.to_wire()).expect("stored");
    assert_eq!(r.state().addresses().count(), 1);
    let leave = w1.sign(
        T0 + 3,
        vec![],
        Body::PracticeLeave(pb::PracticeLeave::default()),
    );
    r.ingest(T0 + 4, &leave.to_wire()).expect("stored");
    assert_eq!(r.state().addresses().count(), 0);
}
