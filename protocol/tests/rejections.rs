//! Invariant 2, nothing unsigned counts: every rejection path on receipt, plus the
//! things that are not rejections (held future events, unknown body types).

use crate::common;

use common::{key, update, Fixture, T0};
use mutual_proto::v1 as pb;
use mutual_protocol::event::{EventError, FeedWriter, SignedEvent};
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::limits::{MAX_CLOCK_SKEW_MS, MAX_SIGNED_EVENT_BYTES};
use mutual_protocol::replica::{IngestError, Ingested};
use mutual_protocol::signature::EVENT_DOMAIN;
use mutual_protocol::state::{NoEffect, Outcome};
use prost::Message;

fn invalid(r: Result<Ingested, IngestError>) -> EventError {
    match r {
        Err(IngestError::Invalid(e)) => e,
        other => panic!("expected an invalid-event error, got {other:?}"),
    }
}

/// Re-signs raw event fields with `signer`, bypassing the FeedWriter's rules.
fn forge(raw: &pb::Event, signer: u32) -> Vec<u8> {
    let bytes = raw.encode_to_vec();
    let sig = key(signer).sign(EVENT_DOMAIN, &bytes);
    pb::SignedEvent {
        event: bytes,
        signature: sig.to_vec(),
    }
    .encode_to_vec()
}

fn raw_of(ev: &SignedEvent) -> pb::Event {
    pb::Event::decode(ev.event_bytes.as_slice()).expect("decodes")
}

#[test]
fn bad_signature_is_refused_and_not_stored() {
    let (fx, mut w) = Fixture::new(2);
    let mut r = fx.replica();
    let ev = w.sign(T0 + 1, vec![], update(1));
    let mut tampered = ev.clone();
    tampered.signature[10] ^= 0x01;
    let e = invalid(r.ingest(T0 + 2, &tampered.to_wire()));
    assert_eq!(e, EventError::BadSignature);
    assert!(r.get(&ev.id).is_none());
    // Signed by someone other than the claimed author.
    let forged = forge(&raw_of(&ev), 2);
    assert_eq!(invalid(r.ingest(T0 + 2, &forged)), EventError::BadSignature);
    // The genuine event still goes in afterwards.
    assert!(matches!(
        r.ingest(T0 + 2, &ev.to_wire()),
        Ok(Ingested::Stored { .. })
    ));
}

#[test]
fn wrong_network_is_refused() {
    let (fx, _) = Fixture::new(2);
    let (other, mut ow) = Fixture::new(3);
    let mut r = fx.replica();
    let ev = ow.sign(T0 + 1, vec![], update(1));
    assert!(matches!(
        invalid(r.ingest(T0 + 2, &ev.to_wire())),
        EventError::WrongNetwork { .. }
    ));
    // Another network's genesis is not ours either.
    assert!(matches!(
        invalid(r.ingest(T0 + 2, &other.genesis.to_wire())),
        EventError::NotGenesis(_)
    ));
    assert_eq!(r.len(), 1);
}

#[test]
fn broken_chains_are_refused() {
    let (fx, mut w1) = Fixture::new(2);
    let mut r = fx.replica();
    let a = w1.sign(T0 + 1, vec![], update(1));
    r.ingest(T0 + 2, &a.to_wire()).expect("a");
    // prev points at someone else's event.
    let mut w2 = fx.writer(2);
    let b = w2.sign(T0 + 1, vec![], update(2));
    r.ingest(T0 + 2, &b.to_wire()).expect("b");
    let mut raw = raw_of(&a);
    raw.seq = a.event.seq + 1;
    raw.prev = b.id.as_bytes().to_vec();
    raw.body = Some(pb::event::Body::PracticeUpdate(
        pb::PracticeUpdate::default(),
    ));
    assert!(matches!(
        invalid(r.ingest(T0 + 3, &forge(&raw, 1))),
        EventError::BrokenChain(_)
    ));
    // prev is the author's own event, but seq skips one.
    let mut raw = raw_of(&a);
    raw.seq = a.event.seq + 2;
    raw.prev = a.id.as_bytes().to_vec();
    assert!(matches!(
        invalid(r.ingest(T0 + 3, &forge(&raw, 1))),
        EventError::BrokenChain(_)
    ));
    // seq 2 without prev; seq 1 with prev; seq 0.
    let mut raw = raw_of(&a);
    raw.seq = a.event.seq + 1;
    raw.prev = vec![];
    assert!(matches!(
        invalid(r.ingest(T0 + 3, &forge(&raw, 1))),
        EventError::Field { field: "prev", .. }
    ));
    let mut raw = raw_of(&a);
    raw.prev = a.id.as_bytes().to_vec();
    raw.seq = 1;
    assert!(matches!(
        invalid(r.ingest(T0 + 3, &forge(&raw, 1))),
        EventError::Field { field: "prev", .. }
    ));
    let mut raw = raw_of(&a);
    raw.seq = 0;
    assert!(matches!(
        invalid(r.ingest(T0 + 3, &forge(&raw, 1))),
        EventError::Field { field: "seq", .. }
    ));
    // A first event that does not follow the genesis.
    let mut w3 = FeedWriter::resume(key(3), fx.network, None);
    let c = w3.sign(T0 + 1, vec![], update(3));
    let mut raw = raw_of(&c);
    raw.deps = vec![a.id.as_bytes().to_vec()];
    assert!(matches!(
        invalid(r.ingest(T0 + 3, &forge(&raw, 3))),
        EventError::BrokenChain(_)
    ));
    assert_eq!(r.len(), 3);
}

