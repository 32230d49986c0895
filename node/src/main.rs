//! `mutual`: the command-line interface of a Mutual node.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use mutual_node::{export, keyfile, now_ms, simulate};
use std::path::PathBuf;
use std::process::ExitCode;

/// Mutual: a peer-to-peer federation for GP partnerships.
#[derive(Parser)]
#[command(name = "mutual", version, about, long_about = None)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create or inspect keys (practice node keys and partner keys).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Run an in-process partnership: several replicas fed the same signed events in
    /// different orders, with duplicates; prints each one's state hash.
    Simulate {
        /// Number of practices (one replica each).
        #[arg(long, default_value_t = 5)]
        practices: usize,
        /// Number of events to author after the genesis.
        #[arg(long, default_value_t = 2_000)]
        events: usize,
        /// Seed for every random choice.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also write the signed log to this file (the export format).
        #[arg(long)]
        export: Option<PathBuf>,
    },
    /// Verify an exported signed log offline: signatures, chains, rules; prints the
    /// event count, how many are valid, and the state hash.
    Verify {
        /// The export file.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create a new key file (mode 0600; never overwrites).
    New {
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Show a key file's public key, fingerprint and libp2p PeerId.
    Show {
        /// The key file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn print_key(json: bool, kp: &mutual_protocol::keys::Keypair, file: &std::path::Path) {
    let public = kp.public().to_string();
    let fingerprint = kp.public().fingerprint().to_string();
    let peer = keyfile::peer_id(kp).to_string();
    if json {
        println!(
            "{}",
            serde_json::json!({"file": file, "public_key": public, "fingerprint": fingerprint, "peer_id": peer})
        );
    } else {
        println!("key file     {}", file.display());
        println!("public key   {public}");
        println!("fingerprint  {fingerprint}");
        println!("peer id      {peer}");
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Key(KeyCommand::New { out }) => {
            let kp = keyfile::create(&out)?;
            print_key(cli.json, &kp, &out);
        }
        Command::Key(KeyCommand::Show { file }) => {
            let kp = keyfile::read(&file)?;
            print_key(cli.json, &kp, &file);
        }
        Command::Simulate {
            practices,
            events,
            seed,
            export: out,
        } => {
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
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                println!("network {}", summary.network);
                println!(
                    "{} signed events authored by {} practices; each replica received {} copies in its own order",
                    summary.authored, practices, summary.delivered_per_node
                );
                for n in &summary.nodes {
                    println!(
                        "  {}  {:>6} events  state {}",
                        n.practice, n.events, n.state_hash
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
        }
        Command::Verify { file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let report = export::verify(&bytes, now_ms())?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "network     {} ({})",
                    report.network,
                    report.name.as_deref().unwrap_or("genesis invalid")
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
                        "incomplete  {} (their causes are not in the file)",
                        report.incomplete
                    );
                }
                if report.future_dated > 0 {
                    println!(
                        "future      {} (dated beyond this machine's clock)",
                        report.future_dated
                    );
                }
                println!("forks       {}", report.forks);
                println!("state hash  {}", report.state_hash);
            }
            if !report.invalid.is_empty() || report.incomplete > 0 {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
