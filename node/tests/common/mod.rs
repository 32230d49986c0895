//! Helpers shared by the tests that drive the `mutual` binary as separate processes.
#![allow(dead_code)]

pub mod net;
pub mod partners;

use mutual_node::client::Client;
use mutual_node::keystore::PASSPHRASE_ENV;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The demo partners' passphrase.
pub const DEMO_PASSPHRASE: &str = mutual_node::demo::DEMO_PASSPHRASE;

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs `mutual <args>` (with the demo passphrase in the environment).
pub fn mutual(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mutual"))
        .args(args)
        .env(PASSPHRASE_ENV, DEMO_PASSPHRASE)
        .stdin(Stdio::null())
        .output()
        .expect("runs")
}

/// Runs `mutual <args>`, expecting success; returns its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = mutual(args);
    assert!(
        out.status.success(),
        "mutual {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `mutual <args>` with an optional environment variable, expecting failure; returns
/// its stderr.
pub fn refused(args: &[&str], env: Option<(&str, &str)>) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mutual"));
    c.args(args).stdin(Stdio::null());
    if let Some((k, v)) = env {
        c.env(k, v);
    }
    let out = c.output().expect("runs");
    assert!(!out.status.success(), "mutual {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A loopback port free just now, never one this test process was given before.
pub fn free_port() -> u16 {
    mutual_node::demo::free_port().expect("a free port")
}

/// A number from the environment variable `name`, if set; a clear failure if it is not
/// a number.
pub fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, got {v:?}"))
    })
}

/// Starts `mutual start --dir dir` (log appended to dir/node.log) and waits, at most 60 s,
/// until its API answers.
pub fn start(dir: &Path) -> Child {
    start_with(dir, |_| {})
}

/// As [`start`], with the command prepared by `prepare` first.
pub fn start_with(dir: &Path, prepare: impl FnOnce(&mut Command)) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mutual"));
    prepare(&mut command);
    let mut child = command
        .args(["start", "--dir", s(dir)])
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("node.log"))
                .expect("log file"),
        )
        .spawn()
        .expect("starts");
    let c = Client::of(dir).expect("client");
    let deadline = Instant::now() + Duration::from_secs(60);
    while c.get::<serde_json::Value>("/status").is_err() {
        let exited = child.try_wait().expect("wait");
        assert!(
            Instant::now() < deadline && exited.is_none(),
            "the node answers within 60 s (exited: {exited:?}); its log:\n{}",
            std::fs::read_to_string(dir.join("node.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Stops a node with SIGTERM and checks it exits cleanly within 30 s.
pub fn stop(mut child: Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(code) = child.try_wait().expect("wait") {
            assert!(code.success(), "clean exit on SIGTERM: {code}");
            return;
        }
        assert!(Instant::now() < deadline, "the node stops within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A running node's status, if its API answers.
pub fn status(dir: &Path) -> Option<serde_json::Value> {
    Client::of(dir).ok()?.get("/status").ok()
}

/// `mutual init` with loopback listen and API addresses; returns (node key, peer id,
/// listen address).
pub fn init(dir: &Path) -> (String, String, String) {
    let listen = format!("/ip4/127.0.0.1/tcp/{}", free_port());
    let out = ok(&[
        "init",
        "--dir",
        s(dir),
        "--listen",
        &listen,
        "--api",
        &format!("127.0.0.1:{}", free_port()),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    (
        v["node_key"].as_str().expect("key").to_string(),
        v["peer_id"].as_str().expect("peer id").to_string(),
        listen,
    )
}

/// One raw HTTP/1.1 request to `addr` with the given `Host` and extra header lines
/// (`auth`, each ending in CRLF); returns the whole answer.
pub fn raw(addr: &str, host: &str, method: &str, path: &str, body: &[u8], auth: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .expect("write");
    s.write_all(body).expect("body");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}