#[test]
fn a_cause_timestamped_later_is_refused() {
    let (fx, mut w1) = Fixture::new(2);
    let mut r = fx.replica();
    let a = w1.sign(T0 + 10_000, vec![], update(1));
    r.ingest(T0 + 20_000, &a.to_wire()).expect("a");
    // Backdated below its prev.
    let b = w1.sign(T0 + 5_000, vec![], update(2));
    assert!(matches!(
        invalid(r.ingest(T0 + 20_000, &b.to_wire())),
        EventError::TimestampBeforeCause { .. }
    ));
}

#[test]
fn oversized_and_malformed_bytes_are_refused() {
    let (fx, mut w) = Fixture::new(1);
    let mut r = fx.replica();
    let big = w.sign(
        T0 + 1,
        vec![],
        mutual_protocol::event::Body::PracticeLeave(pb::PracticeLeave {
            reason: "x".repeat(MAX_SIGNED_EVENT_BYTES),
        }),
    );
    assert!(matches!(
        invalid(r.ingest(T0 + 2, &big.to_wire())),
        EventError::TooLarge { .. }
    ));
    for garbage in [
        &b"\xff\xff\xff\xff"[..],
        b"",
        b"\x0a\x05abc",
        &[0x12, 0x02, 1, 2],
    ] {
        let e = invalid(r.ingest(T0 + 2, garbage));
        assert!(
            matches!(e, EventError::Malformed(_) | EventError::Field { .. }),
            "{e:?}"
        );
    }
    // Well-formed protobuf whose author is not a key.
    let mut raw = raw_of(&w.sign(T0 + 1, vec![], update(1)));
    raw.author = vec![1, 2, 3];
    assert!(matches!(
        invalid(r.ingest(T0 + 2, &forge(&raw, 1))),
        EventError::Field {
            field: "author",
            ..
        }
    ));
    assert_eq!(r.len(), 1);
}

#[test]
fn a_future_event_is_held_then_applied() {
    let (fx, mut w) = Fixture::new(1);
    let mut r = fx.replica();
    let at = T0 + 3_600_000;
    let ev = w.sign(at, vec![], update(4242));
    let now = T0 + 1_000;
    assert_eq!(
        r.ingest(now, &ev.to_wire()),
        Ok(Ingested::Held {
            until_ms: at - MAX_CLOCK_SKEW_MS
        })
    );
    assert!(r.get(&ev.id).is_none());
    assert_eq!(r.held_len(), 1);
    // A duplicate while held is recognised.
    assert_eq!(r.ingest(now, &ev.to_wire()), Ok(Ingested::Duplicate));
    // Not yet.
    assert!(r.tick(at - MAX_CLOCK_SKEW_MS - 1).is_empty());
    // Now within the allowed skew.
    let released = r.tick(at - MAX_CLOCK_SKEW_MS);
    assert_eq!(released.len(), 1);
    assert_eq!(r.outcome(&ev.id), Some(&Outcome::Applied));
    assert_eq!(
        r.state()
            .membership()
            .practice("M85001")
            .map(|p| p.practice.list_size),
        Some(4242)
    );
}

