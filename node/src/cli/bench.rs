//! `mutual bench`: the performance figures, measured in one run on this machine.

use anyhow::Result;
use mutual_node::bench;
use std::process::ExitCode;

/// `mutual bench`.
#[derive(clap::Args)]
pub(super) struct BenchArgs {
    /// Measure at the targets' sizes (minutes to hours) instead of the quick ones.
    #[arg(long)]
    pub(super) full: bool,
    /// Measure this one figure alone (by its JSON name) and print it as JSON.
    #[arg(long, value_name = "FIGURE")]
    pub(super) only: Option<String>,
    /// Events of the national network `national_memory_mb` generates, in place of the
    /// size's own (10,000 quick, 10,000,000 full), with the size's practices and partners;
    /// the figure is judged against its target only at 10,000,000 with --full.
    #[arg(long, value_name = "N")]
    pub(super) national_events: Option<usize>,
}

pub(super) fn bench(json: bool, a: BenchArgs) -> Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!(
        "{}{}",
        bench::national::SCRATCH_PREFIX,
        std::process::id()
    ));
    let done = measure(json, a, &dir);
    // The scratch directory goes, whatever the benchmark's result.
    let _ = std::fs::remove_dir_all(&dir);
    done
}

/// Measures and prints; `dir` is the benchmarks' scratch directory.
fn measure(json: bool, a: BenchArgs, dir: &std::path::Path) -> Result<ExitCode> {
    let mut sizes = bench::Sizes::new(a.full);
    if let Some(n) = a.national_events {
        // The national figure is then judged only at the target's own count.
        sizes.national.events = n;
    }
    if let Some(figure) = &a.only {
        let v =
            bench::run_only(figure, sizes, dir).map_err(|e| anyhow::anyhow!("benchmark: {e}"))?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let figures = bench::run(sizes, dir).map_err(|e| anyhow::anyhow!("benchmark: {e}"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
        return Ok(ExitCode::SUCCESS);
    }
    let size = if a.full { "full" } else { "quick" };
    println!("Performance figures, {size} sizes, measured in this run on this machine:");
    println!();
    let lines = figures.lines();
    let width = lines.iter().map(|l| l.key.len()).max().unwrap_or(0);
    for l in &lines {
        let met = match l.met {
            Some(true) => "met",
            Some(false) => "not met",
            None if !l.measured => "not measured",
            None => "judged at --full",
        };
        println!(
            "  {:<width$}  {:<36}  target {:<26} {met}",
            l.key, l.value, l.target
        );
    }
    println!();
    let s = &figures.sizes;
    println!(
        "Sizes: ingest {} events; out of order {} -> {} events ({} replicas), convergence at \
         {}; sync {} authors, {} events, {} missing; one missing among {} authors, {} \
         events; store {} events; national network {} practices, {} partners, {} events.",
        s.ingest_events,
        s.reorder_events.0,
        s.reorder_events.1,
        s.reorder_replicas,
        s.simulate_events,
        s.sync_authors,
        s.sync_events,
        s.sync_missing,
        s.wide_authors,
        s.wide_events,
        s.disk_events,
        s.national.practices,
        s.national.partners,
        s.national.events
    );
    for n in &figures.notes {
        println!("Note: {n}.");
    }
    Ok(ExitCode::SUCCESS)
}
