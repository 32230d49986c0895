//! Whole-system tests for Mutual live in `tests/tests/`. This library holds what they
//! share.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// The workspace root, for tests that inspect the project itself.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}
