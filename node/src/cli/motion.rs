//! `mutual motion` and `mutual vote`: partners propose, show and vote, signing with their
//! own keystores.

use super::keys::KeyArgs;
use anyhow::{Context, Result};
use clap::Subcommand;
use mutual_node::api;
use mutual_node::client::Client;
use mutual_proto::v1 as pb;
use mutual_protocol::event::Body;
use mutual_protocol::id::EventId;
use std::path::PathBuf;
use std::process::ExitCode;

/// What `mutual motion propose` takes.
#[derive(clap::Args)]
pub(super) struct ProposeArgs {
    /// Your practice's data directory (its node receives the motion).
    #[arg(long)]
    pub(super) dir: PathBuf,
    #[command(flatten)]
    pub(super) key: KeyArgs,
    /// general, admit-practice, remove-practice, remove-partner, change-role,
    /// link-federation or leave-federation.
    #[arg(long)]
    pub(super) kind: String,
    /// A short title.
    #[arg(long)]
    pub(super) title: String,
    /// The full text.
    #[arg(long, default_value = "")]
    pub(super) text: String,
    /// Minutes the vote stays open (within the deed's bounds; default 7 days).
    #[arg(long, default_value_t = 7 * 24 * 60)]
    pub(super) voting_minutes: u64,
    /// admit-practice: the practice's name.
    #[arg(long)]
    pub(super) practice_name: Option<String>,
    /// admit-practice and remove-practice: the ODS code.
    #[arg(long)]
    pub(super) ods: Option<String>,
    /// admit-practice: its locality.
    #[arg(long, default_value = "")]
    pub(super) locality: String,
    /// admit-practice: registered patients.
    #[arg(long, default_value_t = 0)]
    pub(super) list_size: u32,
    /// admit-practice: its node key.
    #[arg(long)]
    pub(super) node_key: Option<String>,
    /// remove-partner and change-role: the partner's key.
    #[arg(long)]
    pub(super) subject: Option<String>,
    /// change-role: partner, associate or managing.
    #[arg(long)]
    pub(super) role: Option<String>,
    /// link-federation: a file holding the charter event (hex, or the JSON of `mutual
    /// federation charter --json`).
    #[arg(long)]
    pub(super) charter: Option<PathBuf>,
    /// leave-federation, and general with --joint-motion: the federation's id.
    #[arg(long)]
    pub(super) federation: Option<String>,
    /// general: this motion is the network's vote on that joint motion (its id).
    #[arg(long)]
    pub(super) joint_motion: Option<String>,
}

#[derive(Subcommand)]
pub(super) enum MotionCommand {
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

/// `mutual vote`.
#[derive(clap::Args)]
pub(super) struct VoteArgs {
    /// Your practice's data directory (its node receives the ballot).
    #[arg(long)]
    pub(super) dir: PathBuf,
    #[command(flatten)]
    pub(super) key: KeyArgs,
    /// The motion's id.
    pub(super) motion: String,
    /// for, against or abstain.
    pub(super) choice: String,
    /// An optional statement with the vote.
    #[arg(long, default_value = "")]
    pub(super) statement: String,
}

pub(super) fn vote(json: bool, a: VoteArgs) -> Result<ExitCode> {
    let VoteArgs {
        dir,
        key,
        motion,
        choice,
        statement,
        ..
    } = a;
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
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!("ballot {} cast on {:?}", s.id, m.title);
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn print_motion(m: &api::MotionView) {
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

pub(super) fn motion_command(json: bool, m: MotionCommand) -> Result<()> {
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

pub(super) fn parse_event_id(s: &str) -> Result<EventId> {
    s.trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("{s:?} is not an id (64 hex digits)"))
}
