//! What the fuzz targets (`fuzz/`) check on arbitrary bytes, one function per target. They
//! live here so that the corpus of interesting inputs kept in `fuzz/corpus/<target>/`
//! runs through the same checks as ordinary tests (`node/tests/fuzz_corpus.rs`). Each
//! must return on any input without panicking; its assertions are the properties that
//! hold for whatever decodes.

use crate::core::sync::{self, Answer, Local, Rounds, Step};
use crate::limits::{MAX_SYNC_REQUEST_BYTES, MAX_SYNC_RESPONSE_BYTES};
use crate::net::read_frame;
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, FeedWriter, SignedEvent};
use mutual_protocol::fork::EquivocationProof;
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::keys::Keypair;
use mutual_protocol::limits::MAX_PENDING_EVENTS;
use mutual_protocol::replica::Replica;
use prost::Message;
use std::path::Path;
use std::sync::OnceLock;

/// The time the checks run at, ms since the epoch.
const NOW_MS: u64 = 1_767_225_600_000;

/// A target's check.
pub type Check = fn(&[u8]);

/// Every target: its name (the directory of its corpus) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("signed_event", signed_event),
    ("equivocation_proof", equivocation_proof),
    ("replica_ingest", replica_ingest),
    ("export_file", export_file),
    ("key_file", key_file),
    ("invite", invite),
    ("keystore", keystore),
    ("sync_request", sync_request),
    ("sync_response", sync_response),
];

/// `SignedEvent::decode`: what decodes round-trips.
pub fn signed_event(data: &[u8]) {
    if let Ok(ev) = SignedEvent::decode(data) {
        let again = SignedEvent::decode(&ev.to_wire()).expect("a decoded event re-decodes");
        assert_eq!(again.id, ev.id);
        assert_eq!(again.event, ev.event);
        let _ = ev.verify_signature();
    }
}

/// `EquivocationProof::decode` and `verify`: what decodes re-encodes to something that
/// decodes.
pub fn equivocation_proof(data: &[u8]) {
    if let Ok(p) = EquivocationProof::decode(data) {
        let _ = p.verify();
        assert!(EquivocationProof::decode(&p.encode()).is_ok());
    }
}

/// A replica fed frames split at `0xff` bytes: its pending set stays within its bound.
pub fn replica_ingest(data: &[u8]) {
    let mut r = Replica::new(NetworkId(EventId([7; 32])));
    let frames: Vec<&[u8]> = data.split(|b| *b == 0xff).collect();
    let _ = r.ingest_batch(NOW_MS, &frames);
    let _ = r.tick(u64::MAX);
    assert!(r.pending_len() <= MAX_PENDING_EVENTS);
    let _ = r.state_hash();
}

/// Offline verification of an export file.
pub fn export_file(data: &[u8]) {
    let _ = crate::export::verify(data, NOW_MS);
}

/// Key-file parsing.
pub fn key_file(data: &[u8]) {
    let _ = crate::keyfile::parse(data);
}

/// Invite lines, as text and as the hex body of a line: only a well-signed, unexpired
/// invitation with an address is accepted.
pub fn invite(data: &[u8]) {
    let me = Keypair::from_seed(&[7; 32]).expect("a valid seed").public();
    let text = String::from_utf8_lossy(data);
    if let Ok(inv) = crate::invite::decode(&text, &me, 1_000) {
        assert!(inv.event.verify_signature());
        assert!(inv.expires_ms > 1_000);
        assert!(!inv.bootstrap.is_empty());
    }
    let line = format!("{}{}", crate::invite::PREFIX, hex::encode(data));
    let _ = crate::invite::decode(&line, &me, 1_000);
}

/// Keystore parsing: costs over the limits are refused before any key derivation, and a
/// wrong passphrase never opens a keystore.
pub fn keystore(data: &[u8]) {
    if let Ok(ks) = crate::keystore::Keystore::parse(Path::new("fuzz"), data) {
        // Only cheap costs are worth deriving under a fuzzer.
        if data.len() >= 20 && u32::from_be_bytes([data[16], data[17], data[18], data[19]]) <= 64 {
            assert!(ks.open("fuzz passphrase").is_err());
        }
    }
}

