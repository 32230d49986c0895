//! End to end through the real binary, across separate processes: `mutual demo` founds,
//! invites, joins, proposes, votes, makes an aid agreement, kills and restarts a node;
//! then `export` and `verify`. And bad input at every door: a wrong passphrase, a
//! malformed, expired or misdirected invite, a vote on a closed motion, a second node on a
//! data directory, a bad token. Each gives a clear message and changes nothing.

use mutual_node::api::MIN_INVITATION_MS;
use mutual_node::client::Client;
use mutual_node::daemon::FileConfig;
use mutual_node::keystore::{Keystore, PASSPHRASE_ENV};

use crate::common;

use common::{ok, raw, refused, s, start, stop, DEMO_PASSPHRASE};
use mutual_proto::v1 as pb;
use mutual_protocol::event::Body;
use std::path::Path;

fn demo(dir: &Path, practices: usize) -> serde_json::Value {
    let out = ok(&[
        "demo",
        "--practices",
        &practices.to_string(),
        "--dir",
        s(dir),
        "--timeout",
        "120",
        "--json",
    ]);
    serde_json::from_str(&out).expect("the demo prints JSON")
}

fn status(dir: &Path) -> serde_json::Value {
    common::status(dir).expect("status")
}

fn verify(file: &Path) -> serde_json::Value {
    serde_json::from_str(&ok(&["verify", s(file), "--json"])).expect("JSON")
}

#[test]
fn the_demo_founds_admits_votes_aids_restarts_federates_and_its_stores_verify() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    // Twelve founders, three in each of four localities, and one practice admitted.
    let summary = demo(&dir, 13);
    assert_eq!(summary["converged"], true, "{summary}");
    assert_eq!(summary["admitted"], true, "{summary}");
    // The admission motion's due-diligence report, and the agreement, on every node.
    assert_eq!(summary["papers_everywhere"], true, "{summary}");
    assert_eq!(summary["due_diligence"].as_str().map(str::len), Some(64));
    // The partners govern themselves: twelve founders, three candidates in each of four
    // localities, elect a board with exactly one seat per locality and a chair, by ranked
    // ballots with a proxy and a declaration of interest; the new practice's first partner
    // signs the agreement.
    let board = summary["board"].as_array().expect("board");
    assert_eq!(board.len(), 4, "one seat per locality: {summary}");
    let mut localities: Vec<&str> = board
        .iter()
        .filter_map(|b| b.as_str()?.rsplit_once(" (")?.1.strip_suffix(')'))
        .collect();
    localities.sort();
    assert_eq!(localities, ["East", "North", "South", "West"], "{summary}");
    assert!(summary["chair"].is_string(), "{summary}");
    assert_eq!(summary["acceded"], true, "{summary}");
    let nodes = summary["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 13);
    let hash = nodes[0]["state_hash"].as_str().expect("hash").to_string();
    assert!(nodes.iter().all(|n| n["state_hash"] == hash.as_str()));
    // The second partnership linked by its own vote, through the federation commands.
    let fed = &summary["federation"];
    assert_eq!(fed["live"], true, "{fed}");
    assert_eq!(fed["binding"], true, "the cross-network agreement: {fed}");
    assert_eq!(fed["joint_result"], "passed", "{fed}");
    assert_eq!(
        fed["agreed"], true,
        "one federation state on every node: {fed}"
    );
    let ally_file = tmp.path().join("ally.bin");
    ok(&[
        "export",
        "--dir",
        s(&dir.join("ally-1")),
        "--out",
        s(&ally_file),
    ]);
    let ally = verify(&ally_file);
    assert_eq!(ally["state_hash"], fed["ally"]["state_hash"], "{ally}");
    assert_eq!(ally["events"], ally["valid"], "{ally}");

    // The stores are left for export and verify, offline.
    let file = tmp.path().join("log.bin");
    ok(&[
        "export",
        "--dir",
        s(&dir.join("practice-2")),
        "--out",
        s(&file),
    ]);
    let report = verify(&file);
    assert_eq!(report["state_hash"], hash.as_str(), "{report}");
    assert_eq!(report["events"], report["valid"], "{report}");
    assert_eq!(report["events"], nodes[0]["events"], "{report}");
    assert_eq!(report["forks"], 0);

    // Export also works while the node runs (through its API), with the same result.
    let node = start(&dir.join("practice-4"));
    let live = tmp.path().join("live.bin");
    ok(&[
        "export",
        "--dir",
        s(&dir.join("practice-4")),
        "--out",
        s(&live),
    ]);
    stop(node);
    assert_eq!(verify(&live)["state_hash"], hash.as_str());

    // A second demo into the same directory is refused and leaves it alone.
    let err = refused(&["demo", "--dir", s(&dir)], None);
    assert!(err.contains("not empty"), "{err}");
    assert!(dir.join("practice-1").join("store").exists());
}

fn init(dir: &Path) -> String {
    common::init(dir).0
}

