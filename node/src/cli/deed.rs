//! `mutual deed show` and `mutual deed history`: who decides what here, and how the deed
//! came to say so.

use super::resolve::NodeArgs;
use anyhow::Result;
use clap::Subcommand;
use mutual_node::api;

#[derive(Subcommand)]
pub(super) enum DeedCommand {
    /// The deed in force as a table: every kind of decision and every power, who
    /// proposes, who decides, quorum, threshold, voting period and recusal; proxies; the
    /// board and chair with their localities and terms (and whether an election is due);
    /// the agreement; the motion that last changed it.
    Show {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Every amendment of the deed, with its motion, when it took effect and what it
    /// changed.
    History {
        #[command(flatten)]
        node: NodeArgs,
    },
}

pub(super) fn deed_command(json: bool, d: DeedCommand) -> Result<()> {
    match d {
        DeedCommand::Show { node } => {
            let v: api::DeedView = node.client()?.get("/deed")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            print_deed(&v);
        }
        DeedCommand::History { node } => {
            let list: Vec<api::Amendment> = node.client()?.get("/deed/history")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            if list.is_empty() {
                println!("the deed is as founded: it has never been amended");
            }
            for a in &list {
                println!(
                    "{}  {:?}, proposed by {}; in force from {}",
                    super::motion::short(&a.motion),
                    a.title,
                    a.proposer,
                    a.in_force_from
                );
                println!("    {}", a.result);
                for c in &a.changes {
                    println!("    {c}");
                }
            }
        }
    }
    Ok(())
}

fn print_deed(v: &api::DeedView) {
    for line in v.deed.table() {
        println!("{line}");
    }
    println!();
    for p in &v.deed.powers {
        println!("power {}: {}", p.rule.kind, p.description);
    }
    println!("grace period after a close: {}", v.deed.grace_period);
    println!("proxies: {}", v.deed.proxies);
    println!(
        "aid offers, acceptances and countersignatures: signed by {}",
        v.deed.aid_signers
    );
    if v.deed.agreement_hash.is_empty() {
        println!("agreement: none named; partners admitted vote at once");
    } else {
        println!(
            "agreement: SHA-256 {}; partners admitted sign an accession to it first",
            v.deed.agreement_hash
        );
    }
    let office = |name: &str, holders: String, term_in_deed: &str, t: &api::TermView| {
        println!("{name}: {holders}");
        if t.ends.is_some() || t.lapsed.is_some() {
            println!("  term: {term_in_deed}; {}", t.words());
        } else {
            println!("  term: {term_in_deed}");
        }
    };
    office(
        "board",
        if v.board.is_empty() {
            "none in office".into()
        } else {
            v.board.join(", ")
        },
        &v.deed.board_term,
        &v.board_term,
    );
    office(
        "chair",
        v.chair.clone().unwrap_or_else(|| "none in office".into()),
        &v.deed.chair_term,
        &v.chair_term,
    );
    println!(
        "deed: {}",
        v.amended_by
            .as_deref()
            .unwrap_or("as founded (never amended)")
    );
}
