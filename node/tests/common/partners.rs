//! Partners on their own machines: `mutual` run from a directory that holds no node data,
//! signing with their own keystores against a node's URL; and time passing for a
//! partnership of node processes.

use super::{s, start, stop, DEMO_PASSPHRASE};
use mutual_node::api::{MemberView, MotionView};
use mutual_node::client::Client;
use mutual_node::daemon::FileConfig;
use mutual_node::keystore::PASSPHRASE_ENV;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `mutual args` from `cwd` with `env`, as a partner on their own machine.
pub fn partner_cmd(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mutual"));
    c.current_dir(cwd)
        .args(args)
        .env(PASSPHRASE_ENV, DEMO_PASSPHRASE)
        .env("HOME", cwd)
        // Times are shown in the machine's zone; the assertions below read UTC.
        .env("TZ", "UTC")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("runs")
}

pub fn succeeds(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = partner_cmd(cwd, args, env);
    assert!(
        out.status.success(),
        "mutual {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn fails(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = partner_cmd(cwd, args, env);
    assert!(!out.status.success(), "mutual {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Events in the node's log that no practice's node signed: what partners signed, or was
/// kept of theirs. A node's own events (the witnesses it writes as ballots arrive) come
/// and go with the network's business, so a check that a partner's refused request
/// stored nothing counts these.
pub fn partners_events(dir: &Path) -> u64 {
    let list: Vec<serde_json::Value> = Client::of(dir)
        .expect("client")
        .get("/events?limit=1000")
        .expect("events");
    assert!(list.len() < 1000, "a test's log fits one page");
    list.iter()
        .filter(|e| {
            !e["who"]
                .as_str()
                .unwrap_or_default()
                .starts_with("practice ")
        })
        .count() as u64
}

pub fn members_of(dir: &Path) -> Vec<MemberView> {
    Client::of(dir)
        .expect("client")
        .get("/members")
        .expect("members")
}

pub fn motions(dir: &Path) -> Vec<MotionView> {
    Client::of(dir)
        .expect("client")
        .get("/motions")
        .expect("motions")
}

pub fn motion(dir: &Path, id: &str) -> MotionView {
    Client::of(dir)
        .expect("client")
        .get(&format!("/motions/{id}"))
        .expect("motion")
}

/// Waits (at most `secs`) until `done` holds.
pub fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {secs} s");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Time passes: once every ballot is witnessed on every node, every node is stopped, its
/// clock moved on by `minutes`, and started again.
pub fn pass_time(dirs: &[PathBuf], nodes: &mut Vec<std::process::Child>, minutes: i64) {
    for d in dirs {
        wait_for("every ballot witnessed", 120, || {
            motions(d)
                .iter()
                .all(|m| m.closed || m.tally.unwitnessed == 0)
        });
    }
    for n in nodes.drain(..) {
        stop(n);
    }
    for d in dirs {
        let mut c = FileConfig::read(d).expect("config");
        c.clock_offset_ms += minutes * 60_000;
        c.write(d).expect("config");
    }
    for d in dirs {
        nodes.push(start(d));
    }
}

pub fn propose(cwd: &Path, url: &str, ks: &Path, args: &[&str]) -> String {
    let mut all = vec!["motion", "propose", "--node", url, "--keystore", s(ks)];
    all.extend_from_slice(args);
    all.push("--json");
    let out = succeeds(cwd, &all, &[]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    v["id"].as_str().expect("id").to_string()
}

/// A demo partnership of three practices, as partners on a laptop reach it: practices 1
/// and 2 (North) founded it with Dr Amara Okafor and Dr Ben Hughes; practice 3 (South)
/// was admitted by vote with its first partner, Dr Chloe Patel, who signed the agreement.
/// (The demo also elected a board and chair and replaced Dr Hughes's lost key: his
/// keystore is the new one.)
pub struct DemoPartnership {
    /// The demo's summary (`mutual demo --json`).
    pub summary: serde_json::Value,
    /// The demo's directory.
    pub dir: PathBuf,
    /// Each practice's data directory.
    pub dirs: Vec<PathBuf>,
    /// A directory with no node data: the partners' laptop.
    pub laptop: PathBuf,
    /// Each practice's partner's keystore.
    pub ks: Vec<PathBuf>,
    /// Each practice's node's API address, as `MUTUAL_NODE` takes it.
    pub urls: Vec<String>,
}

/// Runs `mutual demo --practices 3` under `tmp` (its nodes stopped after it).
pub fn demo_partnership(tmp: &Path) -> DemoPartnership {
    let dir = tmp.join("demo");
    let summary = serde_json::from_str(&super::ok(&[
        "demo",
        "--practices",
        "3",
        "--dir",
        s(&dir),
        "--timeout",
        "120",
        "--json",
    ]))
    .expect("JSON");
    let dirs: Vec<PathBuf> = (1..=3).map(|i| dir.join(format!("practice-{i}"))).collect();
    let laptop = tmp.join("laptop");
    std::fs::create_dir_all(&laptop).expect("laptop");
    let ks = (1..=3)
        .map(|i| dir.join("partners").join(format!("partner-{i}.keystore")))
        .collect();
    let urls = dirs
        .iter()
        .map(|d| format!("http://{}", FileConfig::read(d).expect("config").api))
        .collect();
    DemoPartnership {
        summary,
        dir,
        dirs,
        laptop,
        ks,
        urls,
    }
}
