//! `mutual export` and `mutual verify`: the audit format, written and checked offline.

use anyhow::{Context, Result};
use mutual_node::{export, now_ms};
use std::path::Path;
use std::path::PathBuf;
use std::process::ExitCode;

/// `mutual export`.
#[derive(clap::Args)]
pub(super) struct ExportArgs {
    /// The data directory.
    #[arg(long)]
    pub(super) dir: PathBuf,
    /// The file to write.
    #[arg(long)]
    pub(super) out: PathBuf,
    /// Export this federation's log instead of the network's: its id, or the start of
    /// it if that names one federation the directory keeps.
    #[arg(long, value_name = "ID")]
    pub(super) federation: Option<String>,
}

pub(super) fn export(json: bool, a: ExportArgs) -> Result<ExitCode> {
    let ExportArgs {
        dir,
        out,
        federation,
        ..
    } = a;
    let (fed, bytes) = match &federation {
        Some(f) => {
            let (id, bytes) = export::export_federation(&dir, f)?;
            (Some(id.to_string()), bytes)
        }
        None => (None, export_dir(&dir)?),
    };
    let log = fed
        .as_ref()
        .map(|id| format!("of federation {id} "))
        .unwrap_or_default();
    std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    let events = export::frames(&bytes)?.len();
    if json {
        println!(
            "{}",
            serde_json::json!({ "out": out, "events": events, "bytes": bytes.len(), "federation": fed })
        );
    } else {
        println!(
                "{events} signed events {log}({} bytes) written to {}; check them with `mutual verify {}`",
                bytes.len(),
                out.display(),
                out.display()
            );
    }
    Ok(ExitCode::SUCCESS)
}

/// `mutual verify`.
#[derive(clap::Args)]
pub(super) struct VerifyArgs {
    /// The export file.
    pub(super) file: PathBuf,
    /// Verify as a node whose clock read this time would (default: this machine's
    /// clock): events dated more than 5 minutes later are set aside, and motions show as
    /// open, provisional or final as of then. "2026-12-20 17:00" (UTC unless a zone
    /// follows, e.g. "+01:00") or RFC 3339.
    #[arg(long, value_name = "TIME")]
    pub(super) as_of: Option<String>,
}

pub(super) fn verify(json: bool, a: VerifyArgs) -> Result<ExitCode> {
    let VerifyArgs { file, as_of, .. } = a;
    let as_of_ms = match &as_of {
        Some(t) => export::parse_time(t).context("--as-of")?,
        None => now_ms(),
    };
    let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let report = export::verify(&bytes, as_of_ms)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_verify_report(&report, as_of.is_some());
    }
    if !report.invalid.is_empty() || report.incomplete > 0 {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// `mutual verify`'s report, for people.
pub(super) fn print_verify_report(report: &export::Report, as_of_given: bool) {
    let (kind, root) = match report.log {
        export::LogKind::Network => ("network   ", "genesis"),
        export::LogKind::Federation => ("federation", "charter"),
    };
    let name = match (&report.name, report.root_stored) {
        (Some(name), _) => name.clone(),
        (None, true) => format!("its {root} is refused by the rules"),
        (None, false) => format!("its {root} is invalid, or dated after the time verified as of"),
    };
    println!("{kind}  {} ({name})", report.network);
    println!(
        "as of       {} ({})",
        report.as_of,
        if as_of_given {
            "--as-of"
        } else {
            "this machine's clock"
        }
    );
    println!("events      {}", report.events);
    println!("valid       {}", report.valid);
    println!("  applied   {}", report.applied);
    println!(
        "  refused by the rules (kept as evidence) {}",
        report.rejected_by_rules
    );
    for (reason, n) in &report.invalid {
        println!("invalid     {n}  {reason}");
    }
    if report.incomplete > 0 {
        println!(
            "incomplete  {} (their causes are not in the file, or are not valid)",
            report.incomplete
        );
    }
    if report.future_dated > 0 {
        println!(
            "later       {} (dated more than 5 minutes after {}; set aside)",
            report.future_dated, report.as_of
        );
    }
    println!("forks       {}", report.forks);
    for m in &report.motions {
        let state = match (m.closed, m.passed) {
            (true, Some(true)) => "closed, passed".to_string(),
            (true, _) => "closed, failed".to_string(),
            (false, _) if m.finality == "final" => format!(
                "past its grace period; not closed: no practice node event after {} is in the file",
                m.final_at
            ),
            (false, _) => format!("{} (voting closes {})", m.finality, m.closes_at),
        };
        println!(
            "motion      {} {:?} ({}): {state}",
            &m.id[..8],
            m.title,
            m.kind
        );
    }
    for p in &report.parties {
        let state = match (p.joined, p.left) {
            (_, true) => "left",
            (true, false) => "joined",
            (false, false) => "not joined",
        };
        println!("party       {} ({}): {state}", p.network, p.name);
    }
    println!("state hash  {}", report.state_hash);
}

/// The signed log of data directory `dir` in the export format: read from the store, or
/// through the running node's API when the node holds the store.
fn export_dir(dir: &Path) -> Result<Vec<u8>> {
    let store_dir = dir.join(mutual_node::store::STORE_DIR);
    if !store_dir.join(mutual_node::store::FORMAT_FILE).exists() {
        anyhow::bail!("{} has no store yet: start the node first", dir.display());
    }
    match mutual_node::store::SledStore::open(&store_dir) {
        Ok(store) => {
            use mutual_node::store::Store;
            let loaded = store.load()?;
            Ok(mutual_node::export::write_wires(&loaded.events))
        }
        Err(mutual_node::store::StoreError::InUse(_)) => {
            mutual_node::client::Client::of(dir)?.request("GET", "/export", "", &[], false)
        }
        Err(e) => Err(e.into()),
    }
}
