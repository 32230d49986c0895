//! The decoding and body-shape rules of docs/PROTOCOL.md §2.4, §5.3 and §5.4 that an
//! outsider could otherwise settle only by running a node: nesting depth, end-group
//! mismatches, keys over 2^32 − 1, which body numbers this version knows, and the shape
//! rules of `Motion.federation`, `Motion.joint_motion`, `Motion.charter_event` and
//! `CharterNetwork`.

use crate::common;

use common::{key, Fixture, T0};
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, EventError, SignedEvent};
use mutual_protocol::keys::Keypair;
use mutual_protocol::limits::{MAX_EVIDENCE_EVENTS, MAX_LIST_LEN, MAX_NAME_BYTES};
use mutual_protocol::replica::{Ingested, Replica};
use mutual_protocol::signature::EVENT_DOMAIN;
use mutual_protocol::state::{NoEffect, Outcome};
use prost::Message;

/// The header of a valid first event by key 2 in `fx`'s network (the genesis in deps), with
/// no body: what the tests append raw fields to.
fn header(fx: &Fixture) -> Vec<u8> {
    pb::Event {
        network: fx.network.as_bytes().to_vec(),
        author: key(2).public().as_bytes().to_vec(),
        seq: 1,
        prev: vec![],
        deps: vec![fx.genesis.id.as_bytes().to_vec()],
        timestamp_ms: T0 + 1,
        body: None,
    }
    .encode_to_vec()
}

