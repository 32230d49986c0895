//! Every limit, at the limit and at limit + 1.

use crate::common;

use common::{key, update, Fixture, T0};
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, EventError, SignedEvent};
use mutual_protocol::id::EventId;
use mutual_protocol::limits::*;
use mutual_protocol::replica::{IngestError, Ingested};
use prost::Message;

fn event_with(body: Body) -> Result<SignedEvent, EventError> {
    let (fx, _) = Fixture::new(1);
    let mut w = fx.writer(2);
    SignedEvent::decode(&w.sign(T0, vec![], body).to_wire())
}

/// Pads a `SignedEvent` wrapper with an unknown field (15) so its encoding is `len` bytes.
fn pad_to(wire: &[u8], len: usize) -> Vec<u8> {
    // Tag 15, wire type 2 = 0x7a; then a varint length, then that many bytes.
    for header in 2..=4 {
        let Some(payload) = len.checked_sub(wire.len() + header) else {
            continue;
        };
        let mut out = wire.to_vec();
        out.push(0x7a);
        let mut n = payload;
        let mut varint = Vec::new();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                varint.push(byte);
                break;
            }
            varint.push(byte | 0x80);
        }
        if varint.len() + 1 != header {
            continue;
        }
        out.extend_from_slice(&varint);
        out.resize(len, b'p');
        return out;
    }
    panic!("cannot pad to {len}");
}

#[test]
fn signed_event_bytes() {
    let (fx, mut w) = Fixture::new(1);
    let wire = w.sign(T0 + 1, vec![], update(5)).to_wire();
    let at = pad_to(&wire, MAX_SIGNED_EVENT_BYTES);
    assert_eq!(at.len(), MAX_SIGNED_EVENT_BYTES);
    let mut r = fx.replica();
    assert!(matches!(r.ingest(T0 + 2, &at), Ok(Ingested::Stored { .. })));
    let over = pad_to(&wire, MAX_SIGNED_EVENT_BYTES + 1);
    assert_eq!(
        SignedEvent::decode(&over).map(|_| ()),
        Err(EventError::TooLarge {
            size: MAX_SIGNED_EVENT_BYTES + 1,
            max: MAX_SIGNED_EVENT_BYTES
        })
    );
}

#[test]
fn deps() {
    let (fx, _) = Fixture::new(1);
    let deps = |n: usize| -> Vec<EventId> {
        (0..n as u32)
            .map(|i| EventId::of(&i.to_le_bytes()))
            .collect()
    };
    // The writer adds the genesis to a first event, so ask for one fewer.
    let mut w = fx.writer(2);
    let at = w.sign(T0, deps(MAX_DEPS - 1), update(1));
    assert_eq!(at.event.deps.len(), MAX_DEPS);
    assert!(SignedEvent::decode(&at.to_wire()).is_ok());
    // One more, built by hand.
    let mut raw = pb::Event::decode(at.event_bytes.as_slice()).expect("decodes");
    raw.deps.push(EventId::of(b"one more").as_bytes().to_vec());
    let bytes = raw.encode_to_vec();
    let wire = pb::SignedEvent {
        signature: key(2)
            .sign(mutual_protocol::signature::EVENT_DOMAIN, &bytes)
            .to_vec(),
        event: bytes,
    }
    .encode_to_vec();
    assert!(matches!(
        SignedEvent::decode(&wire),
        Err(EventError::Field { field: "deps", .. })
    ));
}

#[test]
fn name_text_and_list_lengths() {
    let name = |n: usize| {
        event_with(Body::PracticeUpdate(pb::PracticeUpdate {
            name: "n".repeat(n),
            ..Default::default()
        }))
    };
    assert!(name(MAX_NAME_BYTES).is_ok());
    assert!(matches!(
        name(MAX_NAME_BYTES + 1),
        Err(EventError::Field {
            field: "practice_update.name",
            ..
        })
    ));

    let text = |n: usize| {
        event_with(Body::PartnerResign(pb::PartnerResign {
            reason: "t".repeat(n),
        }))
    };
    assert!(text(MAX_TEXT_BYTES).is_ok());
    assert!(matches!(
        text(MAX_TEXT_BYTES + 1),
        Err(EventError::Field {
            field: "partner_resign.reason",
            ..
        })
    ));

    let list = |n: usize| {
        event_with(Body::AddressAnnouncement(pb::AddressAnnouncement {
            addresses: vec!["/ip4/127.0.0.1/tcp/1".into(); n],
        }))
    };
    assert!(list(MAX_LIST_LEN).is_ok());
    assert!(matches!(
        list(MAX_LIST_LEN + 1),
        Err(EventError::Field { .. })
    ));

    let bootstrap = |n: usize| {
        event_with(Body::Invitation(pb::Invitation {
            node_key: key(9).public().as_bytes().to_vec(),
            expires_ms: 1,
            practice_name: "p".into(),
            ods_code: "o".into(),
            bootstrap: vec!["/ip4/127.0.0.1/tcp/1/p2p/x".into(); n],
        }))
    };
    assert!(bootstrap(MAX_LIST_LEN).is_ok());
    assert!(matches!(
        bootstrap(MAX_LIST_LEN + 1),
        Err(EventError::Field {
            field: "invitation.bootstrap",
            ..
        })
    ));
}

