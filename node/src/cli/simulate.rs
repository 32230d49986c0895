//! `mutual simulate`: the deterministic simulator over seeds, or the in-process
//! delivery-order check of the fold.

use anyhow::{Context, Result};
use mutual_node::{export, now_ms, simulate};
use std::path::PathBuf;
use std::process::ExitCode;

/// `mutual simulate`.
#[derive(clap::Args)]
pub(super) struct SimulateArgs {
    /// Seeds to run, from --seed on.
    #[arg(long, default_value_t = 1)]
    pub(super) seeds: u64,
    /// The first seed (with --orders, the one seed).
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
    /// Founding practices, one node each (a joining practice comes on top).
    #[arg(long, default_value_t = 12)]
    pub(super) nodes: usize,
    /// Length of the faulty phase, simulated seconds.
    #[arg(long, default_value_t = mutual_node::sim::STANDARD_FAULT_MS / 1000)]
    pub(super) fault_secs: u64,
    /// Shrink a failing seed to the least plan that still fails.
    #[arg(long)]
    pub(super) shrink: bool,
    /// Replay one exact plan, as a failing run prints it (JSON).
    #[arg(long)]
    pub(super) plan: Option<String>,
    /// Run the in-process delivery-order check instead.
    #[arg(long)]
    pub(super) orders: bool,
    /// With --orders: number of practices (one replica each).
    #[arg(long, default_value_t = 5)]
    pub(super) practices: usize,
    /// With --orders: number of events to author after the genesis.
    #[arg(long, default_value_t = 2_000)]
    pub(super) events: usize,
    /// With --orders: also write the signed log to this file (the export format).
    #[arg(long)]
    pub(super) export: Option<PathBuf>,
}

pub(super) fn simulate(json: bool, a: SimulateArgs) -> Result<ExitCode> {
    if a.orders {
        return orders(json, a);
    }
    let SimulateArgs {
        seeds,
        seed,
        nodes,
        fault_secs,
        shrink,
        plan,
        ..
    } = a;
    let plan = match plan {
        Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "--plan is not a simulation plan ({e}); pass it as a failing run printed it"
            )
        })?),
        None => None,
    };
    let run = mutual_node::sim::runner::Run {
        first: seed,
        seeds,
        nodes,
        fault_ms: fault_secs.saturating_mul(1000),
        shrink,
        plan,
    };
    let summary = mutual_node::sim::runner::run_seeds(&run, |line| {
        if !json {
            println!("{line}");
        }
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{}", summary.line());
    }
    if summary.failed > 0 {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// `mutual simulate --orders`: the in-process delivery-order check of the fold.
fn orders(json: bool, a: SimulateArgs) -> Result<ExitCode> {
    let SimulateArgs {
        practices,
        events,
        seed,
        export: out,
        ..
    } = a;
    let plan = simulate::Plan {
        practices,
        events,
        seed,
        start_ms: now_ms().saturating_sub(30 * 24 * 3_600_000),
    };
    let summary = simulate::run(&plan)?;
    if let Some(path) = &out {
        std::fs::write(path, export::write(&summary.log))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("network {}", summary.network);
        println!(
                "{} signed events authored by {} practices; each replica received {} copies in its own order",
                summary.authored, practices, summary.delivered_per_node
            );
        for n in &summary.nodes {
            println!(
                "  {}  {:>6} events ({} brought by the sync pass)  state {}",
                n.practice, n.events, n.by_sync, n.state_hash
            );
        }
        println!("converged: {}", summary.converged);
        if let Some(path) = &out {
            println!(
                "signed log written to {} (check it with `mutual verify`)",
                path.display()
            );
        }
    }
    if !summary.converged {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