/// `event` bytes as signed by `kp`, in the canonical wrapper.
fn wrap(kp: &Keypair, event: &[u8]) -> Vec<u8> {
    pb::SignedEvent {
        event: event.to_vec(),
        signature: kp.sign(EVENT_DOMAIN, event).to_vec(),
    }
    .encode_to_vec()
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A field key: number × 8 + wire type, as a varint.
fn field_key(number: u64, wire_type: u64, out: &mut Vec<u8>) {
    varint((number << 3) | wire_type, out);
}

/// `depth` groups numbered `number`, each inside the previous one, all empty inside.
fn nested_groups(number: u64, depth: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..depth {
        field_key(number, 3, &mut out);
    }
    for _ in 0..depth {
        field_key(number, 4, &mut out);
    }
    out
}

fn malformed(wire: &[u8]) -> String {
    match SignedEvent::decode(wire) {
        Err(EventError::Malformed(s)) => s,
        other => panic!("expected a malformed event, got {other:?}"),
    }
}

/// Stores `event` (signed by key 2) in a fresh replica of `fx` and returns its outcome.
fn fold(fx: &Fixture, event: &[u8]) -> Outcome {
    let mut r: Replica = fx.replica();
    let wire = wrap(&key(2), event);
    let got = r.ingest(T0 + 10, &wire);
    assert!(matches!(got, Ok(Ingested::Stored { .. })), "{got:?}");
    let id = SignedEvent::decode(&wire).expect("valid").id;
    r.outcome(&id).cloned().expect("folded")
}

#[test]
fn fields_nested_to_depth_100_are_read_and_depth_101_is_malformed() {
    // §2.4: the Event's own fields are at depth 1; a field inside a group or message at
    // depth d is at depth d + 1. Field 7 (a reserved header number) is unknown and ignored.
    let (fx, _) = Fixture::new(2);
    let mut ok = header(&fx);
    ok.extend(nested_groups(7, 100));
    assert_eq!(fold(&fx, &ok), Outcome::NoEffect(NoEffect::UnknownBody));
    let mut deep = header(&fx);
    deep.extend(nested_groups(7, 101));
    let why = malformed(&wrap(&key(2), &deep));
    assert!(why.contains("recursion"), "{why}");

    // Known messages count as levels too: a Practice's fields sit at depth 3 (Event 1,
    // Genesis 2), so 98 nested groups inside it put the innermost at depth 100; 99 at 101.
    let genesis_with = |groups: usize| {
        let mut practice = common::practice(1).encode_to_vec();
        practice.extend(nested_groups(9, groups));
        let mut genesis = pb::Genesis {
            name: "Deep".into(),
            ..Default::default()
        }
        .encode_to_vec();
        field_key(2, 2, &mut genesis);
        varint(practice.len() as u64, &mut genesis);
        genesis.extend(practice);
        let mut event = pb::Event {
            author: key(1).public().as_bytes().to_vec(),
            seq: 1,
            timestamp_ms: T0,
            ..Default::default()
        }
        .encode_to_vec();
        field_key(16, 2, &mut event);
        varint(genesis.len() as u64, &mut event);
        event.extend(genesis);
        wrap(&key(1), &event)
    };
    let g = SignedEvent::decode(&genesis_with(98)).expect("innermost group at depth 100");
    assert!(matches!(g.event.body, Some(Body::Genesis(_))));
    malformed(&genesis_with(99));

    // The contents of a length-delimited field of unknown number are skipped as bytes,
    // never parsed: they have no depth, however they look.
    let mut opaque = header(&fx);
    let junk = nested_groups(7, 500);
    field_key(8, 2, &mut opaque);
    varint(junk.len() as u64, &mut opaque);
    opaque.extend(junk);
    assert_eq!(fold(&fx, &opaque), Outcome::NoEffect(NoEffect::UnknownBody));
}

#[test]
fn an_end_group_must_match_its_start_group_and_end_inside_its_message() {
    let (fx, _) = Fixture::new(2);
    let kp = key(2);
    // Start group 7, end group 8.
    let mut wrong = header(&fx);
    field_key(7, 3, &mut wrong);
    field_key(8, 4, &mut wrong);
    assert!(malformed(&wrap(&kp, &wrong)).contains("end group"));
    // An end group with no start.
    let mut stray = header(&fx);
    field_key(7, 4, &mut stray);
    assert!(malformed(&wrap(&kp, &stray)).contains("end group"));
    // A group never ended.
    let mut open = header(&fx);
    field_key(7, 3, &mut open);
    malformed(&wrap(&kp, &open));
    // A group started inside a body and ended after it: the group would straddle the
    // body's length.
    let mut body = Vec::new();
    field_key(9, 3, &mut body);
    let mut straddle = header(&fx);
    field_key(40, 2, &mut straddle);
    varint(body.len() as u64, &mut straddle);
    straddle.extend(body);
    field_key(9, 4, &mut straddle);
    malformed(&wrap(&kp, &straddle));
    // Matched groups are skipped like any unknown field.
    let mut matched = header(&fx);
    field_key(7, 3, &mut matched);
    field_key(1, 0, &mut matched);
    varint(5, &mut matched);
    field_key(7, 4, &mut matched);
    assert_eq!(
        fold(&fx, &matched),
        Outcome::NoEffect(NoEffect::UnknownBody)
    );
}

#[test]
fn field_numbers_run_to_2_pow_29_minus_1_and_a_key_over_2_pow_32_minus_1_is_malformed() {
    let (fx, _) = Fixture::new(2);
    // The largest field number, as a varint field: its key is 2^32 − 8. At the top level
    // it is numbered 16 or more, so it is a body (unknown to this version).
    let largest = (1u64 << 29) - 1;
    let mut ok = header(&fx);
    field_key(largest, 0, &mut ok);
    varint(1, &mut ok);
    assert_eq!(fold(&fx, &ok), Outcome::NoEffect(NoEffect::UnknownBody));
    // A second field numbered 16 or more is a second body, whatever its number.
    let mut two = ok.clone();
    field_key(largest - 1, 0, &mut two);
    varint(1, &mut two);
    assert!(malformed(&wrap(&key(2), &two)).contains("body fields"));
    // Key 2^32 (field 2^29, wire type 0) and above: malformed, also inside a group.
    for k in [1u64 << 32, (1 << 32) + 2, u64::MAX >> 1] {
        let mut over = header(&fx);
        varint(k, &mut over);
        varint(1, &mut over);
        let why = malformed(&wrap(&key(2), &over));
        assert!(why.contains("invalid key"), "{k}: {why}");
    }
    let mut inside = header(&fx);
    field_key(7, 3, &mut inside);
    varint(1 << 32, &mut inside);
    varint(1, &mut inside);
    field_key(7, 4, &mut inside);
    malformed(&wrap(&key(2), &inside));
    // Field number 0 is malformed; a non-minimal varint key is accepted.
    let mut zero = header(&fx);
    field_key(0, 0, &mut zero);
    varint(1, &mut zero);
    malformed(&wrap(&key(2), &zero));
    let mut long_key = header(&fx);
    long_key.extend([(7 << 3) | 0x80, 0x80, 0x80, 0x80, 0x00, 0x01]);
    assert_eq!(
        fold(&fx, &long_key),
        Outcome::NoEffect(NoEffect::UnknownBody)
    );
}

#[test]
fn bodies_40_to_42_are_known_and_43_is_the_first_unknown_number() {
    let (fx, _) = Fixture::new(2);
    let mut w = fx.writer(2);
    let witness = w.sign(T0 + 1, vec![], Body::Witness(pb::Witness {}));
    let got = SignedEvent::decode(&witness.to_wire()).expect("valid");
    assert!(matches!(got.event.body, Some(Body::Witness(_))));
    // 41 is FederationEvidence: known, and shape-checked (at most 32 events).
    let evidence = |n: usize| {
        Body::FederationEvidence(pb::FederationEvidence {
            network: vec![1; 32],
            events: vec![vec![0u8; 4]; n],
        })
    };
    let ev = fx
        .writer(3)
        .sign(T0 + 1, vec![], evidence(MAX_EVIDENCE_EVENTS));
    assert!(SignedEvent::decode(&ev.to_wire()).is_ok());
    let ev = fx
        .writer(3)
        .sign(T0 + 1, vec![], evidence(MAX_EVIDENCE_EVENTS + 1));
    assert!(matches!(
        SignedEvent::decode(&ev.to_wire()),
        Err(EventError::Field { .. })
    ));
    // 42 is Accession: known, and shape-checked (a 32-byte agreement hash).
    let accession = |n: usize| {
        Body::Accession(pb::Accession {
            agreement_hash: vec![7; n],
        })
    };
    let ev = fx.writer(3).sign(T0 + 1, vec![], accession(32));
    assert!(SignedEvent::decode(&ev.to_wire()).is_ok());
    for n in [0, 31, 33] {
        let ev = fx.writer(3).sign(T0 + 1, vec![], accession(n));
        assert!(
            matches!(
                SignedEvent::decode(&ev.to_wire()),
                Err(EventError::Field { .. })
            ),
            "{n} bytes"
        );
    }
    // 43: unknown, no effect, stored and folded.
    let mut unknown = header(&fx);
    field_key(43, 2, &mut unknown);
    varint(0, &mut unknown);
    assert_eq!(
        fold(&fx, &unknown),
        Outcome::NoEffect(NoEffect::UnknownBody)
    );
}

fn motion_shape(m: pb::Motion) -> Result<(), EventError> {
    mutual_protocol::event::check_body(&Body::Motion(m))
}

#[test]
fn a_motion_s_federation_and_joint_motion_are_empty_or_32_bytes() {
    for len in [0, 32] {
        assert!(motion_shape(pb::Motion {
            federation: vec![1; len],
            joint_motion: vec![2; len],
            ..Default::default()
        })
        .is_ok());
    }
    for len in [1, 31, 33] {
        let f = motion_shape(pb::Motion {
            federation: vec![1; len],
            ..Default::default()
        });
        assert!(
            matches!(
                f,
                Err(EventError::Field {
                    field: "motion.federation",
                    ..
                })
            ),
            "{f:?}"
        );
        let j = motion_shape(pb::Motion {
            joint_motion: vec![1; len],
            ..Default::default()
        });
        assert!(
            matches!(
                j,
                Err(EventError::Field {
                    field: "motion.joint_motion",
                    ..
                })
            ),
            "{j:?}"
        );
    }
    // `charter_event` is not checked at this step: the fold reads it (docs/FEDERATION.md
    // §2), and the event's own size limit bounds it.
    assert!(motion_shape(pb::Motion {
        charter_event: b"not an event".to_vec(),
        ..Default::default()
    })
    .is_ok());
}

fn member(network_len: usize) -> pb::CharterNetwork {
    pb::CharterNetwork {
        network: vec![5; network_len],
        name: "Elsewhere".into(),
        practices: vec![common::practice(3)],
        bootstrap: vec!["/ip4/127.0.0.1/tcp/1".into()],
    }
}

fn charter_shape(c: pb::FederationCharter) -> Result<(), EventError> {
    mutual_protocol::event::check_body(&Body::FederationCharter(c))
}

#[test]
fn a_charter_network_has_an_id_a_name_valid_practices_and_name_sized_addresses() {
    let charter = |m: pb::CharterNetwork| pb::FederationCharter {
        name: "Alliance".into(),
        members: vec![m],
        ..Default::default()
    };
    assert!(charter_shape(charter(member(32))).is_ok());
    for bad in [
        member(0),
        member(31),
        pb::CharterNetwork {
            name: "x".repeat(MAX_NAME_BYTES + 1),
            ..member(32)
        },
        pb::CharterNetwork {
            practices: vec![pb::Practice {
                node_key: vec![0; 32],
                ..common::practice(3)
            }],
            ..member(32)
        },
        pb::CharterNetwork {
            practices: vec![common::practice(3); MAX_LIST_LEN + 1],
            ..member(32)
        },
        pb::CharterNetwork {
            bootstrap: vec!["a".repeat(MAX_NAME_BYTES + 1)],
            ..member(32)
        },
        pb::CharterNetwork {
            bootstrap: vec![String::new(); MAX_LIST_LEN + 1],
            ..member(32)
        },
    ] {
        assert!(
            matches!(
                charter_shape(charter(bad.clone())),
                Err(EventError::Field { .. })
            ),
            "{bad:?}"
        );
    }
    // The charter's own name, and the number of networks (a list).
    assert!(charter_shape(pb::FederationCharter {
        name: "x".repeat(MAX_NAME_BYTES + 1),
        ..charter(member(32))
    })
    .is_err());
    assert!(charter_shape(pb::FederationCharter {
        members: vec![member(32); MAX_LIST_LEN + 1],
        ..charter(member(32))
    })
    .is_err());
    // Shape only: sorting, the count of 2 to 8 networks and distinct practices are the
    // fold's (docs/FEDERATION.md §2), so a charter of one network passes here.
}
