//! The command line of `mutual`, one file per group of commands: the node and daemon
//! commands and the dispatch here; [`keys`], [`motion`], [`propose`], [`partner`], [`deed`],
//! [`paper`],
//! [`aid`], [`federation`], [`verify`], [`simulate`] and [`bench`] beside it.

pub mod aid;
pub mod bench;
pub mod deed;
pub mod federation;
pub mod keys;
pub mod motion;
pub mod paper;
pub mod partner;
pub mod propose;
pub mod resolve;
pub mod simulate;
pub mod verify;

use aid::AidArgs;
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use deed::DeedCommand;
use federation::FederationCommand;
use keys::{KeyCommand, KeystoreCommand};
use motion::MotionCommand;
use mutual_node::client::Client;
use mutual_node::{api, daemon, demo, keyfile};
use paper::PaperCommand;
use partner::{PartnerCommand, PracticeCommand, ProxyCommand};
use resolve::NodeArgs;
use std::path::PathBuf;
use std::process::ExitCode;

/// Mutual: a peer-to-peer federation for GP partnerships.
#[derive(Parser)]
#[command(name = "mutual", version, about, long_about = None)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub(super) json: bool,
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create or inspect keys (practice node keys and partner keys).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Simulate a partnership's nodes, deterministically from seeds: the real node logic
    /// over a network that loses, duplicates, corrupts, reorders and splits messages,
    /// with crashes, skewed clocks, a forking author and a silent member, while partners
    /// propose, vote, elect, appoint proxies, admit a practice and trade aid, and an
    /// allied partnership federates with theirs (a charter, each side's vote to link,
    /// joint motions, statements and aid across the federation). Prints each
    /// seed's result and the seeds run per minute; a failing seed is printed with the
    /// command that replays it and, with --shrink, the least plan that still fails.
    /// With --orders, instead runs the in-process check of the fold: several replicas
    /// fed the same signed events in different orders, with duplicates.
    Simulate(simulate::SimulateArgs),
    /// Measure the performance figures (ingest against signature verification, growth
    /// of out-of-order ingest, sync bytes against what was missing, bytes of a sync round
    /// in sync, store bytes against wire bytes, this binary's size), each in one run on
    /// this machine, against their targets. Quick sizes by default; --full for the
    /// targets' own sizes.
    Bench(bench::BenchArgs),
    /// Internal to `mutual bench`: a node opens the store the national benchmark wrote
    /// and prints, as JSON, what it holds and this process's memory.
    #[command(hide = true)]
    BenchHold {
        /// The store's directory.
        dir: PathBuf,
        /// The network id (hex).
        network: String,
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
    /// Point an initialised data directory at an existing network to join, with the
    /// invite a member gave you (or, by hand, a network id and bootstrap addresses).
    Join {
        /// The data directory (made by `mutual init`).
        #[arg(long)]
        dir: PathBuf,
        /// The one-line invite (`mutual-invite:...`).
        #[arg(required_unless_present = "network", conflicts_with = "network")]
        invite: Option<String>,
        /// The network id (without an invite).
        #[arg(long, requires = "bootstrap")]
        network: Option<String>,
        /// A member node's address ending in /p2p/<PeerId> (repeatable; without an invite).
        #[arg(long)]
        bootstrap: Vec<String>,
    },
    /// Run the node of a data directory until SIGINT or SIGTERM.
    Start {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// The API over TLS, for partners' own machines: `mutual tls init` makes the node a
    /// self-signed certificate for the names partners reach it by; then set
    /// api_tls = true (and api to an address they can reach) in mutual.toml, and hand
    /// partners the certificate file for --node-cert.
    #[command(subcommand)]
    Tls(TlsCommand),
    /// Show a running node's status (peers, sync, state hash) through its API.
    Status {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Invite a new practice's node: signs an expiring invitation and prints it as one
    /// line for `mutual join`. The practice is admitted later, by the partners' vote.
    Invite {
        /// The data directory of this (member) node.
        #[arg(long)]
        dir: PathBuf,
        /// The new node's key, as its `mutual init` printed it.
        #[arg(long)]
        node_key: String,
        /// The practice's name.
        #[arg(long)]
        name: String,
        /// The practice's ODS code.
        #[arg(long)]
        ods: String,
        /// Days the invite stays valid (at most 30).
        #[arg(long, default_value_t = 7)]
        days: u64,
        /// An address the new node can reach this node at, ending in /p2p/<peer id>
        /// (repeatable; default: this node's listen addresses).
        #[arg(long)]
        address: Vec<String>,
    },
    /// Partners' keys: each partner's own signing key in a passphrase-encrypted keystore.
    #[command(subcommand)]
    Keystore(KeystoreCommand),
    /// List the member practices and their partners, with their roles and offices.
    Members {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Motions: propose one (signed with your keystore), list them, show one's tally.
    #[command(subcommand)]
    Motion(MotionCommand),
    /// Vote on a motion, signed with your keystore: for, against or abstain; an
    /// election's candidates ranked (--rank); or declare an interest.
    Vote(motion::VoteArgs),
    /// Proxies: appoint a partner to vote for you on a motion, or revoke them.
    #[command(subcommand)]
    Proxy(ProxyCommand),
    /// A partner's own standing: resigning.
    #[command(subcommand)]
    Partner(PartnerCommand),
    /// This practice's details, or its leaving (signed by its node).
    #[command(subcommand)]
    Practice(PracticeCommand),
    /// The deed in force, in plain words (who decides what), and its history.
    #[command(subcommand)]
    Deed(DeedCommand),
    /// Papers: the files motions and aid requests carry, by SHA-256.
    #[command(subcommand)]
    Paper(PaperCommand),
    /// Mutual aid between practices: requests, offers and agreements (signed by this
    /// practice's node). With --federation, in a federation's log, across networks.
    Aid(AidArgs),
    /// Federations with other partnerships: this network's card, charters, the
    /// federations and their state, joint motions and statements (docs/FEDERATION.md).
    /// Linking, leaving and voting on a joint motion are motions (`mutual motion
    /// propose --kind link-federation|leave-federation|general --joint-motion`).
    #[command(subcommand)]
    Federation(FederationCommand),
    /// The signed log, in fold order, filterable.
    Events {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
        /// Only events by this key.
        #[arg(long)]
        author: Option<String>,
        /// Only this kind (motion, ballot, aid_request, invitation, ...).
        #[arg(long)]
        kind: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Skip this many first.
        #[arg(long, default_value_t = 0)]
        skip: usize,
    },
    /// Write a data directory's signed log to a file (varint-length-prefixed SignedEvent
    /// messages, docs/PROTOCOL.md §13.1) for `mutual verify`; works whether or not the node
    /// is running. With --federation, the log of a federation its network linked to (the
    /// node must be stopped).
    Export(verify::ExportArgs),
    /// Run a local partnership of separate node processes on loopback and narrate a
    /// scenario: founding, an invited practice admitted by vote, a motion, mutual aid, a
    /// node killed and restarted, and a second partnership linked in a federation by both
    /// sides' votes, with aid across them and a joint motion. Ends with each node's state
    /// hash.
    Demo {
        /// Number of practices (one more than the founders: the last one is admitted).
        #[arg(long, default_value_t = 5)]
        practices: usize,
        /// Where the nodes' data directories go (left there for export and verify);
        /// default: the first of ./mutual-demo, ./mutual-demo-2, ... that does not exist.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Seconds to wait for the nodes to converge at each step before giving up.
        #[arg(long, default_value_t = 90)]
        timeout: u64,
    },
    /// Verify an exported signed log offline (a network's or a federation's): signatures,
    /// chains, rules; prints the event count, how many are valid, the motions and the
    /// state hash.
    Verify(verify::VerifyArgs),
    /// Print a completion script for a shell, to be sourced or installed: e.g.
    /// `mutual completions bash > /etc/bash_completion.d/mutual`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum TlsCommand {
    /// Make a self-signed certificate and key for the node's API in its data directory
    /// (api-cert.pem, api-key.pem); prints the certificate's path for partners.
    Init {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
        /// A host name or IP address partners reach the node at (repeat for several).
        #[arg(long = "name", required = true)]
        names: Vec<String>,
    },
}

/// Prints an event the node signed (its id, or the JSON answer), or fails if it did not
/// take effect.
fn report_authored(json: bool, r: &api::Authored) -> Result<()> {
    if r.outcome != "applied" {
        anyhow::bail!(
            "event {} was signed but did not take effect: {}",
            r.id,
            r.outcome
        );
    }
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
    } else {
        println!("{}", r.id);
    }
    Ok(())
}

/// Runs `mutual` with the process's arguments.
pub fn main() -> ExitCode {
    fix_mmap_threshold();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Start { .. } | Command::Demo { .. }) {
        // A command whose reader goes away (`mutual motion show ... | head`) stops quietly,
        // as Unix tools do, rather than panicking on the failed write. The node itself
        // keeps SIGPIPE ignored: a peer closing a connection must not stop it.
        // SAFETY: restoring a signal's default disposition, on the main thread, before any
        // other thread exists.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Size from which glibc serves an allocation by mapping it on its own, bytes: its own
/// starting value, kept fixed ([`fix_mmap_threshold`]).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_BYTES: libc::c_int = 128 * 1024;

/// Keeps glibc's mmap threshold where it starts. Left to itself, glibc raises it to the
/// size of the largest mapped block freed (up to 32 MiB) and serves anything smaller from
/// its heap after, which it rarely gives back: a node that once frees a block of a few
/// megabytes then keeps every mid-sized buffer on a growing, fragmented heap. Opening a
/// national log of 1M events peaked at 464 MB so, and at 321 MB with the threshold fixed
/// (the README's performance section). A threshold the operator set
/// (`MALLOC_MMAP_THRESHOLD_`, or `mmap_threshold` in `GLIBC_TUNABLES`) is left as set.
fn fix_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let set_by_operator = std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some()
            || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("mmap_threshold"));
        if set_by_operator {
            return;
        }
        // SAFETY: setting an allocator parameter on the main thread, before any other
        // thread exists; `mallopt` takes plain integers.
        let done = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) };
        debug_assert_eq!(done, 1, "glibc refused the mmap threshold");
    }
}

