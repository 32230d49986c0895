//! The export file and `mutual verify` as docs/PROTOCOL.md §13 specifies them: framing, a
//! frame over the limit, which log an export holds (its root), order independence, the
//! time a verification is made as of (`--as-of`), and federation logs exported
//! (`mutual export --federation`) and verified offline like a network's.

use crate::common;

use common::{mutual, ok, s};
use mutual_node::export::{self, ExportError, LogKind};
use mutual_node::store::{SledStore, Store};
use mutual_proto::v1 as pb;
use mutual_protocol::event::{deps_for, Body, FeedWriter, SignedEvent};
use mutual_protocol::federation::{charter_entry, FederationState};
use mutual_protocol::id::NetworkId;
use mutual_protocol::keys::Keypair;
use mutual_protocol::limits::{MAX_CLOCK_SKEW_MS, MAX_PENDING_EVENTS, MAX_SIGNED_EVENT_BYTES};
use mutual_protocol::replica::{Fold, Ingested, Replica};
use std::path::Path;

/// 2026-01-01T00:00:00Z in ms.
const T0: u64 = 1_767_225_600_000;
const DAY: u64 = 86_400_000;
/// Far after every timestamp used here: nothing is held.
const LATER: u64 = T0 + 400 * DAY;

fn key(n: u32) -> Keypair {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&n.to_le_bytes());
    seed[4] = 0x5E;
    Keypair::from_seed(&seed).expect("seed gives a key")
}

fn pk(n: u32) -> Vec<u8> {
    key(n).public().as_bytes().to_vec()
}

fn practice(n: u32) -> pb::Practice {
    pb::Practice {
        name: format!("Practice {n}"),
        ods_code: format!("M{:05}", 85000 + n),
        node_key: pk(n),
        ..Default::default()
    }
}

/// A log under construction: signs each event after every head and takes it in.
struct Log<S: Fold> {
    r: Replica<S>,
    writers: Vec<(u32, FeedWriter)>,
}

impl<S: Fold> Log<S> {
    fn new(root: &SignedEvent, author: u32, w: FeedWriter) -> Self {
        let mut r = Replica::<S>::empty(NetworkId(root.id));
        assert!(matches!(
            r.ingest(LATER, &root.to_wire()),
            Ok(Ingested::Stored { .. })
        ));
        Log {
            r,
            writers: vec![(author, w)],
        }
    }

    fn put(&mut self, who: u32, ts: u64, body: Body) -> SignedEvent {
        let network = self.r.network();
        let i = match self.writers.iter().position(|(k, _)| *k == who) {
            Some(i) => i,
            None => {
                self.writers
                    .push((who, FeedWriter::resume(key(who), network, None)));
                self.writers.len() - 1
            }
        };
        // The body's referent (a ballot's motion) first, then every head.
        let deps = deps_for(&body, &self.r.heads(), None);
        let ev = self.writers[i].1.sign(ts, deps, body);
        let got = self.r.ingest(LATER, &ev.to_wire());
        assert!(matches!(got, Ok(Ingested::Stored { .. })), "{got:?}");
        ev
    }

    fn export(&self) -> Vec<u8> {
        export::write(self.r.events_in_order())
    }
}

/// A network of two practices (node keys 1, 2), with partners 102, 103 (practice 1) and
/// 104, 105 (practice 2).
fn network() -> Log<mutual_protocol::state::State> {
    let partner = |k: u32, p: u32| pb::Partner {
        name: format!("Dr {k}"),
        practice_ods: practice(p).ods_code,
        role: pb::PartnerRole::Partner as i32,
        key: pk(k),
    };
    let g = pb::Genesis {
        name: "Export Partnership".into(),
        practices: vec![practice(1), practice(2)],
        partners: vec![
            partner(102, 1),
            partner(103, 1),
            partner(104, 2),
            partner(105, 2),
        ],
        ..Default::default()
    };
    let (w, genesis) = FeedWriter::found(key(1), T0, g);
    Log::new(&genesis, 1, w)
}