#[test]
fn an_unknown_body_type_is_kept_and_forwarded_with_no_effect() {
    let (fx, mut w) = Fixture::new(1);
    let mut r = fx.replica();
    // A real event, with its body replaced by field 99: a body type from a newer version.
    let template = w.sign(T0 + 1, vec![], update(1));
    let mut raw = raw_of(&template);
    raw.body = None;
    let mut bytes = raw.encode_to_vec();
    // Field 99, wire type 2 (length-delimited): tag = (99 << 3) | 2 = 794 = varint 0x9a 0x06.
    bytes.extend_from_slice(&[0x9a, 0x06, 0x03, b'n', b'e', b'w']);
    let sig = key(1).sign(EVENT_DOMAIN, &bytes);
    let wire = pb::SignedEvent {
        event: bytes.clone(),
        signature: sig.to_vec(),
    }
    .encode_to_vec();
    let before = r.state().membership().clone();
    let res = r.ingest(T0 + 2, &wire).expect("kept");
    assert!(matches!(res, Ingested::Stored { .. }));
    let id = EventId::of(&bytes);
    assert_eq!(
        r.outcome(&id),
        Some(&Outcome::NoEffect(NoEffect::UnknownBody))
    );
    assert_eq!(r.state().membership(), &before);
    // Forwarded exactly as signed: the stored event's bytes are the original ones, and a
    // second node accepts what this one forwards.
    let forwarded = r.get(&id).expect("stored").to_wire();
    assert_eq!(
        SignedEvent::decode(&forwarded)
            .expect("decodes")
            .event_bytes,
        bytes
    );
    let mut other = fx.replica();
    assert!(matches!(
        other.ingest(T0 + 2, &forwarded),
        Ok(Ingested::Stored { .. })
    ));
    assert_eq!(other.state_hash(), r.state_hash());
    // And the author's feed continues after it.
    let mut w = FeedWriter::resume(key(1), fx.network, Some((2, id)));
    let next = w.sign(T0 + 3, vec![], update(77));
    r.ingest(T0 + 4, &next.to_wire()).expect("next");
    assert_eq!(r.outcome(&next.id), Some(&Outcome::Applied));
}

#[test]
fn missing_causes_are_reported_then_resolved() {
    let (fx, mut w) = Fixture::new(1);
    let mut r = fx.replica();
    let a = w.sign(T0 + 1, vec![], update(1));
    let b = w.sign(T0 + 2, vec![], update(2));
    let c = w.sign(T0 + 3, vec![], update(3));
    assert_eq!(
        r.ingest(T0 + 9, &c.to_wire()),
        Ok(Ingested::Pending {
            missing: vec![b.id]
        })
    );
    // b is pending itself, so only a is left to fetch.
    assert_eq!(
        r.ingest(T0 + 9, &b.to_wire()),
        Ok(Ingested::Pending {
            missing: vec![a.id]
        })
    );
    assert_eq!(r.missing(), vec![a.id]);
    assert_eq!(r.pending_len(), 2);
    assert_eq!(
        r.ingest(T0 + 9, &a.to_wire()),
        Ok(Ingested::Stored {
            stored: vec![a.id, b.id, c.id]
        })
    );
    assert_eq!(r.pending_len(), 0);
    assert_eq!(
        r.state()
            .membership()
            .practice("M85001")
            .map(|p| p.practice.list_size),
        Some(3)
    );
}

#[test]
fn a_network_id_is_its_genesis() {
    let (fx, _) = Fixture::new(1);
    assert_eq!(fx.network, NetworkId(EventId::of(&fx.genesis.event_bytes)));
}

#[test]
fn a_bad_signature_on_a_known_event_is_still_refused() {
    let (fx, mut w) = Fixture::new(1);
    let mut r = fx.replica();
    let ev = w.sign(T0 + 1, vec![], update(1));
    r.ingest(T0 + 2, &ev.to_wire()).expect("stored");
    assert_eq!(r.ingest(T0 + 2, &ev.to_wire()), Ok(Ingested::Duplicate));
    let mut bad = ev.clone();
    bad.signature[3] ^= 0x40;
    assert_eq!(
        invalid(r.ingest(T0 + 2, &bad.to_wire())),
        EventError::BadSignature
    );
}

