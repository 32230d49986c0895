//! `mutual federation`: cards, charters, statements and joint motions between linked
//! partnerships.

use super::motion::parse_event_id;
use anyhow::{Context, Result};
use clap::Subcommand;
use mutual_node::api;
use mutual_node::client::Client;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(super) enum FederationCommand {
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
pub(super) struct FederationText {
    /// The data directory.
    #[arg(long)]
    pub(super) dir: PathBuf,
    /// The federation's id.
    pub(super) id: String,
    /// A short title.
    #[arg(long)]
    pub(super) title: String,
    /// The full text.
    #[arg(long, default_value = "")]
    pub(super) text: String,
}

pub(super) fn federation_command(json: bool, f: FederationCommand) -> Result<()> {
    use mutual_node::api::federations::{Card, FederationView, SignedCharter};
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
pub(super) fn post_text(json: bool, t: &FederationText, what: &str) -> Result<()> {
    let (dir, id, title, text) = (&t.dir, &t.id, &t.title, &t.text);
    let path = format!("/federations/{}/{what}", parse_event_id(id)?);
    let r: api::Authored =
        Client::of(dir)?.post(&path, &serde_json::json!({ "title": title, "text": text }))?;
    super::report_authored(json, &r)
}
