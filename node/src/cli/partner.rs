//! `mutual proxy`, `mutual partner` and `mutual practice`: a partner's proxies and
//! resignation (signed with their keystore, from any machine), and the practice's own
//! details (signed by its node, with the token).

use super::keys::KeyArgs;
use super::motion::{open_for_ballots, short};
use super::resolve::{self, NodeArgs};
use anyhow::Result;
use clap::Subcommand;
use mutual_node::api;
use mutual_node::dates::parse_local as parse_time;
use mutual_proto::v1 as pb;
use mutual_protocol::event::Body;
use sha2::Digest;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(super) enum ProxyCommand {
    /// Appoint another partner to vote for you on one motion (as the deed allows: it sets
    /// how many proxies one partner may hold; a proxy cannot pass yours on).
    Appoint {
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        key: KeyArgs,
        /// The motion's id, or its first hex digits.
        motion: String,
        /// The partner who votes for you (a name, a key or its first hex digits).
        #[arg(long)]
        to: String,
        /// When the appointment ends, as "2026-12-20 17:00" (default: the motion's close).
        #[arg(long)]
        until: Option<String>,
    },
    /// Revoke your proxy on a motion; a vote they cast for you no longer counts unless
    /// you vote yourself.
    Revoke {
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        key: KeyArgs,
        /// The motion's id, or its first hex digits.
        motion: String,
    },
}

#[derive(Subcommand)]
pub(super) enum PartnerCommand {
    /// Sign the partnership's agreement, as a partner admitted since the deed named one:
    /// shows the agreement, checks it is the one the deed names, and with --yes signs your
    /// accession with your keystore. Until then you neither propose nor vote.
    Accede {
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        key: KeyArgs,
        /// The agreement's text, as the partnership sent it to you (default: the copy the
        /// node holds as a paper, checked against the hash the deed names).
        #[arg(long)]
        agreement: Option<PathBuf>,
        /// Sign it (without this the agreement is shown and nothing is signed).
        #[arg(long)]
        yes: bool,
    },
    /// Resign as a partner: signed with your keystore; you no longer vote or propose.
    Resign {
        #[command(flatten)]
        node: NodeArgs,
        #[command(flatten)]
        key: KeyArgs,
        /// Why (kept in the log).
        #[arg(long, default_value = "")]
        reason: String,
    },
}

#[derive(Subcommand)]
pub(super) enum PracticeCommand {
    /// Change this practice's details (signed by its node; on its machine).
    Update {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
        /// The new name.
        #[arg(long)]
        name: Option<String>,
        /// The new locality.
        #[arg(long)]
        locality: Option<String>,
        /// Registered patients.
        #[arg(long)]
        list_size: Option<u32>,
    },
    /// Replace the practice node's key (a node key exposed, or on a schedule): makes a new
    /// key (node.key.next), has the node sign the rotation to it with the old one and pass
    /// it on; restart the node to take up the new key (the old one is kept as node.key.old).
    RotateKey(RotateArgs),
    /// Revoke a partner of this practice's key, signed by the practice's node, when the
    /// partner cannot (a stolen laptop): it signs nothing more from now on, what it signed
    /// before stays valid; the partners then vote a new key in (`--kind replace-key`).
    RevokePartnerKey {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
        /// The partner (a name, a key or its first hex digits).
        #[arg(long)]
        partner: String,
        /// Why (kept in the log).
        #[arg(long)]
        reason: String,
    },
    /// This practice leaves the partnership, and its partners with it (signed by its
    /// node). Cannot be undone: rejoining is a new admission.
    Leave {
        /// The data directory.
        #[arg(long)]
        dir: PathBuf,
        /// Why (kept in the log).
        #[arg(long)]
        reason: String,
        /// Say yes: the practice leaves for good.
        #[arg(long)]
        yes: bool,
    },
}

/// What `mutual practice rotate-key` takes.
#[derive(clap::Args)]
pub(super) struct RotateArgs {
    /// The data directory (its node must be running and connected to a peer).
    #[arg(long)]
    dir: PathBuf,
}