#[test]
fn two_body_fields_are_malformed() {
    let (fx, mut w) = Fixture::new(1);
    let mut r = fx.replica();
    let ev = w.sign(T0 + 1, vec![], update(1));
    let mut bytes = ev.event_bytes.clone();
    // Append a second body: field 19 (partner_resign), empty message: tag 0x9a 0x01, len 0.
    bytes.extend_from_slice(&[0x9a, 0x01, 0x00]);
    let wire = pb::SignedEvent {
        signature: key(1).sign(EVENT_DOMAIN, &bytes).to_vec(),
        event: bytes,
    }
    .encode_to_vec();
    assert!(
        matches!(invalid(r.ingest(T0 + 2, &wire)), EventError::Malformed(m) if m.contains("body fields"))
    );
}

#[test]
fn an_event_found_invalid_on_release_takes_its_waiters_with_it() {
    let (fx, mut w1) = Fixture::new(2);
    let mut r = fx.replica();
    let a = w1.sign(T0 + 1, vec![], update(1));
    let mut w2 = fx.writer(2);
    let x = w2.sign(T0 + 1, vec![], update(2));
    // b claims x (someone else's event) as its prev: a broken chain, detectable only once
    // x is known. c follows b.
    let mut raw = raw_of(&a);
    raw.seq = a.event.seq + 1;
    raw.prev = x.id.as_bytes().to_vec();
    raw.timestamp_ms = T0 + 2;
    let b_wire = forge(&raw, 1);
    let b = SignedEvent::decode(&b_wire).expect("decodes");
    let mut w1b = FeedWriter::resume(key(1), fx.network, Some((b.event.seq, b.id)));
    let c = w1b.sign(T0 + 3, vec![], update(3));
    r.ingest(T0 + 9, &c.to_wire()).expect("c pending");
    r.ingest(T0 + 9, &b_wire).expect("b pending");
    assert_eq!(r.pending_len(), 2);
    assert_eq!(r.missing(), vec![x.id]);
    r.ingest(T0 + 9, &x.to_wire()).expect("x stored");
    assert_eq!(
        r.pending_len(),
        0,
        "b and c are dropped, not parked forever"
    );
    assert!(r.missing().is_empty());
    assert!(r.get(&b.id).is_none() && r.get(&c.id).is_none());
}

#[test]
fn held_causes_are_not_fetched_again() {
    let (fx, mut w) = Fixture::new(1);
    let mut r = fx.replica();
    let now = T0 + 1;
    let future = w.sign(T0 + 3_600_000, vec![], update(1));
    let after = w.sign(T0 + 3_600_001, vec![], update(2));
    assert!(matches!(
        r.ingest(now, &future.to_wire()),
        Ok(Ingested::Held { .. })
    ));
    // `after` is itself future-dated; deliver it once the clock allows, before `future`
    // has been released.
    let later = T0 + 3_600_001 - MAX_CLOCK_SKEW_MS;
    let res = r.ingest(later, &after.to_wire());
    assert_eq!(res, Ok(Ingested::Pending { missing: vec![] }));
    let released = r.tick(later);
    assert_eq!(released.len(), 1);
    assert_eq!(r.len(), 3);
}

#[test]
fn a_founder_forking_its_genesis_is_proven() {
    let (fx, _) = Fixture::new(2);
    let mut r = fx.replica();
    // The founder's writer used seq 1 for the genesis; a second seq-1 event equivocates.
    let mut twin = FeedWriter::resume(key(1), fx.network, None);
    let other = twin.sign(T0 + 1, vec![], update(9));
    r.ingest(T0 + 2, &other.to_wire()).expect("stored");
    assert_eq!(r.forks().get(&key(1).public()), Some(&1));
    let proof = r.fork_proof(&key(1).public()).expect("proof");
    assert_eq!(proof.verify().map(|(_, s, n)| (s, n)), Ok((1, fx.network)));
    // The genesis stays in force: a network cannot be un-founded.
    assert!(r.state().is_founded());
    // Two geneses by one key are two networks, not an equivocation.
    let (second, _) = Fixture::new(3);
    let two = mutual_protocol::fork::EquivocationProof {
        first: fx.genesis.clone(),
        second: second.genesis.clone(),
    };
    assert!(two.verify().is_err());
}
