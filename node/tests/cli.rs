//! The `mutual` binary, driven as a user would: separate processes, real files.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn mutual(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mutual"))
        .args(args)
        .output()
        .expect("the mutual binary runs")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON on stdout")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn key_new_then_show() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("node.key");
    let made = json(&mutual(&["--json", "key", "new", "--out", s(&path)]));
    let mode = std::fs::metadata(&path).expect("file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let shown = json(&mutual(&["key", "show", s(&path), "--json"]));
    assert_eq!(made["public_key"], shown["public_key"]);
    assert_eq!(made["peer_id"], shown["peer_id"]);
    assert_eq!(shown["fingerprint"].as_str().map(str::len), Some(19));
    // Refuses to overwrite, with a message that says what to do; the key is unchanged.
    let again = mutual(&["key", "new", "--out", s(&path)]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
    let still = json(&mutual(&["key", "show", s(&path), "--json"]));
    assert_eq!(still["public_key"], made["public_key"]);
}

#[test]
fn simulate_export_and_verify_agree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("log.bin");
    let sim = json(&mutual(&[
        "simulate",
        "--orders",
        "--practices",
        "4",
        "--events",
        "300",
        "--seed",
        "9",
        "--export",
        s(&log),
        "--json",
    ]));
    assert_eq!(sim["converged"], true);
    let nodes = sim["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 4);
    let report = json(&mutual(&["verify", s(&log), "--json"]));
    assert_eq!(report["events"], 301);
    assert_eq!(report["valid"], 301);
    assert_eq!(report["state_hash"], nodes[0]["state_hash"]);
}

#[test]
fn verify_reports_tampering_and_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("log.bin");
    json(&mutual(&[
        "simulate",
        "--orders",
        "--practices",
        "2",
        "--events",
        "20",
        "--export",
        s(&log),
        "--json",
    ]));
    let mut bytes = std::fs::read(&log).expect("read");
    // Flip a byte near the end: inside the last event's signature.
    let n = bytes.len();
    bytes[n - 5] ^= 0x01;
    let tampered = dir.path().join("tampered.bin");
    std::fs::write(&tampered, &bytes).expect("write");
    let out = mutual(&["verify", s(&tampered), "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a tampered log fails verification"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["valid"], 20);
    assert_eq!(report["invalid"]["bad signature"], 1);
    // A truncated file is a framing error, said plainly.
    let cut = dir.path().join("cut.bin");
    std::fs::write(&cut, &bytes[..n - 10]).expect("write");
    let out = mutual(&["verify", s(&cut)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("runs past the end"));
    // Not an export at all.
    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, b"hello world").expect("write");
    assert_eq!(mutual(&["verify", s(&junk)]).status.code(), Some(2));
}

#[test]
fn simulate_refuses_out_of_range_plans() {
    let out = mutual(&["simulate", "--orders", "--practices", "65"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("practices must be between 1 and 64"));
    let out = mutual(&["simulate", "--orders", "--practices", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let ok = mutual(&[
        "simulate",
        "--orders",
        "--practices",
        "64",
        "--events",
        "10",
        "--json",
    ]);
    assert_eq!(json(&ok)["converged"], true);
}

#[test]
fn output_to_a_closed_pipe_stops_quietly_without_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("node.key");
    json(&mutual(&["--json", "key", "new", "--out", s(&path)]));
    // The reader is gone before the command writes: every write fails (EPIPE).
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_mutual"))
        .args(["key", "show", s(&path)])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "ends as Unix tools do when their reader goes away: {:?}",
        out.status
    );
}

#[test]
fn a_keystore_moves_to_a_second_device_with_its_record_and_never_overwrites() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = dir.path().join("laptop").join("keystore");
    let second = dir.path().join("desktop").join("keystore");
    let export = dir.path().join("keystore.export");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_mutual"))
            .args(args)
            .env("MUTUAL_PASSPHRASE", "a passphrase long enough")
            .output()
            .expect("runs")
    };
    let made = json(&run(&["--json", "keystore", "new", "--out", s(&first)]));
    // The record of the last event signed travels with it.
    let record = r#"{"key":"k","network":"n","seq":7,"event":"e"}"#;
    std::fs::write(format!("{}.last", first.display()), record).expect("record");
    json(&run(&[
        "--json",
        "keystore",
        "export",
        "--keystore",
        s(&first),
        "--out",
        s(&export),
    ]));
    let mode = std::fs::metadata(&export)
        .expect("export")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the export is as private as the keystore");
    let imported = json(&run(&[
        "--json",
        "keystore",
        "import",
        s(&export),
        "--out",
        s(&second),
    ]));
    assert_eq!(imported["key"], made["key"]);
    let moved: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}.last", second.display())).expect("record"),
    )
    .expect("JSON");
    assert_eq!(moved["seq"], 7);
    // Never over an existing keystore; a file that is not an export is refused.
    let again = run(&["keystore", "import", s(&export), "--out", s(&second)]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
    let bad = dir.path().join("not-an-export");
    std::fs::write(&bad, "{}").expect("write");
    let refused = run(&[
        "keystore",
        "import",
        s(&bad),
        "--out",
        s(&dir.path().join("x")),
    ]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is not a keystore export"));
    assert!(!dir.path().join("x").exists());
}

#[test]
fn completions_name_every_command_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = mutual(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        for command in [
            "motion",
            "vote",
            "deed",
            "history",
            "paper",
            "members",
            "aid",
            "federation",
            "keystore",
            "proxy",
            "practice",
            "simulate",
            "verify",
        ] {
            assert!(script.contains(command), "{shell} completes {command}");
        }
    }
    let out = mutual(&["completions", "tcsh"]);
    assert!(!out.status.success(), "an unknown shell is refused");
}