pub(super) fn proxy_command(json: bool, p: ProxyCommand) -> Result<()> {
    let (node, key, motion, to, until) = match p {
        ProxyCommand::Appoint {
            node,
            key,
            motion,
            to,
            until,
        } => (node, key, motion, Some(to), until),
        ProxyCommand::Revoke { node, key, motion } => (node, key, motion, None, None),
    };
    let c = node.client()?;
    let (id, m) = resolve::motion(&c, &motion)?;
    open_for_ballots(&c, &m)?;
    let mut ballot = pb::Ballot {
        motion: id.as_bytes().to_vec(),
        choice: pb::Choice::RevokeProxy as i32,
        ..Default::default()
    };
    let mut holder_name = String::new();
    if let Some(to) = &to {
        let (holder, name) = resolve::partner(&c, to)?;
        let me = mutual_node::keystore::Keystore::read(&key.path()?)?.public();
        if holder == me {
            anyhow::bail!("you cannot appoint yourself as your own proxy");
        }
        let expires = match &until {
            Some(t) => {
                let at = parse_time(t)?;
                if at <= c.now() {
                    anyhow::bail!("--until {t:?} has passed; give a time to come");
                }
                at
            }
            None => 0,
        };
        ballot.choice = pb::Choice::AppointProxy as i32;
        ballot.proxy = holder.as_bytes().to_vec();
        ballot.proxy_expires_at_ms = expires;
        holder_name = name;
    }
    let s = key.sign_and_submit(&c, Body::Ballot(ballot), None)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else if to.is_some() {
        println!(
            "{holder_name} holds your proxy on {:?}{} ({})",
            m.title,
            until
                .map(|_| String::new())
                .unwrap_or_else(|| " until it closes".into()),
            short(&s.id)
        );
    } else {
        println!("your proxy on {:?} is revoked ({})", m.title, short(&s.id));
    }
    Ok(())
}

pub(super) fn partner_command(json: bool, p: PartnerCommand) -> Result<()> {
    match p {
        PartnerCommand::Accede {
            node,
            key,
            agreement,
            yes,
        } => {
            let c = node.client()?;
            let deed: api::DeedView = c.get("/deed")?;
            if deed.deed.agreement_hash.is_empty() {
                anyhow::bail!("the deed in force names no agreement: there is nothing to sign");
            }
            // The file given, or the node's copy: either way checked against the deed.
            let (bytes, from) = match &agreement {
                Some(path) => (
                    std::fs::read(path)
                        .map_err(|e| anyhow::anyhow!("the agreement {}: {e}", path.display()))?,
                    path.display().to_string(),
                ),
                None => (
                    c.request(
                        "GET",
                        &format!("/papers/{}", deed.deed.agreement_hash),
                        "",
                        &[],
                        false,
                    )
                    .map_err(|e| {
                        anyhow::anyhow!("{e}; give the agreement's file with --agreement FILE")
                    })?,
                    "the node's copy".to_string(),
                ),
            };
            let hash: [u8; 32] = sha2::Sha256::digest(&bytes).into();
            if deed.deed.agreement_hash != hex::encode(hash) {
                anyhow::bail!(
                    "{from} is not the agreement the deed names (its SHA-256 is {}, the \
                     deed's {}); nothing was signed: ask the partnership for the agreement \
                     in force",
                    hex::encode(hash),
                    deed.deed.agreement_hash
                );
            }
            let text = String::from_utf8(bytes)
                .unwrap_or_else(|_| format!("({from} is not text; its SHA-256 matches the deed)"));
            if !json {
                println!("{text}");
                println!("---");
            }
            if !yes {
                eprintln!(
                    "this is the agreement the deed names (SHA-256 {}); to sign your \
                     accession to it, run again with --yes",
                    hex::encode(hash)
                );
                return Ok(());
            }
            let s = key.sign_and_submit(
                &c,
                Body::Accession(pb::Accession {
                    agreement_hash: hash.to_vec(),
                }),
                None,
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!(
                    "you have signed the agreement ({}); you now propose and vote",
                    short(&s.id)
                );
            }
        }
        PartnerCommand::Resign { node, key, reason } => {
            let c = node.client()?;
            let s =
                key.sign_and_submit(&c, Body::PartnerResign(pb::PartnerResign { reason }), None)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                println!("you have resigned ({})", short(&s.id));
            }
        }
    }
    Ok(())
}

