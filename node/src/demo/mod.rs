//! `mutual demo`: a local partnership of separate node processes on loopback, driven by
//! the same commands a practice would type, narrated step by step.
//!
//! Every step runs this binary as a child process (`mutual init`, `found`, `join`,
//! `start`, `invite`, `motion propose`, `vote`, `aid ...`, `federation ...`), printing the
//! command first. Each node keeps its store in its own directory under the demo's
//! directory, which is left in place for `mutual export` and `mutual verify`.
//!
//! A second partnership of one practice is founded beside the first, and the two link in
//! a federation by their own partners' votes, then share aid and decide a joint motion.
//!
//! [`harness`]: the nodes as child processes and the commands run on them; [`script`]: the
//! partnership's story, step by step; [`federation`]: the second partnership and the
//! federation of the two.

pub mod federation;
pub mod governance;
pub mod harness;
pub mod script;

use anyhow::{bail, ensure, Context, Result};
use harness::Demo;
use serde::Serialize;
use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Fewest practices a demo runs: two founders and one to admit.
pub const MIN_PRACTICES: usize = 3;
/// Most practices a demo runs: a partnership the size of the largest the project serves
/// (32 practices).
pub const MAX_PRACTICES: usize = 32;
/// The passphrase of the demo partners' keystores (never use it for real keys).
pub const DEMO_PASSPHRASE: &str = "demo passphrase, not for real keys";
/// Minutes the demo's motions stay open.
const VOTING_MINUTES: u64 = 2;
/// The demo deed's grace period, in minutes (the least a deed may set).
const GRACE_MINUTES: u64 = 5;
/// How far the nodes' clocks move each time "time passes" (`clock_offset_ms`): more than
/// a motion's voting and grace periods, so that both pass.
const CLOCK_STEP_MS: i64 = ((VOTING_MINUTES + GRACE_MINUTES + 1) * 60_000) as i64;
/// Times time passes in the demo: the nodes' clocks start this many steps behind and
/// are right at the end. Running behind rather than jumping ahead means no event is ever
/// dated in the future, so the stores verify at once afterwards.
const CLOCK_STEPS: i64 = 2;
/// The second partnership, which links with the first: its name, and its one practice
/// (name, partner, locality, ODS code).
const ALLY: (&str, (&str, &str, &str), &str) = (
    "Coastal GP Collaborative",
    ("Seaview Surgery", "Dr Nia Roberts", "Coast"),
    "E84001",
);
/// The federation's name.
const FEDERATION: &str = "North East GP Alliance";

const NAMES: [(&str, &str, &str); 12] = [
    ("Riverside Surgery", "Dr Amara Okafor", "North"),
    ("Hilltop Medical Centre", "Dr Ben Hughes", "North"),
    ("Parkview Practice", "Dr Chloe Patel", "South"),
    ("Meadow Lane Surgery", "Dr Daniel Evans", "South"),
    ("Castle Street Health Centre", "Dr Esther Cohen", "East"),
    ("Orchard Family Practice", "Dr Farid Rahman", "East"),
    ("Bridge End Surgery", "Dr Grace Lewis", "West"),
    ("Station Road Medical Practice", "Dr Hamid Ali", "West"),
    ("Mill House Surgery", "Dr Isla Morgan", "North"),
    ("Harbour View Practice", "Dr James Price", "South"),
    ("Elm Tree Surgery", "Dr Kemi Adeyemi", "East"),
    ("Wellgate Medical Group", "Dr Liam Walsh", "West"),
];

