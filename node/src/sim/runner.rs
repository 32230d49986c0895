//! Running many seeds (`mutual simulate`): each seed is one whole simulation, run on as
//! many threads as the machine has; each reports as it ends, and the run ends with the
//! seeds per minute and, for every seed that failed, how to replay it (and, asked, the
//! least plan that still fails).

use super::shrink::shrink;
use super::{run, Plan, MAX_SIM_NODES, MIN_SIM_NODES};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Most seeds one run may ask for.
pub const MAX_SEEDS: u64 = 1_000_000;

/// What to run.
#[derive(Debug, Clone)]
pub struct Run {
    /// The first seed.
    pub first: u64,
    /// How many seeds, from `first` on.
    pub seeds: u64,
    /// Founding practices per simulation.
    pub nodes: usize,
    /// Length of each faulty phase, simulated ms.
    pub fault_ms: u64,
    /// Shrink failing seeds.
    pub shrink: bool,
    /// One exact plan to run instead of seeds (from a replay command).
    pub plan: Option<Plan>,
}

/// One failing seed.
#[derive(Debug, Clone, Serialize)]
pub struct SeedFailure {
    /// The seed.
    pub seed: u64,
    /// What broke.
    pub violation: String,
    /// The command that replays it.
    pub replay: String,
    /// The least plan that still fails, if shrunk: its replay command and what broke.
    pub shrunk: Option<(String, String)>,
}

/// What a run came to.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Seeds run.
    pub seeds: u64,
    /// Founding practices per simulation.
    pub nodes: usize,
    /// Seeds that kept every invariant.
    pub passed: u64,
    /// Seeds that broke one.
    pub failed: u64,
    /// Seeds run per minute of wall-clock time, on this machine, in this run.
    pub seeds_per_minute: f64,
    /// The failing seeds.
    pub failures: Vec<SeedFailure>,
}

impl Summary {
    /// The closing line.
    pub fn line(&self) -> String {
        format!(
            "{} seeds of {} nodes: {} passed, {} failed; {:.1} seeds per minute",
            self.seeds, self.nodes, self.passed, self.failed, self.seeds_per_minute
        )
    }
}

/// Why a run cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// Outside the allowed range.
    #[error("{what} must be between {min} and {max}, got {got}")]
    OutOfRange {
        /// Which setting.
        what: &'static str,
        /// Lowest allowed.
        min: u64,
        /// Highest allowed.
        max: u64,
        /// What was asked for.
        got: u64,
    },
}

/// Runs the seeds; `report` gets one line per seed as it ends.
pub fn run_seeds(r: &Run, report: impl Fn(String) + Sync) -> Result<Summary, RunError> {
    let range = |what, got: u64, min: u64, max: u64| {
        if (min..=max).contains(&got) {
            Ok(())
        } else {
            Err(RunError::OutOfRange {
                what,
                min,
                max,
                got,
            })
        }
    };
    let nodes = r.plan.as_ref().map_or(r.nodes, |p| p.nodes);
    range(
        "nodes",
        nodes as u64,
        MIN_SIM_NODES as u64,
        MAX_SIM_NODES as u64,
    )?;
    let seeds = if r.plan.is_some() { 1 } else { r.seeds };
    range("seeds", seeds, 1, MAX_SEEDS)?;
    range("fault seconds", r.fault_ms / 1000, 10, 24 * 3600)?;
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let failures = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= seeds {
                    break;
                }
                let seed = r.plan.as_ref().map_or(r.first.wrapping_add(i), |p| p.seed);
                let plan = match &r.plan {
                    Some(p) => p.clone(),
                    None => {
                        let mut p = Plan::sized(seed, r.nodes);
                        p.fault_ms = r.fault_ms;
                        p
                    }
                };
                match run(&plan) {
                    Ok(rep) => report(format!(
                        "seed {seed}: ok, {} events, {} faults, converged {:.0} s after the \
                         heal{}",
                        rep.events,
                        rep.faults(),
                        rep.converged_after_ms.unwrap_or(0) as f64 / 1000.0,
                        rep.federation_line()
                    )),
                    Err(f) => {
                        let shrunk = r
                            .shrink
                            .then(|| shrink(&plan))
                            .flatten()
                            .map(|(p, f)| (p.replay(), f.violation.to_string()));
                        report(format!(
                            "seed {seed}: FAILED: {}\n  replay: {}{}",
                            f.violation,
                            f.replay,
                            shrunk
                                .as_ref()
                                .map(|(p, v)| format!("\n  shrunk: {p}\n    {v}"))
                                .unwrap_or_default()
                        ));
                        let mut all = failures.lock().unwrap_or_else(|e| e.into_inner());
                        all.push(SeedFailure {
                            seed,
                            violation: f.violation.to_string(),
                            replay: f.replay,
                            shrunk,
                        });
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    failures.sort_by_key(|f| f.seed);
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    let failed = failures.len() as u64;
    Ok(Summary {
        seeds,
        nodes,
        passed: seeds - failed,
        failed,
        seeds_per_minute: seeds as f64 / minutes.max(1e-9),
        failures,
    })
}
