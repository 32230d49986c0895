//! `mutual aid`: requests for help between practices, offers, acceptances and
//! countersignatures.

use super::motion::parse_event_id;
use anyhow::Result;
use clap::Subcommand;
use mutual_node::api;
use mutual_node::client::Client;
use std::path::PathBuf;

#[derive(clap::Args)]
pub(super) struct AidArgs {
    /// Sign as a partner of the practice, with this keystore, rather than by the
    /// practice's node: offers, acceptances and countersignatures commit the practice,
    /// and the deed may have a partner (or a managing partner) sign them.
    #[arg(long, global = true)]
    pub(super) keystore: Option<PathBuf>,
    /// With --keystore: read the passphrase from this file (else MUTUAL_PASSPHRASE, else
    /// a prompt).
    #[arg(long, global = true)]
    pub(super) passphrase_file: Option<PathBuf>,
    /// Act in this federation's log (its id) rather than the network's: requests are
    /// marked for the federation and answered by practices of other networks.
    #[arg(long, global = true)]
    pub(super) federation: Option<String>,
    #[command(subcommand)]
    pub(super) command: AidCommand,
}

#[derive(Subcommand)]
pub(super) enum AidCommand {
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
        /// A file that goes with the request (a rota, a job description; at most 16
        /// MiB), sent to the node once the request is stored. Repeat for each.
        #[arg(long)]
        attach: Vec<PathBuf>,
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

pub(super) fn aid_command(json: bool, args: AidArgs) -> Result<()> {
    use api::AidAction as A;
    let path = match &args.federation {
        Some(f) => format!("/federations/{}/aid", parse_event_id(f)?),
        None => "/aid".to_string(),
    };
    let mut attached = Vec::new();
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
            attach,
        } => {
            if !attach.is_empty() && args.federation.is_some() {
                anyhow::bail!(
                    "papers go with a partnership's own requests; a federation's log carries \
                     none (no --attach with --federation)"
                );
            }
            attached = super::paper::attach(&attach)?;
            (
                dir,
                A::Request {
                    role,
                    sessions,
                    urgency,
                    notes,
                    days,
                    papers: super::paper::refs(&attached),
                },
            )
        }
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
    if let Some(keystore) = args.keystore {
        if args.federation.is_some() {
            anyhow::bail!(
                "aid in a federation's log is signed by the practice's node: no --keystore"
            );
        }
        let key = super::keys::KeyArgs {
            keystore: Some(keystore),
            passphrase_file: args.passphrase_file,
        };
        let c = Client::of(&dir)?;
        let author = mutual_node::keystore::Keystore::read(&key.path()?)?.public();
        let v: serde_json::Value = c.post_open(
            "/aid/body",
            &api::AidBodyRequest {
                author: author.to_string(),
                action,
            },
        )?;
        let body = api::prepare::decode_body(v["body"].as_str().unwrap_or_default())
            .map_err(|e| anyhow::anyhow!("the node's answer: {e}"))?;
        super::paper::check_room(&c, &attached)?;
        let s = key.sign_and_submit(&c, body, None)?;
        if json {
            println!("{}", serde_json::to_string_pretty(&s)?);
        } else {
            println!("{}", s.id);
            eprintln!("applied, signed by you for your practice");
        }
        return super::paper::send(&c, &attached);
    }
    let c = Client::of(&dir)?;
    super::paper::check_room(&c, &attached)?;
    let r: api::Authored = c.post(&path, &action)?;
    super::report_authored(json, &r)?;
    if !json {
        eprintln!("{}", r.outcome);
    }
    super::paper::send(&c, &attached)
}