/// Practice `i`'s name, its partner's name and its locality: the twelve named ones, then
/// numbered ones in the four localities in turn.
fn practice_names(i: usize) -> (String, String, String) {
    match NAMES.get(i) {
        Some((p, d, l)) => (p.to_string(), d.to_string(), l.to_string()),
        None => (
            format!("Practice {}", i + 1),
            format!("Dr Partner {}", i + 1),
            ["North", "South", "East", "West"][i % 4].to_string(),
        ),
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Practices in all: the founders and one practice admitted by vote.
    pub practices: usize,
    /// Where the data directories go; must not exist or be empty.
    pub dir: PathBuf,
    /// How long each wait for the nodes may last.
    pub timeout: Duration,
    /// Narrate on stderr, leaving stdout to the JSON summary.
    pub json: bool,
}

/// One node at the end of the demo.
#[derive(Debug, Serialize)]
pub struct NodeSummary {
    /// The practice.
    pub practice: String,
    /// Its data directory.
    pub dir: PathBuf,
    /// Events in its store.
    pub events: u64,
    /// Its state hash.
    pub state_hash: String,
}

/// The demo's result (`--json`).
#[derive(Debug, Serialize)]
pub struct Summary {
    /// Whether every node of the first partnership ended with the same state hash.
    pub converged: bool,
    /// The network id.
    pub network: String,
    /// The admission motion and whether it took effect.
    pub admission_motion: String,
    /// Whether the invited practice ended as an active member.
    pub admitted: bool,
    /// The due-diligence paper the admission motion carried (its SHA-256), and whether
    /// every node of the partnership, the admitted one included, holds it checked.
    pub due_diligence: String,
    /// Whether every node holds every paper the log names (the agreement included).
    pub papers_everywhere: bool,
    /// The aid agreement made.
    pub agreement: String,
    /// The node killed and restarted, and whether it caught up.
    pub restarted: String,
    /// The board elected, one seat per locality: "name (locality)".
    pub board: Vec<String>,
    /// The chair elected.
    pub chair: Option<String>,
    /// Whether the admitted practice's first partner signed the agreement and votes.
    pub acceded: bool,
    /// Every node.
    pub nodes: Vec<NodeSummary>,
    /// The federation with the second partnership.
    pub federation: FederationSummary,
}

/// What the federation came to (`--json`).
#[derive(Debug, Serialize)]
pub struct FederationSummary {
    /// The federation's id.
    pub id: String,
    /// The second partnership's network id.
    pub ally_network: String,
    /// The second partnership's node.
    pub ally: NodeSummary,
    /// Whether every node of both networks holds the federation live.
    pub live: bool,
    /// The aid agreement between practices of the two networks.
    pub agreement: String,
    /// Whether it is binding on every node of both networks.
    pub binding: bool,
    /// The joint motion.
    pub joint_motion: String,
    /// The joint motion's result: "passed", "failed" or "open".
    pub joint_result: String,
    /// Whether every node of both networks ended with the same federation state hash.
    pub agreed: bool,
}

/// A loopback port free just now and not handed out before by this process. The system
/// may give the same free port to two binds in a row once the first is closed, so a node's
/// libp2p port and its API port, chosen one after the other before it starts, could
/// otherwise be the same.
pub fn free_port() -> std::io::Result<u16> {
    static HANDED: std::sync::Mutex<BTreeSet<u16>> = std::sync::Mutex::new(BTreeSet::new());
    let mut handed = HANDED.lock().unwrap_or_else(|e| e.into_inner());
    // Bounded: the system has tens of thousands of ephemeral ports.
    for _ in 0..1000 {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        if handed.insert(port) {
            return Ok(port);
        }
    }
    Err(std::io::Error::other(
        "no loopback port left that was not handed out",
    ))
}

fn json_field(out: &str, field: &str) -> Result<String> {
    let v: serde_json::Value =
        serde_json::from_str(out).with_context(|| format!("expected JSON, got {out:?}"))?;
    v[field]
        .as_str()
        .map(String::from)
        .with_context(|| format!("no {field:?} in {out}"))
}

/// Runs the demo.
pub fn run(plan: &Plan) -> Result<Summary> {
    ensure!(
        (MIN_PRACTICES..=MAX_PRACTICES).contains(&plan.practices),
        "--practices must be between {MIN_PRACTICES} and {MAX_PRACTICES}"
    );
    if plan.dir.exists()
        && std::fs::read_dir(&plan.dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} already exists and is not empty; remove it or give another --dir",
            plan.dir.display()
        );
    }
    std::fs::create_dir_all(&plan.dir)?;
    let mut demo = Demo {
        exe: std::env::current_exe().context("cannot find the mutual binary")?,
        plan: plan.clone(),
        practices: Vec::new(),
        started: Instant::now(),
    };
    demo.script()
}

pub use crate::dates::date_after;

#[cfg(test)]
mod tests {
    #[test]
    fn free_ports_are_never_handed_out_twice() {
        // The system readily gives a just-closed port to the next bind; two nodes' or one
        // node's two ports must still differ.
        let ports: std::collections::BTreeSet<u16> = (0..200)
            .map(|_| super::free_port().expect("a port"))
            .collect();
        assert_eq!(ports.len(), 200);
    }
}
