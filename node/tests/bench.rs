//! `mutual bench` at its quick sizes, so that it cannot rot: one JSON object with a value
//! under every figure's name, each in a sane range. No timing is asserted: the machines
//! are shared and noisy.

use std::process::Command;

const KEYS: &[&str] = &[
    "ingest_over_batch_verify",
    "reorder_growth",
    "simulate_100k_converged",
    "sync_over_missing",
    "sync_bytes_one_missing_40k_authors",
    "in_sync_round_bytes",
    "gossip_copies_per_event",
    "disk_over_wire",
    "national_memory_mb",
    "binary_mb",
    "sizes",
];

#[test]
fn bench_prints_every_figure_in_one_json_object() {
    let out = Command::new(env!("CARGO_BIN_EXE_mutual"))
        .args(["bench", "--json"])
        .output()
        .expect("mutual runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    for k in KEYS {
        assert!(v.get(k).is_some(), "no {k} in {v}");
    }
    let num = |k: &str| {
        v[k].as_f64()
            .unwrap_or_else(|| panic!("{k} is a number: {v}"))
    };
    // Ingest does at least the batch verification and more, so it is slower, but not by
    // orders of magnitude.
    let ingest = num("ingest_over_batch_verify");
    assert!(ingest > 0.01 && ingest < 1.5, "{v}");
    // The large out-of-order run converges at the quick size, so its growth is given.
    assert!(num("reorder_growth") > 0.0, "{v}");
    assert_eq!(v["simulate_100k_converged"], true, "{v}");
    // Sync carries at least the missing events, and some bytes even in sync.
    assert!(num("sync_over_missing") >= 1.0, "{v}");
    // One missing event among 2,000 authors: a few kilobytes, not the frontier (a count
    // of bytes, the same on every machine).
    let one = num("sync_bytes_one_missing_40k_authors");
    assert!(one > 0.0 && one < 8_192.0, "{v}");
    // Every receiving node reads each gossiped event about once at least, and not from
    // more peers than it has.
    let copies = num("gossip_copies_per_event");
    assert!(copies > 0.5 && copies < 16.0, "{v}");
    assert!(num("in_sync_round_bytes") > 0.0, "{v}");
    assert!(num("disk_over_wire") > 0.0, "{v}");
    // A test build is not the release binary the target is for.
    assert!(v["binary_mb"].is_null(), "{v}");
    // A node holding the generated network (every event and member, or the bench
    // fails) takes some memory, less than the machine has.
    let memory = num("national_memory_mb");
    assert!(memory > 1.0 && memory < 16_384.0, "{v}");
    // The sizes say they are the quick ones.
    assert_eq!(v["sizes"]["full"], false, "{v}");
    assert!(!v["notes"].as_array().expect("notes").is_empty(), "{v}");
}

#[test]
fn bench_prints_its_figures_against_their_targets() {
    let out = Command::new(env!("CARGO_BIN_EXE_mutual"))
        .arg("bench")
        .output()
        .expect("mutual runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for k in KEYS.iter().filter(|k| **k != "sizes") {
        assert!(text.contains(k), "{k} missing from:\n{text}");
    }
    assert!(text.contains("target >= 0.8"), "{text}");
    assert!(text.contains("judged at --full"), "{text}");
}

#[test]
fn bench_measures_one_figure_alone_and_refuses_an_unknown_one() {
    let out = Command::new(env!("CARGO_BIN_EXE_mutual"))
        .args(["bench", "--only", "in_sync_round_bytes"])
        .output()
        .expect("mutual runs");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert!(
        v["in_sync_round_bytes"].as_u64().is_some_and(|b| b > 0),
        "{v}"
    );
    assert!(v.get("disk_over_wire").is_none(), "{v}");
    let out = Command::new(env!("CARGO_BIN_EXE_mutual"))
        .args(["bench", "--only", "speed"])
        .output()
        .expect("mutual runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no figure named") && err.contains("disk_over_wire"),
        "{err}"
    );
}

/// The benchmark's holding node opens only a store the benchmark generated, never a
/// practice's own.
#[test]
fn the_holding_node_opens_only_a_generated_store() {
    let dir = tempfile::TempDir::new().expect("dir");
    // Neither a store elsewhere, nor one named as the bench names its own but not in its
    // scratch directory.
    let national = dir.path().join("national");
    std::fs::create_dir(&national).expect("dir");
    for store in [dir.path(), &national] {
        let out = Command::new(env!("CARGO_BIN_EXE_mutual"))
            .args(["bench-hold", &store.display().to_string(), &"ab".repeat(32)])
            .output()
            .expect("mutual runs");
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("is not a store `mutual bench` generated"),
            "{err}"
        );
    }
    assert_eq!(
        std::fs::read_dir(&national).expect("dir").count(),
        0,
        "nothing was written"
    );
}