fn update(n: u32) -> Body {
    Body::PracticeUpdate(pb::PracticeUpdate {
        list_size: n,
        ..Default::default()
    })
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn verify_file(path: &Path, as_of: Option<&str>) -> serde_json::Value {
    let mut args = vec!["verify", s(path), "--json"];
    if let Some(t) = as_of {
        args.extend(["--as-of", t]);
    }
    json(&mutual(&args))
}

// ------------------------------------------------------------------ framing (§13.1)

#[test]
fn a_frame_over_the_limit_aborts_the_file_and_a_frame_within_it_is_judged_as_an_event() {
    let mut log = network();
    log.put(1, T0 + 1, update(9100));
    let good = log.export();
    let hash = export::verify(&good, LATER).expect("verifies").state_hash;

    // A frame of MAX_SIGNED_EVENT_BYTES + 1 bytes, all present: the whole file is refused,
    // at the frame's offset, even though what follows would frame correctly.
    let mut over = good.clone();
    let at = over.len();
    prost::encoding::encode_varint(MAX_SIGNED_EVENT_BYTES as u64 + 1, &mut over);
    over.extend(vec![0u8; MAX_SIGNED_EVENT_BYTES + 1]);
    over.extend(&good);
    match export::verify(&over, LATER) {
        Err(ExportError::Framing { offset, reason }) => {
            assert_eq!(offset, at);
            assert!(reason.contains("over the event limit"), "{reason}");
        }
        other => panic!("expected a framing error, got {other:?}"),
    }
    // Frames of 0 bytes and of exactly the limit are read, and judged invalid events; the
    // rest of the file still counts.
    let mut within = good.clone();
    within.push(0);
    prost::encoding::encode_varint(MAX_SIGNED_EVENT_BYTES as u64, &mut within);
    within.extend(vec![0xFFu8; MAX_SIGNED_EVENT_BYTES]);
    let r = export::verify(&within, LATER).expect("read");
    assert_eq!((r.events, r.valid), (4, 2));
    assert_eq!(r.invalid.values().sum::<usize>(), 2, "{:?}", r.invalid);
    assert_eq!(r.state_hash, hash);
    // A length written as a non-minimal varint is read like any other.
    let mut long = Vec::new();
    for frame in export::frames(&good).expect("frames") {
        let n = frame.len() as u64;
        long.extend([(n as u8) | 0x80, ((n >> 7) as u8) | 0x80, 0x80, 0x00]);
        long.extend(frame);
    }
    assert_eq!(export::verify(&long, LATER).expect("read").state_hash, hash);

    // Through the binary: a clear error and exit status 2.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("over.bin");
    std::fs::write(&file, &over).expect("write");
    let out = mutual(&["verify", s(&file)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("corrupt export at byte {at}")),
        "{err}"
    );
}

#[test]
fn the_first_root_frame_names_the_log_and_the_order_of_frames_does_not_matter() {
    let mut log = network();
    let frames_before = log.r.len();
    // More events than the pending set holds, in one chain: in reverse order, a node
    // taking them as they come would park them all and refuse the rest for now.
    for i in 0..(MAX_PENDING_EVENTS + 100) as u64 {
        log.put(1, T0 + 1 + i, update(9000 + i as u32));
    }
    let forward = log.export();
    let want = export::verify(&forward, LATER).expect("verifies");
    assert_eq!(want.valid, frames_before + MAX_PENDING_EVENTS + 100);
    let mut frames = export::frames(&forward).expect("frames");
    frames.reverse();
    let backward = export::verify(&export::write_wires(&frames), LATER).expect("verifies");
    assert_eq!(
        (backward.valid, backward.incomplete, &backward.state_hash),
        (want.valid, 0, &want.state_hash)
    );
    assert_eq!(backward.log, LogKind::Network);
    assert_eq!(backward.network, log.r.network().to_string());

    // Another network's genesis first: it names the log, and this network's events are
    // then events of another network, refused.
    let other = network_named("Another Partnership");
    let mut mixed = export::write([&other]);
    mixed.extend(export::write(log.r.events_in_order().take(3)));
    let r = export::verify(&mixed, LATER).expect("read");
    assert_eq!(r.network, NetworkId(other.id).to_string());
    assert_eq!(r.valid, 1);
    assert_eq!(r.invalid.values().sum::<usize>(), 3, "{:?}", r.invalid);
    // No root at all: nothing to verify against.
    let rootless = export::write(log.r.events_in_order().skip(1).take(3));
    assert!(matches!(
        export::verify(&rootless, LATER),
        Err(ExportError::NoGenesis)
    ));
}

fn network_named(name: &str) -> SignedEvent {
    let g = pb::Genesis {
        name: name.into(),
        practices: vec![practice(7)],
        ..Default::default()
    };
    FeedWriter::found(key(7), T0, g).1
}

// ----------------------------------------------------------- verify --as-of (§13.2)

fn ballot(motion: &SignedEvent) -> Body {
    Body::Ballot(pb::Ballot {
        motion: motion.id.as_bytes().to_vec(),
        choice: pb::Choice::For as i32,
        ..Default::default()
    })
}

#[test]
fn verify_as_of_sets_aside_later_events_and_only_the_log_s_own_events_close_a_motion() {
    let mut log = network();
    let motion = log.put(
        102,
        T0 + DAY,
        Body::Motion(pb::Motion {
            kind: pb::DecisionKind::General as i32,
            title: "Winter rota".into(),
            opens_at_ms: T0 + DAY,
            closes_at_ms: T0 + 3 * DAY,
            ..Default::default()
        }),
    );
    for p in [102, 103, 104, 105] {
        log.put(p, T0 + 2 * DAY, ballot(&motion));
    }
    // Each practice's node witnesses the other practice's ballots.
    for node in [1, 2] {
        log.put(node, T0 + 2 * DAY + 1, Body::Witness(pb::Witness {}));
    }
    let open_file = log.export();
    // The grace period (one day) ends at T0 + 4 days; practice 1's next event closes it.
    let closing_at = T0 + 4 * DAY + 1;
    log.put(1, closing_at, Body::Witness(pb::Witness {}));
    let dir = tempfile::tempdir().expect("tempdir");
    let (closed_path, open_path) = (dir.path().join("closed.bin"), dir.path().join("open.bin"));
    std::fs::write(&closed_path, log.export()).expect("write");
    std::fs::write(&open_path, &open_file).expect("write");

    let at = |ms: u64| export::format_ms(ms);
    let motion_of = |v: &serde_json::Value| v["motions"][0].clone();
    // During the vote, given as people write it (UTC): open, and the closing event, dated
    // days later, is set aside.
    let v = verify_file(&closed_path, Some("2026-01-03 00:00"));
    assert_eq!(v["as_of"], "2026-01-03 00:00:00 UTC");
    assert_eq!(v["as_of_ms"], T0 + 2 * DAY);
    let m = motion_of(&v);
    assert_eq!(
        (&m["closed"], &m["finality"]),
        (&false.into(), &"open".into())
    );
    assert_eq!(m["title"], "Winter rota");
    assert_eq!(m["closes_at"], "2026-01-04 00:00:00 UTC");
    assert_eq!(v["future_dated"], 1);
    // In the grace period: provisional.
    let v = verify_file(&closed_path, Some("2026-01-04T12:00:00+01:00"));
    assert_eq!(motion_of(&v)["finality"], "provisional");
    // The closing event counts from five minutes before its own timestamp, as on a node
    // whose clock read that.
    let v = verify_file(&closed_path, Some(&at(closing_at - MAX_CLOCK_SKEW_MS - 1)));
    let m = motion_of(&v);
    assert_eq!(
        (&m["closed"], &m["finality"]),
        (&false.into(), &"provisional".into())
    );
    assert_eq!(v["future_dated"], 1);
    let before = v["state_hash"].clone();
    let v = verify_file(&closed_path, Some(&at(closing_at - MAX_CLOCK_SKEW_MS)));
    let m = motion_of(&v);
    assert_eq!((&m["closed"], &m["passed"]), (&true.into(), &true.into()));
    assert_eq!(v["future_dated"], 0);
    assert_ne!(v["state_hash"], before);
    assert_eq!(v["state_hash"], log.r.state_hash().to_string());
    // The auditor's clock never closes a motion: without a practice node event after the
    // grace period in the file, it stays unclosed however late the verification, and the
    // report says why.
    let v = verify_file(&open_path, Some("2027-01-01 00:00"));
    let m = motion_of(&v);
    assert_eq!(
        (&m["closed"], &m["finality"]),
        (&false.into(), &"final".into())
    );
    let text = ok(&["verify", s(&open_path), "--as-of", "2027-01-01 00:00"]);
    assert!(
        text.contains("as of       2027-01-01 00:00:00 UTC (--as-of)"),
        "{text}"
    );
    assert!(
        text.contains("not closed: no practice node event after 2026-01-05 00:00:00 UTC"),
        "{text}"
    );
    // A time that cannot be read is refused, saying how to write one.
    let out = mutual(&["verify", s(&open_path), "--as-of", "20/12/2026"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--as-of") && err.contains("2026-12-20 17:00"),
        "{err}"
    );
}

// --------------------------------------------------- federation logs (§13.1, §13.3)

/// A federation of two one-practice networks (node keys 1 and 11), both joined, with a
/// statement: its log, and the two networks' ids.
fn federation() -> Log<FederationState> {
    let genesis = |k: u32| {
        let g = pb::Genesis {
            name: format!("Network {k}"),
            practices: vec![practice(k)],
            ..Default::default()
        };
        FeedWriter::found(key(k), T0, g).1
    };
    let (a, b) = (genesis(1), genesis(11));
    let mut members = vec![
        charter_entry(NetworkId(a.id), "Network 1", &[practice(1)], &[]),
        charter_entry(NetworkId(b.id), "Network 11", &[practice(11)], &[]),
    ];
    members.sort_by(|x, y| x.network.cmp(&y.network));
    let charter = pb::FederationCharter {
        name: "Northern Alliance".into(),
        share_statements: true,
        members,
        ..Default::default()
    };
    let (w, root) = FeedWriter::root(key(1), T0, Body::FederationCharter(charter));
    let mut log = Log::<FederationState>::new(&root, 1, w);
    for (k, g, t) in [(1, &a, T0 + 10), (11, &b, T0 + 20)] {
        let net = g.id.as_bytes().to_vec();
        log.put(
            k,
            t,
            Body::FederationEvidence(pb::FederationEvidence {
                network: net.clone(),
                events: vec![g.to_wire()],
            }),
        );
        log.put(
            k,
            t + 1,
            Body::FederationJoin(pb::FederationJoin {
                network: net,
                motion: vec![5; 32],
            }),
        );
    }
    log.put(
        11,
        T0 + 30,
        Body::JointStatement(pb::JointStatement {
            title: "On winter pressures".into(),
            text: "Together.".into(),
        }),
    );
    assert!(log.r.state().is_live());
    log
}

#[test]
fn a_federation_log_is_exported_by_id_or_prefix_and_verified_offline_like_a_network_s() {
    let log = federation();
    let fid = log.r.network();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("node");
    // Where a node keeps it: a store of its own beside the network's.
    let network_store = dir.join(mutual_node::daemon::STORE_DIR);
    let store_dir = mutual_node::federation::store_dir(&network_store, &fid);
    assert_eq!(
        store_dir,
        dir.join("store").join("federations").join(fid.to_string())
    );
    {
        // As a node keeps it: in storage order, each event after its causes.
        let mut store = SledStore::open(&store_dir).expect("store");
        store.set_network(fid).expect("bound");
        let events: Vec<SignedEvent> = log.r.events_in_order().collect();
        store
            .put_events(&events.iter().collect::<Vec<_>>())
            .expect("put");
        store.sync().expect("sync");
    }
    let file = tmp.path().join("fed.bin");
    let prefix = &fid.to_string()[..10];
    let out = ok(&[
        "export",
        "--dir",
        s(&dir),
        "--federation",
        prefix,
        "--out",
        s(&file),
    ]);
    assert!(out.contains(&format!("of federation {fid}")), "{out}");
    // The root, the charter event, comes first.
    let bytes = std::fs::read(&file).expect("read");
    let frames = export::frames(&bytes).expect("frames");
    let first = SignedEvent::decode(frames[0]).expect("decodes");
    assert_eq!(first.id, fid.genesis());
    assert!(matches!(first.event.body, Some(Body::FederationCharter(_))));

    let v = verify_file(&file, None);
    assert_eq!(v["log"], "federation");
    assert_eq!(v["network"], fid.to_string());
    assert_eq!(v["name"], "Northern Alliance");
    assert_eq!(
        (&v["events"], &v["valid"]),
        (&log.r.len().into(), &log.r.len().into())
    );
    assert_eq!(v["state_hash"], log.r.state_hash().to_string());
    let parties = v["parties"].as_array().expect("parties");
    assert_eq!(parties.len(), 2);
    assert!(parties
        .iter()
        .all(|p| p["joined"] == true && p["left"] == false));
    assert_eq!(v["motions"].as_array().map(Vec::len), Some(0));
    let text = ok(&["verify", s(&file)]);
    assert!(
        text.starts_with(&format!("federation  {fid} (Northern Alliance)")),
        "{text}"
    );
    // A network's export says it is one.
    let net_file = tmp.path().join("net.bin");
    std::fs::write(&net_file, network().export()).expect("write");
    assert_eq!(verify_file(&net_file, None)["log"], "network");

    // The whole id, in capitals, works too.
    let whole = ok(&[
        "export",
        "--dir",
        s(&dir),
        "--federation",
        &fid.to_string().to_uppercase(),
        "--out",
        s(&file),
        "--json",
    ]);
    let whole: serde_json::Value = serde_json::from_str(&whole).expect("JSON");
    assert_eq!(whole["events"], 6);
    assert_eq!(whole["federation"], fid.to_string());

    // Bad input, each refused with a clear error.
    let refused = |fed: &str| {
        let out = mutual(&[
            "export",
            "--dir",
            s(&dir),
            "--federation",
            fed,
            "--out",
            s(&file),
        ]);
        assert_eq!(out.status.code(), Some(2), "{fed}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = refused("not-hex");
    assert!(err.contains("is not a federation id"), "{err}");
    let err = refused("0123abcd");
    assert!(
        err.contains("no federation kept here") && err.contains(&fid.to_string()),
        "{err}"
    );
    // A second directory whose id shares the prefix: ambiguous.
    let mut twin = fid.to_string();
    let last = if twin.ends_with('0') { "1" } else { "0" };
    twin.replace_range(63.., last);
    std::fs::create_dir_all(network_store.join("federations").join(&twin)).expect("dir");
    let err = refused(prefix);
    assert!(
        err.contains("2 federations") && err.contains("give more of the id"),
        "{err}"
    );
    let err = refused(&twin);
    assert!(err.contains("has no store of federation"), "{err}");
    // While the node runs (here: while this process holds the store open), the store
    // cannot be read, and the error says what to do.
    let _held = SledStore::open(&store_dir).expect("store");
    let err = refused(&fid.to_string());
    assert!(
        err.contains("is running") && err.contains("stop it"),
        "{err}"
    );
    // A directory that keeps no federation.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).expect("dir");
    let out = mutual(&[
        "export",
        "--dir",
        s(&empty),
        "--federation",
        prefix,
        "--out",
        s(&file),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no federation's log is kept here"));
}