#[test]
fn pending_events() {
    let (fx, mut w) = Fixture::new(1);
    let mut r = fx.replica();
    let chain: Vec<SignedEvent> = (0..MAX_PENDING_EVENTS + 2)
        .map(|i| w.sign(T0 + i as u64, vec![], update(i as u32)))
        .collect();
    let now = T0 + 1_000_000;
    // Everything but the first waits; exactly MAX_PENDING_EVENTS fit.
    let waiting: Vec<Vec<u8>> = chain[1..=MAX_PENDING_EVENTS]
        .iter()
        .map(SignedEvent::to_wire)
        .collect();
    for res in r.ingest_batch(now, &waiting) {
        assert!(matches!(res, Ok(Ingested::Pending { .. })), "{res:?}");
    }
    assert_eq!(r.pending_len(), MAX_PENDING_EVENTS);
    let one_more = chain[MAX_PENDING_EVENTS + 1].to_wire();
    assert_eq!(r.ingest(now, &one_more), Err(IngestError::PendingFull));
    assert!(!IngestError::PendingFull.is_peer_fault());
    // The missing first event releases the whole chain.
    match r.ingest(now, &chain[0].to_wire()) {
        Ok(Ingested::Stored { stored }) => assert_eq!(stored.len(), MAX_PENDING_EVENTS + 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(r.pending_len(), 0);
    // And the one refused earlier is accepted when offered again.
    assert!(matches!(
        r.ingest(now, &one_more),
        Ok(Ingested::Stored { .. })
    ));
}

#[test]
fn future_events_and_clock_skew() {
    let (fx, _) = Fixture::new(1);
    let mut r = fx.replica();
    let now = T0 + 1_000;
    // At exactly now + skew: accepted. One ms later: held.
    let mut w = fx.writer(2);
    let at = w.sign(now + MAX_CLOCK_SKEW_MS, vec![], update(1));
    assert!(matches!(
        r.ingest(now, &at.to_wire()),
        Ok(Ingested::Stored { .. })
    ));
    let mut w = fx.writer(3);
    let over = w.sign(now + MAX_CLOCK_SKEW_MS + 1, vec![], update(1));
    assert!(matches!(
        r.ingest(now, &over.to_wire()),
        Ok(Ingested::Held { .. })
    ));
    // Fill the held set to exactly its limit, then one more is refused for now.
    let far = now + 10 * MAX_CLOCK_SKEW_MS;
    let mut held = r.held_len();
    let mut n = 10;
    while held < MAX_FUTURE_EVENTS {
        let mut w = fx.writer(n);
        assert!(matches!(
            r.ingest(now, &w.sign(far, vec![], update(1)).to_wire()),
            Ok(Ingested::Held { .. })
        ));
        held += 1;
        n += 1;
    }
    assert_eq!(r.held_len(), MAX_FUTURE_EVENTS);
    let mut w = fx.writer(n);
    assert_eq!(
        r.ingest(now, &w.sign(far, vec![], update(1)).to_wire()),
        Err(IngestError::FutureFull)
    );
}

#[test]
fn signed_event_bytes_of_the_event_itself() {
    let (fx, mut w) = Fixture::new(1);
    let base = w.sign(T0 + 1, vec![], update(5));
    // Pad the event bytes with an unknown header field (14), then sign.
    let sized = |len: usize| {
        let mut bytes = base.event_bytes.clone();
        let pad = len - bytes.len() - 4; // tag (1) + 3-byte varint length
        bytes.push(0x72); // field 14, wire type 2
        bytes.extend_from_slice(&[
            (pad as u8) | 0x80,
            ((pad >> 7) as u8) | 0x80,
            (pad >> 14) as u8,
        ]);
        bytes.resize(len, b'p');
        pb::SignedEvent {
            signature: key(1)
                .sign(mutual_protocol::signature::EVENT_DOMAIN, &bytes)
                .to_vec(),
            event: bytes,
        }
        .encode_to_vec()
    };
    let at = sized(MAX_EVENT_BYTES);
    assert!(at.len() <= MAX_SIGNED_EVENT_BYTES);
    let mut r = fx.replica();
    assert!(matches!(r.ingest(T0 + 2, &at), Ok(Ingested::Stored { .. })));
    let over = sized(MAX_EVENT_BYTES + 1);
    assert_eq!(
        SignedEvent::decode(&over).map(|_| ()),
        Err(EventError::TooLarge {
            size: MAX_EVENT_BYTES + 1,
            max: MAX_EVENT_BYTES
        })
    );
}
