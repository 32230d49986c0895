//! `mutual`: the command-line interface of a Mutual node.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use mutual_node::client::Client;
use mutual_node::{api, daemon, demo, export, keyfile, keystore, now_ms, simulate};
use mutual_proto::v1 as pb;
use mutual_protocol::event::Body;
use mutual_protocol::id::EventId;
use mutual_protocol::keys::Keypair;
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
    /// Simulate a partnership's nodes, deterministically from seeds: the real node logic
    /// over a network that loses, duplicates, corrupts, reorders and splits messages,
    /// with crashes, skewed clocks, a forking author and a silent member, while partners
    /// propose, vote, elect, appoint proxies, admit a practice and trade aid. Prints each
    /// seed's result and the seeds run per minute; a failing seed is printed with the
    /// command that replays it and, with --shrink, the least plan that still fails.
    /// With --orders, instead runs the in-process check of the fold: several replicas
    /// fed the same signed events in different orders, with duplicates.
    Simulate {
        /// Seeds to run, from --seed on.
        #[arg(long, default_value_t = 1)]
        seeds: u64,
        /// The first seed (with --orders, the one seed).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Founding practices, one node each (a joining practice comes on top).
        #[arg(long, default_value_t = 12)]
        nodes: usize,
        /// Length of the faulty phase, simulated seconds.
        #[arg(long, default_value_t = 300)]
        fault_secs: u64,
        /// Shrink a failing seed to the least plan that still fails.
        #[arg(long)]
        shrink: bool,
        /// Replay one exact plan, as a failing run prints it (JSON).
        #[arg(long)]
        plan: Option<String>,
        /// Run the in-process delivery-order check instead.
        #[arg(long)]
        orders: bool,
        /// With --orders: number of practices (one replica each).
        #[arg(long, default_value_t = 5)]
        practices: usize,
        /// With --orders: number of events to author after the genesis.
        #[arg(long, default_value_t = 2_000)]
        events: usize,
        /// With --orders: also write the signed log to this file (the export format).
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
    /// Show a running node's status (peers, sync, state hash) through its local API.
    Status {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
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
    /// List the member practices and their partners.
    Members {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Motions: propose one (signed with your keystore), list them, show one's tally.
    #[command(subcommand)]
    Motion(MotionCommand),
    /// Vote on a motion, signed with your keystore: for, against or abstain.
    Vote {
        /// Your practice's data directory (its node receives the ballot).
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
        /// The motion's id.
        motion: String,
        /// for, against or abstain.
        choice: String,
        /// An optional statement with the vote.
        #[arg(long, default_value = "")]
        statement: String,
    },
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
    Export {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
        /// Export this federation's log instead of the network's: its id, or the start of
        /// it if that names one federation the directory keeps.
        #[arg(long, value_name = "ID")]
        federation: Option<String>,
    },
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
    Verify {
        /// The export file.
        file: PathBuf,
        /// Verify as a node whose clock read this time would (default: this machine's
        /// clock): events dated more than 5 minutes later are set aside, and motions show as
        /// open, provisional or final as of then. "2026-12-20 17:00" (UTC unless a zone
        /// follows, e.g. "+01:00") or RFC 3339.
        #[arg(long, value_name = "TIME")]
        as_of: Option<String>,
    },
}

/// Which keystore signs, and its passphrase.
#[derive(clap::Args)]
struct KeyArgs {
    /// Your keystore (from `mutual keystore new`).
    #[arg(long)]
    keystore: PathBuf,
    /// Read the passphrase from this file (else MUTUAL_PASSPHRASE, else a prompt).
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
}

impl KeyArgs {
    /// The key, and a lock on its keystore to hold while it signs.
    fn open(&self) -> Result<(Keypair, std::fs::File)> {
        let (kp, _, lock) = self.open_with_passphrase()?;
        Ok((kp, lock))
    }

    /// The key, the passphrase that opened it, and a lock on the keystore.
    fn open_with_passphrase(&self) -> Result<(Keypair, String, std::fs::File)> {
        let lock = keystore::lock(&self.keystore)?;
        let ks = keystore::Keystore::read(&self.keystore)?;
        let p = keystore::passphrase(
            self.passphrase_file.as_deref(),
            &format!("passphrase for {}: ", self.keystore.display()),
            false,
        )?;
        let kp = ks.open(&p)?;
        Ok((kp, p, lock))
    }
}

#[derive(Subcommand)]
enum KeystoreCommand {
    /// Create a new partner key in a keystore encrypted with a passphrase (mode 0600;
    /// never overwrites). Give the printed key to whoever founds or admits you.
    New {
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
        /// Read the passphrase from this file (else MUTUAL_PASSPHRASE, else a prompt).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Show a keystore's public key (no passphrase needed).
    Show {
        /// The keystore.
        file: PathBuf,
    },
    /// Replace your key with a new one: writes a new keystore (same passphrase) and has
    /// your node pass on the rotation, signed by both keys.
    Rotate {
        /// Your practice's data directory.
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
        /// Where to write the new keystore.
        #[arg(long)]
        out: PathBuf,
    },
    /// Revoke your key (lost or exposed); the partners then vote a replacement in
    /// (a replace-key motion).
    Revoke {
        /// Your practice's data directory.
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// What `mutual motion propose` takes.
#[derive(clap::Args)]
struct ProposeArgs {
    /// Your practice's data directory (its node receives the motion).
    #[arg(long)]
    dir: PathBuf,
    #[command(flatten)]
    key: KeyArgs,
    /// general, admit-practice, remove-practice, remove-partner, change-role,
    /// link-federation or leave-federation.
    #[arg(long)]
    kind: String,
    /// A short title.
    #[arg(long)]
    title: String,
    /// The full text.
    #[arg(long, default_value = "")]
    text: String,
    /// Minutes the vote stays open (within the deed's bounds; default 7 days).
    #[arg(long, default_value_t = 7 * 24 * 60)]
    voting_minutes: u64,
    /// admit-practice: the practice's name.
    #[arg(long)]
    practice_name: Option<String>,
    /// admit-practice and remove-practice: the ODS code.
    #[arg(long)]
    ods: Option<String>,
    /// admit-practice: its locality.
    #[arg(long, default_value = "")]
    locality: String,
    /// admit-practice: registered patients.
    #[arg(long, default_value_t = 0)]
    list_size: u32,
    /// admit-practice: its node key.
    #[arg(long)]
    node_key: Option<String>,
    /// remove-partner and change-role: the partner's key.
    #[arg(long)]
    subject: Option<String>,
    /// change-role: partner, associate or managing.
    #[arg(long)]
    role: Option<String>,
    /// link-federation: a file holding the charter event (hex, or the JSON of `mutual
    /// federation charter --json`).
    #[arg(long)]
    charter: Option<PathBuf>,
    /// leave-federation, and general with --joint-motion: the federation's id.
    #[arg(long)]
    federation: Option<String>,
    /// general: this motion is the network's vote on that joint motion (its id).
    #[arg(long)]
    joint_motion: Option<String>,
}

#[derive(Subcommand)]
enum MotionCommand {
    /// Propose a motion, signed with your keystore.
    Propose(Box<ProposeArgs>),
    /// List motions with their standing.
    List {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Show a motion and its tally, explained.
    Show {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
        /// The motion's id.
        id: String,
    },
}

#[derive(clap::Args)]
struct AidArgs {
    /// Act in this federation's log (its id) rather than the network's: requests are
    /// marked for the federation and answered by practices of other networks.
    #[arg(long, global = true)]
    federation: Option<String>,
    #[command(subcommand)]
    command: AidCommand,
}

#[derive(Subcommand)]
enum FederationCommand {
    /// This network's entry for a charter (its id, name, practices, and this node's
    /// addresses), as JSON to hand to the other partnerships.
    Card {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Sign a charter from the networks' cards (this network's among them). Prints the
    /// federation id and the charter event that a link motion carries.
    Charter {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
        /// The federation's name.
        #[arg(long)]
        name: String,
        /// A network's card (JSON from `mutual federation card`); repeat for each.
        #[arg(long = "card", required = true)]
        cards: Vec<PathBuf>,
        /// Share aid requests marked for the federation.
        #[arg(long)]
        share_aid: bool,
        /// Share statements.
        #[arg(long)]
        share_statements: bool,
        /// Share joint motions.
        #[arg(long)]
        share_joint_motions: bool,
        /// A joint motion passes only if every network passes it (else: more than half).
        #[arg(long)]
        joint_requires_all: bool,
    },
    /// The federations this network linked to, and their state.
    List {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// One federation: its networks, joint motions and statements.
    Show {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
        /// The federation's id.
        id: String,
    },
    /// Put a joint motion to every network of a federation (signed by this node). Each
    /// network then votes on it with `mutual motion propose --kind general --federation
    /// <id> --joint-motion <joint motion id>`.
    Joint(FederationText),
    /// Publish a statement to a federation (signed by this node).
    Statement(FederationText),
}

/// What `mutual federation joint` and `statement` take.
#[derive(clap::Args)]
struct FederationText {
    /// The data directory.
    #[arg(long)]
    dir: PathBuf,
    /// The federation's id.
    id: String,
    /// A short title.
    #[arg(long)]
    title: String,
    /// The full text.
    #[arg(long, default_value = "")]
    text: String,
}

#[derive(Subcommand)]
enum AidCommand {
    /// Ask other practices for cover.
    Request {
        /// Your practice's data directory.
        #[arg(long)]
        dir: PathBuf,
        /// The role needed ("GP", "practice nurse").
        #[arg(long)]
        role: String,
        /// A session, "YYYY-MM-DD AM" (or PM, or HH:MM-HH:MM); repeatable.
        #[arg(long = "session", required = true)]
        sessions: Vec<String>,
        /// routine, soon or urgent.
        #[arg(long, default_value = "routine")]
        urgency: String,
        /// Notes.
        #[arg(long, default_value = "")]
        notes: String,
        /// Days until the request lapses.
        #[arg(long, default_value_t = 14)]
        days: u64,
    },
    /// Offer to cover a request's sessions (all of them unless --session is given).
    Offer {
        /// Your practice's data directory.
        #[arg(long)]
        dir: PathBuf,
        /// The request's id.
        request: String,
        /// Who will cover.
        #[arg(long)]
        role: String,
        /// Sessions offered; repeatable.
        #[arg(long = "session")]
        sessions: Vec<String>,
        /// Terms.
        #[arg(long, default_value = "")]
        terms: String,
    },
    /// Accept an offer on your request (all its sessions unless --session is given).
    Accept {
        /// Your practice's data directory.
        #[arg(long)]
        dir: PathBuf,
        /// The offer's id.
        offer: String,
        /// Sessions accepted; repeatable.
        #[arg(long = "session")]
        sessions: Vec<String>,
    },
    /// Countersign an agreement on your offer, which makes it binding.
    Countersign {
        /// Your practice's data directory.
        #[arg(long)]
        dir: PathBuf,
        /// The agreement's id.
        agreement: String,
    },
    /// Cancel an agreement you are party to.
    Cancel {
        /// Your practice's data directory.
        #[arg(long)]
        dir: PathBuf,
        /// The agreement's id.
        agreement: String,
        /// Why.
        #[arg(long)]
        reason: String,
        /// Notice given, in hours.
        #[arg(long, default_value_t = 0)]
        notice_hours: u64,
    },
    /// Record an agreement on your request as fulfilled.
    Fulfil {
        /// Your practice's data directory.
        #[arg(long)]
        dir: PathBuf,
        /// The agreement's id.
        agreement: String,
    },
    /// Withdraw your request.
    Withdraw {
        /// Your practice's data directory.
        #[arg(long)]
        dir: PathBuf,
        /// The request's id.
        request: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// List requests and agreements.
    List {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
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
                .init();
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(daemon::run(&dir))?;
        }
        Command::Status { dir } => {
            let s: serde_json::Value = Client::of(&dir)?.get("/status")?;
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
            seeds,
            seed,
            nodes,
            fault_secs,
            shrink,
            plan,
            orders: false,
            ..
        } => {
            let plan = match plan {
                Some(text) => Some(serde_json::from_str(&text).map_err(|e| {
                    anyhow::anyhow!("--plan is not a simulation plan ({e}); pass it as a failing run printed it")
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
                if !cli.json {
                    println!("{line}");
                }
            })?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                println!("{}", summary.line());
            }
            if summary.failed > 0 {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Simulate {
            practices,
            events,
            seed,
            export: out,
            ..
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
        Command::Keystore(k) => keystore_command(cli.json, k)?,
        Command::Members { dir } => {
            let list: Vec<api::MemberView> = Client::of(&dir)?.get("/members")?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for p in &list {
                    println!("{} ({}), {}  [{}]", p.name, p.ods, p.locality, p.status);
                    for x in &p.partners {
                        println!("    {} — {} [{}] {}", x.name, x.role, x.status, x.id);
                    }
                }
            }
        }
        Command::Motion(m) => motion_command(cli.json, m)?,
        Command::Vote {
            dir,
            key,
            motion,
            choice,
            statement,
        } => {
            let choice = match choice.as_str() {
                "for" => pb::Choice::For,
                "against" => pb::Choice::Against,
                "abstain" => pb::Choice::Abstain,
                other => anyhow::bail!("{other:?}: vote for, against or abstain"),
            };
            let c = Client::of(&dir)?;
            // Refuse before asking for the passphrase when the vote is over.
            let m: api::MotionView = c.get(&format!("/motions/{}", motion.trim()))?;
            if m.closed || c.now() > m.closes_at_ms {
                anyhow::bail!(
                    "voting on {:?} closed at {}; ballots are no longer accepted",
                    m.title,
                    m.closes_at_ms
                );
            }
            let (kp, _lock) = key.open()?;
            let id = parse_event_id(&motion)?;
            let s = c.sign_and_submit(
                &kp,
                Body::Ballot(pb::Ballot {
                    motion: id.as_bytes().to_vec(),
                    choice: choice as i32,
                    statement,
                    ..Default::default()
                }),
            )?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!("ballot {} cast on {:?}", s.id, m.title);
            }
        }
        Command::Aid(a) => aid_command(cli.json, a)?,
        Command::Federation(f) => federation_command(cli.json, f)?,
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
        Command::Export {
            dir,
            out,
            federation,
        } => {
            let (fed, bytes) = match &federation {
                Some(f) => {
                    let (id, bytes) = export::export_federation(&dir, f)?;
                    (Some(id.to_string()), bytes)
                }
                None => (None, daemon::export(&dir)?),
            };
            let log = fed
                .as_ref()
                .map(|id| format!("of federation {id} "))
                .unwrap_or_default();
            std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
            let events = export::frames(&bytes)?.len();
            if cli.json {
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
        }
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
        Command::Verify { file, as_of } => {
            let as_of_ms = match &as_of {
                Some(t) => export::parse_time(t).context("--as-of")?,
                None => now_ms(),
            };
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let report = export::verify(&bytes, as_of_ms)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_verify_report(&report, as_of.is_some());
            }
            if !report.invalid.is_empty() || report.incomplete > 0 {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `mutual verify`'s report, for people.
fn print_verify_report(report: &export::Report, as_of_given: bool) {
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

fn parse_event_id(s: &str) -> Result<EventId> {
    s.trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("{s:?} is not an id (64 hex digits)"))
}

fn keystore_command(json: bool, k: KeystoreCommand) -> Result<()> {
    let show = |verb: &str, file: &std::path::Path, key: &mutual_protocol::keys::PublicKey| {
        if json {
            println!(
                "{}",
                serde_json::json!({"file": file, "key": key.to_string(), "fingerprint": key.fingerprint().to_string()})
            );
        } else {
            println!("{verb} {}", file.display());
            println!("key          {key}");
            println!("fingerprint  {}", key.fingerprint());
        }
    };
    match k {
        KeystoreCommand::New {
            out,
            passphrase_file,
        } => {
            let p = keystore::passphrase(
                passphrase_file.as_deref(),
                "passphrase for the new keystore: ",
                true,
            )?;
            let kp = Keypair::generate(&mut rand_core::OsRng);
            keystore::create(&out, &kp, &p)?;
            show("keystore", &out, &kp.public());
            if !json {
                println!(
                    "next: give the key above to whoever founds the network or proposes admitting you"
                );
            }
        }
        KeystoreCommand::Show { file } => {
            let ks = keystore::Keystore::read(&file)?;
            show("keystore", &file, &ks.public());
        }
        KeystoreCommand::Rotate { dir, key, out } => {
            let (old, passphrase, _lock) = key.open_with_passphrase()?;
            let c = Client::of(&dir)?;
            let status: serde_json::Value = c.get("/status")?;
            let network = daemon::parse_network(status["network"].as_str().unwrap_or(""))?;
            let new = Keypair::generate(&mut rand_core::OsRng);
            // The new keystore (same passphrase) is written durably before the rotation is
            // sent, so the new key can never be in force without being saved.
            keystore::create(&out, &new, &passphrase)?;
            let proof = new.sign(
                mutual_protocol::signature::ROTATE_DOMAIN,
                &mutual_protocol::membership::rotation_message(&network, &old.public()),
            );
            let body = Body::KeyRotation(pb::KeyRotation {
                new_key: new.public().as_bytes().to_vec(),
                new_key_signature: proof.to_vec(),
            });
            if let Err(e) = c.sign_and_submit(&old, body) {
                // Only a clear refusal means the rotation can never take effect; after any
                // other failure (a timeout, a lost answer) it may still, so the new key is kept.
                if e.downcast_ref::<mutual_node::client::Refused>().is_some() {
                    let _ = std::fs::remove_file(&out);
                    return Err(e.context(
                        "the rotation did not take effect; the new keystore was removed",
                    ));
                }
                return Err(e.context(format!(
                    "the rotation may or may not have taken effect; keep {} and check \
                     `mutual members` for which key is yours",
                    out.display()
                )));
            }
            show("rotated; new keystore", &out, &new.public());
            if !json {
                println!(
                    "the old keystore {} no longer signs; keep it or destroy it",
                    key.keystore.display()
                );
            }
        }
        KeystoreCommand::Revoke { dir, key, reason } => {
            let (kp, _lock) = key.open()?;
            let c = Client::of(&dir)?;
            let s = c.sign_and_submit(
                &kp,
                Body::KeyRevocation(pb::KeyRevocation {
                    key: kp.public().as_bytes().to_vec(),
                    reason,
                }),
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!(
                    "key {} revoked ({}); the partners can vote you a new key with a \
                     replace-key motion",
                    kp.public(),
                    s.id
                );
            }
        }
    }
    Ok(())
}

fn print_motion(m: &api::MotionView) {
    println!("motion   {}", m.id);
    println!("title    {} ({})", m.title, m.kind);
    if !m.text.is_empty() {
        println!("text     {}", m.text);
    }
    println!("proposer {}", m.proposer);
    println!(
        "voting   {} to {}; final after {}; now {}{}",
        m.opens_at_ms,
        m.closes_at_ms,
        m.final_at_ms,
        m.finality,
        if m.closed { " (closed)" } else { "" }
    );
    let t = &m.tally;
    println!(
        "tally    for {}, against {}, abstain {}; turnout {} of {} (quorum {}: {})",
        t.votes_for,
        t.votes_against,
        t.abstentions,
        t.turnout,
        t.electorate,
        t.quorum_needed,
        if t.quorum_met { "met" } else { "not met" }
    );
    println!("result   {}", t.reason);
    if t.unwitnessed > 0 && !m.closed {
        println!(
            "witness  {} ballot(s) not yet witnessed by another practice",
            t.unwitnessed
        );
    }
    for r in &t.rounds {
        println!("         {r}");
    }
    if let Some(e) = &m.effect {
        println!("effect   {e}");
    }
    for (who, vote) in &m.ballots {
        println!("ballot   {who}: {vote}");
    }
}

fn motion_command(json: bool, m: MotionCommand) -> Result<()> {
    match m {
        MotionCommand::Propose(args) => {
            let ProposeArgs {
                dir,
                key,
                kind,
                title,
                text,
                voting_minutes,
                practice_name,
                ods,
                locality,
                list_size,
                node_key,
                subject,
                role,
                charter,
                federation,
                joint_motion,
            } = *args;
            use pb::DecisionKind as K;
            let need = |v: Option<String>, flag: &str| {
                v.with_context(|| format!("--kind {kind} needs --{flag}"))
            };
            let key_bytes = |s: String, what: &str| -> Result<Vec<u8>> {
                let k: mutual_protocol::keys::PublicKey = s
                    .trim()
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--{what}: not a key (64 hex digits)"))?;
                Ok(k.as_bytes().to_vec())
            };
            let mut motion = pb::Motion {
                title,
                text,
                ..Default::default()
            };
            let id_bytes = |s: String, what: &str| -> Result<Vec<u8>> {
                Ok(parse_event_id(&s)
                    .with_context(|| format!("--{what}"))?
                    .as_bytes()
                    .to_vec())
            };
            let k = match kind.as_str() {
                "general" => {
                    if let Some(j) = joint_motion {
                        motion.joint_motion = id_bytes(j, "joint-motion")?;
                        motion.federation =
                            id_bytes(need(federation, "federation")?, "federation")?;
                    }
                    K::General
                }
                "link-federation" => {
                    let path = need(charter.map(|p| p.display().to_string()), "charter")?;
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {path}"))?;
                    let hex_text = match serde_json::from_str::<serde_json::Value>(&text) {
                        Ok(v) => v["charter_event"].as_str().unwrap_or_default().to_string(),
                        Err(_) => text.trim().to_string(),
                    };
                    motion.charter_event = hex::decode(hex_text.trim())
                        .with_context(|| format!("{path}: not a hex charter event"))?;
                    K::LinkFederation
                }
                "leave-federation" => {
                    motion.federation = id_bytes(need(federation, "federation")?, "federation")?;
                    K::LeaveFederation
                }
                "admit-practice" => {
                    motion.admit_practice = Some(pb::Practice {
                        name: need(practice_name, "practice-name")?,
                        ods_code: need(ods, "ods")?,
                        locality,
                        list_size,
                        node_key: key_bytes(need(node_key, "node-key")?, "node-key")?,
                    });
                    K::AdmitPractice
                }
                "remove-practice" => {
                    motion.subject_ods = need(ods, "ods")?;
                    K::RemovePractice
                }
                "remove-partner" => {
                    motion.subject_key = key_bytes(need(subject, "subject")?, "subject")?;
                    K::RemovePartner
                }
                "change-role" => {
                    motion.subject_key = key_bytes(need(subject, "subject")?, "subject")?;
                    motion.new_role = match need(role, "role")?.as_str() {
                        "partner" => pb::PartnerRole::Partner,
                        "associate" => pb::PartnerRole::Associate,
                        "managing" => pb::PartnerRole::Managing,
                        other => anyhow::bail!("--role {other:?}: partner, associate or managing"),
                    } as i32;
                    K::ChangeRole
                }
                other => anyhow::bail!(
                    "--kind {other:?}: general, admit-practice, remove-practice, remove-partner, \
                     change-role, link-federation or leave-federation"
                ),
            };
            motion.kind = k as i32;
            let c = Client::of(&dir)?;
            let (kp, _lock) = key.open()?;
            let now = c.now();
            // Opens when signed (0 reads as the motion's own timestamp).
            motion.opens_at_ms = 0;
            motion.closes_at_ms = now.saturating_add(voting_minutes.saturating_mul(60_000));
            let s = c.sign_and_submit(&kp, Body::Motion(motion))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!("{}", s.id);
                eprintln!(
                    "motion proposed; partners vote with `mutual vote --dir <their practice's dir> \
                     --keystore <their keystore> {} for|against|abstain`",
                    s.id
                );
            }
        }
        MotionCommand::List { dir } => {
            let list: Vec<api::MotionView> = Client::of(&dir)?.get("/motions")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!("no motions yet");
            } else {
                for m in &list {
                    println!(
                        "{}  {:<12} {:<15} {}: {}",
                        m.id.get(..16).unwrap_or(&m.id),
                        m.finality,
                        m.kind,
                        m.title,
                        if m.tally.passed { "passing" } else { "failing" }
                    );
                }
            }
        }
        MotionCommand::Show { dir, id } => {
            let m: api::MotionView =
                Client::of(&dir)?.get(&format!("/motions/{}", parse_event_id(&id)?))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&m)?);
            } else {
                print_motion(&m);
            }
        }
    }
    Ok(())
}

fn aid_command(json: bool, args: AidArgs) -> Result<()> {
    use api::AidAction as A;
    let path = match &args.federation {
        Some(f) => format!("/federations/{}/aid", parse_event_id(f)?),
        None => "/aid".to_string(),
    };
    let (dir, action) = match args.command {
        AidCommand::List { dir } => {
            let v: api::AidView = Client::of(&dir)?.get(&path)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for r in &v.requests {
                    println!(
                        "request {}  {} needs {} ({}), {} [{}], {} outstanding",
                        r.id,
                        r.practice,
                        r.role,
                        r.urgency,
                        r.sessions.join(", "),
                        r.state,
                        r.outstanding
                    );
                    for (id, p, s) in &r.offers {
                        println!("    offer {id}  from {p}: {}", s.join(", "));
                    }
                }
                for g in &v.agreements {
                    println!(
                        "agreement {}  {} covers {}: {} [{}]",
                        g.id,
                        g.offerer,
                        g.requester,
                        g.sessions.join(", "),
                        g.status
                    );
                }
                if v.requests.is_empty() {
                    println!("no aid requests yet");
                }
            }
            return Ok(());
        }
        AidCommand::Request {
            dir,
            role,
            sessions,
            urgency,
            notes,
            days,
        } => (
            dir,
            A::Request {
                role,
                sessions,
                urgency,
                notes,
                days,
            },
        ),
        AidCommand::Offer {
            dir,
            request,
            role,
            sessions,
            terms,
        } => (
            dir,
            A::Offer {
                request,
                sessions,
                role,
                terms,
            },
        ),
        AidCommand::Accept {
            dir,
            offer,
            sessions,
        } => (dir, A::Accept { offer, sessions }),
        AidCommand::Countersign { dir, agreement } => (dir, A::Countersign { agreement }),
        AidCommand::Cancel {
            dir,
            agreement,
            reason,
            notice_hours,
        } => (
            dir,
            A::Cancel {
                agreement,
                reason,
                notice_hours,
            },
        ),
        AidCommand::Fulfil { dir, agreement } => (dir, A::Fulfil { agreement }),
        AidCommand::Withdraw {
            dir,
            request,
            reason,
        } => (dir, A::Withdraw { request, reason }),
    };
    let r: api::Authored = Client::of(&dir)?.post(&path, &action)?;
    if r.outcome != "applied" {
        anyhow::bail!(
            "event {} was signed but did not take effect: {}",
            r.id,
            r.outcome
        );
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!("{}", r.id);
        eprintln!("{}", r.outcome);
    }
    Ok(())
}

fn federation_command(json: bool, f: FederationCommand) -> Result<()> {
    use mutual_node::fedapi::{Card, FederationView, SignedCharter};
    fn print<T: serde::Serialize>(v: &T) -> Result<()> {
        println!("{}", serde_json::to_string_pretty(v)?);
        Ok(())
    }
    match f {
        FederationCommand::Card { dir } => {
            let c: Card = Client::of(&dir)?.get("/federations/card")?;
            print(&c)?;
        }
        FederationCommand::Charter {
            dir,
            name,
            cards,
            share_aid,
            share_statements,
            share_joint_motions,
            joint_requires_all,
        } => {
            let mut list = Vec::new();
            for p in &cards {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                let c: Card = serde_json::from_str(&text)
                    .with_context(|| format!("{}: not a card", p.display()))?;
                list.push(c);
            }
            let body = serde_json::json!({
                "name": name,
                "cards": list,
                "share_aid_requests": share_aid,
                "share_statements": share_statements,
                "share_joint_motions": share_joint_motions,
                "joint_requires_all": joint_requires_all,
            });
            let c: SignedCharter = Client::of(&dir)?.post("/federations/charter", &body)?;
            if json {
                print(&c)?;
            } else {
                println!("{}", c.charter_event);
                eprintln!(
                    "federation {}: each network links by passing `mutual motion propose \
                     --kind link-federation --charter <a file holding the line above>`",
                    c.federation
                );
            }
        }
        FederationCommand::List { dir } => {
            let v: Vec<FederationView> = Client::of(&dir)?.get("/federations")?;
            if json {
                print(&v)?;
            } else if v.is_empty() {
                println!("no federations");
            } else {
                for f in &v {
                    println!(
                        "{}  {}  [{}{}]  {} networks, {} joint motions",
                        f.id,
                        f.name,
                        f.link,
                        if f.live { ", live" } else { "" },
                        f.networks.len(),
                        f.joint_motions.len()
                    );
                }
            }
        }
        FederationCommand::Show { dir, id } => {
            let f: FederationView =
                Client::of(&dir)?.get(&format!("/federations/{}", parse_event_id(&id)?))?;
            if json {
                print(&f)?;
            } else {
                println!(
                    "{} ({}) — {}{}",
                    f.name,
                    f.id,
                    f.link,
                    if f.live { ", live" } else { "" }
                );
                println!(
                    "shares: {}; joint motions pass with {}",
                    f.shares.join(", "),
                    f.joint_rule
                );
                if !f.head_confirmed {
                    println!(
                        "this node signs nothing here until a node taking part shows it its \
                         own latest event in this log"
                    );
                }
                for n in &f.networks {
                    println!(
                        "  network {} {}: {} (roster {}{}, {} practices, {} events of evidence)",
                        n.network,
                        n.name,
                        n.state,
                        n.roster_number,
                        if n.anchored { "" } else { ", not yet anchored" },
                        n.practices.len(),
                        n.evidence
                    );
                }
                for j in &f.joint_motions {
                    println!(
                        "  joint motion {}  {}: {} {:?}",
                        j.id, j.title, j.result, j.decisions
                    );
                }
                for (id, net, title, _) in &f.statements {
                    println!("  statement {id} from {net}: {title}");
                }
            }
        }
        FederationCommand::Joint(t) => post_text(json, &t, "joint")?,
        FederationCommand::Statement(t) => post_text(json, &t, "statements")?,
    }
    Ok(())
}

/// Posts a joint motion or a statement to a federation and prints what was signed.
fn post_text(json: bool, t: &FederationText, what: &str) -> Result<()> {
    let (dir, id, title, text) = (&t.dir, &t.id, &t.title, &t.text);
    let path = format!("/federations/{}/{what}", parse_event_id(id)?);
    let r: api::Authored =
        Client::of(dir)?.post(&path, &serde_json::json!({ "title": title, "text": text }))?;
    if r.outcome != "applied" {
        anyhow::bail!(
            "event {} was signed but did not take effect: {}",
            r.id,
            r.outcome
        );
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!("{}", r.id);
    }
    Ok(())
}
