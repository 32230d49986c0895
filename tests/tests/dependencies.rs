//! The protocol core stays pure: no async runtime, no storage, no networking in its
//! dependency tree (DESIGN.md: "No tokio, no sled, no libp2p").

use std::process::Command;

const FORBIDDEN: &[&str] = &["tokio", "sled", "libp2p", "async-std", "mio", "socket2"];

#[test]
fn the_protocol_crate_has_no_io_dependencies() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(mutual_tests::workspace_root())
        .args([
            "tree",
            "-p",
            "mutual-protocol",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        crates.contains(&"mutual-protocol"),
        "the tree lists the crate itself"
    );
    assert!(
        crates.contains(&"ed25519-dalek"),
        "and its real dependencies"
    );
    for c in &crates {
        for f in FORBIDDEN {
            assert!(!c.starts_with(f), "mutual-protocol depends on {c}");
        }
    }
}