/// Runs one command.
/// The offices whose term has ended, from a `/status` answer.
fn print_elections_due(status: &serde_json::Value) {
    for office in status["elections_due"].as_array().into_iter().flatten() {
        let office = office.as_str().unwrap_or("?");
        println!(
            "election due {office}: its term has ended; propose `mutual motion propose --kind \
             elect-{office}`"
        );
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
            let mut f: daemon::Founding = toml::from_str(&text)
                .with_context(|| format!("{} is not a valid founding file", founding.display()))?;
            if let Some(d) = &mut f.deed {
                d.resolve_paths(founding.parent().unwrap_or(std::path::Path::new(".")));
            }
            let g = daemon::found(&dir, &f)?;
            if cli.json {
                println!("{}", serde_json::json!({ "network": g.id.to_string() }));
            } else {
                println!("founded network {} ({})", g.id, f.name);
                println!(
                    "next: `mutual start --dir {}`; the other founding practices run \
                     `mutual join --dir <their dir> --network {} --bootstrap <this node's \
                     address>/p2p/<its peer id>`; a practice joining later is sent an invite \
                     (`mutual invite`)",
                    dir.display(),
                    g.id
                );
            }
        }
        Command::Join {
            dir,
            invite,
            network,
            bootstrap,
        } => {
            let network = match (invite, network) {
                (Some(line), _) => {
                    let inv = daemon::join_invite(&dir, &line)?;
                    println!(
                        "invite for {} ({}) from {}, valid until {} ms",
                        inv.practice_name,
                        inv.ods_code,
                        inv.inviter.fingerprint(),
                        inv.expires_ms
                    );
                    inv.network.to_string()
                }
                (None, Some(n)) => {
                    daemon::join(&dir, &n, bootstrap)?;
                    n
                }
                (None, None) => anyhow::bail!("give an invite, or --network and --bootstrap"),
            };
            if cli.json {
                println!("{}", serde_json::json!({ "network": network }));
            } else {
                println!(
                    "{} will join network {network}; next: `mutual start --dir {}`, then ask \
                     a partner to propose admitting this practice",
                    dir.display(),
                    dir.display()
                );
            }
        }
        Command::Start { dir } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info,libp2p=warn".into()),
                )
                .with_writer(std::io::stderr)
                // Colour only on a terminal, and never with NO_COLOR: log files stay text.
                .with_ansi(
                    std::io::IsTerminal::is_terminal(&std::io::stderr())
                        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
                )
                .init();
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(daemon::run(&dir))?;
        }
        Command::Tls(TlsCommand::Init { dir, names }) => {
            mutual_node::tls::init(&dir, &names)?;
            let cert = dir.join(mutual_node::tls::CERT_FILE);
            if cli.json {
                println!("{}", serde_json::json!({ "certificate": cert }));
            } else {
                println!("certificate  {}", cert.display());
                println!(
                    "next: set api_tls = true (and api = \"<address>:7780\") in {}, restart \
                     the node, and give partners {} for `--node https://<name>:7780 \
                     --node-cert <that file>`",
                    dir.join(daemon::CONFIG_FILE).display(),
                    cert.display()
                );
            }
        }
        Command::Status { node } => {
            let s: serde_json::Value = node.client()?.get("/status")?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!("peer id      {}", s["peer_id"].as_str().unwrap_or("?"));
                println!("network      {}", s["network"].as_str().unwrap_or("?"));
                println!("events       {} ({} pending)", s["events"], s["pending"]);
                let (held, peers_hold) = (
                    s["events"].as_u64().unwrap_or(0),
                    s["peers_hold"].as_u64().unwrap_or(0),
                );
                if peers_hold > held {
                    println!(
                        "catching up  a peer says it holds {peers_hold} events, {} more than this node",
                        peers_hold - held
                    );
                }
                println!("state hash   {}", s["state_hash"].as_str().unwrap_or("?"));
                println!("peers        {}", s["peers"].as_array().map_or(0, Vec::len));
                let (named, held) = (
                    s["papers_named"].as_u64().unwrap_or(0),
                    s["papers_held"].as_u64().unwrap_or(0),
                );
                if named > 0 {
                    println!(
                        "papers       {held} of {named} held{}",
                        if held < named {
                            " (fetching the rest from peers)"
                        } else {
                            ""
                        }
                    );
                }
                print_elections_due(&s);
                let admitted = s["admitted"].as_bool().unwrap_or(false);
                let confirmed = s["head_confirmed"].as_bool().unwrap_or(false);
                println!(
                    "may sign     {}",
                    match (admitted, confirmed) {
                        (true, true) => "yes",
                        (false, _) => "no: this node's practice is not (yet) an admitted member",
                        (true, false) => "not yet: waiting to be shown its own latest event",
                    }
                );
            }
        }
        Command::Key(KeyCommand::New { out }) => {
            let kp = keyfile::create(&out)?;
            keys::print_key(cli.json, &kp, &out);
        }
        Command::Key(KeyCommand::Show { file }) => {
            let kp = keyfile::read(&file)?;
            keys::print_key(cli.json, &kp, &file);
        }
        Command::Simulate(a) => return simulate::simulate(cli.json, a),
        Command::Bench(a) => return bench::bench(cli.json, a),
        Command::BenchHold { dir, network } => {
            let network: mutual_protocol::id::NetworkId = network
                .parse()
                .map_err(|e| anyhow::anyhow!("network {network}: {e}"))?;
            let held = mutual_node::bench::national::hold(&dir, network)
                .map_err(|e| anyhow::anyhow!("holding the store: {e}"))?;
            println!("{}", serde_json::to_string(&held)?);
        }
        Command::Invite {
            dir,
            node_key,
            name,
            ods,
            days,
            address,
        } => {
            let c = Client::of(&dir)?;
            let r: api::InviteResponse = c.post(
                "/invitations",
                &serde_json::json!({
                    "node_key": node_key.trim(),
                    "practice_name": name,
                    "ods_code": ods,
                    "valid_ms": days.saturating_mul(24 * 3_600_000),
                    "bootstrap": address,
                }),
            )?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!("{}", r.invite);
                eprintln!(
                    "invitation {} for {name} ({ods}), valid for {days} days. Send the line \
                     above to the practice; they run `mutual join --dir <their dir> <line>`. \
                     Then propose admitting them: `mutual motion propose --kind \
                     admit-practice ...`",
                    r.id
                );
            }
        }
        Command::Keystore(k) => keys::keystore_command(cli.json, k)?,
        Command::Members { node } => {
            let c = node.client()?;
            let list: Vec<api::MemberView> = c.get("/members")?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for p in &list {
                    println!("{} ({}), {}  [{}]", p.name, p.ods, p.locality, p.status);
                    for x in &p.partners {
                        let offices = if x.offices.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", x.offices.join(", "))
                        };
                        let status = if x.status == "pending" {
                            "pending: has not yet signed the agreement"
                        } else {
                            x.status.as_str()
                        };
                        println!(
                            "    {} — {}{offices} [{status}] key {}",
                            x.name,
                            x.role,
                            motion::short(&x.key)
                        );
                    }
                }
                print_elections_due(&c.get::<serde_json::Value>("/status")?);
            }
        }
        Command::Motion(m) => motion::motion_command(cli.json, m)?,
        Command::Vote(a) => return motion::vote(cli.json, a),
        Command::Proxy(p) => partner::proxy_command(cli.json, p)?,
        Command::Partner(p) => partner::partner_command(cli.json, p)?,
        Command::Practice(p) => partner::practice_command(cli.json, p)?,
        Command::Deed(d) => deed::deed_command(cli.json, d)?,
        Command::Paper(p) => paper::paper_command(cli.json, p)?,
        Command::Aid(a) => aid::aid_command(cli.json, a)?,
        Command::Federation(f) => federation::federation_command(cli.json, f)?,
        Command::Events {
            dir,
            author,
            kind,
            limit,
            skip,
        } => {
            let mut q = format!("/events?limit={limit}&skip={skip}");
            if let Some(a) = author {
                q.push_str(&format!("&author={}", a.trim()));
            }
            if let Some(k) = kind {
                q.push_str(&format!("&kind={}", k.trim()));
            }
            let list: Vec<api::EventView> = Client::of(&dir)?.get(&q)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for e in &list {
                    println!(
                        "{}  {:<20} {:<28} #{:<4} {}",
                        e.id.get(..16).unwrap_or(&e.id),
                        e.kind,
                        e.who,
                        e.seq,
                        e.outcome
                    );
                }
            }
        }
        Command::Export(a) => return verify::export(cli.json, a),
        Command::Demo {
            practices,
            dir,
            timeout,
        } => {
            let dir = dir.unwrap_or_else(|| {
                (1..)
                    .map(|n| match n {
                        1 => PathBuf::from("mutual-demo"),
                        n => PathBuf::from(format!("mutual-demo-{n}")),
                    })
                    .find(|p| !p.exists())
                    .unwrap_or_default()
            });
            let summary = demo::run(&demo::Plan {
                practices,
                dir,
                timeout: std::time::Duration::from_secs(timeout),
                json: cli.json,
            })?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            }
            if !summary.converged || !summary.federation.agreed {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Verify(a) => return verify::verify(cli.json, a),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "mutual", &mut std::io::stdout());
        }
    }
    Ok(ExitCode::SUCCESS)
}