pub(super) fn practice_command(json: bool, p: PracticeCommand) -> Result<()> {
    let (dir, request) = match p {
        PracticeCommand::Update {
            dir,
            name,
            locality,
            list_size,
        } => {
            if name.is_none() && locality.is_none() && list_size.is_none() {
                anyhow::bail!("give at least one of --name, --locality, --list-size");
            }
            (
                dir,
                api::PracticeRequest::Update {
                    name,
                    locality,
                    list_size,
                },
            )
        }
        PracticeCommand::Leave { dir, reason, yes } => {
            if !yes {
                anyhow::bail!(
                    "leaving is for good: the practice and its partners leave the \
                     partnership. Run again with --yes to leave"
                );
            }
            (dir, api::PracticeRequest::Leave { reason })
        }
        PracticeCommand::RotateKey(RotateArgs { dir }) => return rotate_node_key(json, &dir),
        PracticeCommand::RevokePartnerKey {
            dir,
            partner,
            reason,
        } => {
            let c = mutual_node::client::Client::of(&dir)?;
            let (key, _) = resolve::partner(&c, &partner)?;
            (
                dir,
                api::PracticeRequest::RevokePartnerKey {
                    key: key.to_string(),
                    reason,
                },
            )
        }
    };
    let c = mutual_node::client::Client::of(&dir)?;
    let r: api::Authored = c.post("/practice", &request)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!("{} ({})", r.outcome, short(&r.id));
    }
    Ok(())
}

fn rotate_node_key(json: bool, dir: &std::path::Path) -> Result<()> {
    use mutual_node::daemon::{self, NEXT_KEY_FILE};
    let c = mutual_node::client::Client::of(dir)?;
    let status: serde_json::Value = c.get("/status")?;
    let peers = status["peers"].as_array().map_or(0, Vec::len);
    if peers == 0 {
        anyhow::bail!(
            "the node is connected to no peer: the rotation would reach no one, and peers \
             admit the new key only once they hold it. Try again when `mutual status` shows \
             peers"
        );
    }
    let network = daemon::parse_network(status["network"].as_str().unwrap_or_default())?;
    let old = mutual_node::keyfile::read(&dir.join(daemon::KEY_FILE))?;
    let next_path = dir.join(NEXT_KEY_FILE);
    let new = mutual_node::keyfile::create(&next_path)?;
    let proof = new.sign(
        mutual_protocol::signature::ROTATE_DOMAIN,
        &mutual_protocol::membership::rotation_message(&network, &old.public()),
    );
    let r: Result<api::Authored> = c.post(
        "/practice",
        &api::PracticeRequest::RotateKey {
            new_key: new.public().to_string(),
            proof: hex::encode(proof),
        },
    );
    let r = match r {
        Ok(r) => r,
        Err(e) => {
            // Refused outright: the rotation was not stored, so the new key is set aside
            // (never deleted); the node keeps its key.
            if mutual_node::client::refused_outright(&e) {
                let _ = std::fs::rename(&next_path, next_path.with_extension("next.unused"));
            }
            return Err(e);
        }
    };
    if json {
        println!(
            "{}",
            serde_json::json!({ "rotation": r.id, "new_key": new.public().to_string() })
        );
    } else {
        println!("rotation     {}", r.id);
        println!("new key      {}", new.public());
        println!(
            "the rotation is signed with the old key and passed to {} peer(s). Restart the \
             node now (`mutual start --dir {}`, or its service): it takes up the new key, \
             keeping the old as node.key.old; until then it cannot sign",
            peers,
            dir.display()
        );
    }
    Ok(())
}