fn config_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("mutual.toml")).expect("config")
}

#[test]
fn every_door_refuses_bad_input_with_a_clear_message_and_changes_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    let summary = demo(&dir, 3);
    let admission = summary["admission_motion"]
        .as_str()
        .expect("id")
        .to_string();
    let p1 = dir.join("practice-1");
    let p2 = dir.join("practice-2");
    let ks1 = dir.join("partners").join("partner-1.keystore");
    let n1 = start(&p1);
    let n2 = start(&p2);
    let events = status(&p1)["events"].clone();
    let unchanged = || {
        assert_eq!(status(&p1)["events"], events, "nothing was added");
    };

    // A wrong passphrase.
    let err = refused(
        &[
            "motion",
            "propose",
            "--dir",
            s(&p1),
            "--keystore",
            s(&ks1),
            "--kind",
            "general",
            "--title",
            "Anything",
        ],
        Some((PASSPHRASE_ENV, "not the passphrase")),
    );
    assert!(err.contains("wrong passphrase"), "{err}");
    unchanged();

    // A vote on a closed motion: refused by the command before any key is opened ...
    let err = refused(
        &[
            "vote",
            "--dir",
            s(&p1),
            "--keystore",
            s(&ks1),
            &admission,
            "for",
        ],
        Some((PASSPHRASE_ENV, DEMO_PASSPHRASE)),
    );
    assert!(err.contains("closed"), "{err}");
    // ... and by the API when a signed ballot is handed in directly.
    let kp = Keystore::read(&ks1)
        .expect("keystore")
        .open(DEMO_PASSPHRASE)
        .expect("opens");
    let id = hex::decode(&admission).expect("hex");
    let err = Client::of(&p1)
        .expect("client")
        .sign_and_submit(
            &kp,
            Body::Ballot(pb::Ballot {
                motion: id,
                choice: pb::Choice::For as i32,
                ..Default::default()
            }),
        )
        .expect_err("a ballot on a closed motion is refused");
    assert!(err.to_string().contains("closed"), "{err}");
    unchanged();

    // A second node on the same data directory.
    let err = refused(&["start", "--dir", s(&p1)], None);
    assert!(err.contains("in use by another process"), "{err}");
    unchanged();

    // A wrong, an empty or no token, on each kind of write; and a request addressed to a
    // domain name (a DNS-rebinding web page) is refused even for reads.
    let addr = FileConfig::read(&p1).expect("config").api;
    // (`POST /events` needs no token for an event signed by a partner's key, the
    // authority being its signature; it still refuses garbage, 400.)
    for (path, body) in [
        ("/aid", br#"{"action":"fulfil","agreement":"00"}"#.to_vec()),
        ("/practice", br#"{"leave":{"reason":"x"}}"#.to_vec()),
        ("/invitations", b"{}".to_vec()),
    ] {
        for auth in [
            "Authorization: Bearer 0123\r\n",
            "Authorization: Bearer \r\n",
            "",
        ] {
            let out = raw(&addr, &addr, "POST", path, &body, auth);
            assert!(out.starts_with("HTTP/1.1 401"), "{path} {auth:?}: {out}");
            assert!(out.contains("Authorization: Bearer"), "{out}");
        }
    }
    let out = raw(&addr, "evil.example:80", "GET", "/members", b"", "");
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    assert!(raw(&addr, "localhost", "GET", "/members", b"", "").starts_with("HTTP/1.1 200"));
    unchanged();

    // Invites: malformed, expired, meant for another node.
    let joiner = tmp.path().join("joiner");
    let joiner_key = init(&joiner);
    let other = tmp.path().join("other");
    let other_key = init(&other);
    let before = config_text(&joiner);
    for (line, expect) in [
        ("hello", "not an invite"),
        ("mutual-invite:zz", "damaged"),
        ("mutual-invite:0a02ffff", "damaged"),
    ] {
        let err = refused(&["join", "--dir", s(&joiner), line], None);
        assert!(err.contains(expect), "{line}: {err}");
        assert_eq!(
            config_text(&joiner),
            before,
            "the configuration is untouched"
        );
    }
    let c1 = Client::of(&p1).expect("client");
    let invitation = |valid_ms: u64| {
        c1.post::<_, serde_json::Value>(
            "/invitations",
            &serde_json::json!({"node_key": joiner_key, "practice_name": "Joiner",
                                "ods_code": "J1", "valid_ms": valid_ms}),
        )
    };
    let err = invitation(MIN_INVITATION_MS - 1).expect_err("too short");
    assert!(err.to_string().contains("a minute"), "{err}");
    let short = invitation(MIN_INVITATION_MS).expect("an invitation of a minute");
    // The joining node's clock decides: two minutes ahead, the invite has lapsed.
    let mut config = FileConfig::read(&joiner).expect("config");
    config.clock_offset_ms = 2 * 60_000;
    config.write(&joiner).expect("write");
    let before = config_text(&joiner);
    let err = refused(
        &[
            "join",
            "--dir",
            s(&joiner),
            short["invite"].as_str().expect("line"),
        ],
        None,
    );
    assert!(err.contains("expired"), "{err}");
    assert_eq!(config_text(&joiner), before);
    let good = ok(&[
        "invite",
        "--dir",
        s(&p1),
        "--node-key",
        &other_key,
        "--name",
        "Other",
        "--ods",
        "O1",
    ]);
    let err = refused(&["join", "--dir", s(&joiner), good.trim()], None);
    assert!(err.contains("not this node's key"), "{err}");
    assert_eq!(config_text(&joiner), before);
    // The same invite works for the node it names.
    ok(&["join", "--dir", s(&other), good.trim()]);
    assert!(config_text(&other).contains("network"));
    // Invited but not admitted, it syncs and says it may not sign (it used to say it may).
    let invited = start(&other);
    let mut synced = false;
    for _ in 0..300 {
        if status(&other)["events"].as_u64().unwrap_or(0) > 1 {
            synced = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(synced, "the invited node syncs the network's history");
    assert_eq!(status(&other)["admitted"], false);
    let said = ok(&["status", "--dir", s(&other)]);
    assert!(
        said.contains("may sign     no: this node's practice is not (yet) an admitted member"),
        "{said}"
    );
    stop(invited);

    // An invitation for a key that is already a member's is refused.
    let members: Vec<serde_json::Value> = c1.get("/members").expect("members");
    let p2_key = members[1]["node_key"].as_str().expect("key");
    let err = refused(
        &[
            "invite",
            "--dir",
            s(&p1),
            "--node-key",
            p2_key,
            "--name",
            "X",
            "--ods",
            "X1",
        ],
        None,
    );
    assert!(err.contains("already belongs to a member"), "{err}");

    // A keystore with a short passphrase is not written.
    let weak = tmp.path().join("weak.keystore");
    let err = refused(
        &["keystore", "new", "--out", s(&weak)],
        Some((PASSPHRASE_ENV, "short")),
    );
    assert!(err.contains("at least"), "{err}");
    assert!(!weak.exists());

    stop(n1);
    stop(n2);
}

#[test]
fn a_partner_rotates_their_key_and_later_revokes_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    demo(&dir, 3);
    let p2 = dir.join("practice-2");
    let old = dir.join("partners").join("partner-2.keystore");
    let new = tmp.path().join("partner-2-new.keystore");
    let node = start(&p2);
    let c = Client::of(&p2).expect("client");
    let partner = |c: &Client| -> serde_json::Value {
        let m: Vec<serde_json::Value> = c.get("/members").expect("members");
        m[1]["partners"][0].clone()
    };
    let id = partner(&c)["id"].clone();
    let old_key = Keystore::read(&old).expect("keystore").public().to_string();
    assert_eq!(partner(&c)["key"], old_key.as_str());

    // A wrong passphrase writes no new keystore and rotates nothing.
    let rotate = [
        "keystore",
        "rotate",
        "--dir",
        s(&p2),
        "--keystore",
        s(&old),
        "--out",
        s(&new),
    ];
    let err = refused(&rotate, Some((PASSPHRASE_ENV, "not the passphrase")));
    assert!(err.contains("wrong passphrase"), "{err}");
    assert!(!new.exists());
    assert_eq!(partner(&c)["key"], old_key.as_str());

    ok(&rotate);
    let new_key = Keystore::read(&new)
        .expect("new keystore")
        .public()
        .to_string();
    assert_ne!(new_key, old_key);
    assert_eq!(
        partner(&c)["key"],
        new_key.as_str(),
        "the node knows the new key"
    );
    assert_eq!(partner(&c)["id"], id, "the partner's id does not change");

    // The old key no longer signs: refused at the door, nothing stored.
    let events = status(&p2)["events"].clone();
    let err = refused(
        &[
            "motion",
            "propose",
            "--dir",
            s(&p2),
            "--keystore",
            s(&old),
            "--kind",
            "general",
            "--title",
            "With the old key",
        ],
        Some((PASSPHRASE_ENV, DEMO_PASSPHRASE)),
    );
    assert!(err.contains("rotated or revoked"), "{err}");
    assert_eq!(status(&p2)["events"], events);
    // The new one does.
    ok(&[
        "motion",
        "propose",
        "--dir",
        s(&p2),
        "--keystore",
        s(&new),
        "--kind",
        "general",
        "--title",
        "With the new key",
        "--voting-minutes",
        "60",
    ]);

    // Revoking it leaves the partner without a key.
    ok(&[
        "keystore",
        "revoke",
        "--dir",
        s(&p2),
        "--keystore",
        s(&new),
        "--reason",
        "laptop stolen",
    ]);
    assert_eq!(partner(&c)["key"], "");
    assert_eq!(partner(&c)["status"], "active");
    stop(node);
}
