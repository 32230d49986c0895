//! The fuzz corpus as regression tests: every input kept in `fuzz/corpus/<target>/` runs
//! through its target's check (`mutual_node::fuzzing`) on the stable toolchain, so an
//! input that once found a fault, or reached new code, is tried on every run.

use mutual_node::fuzzing::TARGETS;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

#[test]
fn every_kept_input_passes_its_targets_check() {
    let mut failures = Vec::new();
    let mut counts = Vec::new();
    for (name, check) in TARGETS {
        let dir = fuzz_dir().join("corpus").join(name);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{name} keeps no inputs");
        for f in &files {
            let bytes = std::fs::read(f).expect("a corpus file");
            if catch_unwind(AssertUnwindSafe(|| check(&bytes))).is_err() {
                failures.push(f.display().to_string());
            }
        }
        counts.push(format!("{name} {}", files.len()));
    }
    println!("inputs kept: {}", counts.join(", "));
    assert!(failures.is_empty(), "inputs that fail: {failures:?}");
}

#[test]
fn every_fuzz_target_runs_a_check_with_a_corpus() {
    let mut targets: Vec<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .expect("fuzz/fuzz_targets")
        .map(|e| {
            let p = e.expect("a directory entry").path();
            p.file_stem()
                .expect("a name")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    targets.sort();
    let mut checks: Vec<String> = TARGETS.iter().map(|t| t.0.to_string()).collect();
    checks.sort();
    assert_eq!(targets, checks);
    for t in &targets {
        let source = std::fs::read_to_string(fuzz_dir().join(format!("fuzz_targets/{t}.rs")))
            .expect("a target's source");
        assert!(
            source.contains(&format!("mutual_node::fuzzing::{t}(data)")),
            "{t} runs its check"
        );
    }
}
