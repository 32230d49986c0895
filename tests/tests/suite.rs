//! Every integration test of `tests` in one test binary (one build and one link, not
//! one per file); each file stays a module of its own, named as before.

#[path = "dependencies.rs"]
mod dependencies;
#[path = "federation.rs"]
mod federation;
#[path = "governance.rs"]
mod governance;
#[path = "hostile.rs"]
mod hostile;
#[path = "metrics.rs"]
mod metrics;
#[path = "network.rs"]
mod network;
#[path = "web.rs"]
mod web;