/// A small network to answer requests from: a genesis and a few events of two practices.
pub fn fixture() -> &'static Replica {
    static FIXTURE: OnceLock<Replica> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let keys: Vec<Keypair> = (1..=2u8)
            .map(|i| Keypair::from_seed(&[i; 32]).expect("a valid seed"))
            .collect();
        let genesis = pb::Genesis {
            name: "Fuzz".into(),
            practices: keys
                .iter()
                .enumerate()
                .map(|(i, k)| pb::Practice {
                    name: format!("P{i}"),
                    ods_code: format!("F{i}"),
                    node_key: k.public().as_bytes().to_vec(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let first = Keypair::from_seed(&keys[0].seed()).expect("a valid seed");
        let (_, g) = FeedWriter::found(first, NOW_MS - 10_000, genesis);
        let mut r = Replica::new(NetworkId(g.id));
        r.ingest(NOW_MS, &g.to_wire())
            .expect("the genesis is valid");
        for (i, k) in keys.into_iter().enumerate() {
            for n in 0..3 {
                let body = Body::PracticeUpdate(pb::PracticeUpdate {
                    list_size: 1_000 * (i as u32 + 1) + n,
                    ..Default::default()
                });
                let key = Keypair::from_seed(&k.seed()).expect("a valid seed");
                let ev = crate::core::sign_next(&r, key, NOW_MS - 5_000, body)
                    .expect("the fixture signs");
                r.ingest(NOW_MS, &ev.to_wire()).expect("valid");
            }
        }
        r
    })
}

/// A framed sync request as read from a peer's stream, answered from [`fixture`]: an
/// answer always fits the response limit.
pub fn sync_request(data: &[u8]) {
    let mut io = futures::io::Cursor::new(data);
    let Ok(frame) = futures::executor::block_on(read_frame(&mut io, MAX_SYNC_REQUEST_BYTES)) else {
        return;
    };
    let Ok(req) = pb::SyncRequest::decode(frame.as_slice()) else {
        return;
    };
    let local = Local::plain(fixture());
    let answer = Rounds::default()
        .respond(0u8, &local, &req, &mut Vec::new())
        .unwrap_or_else(|r| sync::refused(&r));
    assert!(answer.encoded_len() <= MAX_SYNC_RESPONSE_BYTES);
}

/// A framed sync response as read from a peer's stream, taken in by an empty replica of
/// the fixture's network and reported to a round at every step.
pub fn sync_response(data: &[u8]) {
    let mut io = futures::io::Cursor::new(data);
    let Ok(frame) = futures::executor::block_on(read_frame(&mut io, MAX_SYNC_RESPONSE_BYTES))
    else {
        return;
    };
    let Ok(resp) = pb::SyncResponse::decode(frame.as_slice()) else {
        return;
    };
    let mut replica = Replica::new(fixture().network());
    for step in [
        Step::Summary,
        Step::Reconcile,
        Step::Pull,
        Step::Fetch,
        Step::Chase,
    ] {
        let mut rounds = Rounds::default();
        let mut out = Vec::new();
        rounds.start(0u8, &Local::plain(&replica), &mut out);
        let answer = match &resp.kind {
            Some(pb::sync_response::Kind::Events(e)) if step != Step::Reconcile => {
                let before = replica.len() + replica.pending_len();
                let _ = replica.ingest_batch(NOW_MS, &e.events);
                Answer::Events {
                    more: e.more,
                    progressed: replica.len() + replica.pending_len() > before,
                }
            }
            _ => Answer::of(step, &resp),
        };
        rounds.answered(0, step, answer, true, &Local::plain(&replica), &mut out);
        assert!(replica.pending_len() <= MAX_PENDING_EVENTS);
    }
}
