//! `mutual`: the command-line interface of a Mutual node.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use mutual_node::{daemon, export, keyfile, now_ms, simulate};
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
    /// Prepare a data directory for a practice's node: its key, an API token and a
    /// configuration with working defaults.
    Init {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
        /// Addresses to listen on (repeat for several; default: TCP and QUIC on port 7700).
        #[arg(long)]
        listen: Vec<String>,
        /// Address of the local HTTP API.
        #[arg(long, default_value = "127.0.0.1:7780")]
        api: String,
        /// A network to join (its id), when not founding one.
        #[arg(long)]
        network: Option<String>,
        /// A peer to sync from while joining, ending in /p2p/<PeerId> (repeatable).
        #[arg(long)]
        bootstrap: Vec<String>,
    },
    /// Found a new network from a founding file (TOML: name, [[practice]], [[partner]]);
    /// this node signs the genesis.
    Found {
        /// The data directory (made by `mutual init`).
        #[arg(long)]
        dir: PathBuf,
        /// The founding file.
        #[arg(long)]
        founding: PathBuf,
    },
    /// Point an initialised data directory at an existing network to join: its id and
    /// the address of a member's node to sync from.
    Join {
        /// The data directory (made by `mutual init`).
        #[arg(long)]
        dir: PathBuf,
        /// The network id.
        #[arg(long)]
        network: String,
        /// A member node's address ending in /p2p/<PeerId> (repeatable).
        #[arg(long, required = true)]
        bootstrap: Vec<String>,
    },
    /// Run the node of a data directory until SIGINT or SIGTERM.
    Start {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Show a running node's status (peers, sync, state hash) through its local API.
    Status {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
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
        Command::Init {
            dir,
            listen,
            api,
            network,
            bootstrap,
        } => {
            let mut config = daemon::FileConfig {
                api,
                network,
                bootstrap,
                ..Default::default()
            };
            if !listen.is_empty() {
                config.listen = listen;
            }
            config.node_config(&dir)?;
            config.api_addr()?;
            if let Some(n) = &config.network {
                daemon::parse_network(n)?;
            }
            let kp = daemon::init(&dir, &config)?;
            if cli.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "dir": dir,
                        "node_key": hex::encode(kp.public().as_bytes()),
                        "fingerprint": kp.public().fingerprint().to_string(),
                        "peer_id": keyfile::peer_id(&kp).to_string(),
                    })
                );
            } else {
                println!("initialised {}", dir.display());
                println!("node key     {}", hex::encode(kp.public().as_bytes()));
                println!("fingerprint  {}", kp.public().fingerprint());
                println!("peer id      {}", keyfile::peer_id(&kp));
                println!(
                    "next: give the node key to whoever founds the network, or found one with \
                     `mutual found --dir {} --founding FILE`; then `mutual start --dir {}`",
                    dir.display(),
                    dir.display()
                );
            }
        }
        Command::Found { dir, founding } => {
            let text = std::fs::read_to_string(&founding)
                .with_context(|| format!("reading {}", founding.display()))?;
            let f: daemon::Founding = toml::from_str(&text)
                .with_context(|| format!("{} is not a valid founding file", founding.display()))?;
            let g = daemon::found(&dir, &f, now_ms())?;
            if cli.json {
                println!("{}", serde_json::json!({ "network": g.id.to_string() }));
            } else {
                println!("founded network {} ({})", g.id, f.name);
                println!(
                    "next: `mutual start --dir {}`; other practices join with \
                     `mutual init --network {} --bootstrap <this node's address>/p2p/<its peer id>`",
                    dir.display(),
                    g.id
                );
            }
        }
        Command::Join {
            dir,
            network,
            bootstrap,
        } => {
            daemon::join(&dir, &network, bootstrap)?;
            println!(
                "{} will join network {network}; next: `mutual start --dir {}`",
                dir.display(),
                dir.display()
            );
        }
        Command::Start { dir } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info,libp2p=warn".into()),
                )
                .with_writer(std::io::stderr)
                .init();
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(daemon::run(&dir))?;
        }
        Command::Status { dir } => {
            let (addr, _) = daemon::api_client_info(&dir)?;
            let body = daemon::http_get(addr, "/status")?;
            let s: serde_json::Value = serde_json::from_str(&body)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!("peer id      {}", s["peer_id"].as_str().unwrap_or("?"));
                println!("network      {}", s["network"].as_str().unwrap_or("?"));
                println!("events       {} ({} pending)", s["events"], s["pending"]);
                println!("state hash   {}", s["state_hash"].as_str().unwrap_or("?"));
                println!("peers        {}", s["peers"].as_array().map_or(0, Vec::len));
                println!("may sign     {}", s["head_confirmed"]);
            }
        }
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
