//! `mutual motion` and `mutual vote`: partners list, show and vote on motions, signing
//! with their own keystores (proposing is in [`super::propose`]).

use super::keys::KeyArgs;
use super::resolve::{self, NodeArgs};
use anyhow::Result;
use clap::Subcommand;
use mutual_node::api;
use mutual_node::client::Client;
use mutual_node::dates::format_local as format_ms;
use mutual_node::deed::duration_words;
use mutual_proto::v1 as pb;
use mutual_protocol::event::Body;
use mutual_protocol::id::EventId;
use std::process::ExitCode;

#[derive(Subcommand)]
pub(super) enum MotionCommand {
    /// Propose a motion, signed with your keystore; the node checks it against the deed
    /// before anything is signed.
    Propose(Box<super::propose::ProposeArgs>),
    /// List motions with their standing.
    List {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Show a motion and its tally, explained (an election's count round by round).
    Show {
        #[command(flatten)]
        node: NodeArgs,
        /// The motion's id, or its first hex digits.
        id: String,
    },
}

/// `mutual vote`.
#[derive(clap::Args)]
pub(super) struct VoteArgs {
    #[command(flatten)]
    pub(super) node: NodeArgs,
    #[command(flatten)]
    pub(super) key: KeyArgs,
    /// The motion's id, or its first hex digits.
    pub(super) motion: String,
    /// for, against or abstain (not with --rank or --declare-interest).
    #[arg(required_unless_present_any = ["rank", "declare_interest"])]
    pub(super) choice: Option<String>,
    /// An election: the candidates in your order of preference, comma-separated (names,
    /// keys or their first hex digits).
    #[arg(long, conflicts_with_all = ["choice", "declare_interest"])]
    pub(super) rank: Option<String>,
    /// Declare an interest in the motion (what it is); where the deed says so, you are
    /// then left out of its vote.
    #[arg(long, conflicts_with = "choice")]
    pub(super) declare_interest: Option<String>,
    /// Vote as proxy for this partner (who appointed you).
    #[arg(long)]
    pub(super) on_behalf_of: Option<String>,
    /// An optional statement with the vote.
    #[arg(long, default_value = "")]
    pub(super) statement: String,
}

/// Refuses a ballot on a closed motion before the passphrase is asked for.
pub(super) fn open_for_ballots(c: &Client, m: &api::MotionView) -> Result<()> {
    if m.closed || c.now() > m.closes_at_ms {
        anyhow::bail!(
            "voting on {:?} closed {}; ballots are no longer accepted",
            m.title,
            format_ms(m.closes_at_ms)
        );
    }
    Ok(())
}

pub(super) fn vote(json: bool, a: VoteArgs) -> Result<ExitCode> {
    let c = a.node.client()?;
    let (id, m) = resolve::motion(&c, &a.motion)?;
    open_for_ballots(&c, &m)?;
    let mut ballot = pb::Ballot {
        motion: id.as_bytes().to_vec(),
        statement: a.statement.clone(),
        ..Default::default()
    };
    let members: Vec<api::MemberView> = c.get("/members")?;
    if let Some(text) = &a.declare_interest {
        ballot.choice = pb::Choice::DeclareInterest as i32;
        if a.statement.is_empty() {
            ballot.statement = text.clone();
        }
    } else if let Some(list) = &a.rank {
        if m.candidates.is_empty() {
            anyhow::bail!(
                "{:?} is not an election: vote for, against or abstain",
                m.title
            );
        }
        let mut seen = Vec::new();
        for who in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let (key, name) = resolve::partner_in(&members, who)?;
            if !m.candidates.iter().any(|(k, _)| *k == key.to_string()) {
                anyhow::bail!(
                    "{name} is not a candidate in {:?}; the candidates are {}",
                    m.title,
                    m.candidates
                        .iter()
                        .map(|c| c.1.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            if seen.contains(&key) {
                anyhow::bail!("{name} is ranked twice; rank each candidate once");
            }
            seen.push(key);
        }
        if seen.is_empty() {
            anyhow::bail!("--rank needs at least one candidate");
        }
        ballot.ranking = seen.iter().map(|k| k.as_bytes().to_vec()).collect();
        ballot.choice = pb::Choice::For as i32;
    } else {
        let choice = a.choice.as_deref().unwrap_or_default();
        ballot.choice = match choice {
            "for" => pb::Choice::For,
            "against" => pb::Choice::Against,
            "abstain" => pb::Choice::Abstain,
            other => anyhow::bail!("{other:?}: vote for, against or abstain"),
        } as i32;
        if !m.candidates.is_empty() && choice != "abstain" {
            anyhow::bail!(
                "{:?} is an election: rank the candidates with --rank NAME,NAME,... (or \
                 abstain)",
                m.title
            );
        }
    }
    if let Some(who) = &a.on_behalf_of {
        ballot.on_behalf_of = resolve::partner_in(&members, who)?.0.as_bytes().to_vec();
    }
    let s = a.key.sign_and_submit(&c, Body::Ballot(ballot), None)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else if a.declare_interest.is_some() {
        println!("interest declared on {:?} ({})", m.title, short(&s.id));
    } else {
        println!("ballot {} cast on {:?}", short(&s.id), m.title);
    }
    Ok(ExitCode::SUCCESS)
}

/// An id's first 12 hex digits, as people are shown it.
pub(super) fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// A time and how far it is from `now`: "2026-12-20 17:00:00 UTC (in 2 h 10 min)".
pub(super) fn when(ms: u64, now: u64) -> String {
    if ms >= now {
        format!("{} (in {})", format_ms(ms), duration_words(ms - now))
    } else {
        format!("{} ({} ago)", format_ms(ms), duration_words(now - ms))
    }
}

pub(super) fn print_motion(m: &api::MotionView, now: u64) {
    println!("motion   {}", m.id);
    println!("title    {} ({})", m.title, m.kind);
    if !m.text.is_empty() {
        println!("text     {}", m.text);
    }
    println!("proposer {}", m.proposer);
    if let Some(p) = &m.power {
        println!("power    {p}");
    }
    if let Some(p) = &m.practice {
        println!("practice {p}");
    }
    if !m.decided_by.is_empty() {
        println!("decided  by {}", m.decided_by);
    }
    for p in &m.papers {
        println!("paper    {}", api::papers::paper_line(p));
    }
    println!("standing {}", m.standing);
    println!("opened   {}", format_ms(m.opens_at_ms));
    println!("closes   {}", when(m.closes_at_ms, now));
    println!("final    {}", when(m.final_at_ms, now));
    if !m.candidates.is_empty() {
        let names: Vec<&str> = m.candidates.iter().map(|c| c.1.as_str()).collect();
        println!("candidates {}", names.join(", "));
    }
    let t = &m.tally;
    if m.candidates.is_empty() {
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
    } else {
        println!(
            "turnout  {} of {} (quorum {}: {})",
            t.turnout,
            t.electorate,
            t.quorum_needed,
            if t.quorum_met { "met" } else { "not met" }
        );
    }
    if t.recused > 0 {
        println!("recused  {}", t.recused);
    }
    println!("result   {}", t.reason);
    if t.unwitnessed > 0 && !m.closed {
        println!(
            "witness  {} ballot(s) not yet witnessed by another practice",
            t.unwitnessed
        );
    }
    for r in &t.rounds {
        println!("count    {r}");
    }
    if !t.elected.is_empty() {
        println!("elected  {}", t.elected.join(", "));
    }
    if let Some(e) = &m.effect {
        println!("effect   {e}");
    }
    for (who, vote) in m.ballots.iter().flatten() {
        println!("ballot   {who}: {vote}");
    }
}

pub(super) fn motion_command(json: bool, m: MotionCommand) -> Result<()> {
    match m {
        MotionCommand::Propose(a) => super::propose::propose(json, &a)?,
        MotionCommand::List { node } => {
            let c = node.client()?;
            let list: Vec<api::MotionView> = c.get("/motions")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!("no motions yet");
            } else {
                let now = c.now();
                for m in &list {
                    let time = if m.closed {
                        format!("closed {}", format_ms(m.closes_at_ms))
                    } else {
                        format!("closes {}", when(m.closes_at_ms, now))
                    };
                    println!(
                        "{}  {:<15} {}: {}; {time}",
                        short(&m.id),
                        m.kind,
                        m.title,
                        m.standing
                    );
                }
            }
        }
        MotionCommand::Show { node, id } => {
            let c = node.client()?;
            let (_, m) = resolve::motion(&c, &id)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&m)?);
            } else {
                print_motion(&m, c.now());
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
