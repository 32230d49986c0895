//! Every integration test of `node` in one test binary (one build and one link, not
//! one per file); each file stays a module of its own, named as before.

mod common;

#[path = "bench.rs"]
mod bench;
#[path = "cli.rs"]
mod cli;
#[path = "core.rs"]
mod core;
#[path = "core_papers.rs"]
mod core_papers;
#[path = "crash.rs"]
mod crash;
#[path = "daemon.rs"]
mod daemon;
#[path = "e2e.rs"]
mod e2e;
#[path = "fuzz_corpus.rs"]
mod fuzz_corpus;
#[path = "governance_cli.rs"]
mod governance_cli;
#[path = "powers_cli.rs"]
mod powers_cli;
#[path = "reorder.rs"]
mod reorder;
#[path = "simulation.rs"]
mod simulation;
#[path = "spec_export.rs"]
mod spec_export;
