//! `mutual motion propose`: a partner proposes a motion of any kind, built from the
//! command line's arguments, checked against the deed by the node before anything is
//! signed, with its papers sent to the node once it is stored.

use super::keys::KeyArgs;
use super::motion::{parse_event_id, short};
use super::resolve::{self, NodeArgs};
use anyhow::{Context, Result};
use mutual_node::api;
use mutual_node::client::Client;
use mutual_node::dates::parse_local as parse_time;
use mutual_node::deed::{duration_words, DeedText, FoundingDeed};
use mutual_proto::v1 as pb;
use mutual_protocol::event::Body;
use std::path::PathBuf;

/// What `mutual motion propose` takes.
#[derive(clap::Args)]
pub(super) struct ProposeArgs {
    #[command(flatten)]
    pub(super) node: NodeArgs,
    #[command(flatten)]
    pub(super) key: KeyArgs,
    /// general (or resolution), admit-practice, admit-partner, remove-practice,
    /// remove-partner, change-role, elect-board, elect-chair, amend-deed, replace-key,
    /// link-federation or leave-federation.
    #[arg(long)]
    pub(super) kind: String,
    /// general/resolution: the deed's power it is made under (`mutual deed show` lists
    /// them); without it, an ordinary resolution for all partners.
    #[arg(long)]
    pub(super) power: Option<String>,
    /// With --power: the practice the resolution concerns (its ODS code), as a power
    /// decided by one practice's partners needs.
    #[arg(long, requires = "power")]
    pub(super) practice: Option<String>,
    /// A file the voters are asked to read (PDF, spreadsheet, text; at most 16 MiB):
    /// the motion names its SHA-256 and size, and its bytes go to the node once the
    /// motion is stored. Repeat for each.
    #[arg(long)]
    pub(super) attach: Vec<PathBuf>,
    /// A short title.
    #[arg(long)]
    pub(super) title: String,
    /// The full text.
    #[arg(long, default_value = "")]
    pub(super) text: String,
    /// Minutes the vote stays open (within the deed's bounds; default 7 days).
    #[arg(long, conflicts_with = "closes")]
    pub(super) voting_minutes: Option<u64>,
    /// When the vote closes, as "2026-12-20 17:00" (this machine's time zone), with an offset
    /// ("2026-12-20 17:00 +01:00") or in RFC 3339.
    #[arg(long)]
    pub(super) closes: Option<String>,
    /// admit-practice: the practice's name.
    #[arg(long)]
    pub(super) practice_name: Option<String>,
    /// admit-practice, remove-practice: the practice's ODS code; admit-partner: the
    /// practice the partner joins.
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
    /// admit-practice: one of its first partners, as "NAME=KEY" (their key from
    /// `mutual keystore new`); repeat for each.
    #[arg(long)]
    pub(super) first_partner: Vec<String>,
    /// admit-partner: the new partner's name.
    #[arg(long)]
    pub(super) partner_name: Option<String>,
    /// admit-partner: the new partner's key (from their `mutual keystore new`).
    #[arg(long)]
    pub(super) partner_key: Option<String>,
    /// remove-partner, change-role, replace-key: the partner (a name, a key or its first
    /// hex digits).
    #[arg(long)]
    pub(super) subject: Option<String>,
    /// change-role, admit-partner: partner, associate or managing.
    #[arg(long)]
    pub(super) role: Option<String>,
    /// replace-key: the new key (from the partner's `mutual keystore new`).
    #[arg(long)]
    pub(super) replacement_key: Option<String>,
    /// elect-board, elect-chair: a candidate (a partner's name, key or its first hex
    /// digits); repeat for each.
    #[arg(long)]
    pub(super) candidate: Vec<String>,
    /// elect-board: the number of seats.
    #[arg(long, conflicts_with = "per_locality")]
    pub(super) seats: Option<u32>,
    /// elect-board: one seat per locality the candidates come from.
    #[arg(long)]
    pub(super) per_locality: bool,
    /// amend-deed: the new deed, a TOML file with a `[deed]` table as in a founding file.
    #[arg(long)]
    pub(super) deed: Option<PathBuf>,
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

/// The motion's voting period: `--closes` as a time (then the window runs from the
/// event's own time), else `--voting-minutes` (default 7 days) exactly.
fn voting_window(
    voting_minutes: Option<u64>,
    closes: Option<&str>,
    now: u64,
) -> Result<(Option<u64>, u64)> {
    match closes {
        Some(t) => {
            let at = parse_time(t)?;
            if at <= now {
                anyhow::bail!(
                    "--closes {t:?} is {} ago; give a time to come",
                    duration_words(now - at)
                );
            }
            Ok((None, at))
        }
        None => {
            let minutes = voting_minutes.unwrap_or(DEFAULT_VOTING_MINUTES);
            let ms = minutes
                .checked_mul(60_000)
                .ok_or_else(|| anyhow::anyhow!("--voting-minutes {minutes} is too long"))?;
            Ok((Some(ms), 0))
        }
    }
}

/// The voting period when none is given: 7 days.
pub const DEFAULT_VOTING_MINUTES: u64 = 7 * 24 * 60;

fn role(name: &str) -> Result<pb::PartnerRole> {
    Ok(match name {
        "partner" => pb::PartnerRole::Partner,
        "associate" => pb::PartnerRole::Associate,
        "managing" => pb::PartnerRole::Managing,
        other => anyhow::bail!("--role {other:?}: partner, associate or managing"),
    })
}

fn key_bytes(s: &str, what: &str) -> Result<Vec<u8>> {
    let k: mutual_protocol::keys::PublicKey = s
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("--{what}: not a key (64 hex digits)"))?;
    Ok(k.as_bytes().to_vec())
}

/// Builds the motion `a` asks for, refusing a missing or wrong field before anything is
/// signed; prints what an amendment changes.
fn build_motion(c: &Client, a: &ProposeArgs) -> Result<pb::Motion> {
    use pb::DecisionKind as K;
    let kind = a.kind.as_str();
    let need = |v: &Option<String>, flag: &str| -> Result<String> {
        v.clone()
            .with_context(|| format!("--kind {kind} needs --{flag}"))
    };
    let id_bytes = |s: String, what: &str| -> Result<Vec<u8>> {
        Ok(parse_event_id(&s)
            .with_context(|| format!("--{what}"))?
            .as_bytes()
            .to_vec())
    };
    let mut motion = pb::Motion {
        title: a.title.clone(),
        text: a.text.clone(),
        ..Default::default()
    };
    if motion.title.trim().is_empty() {
        anyhow::bail!("--title is empty; give the motion a short title");
    }
    let election = matches!(kind, "elect-board" | "elect-chair");
    if kind != "admit-practice" && !a.first_partner.is_empty() {
        anyhow::bail!("--first-partner is for admit-practice");
    }
    if !election && (!a.candidate.is_empty() || a.seats.is_some() || a.per_locality) {
        anyhow::bail!(
            "--candidate, --seats and --per-locality are for elect-board and elect-chair"
        );
    }
    if (a.power.is_some() || a.practice.is_some()) && !matches!(kind, "general" | "resolution") {
        anyhow::bail!("--power and --practice are for a resolution (--kind resolution)");
    }
    let k = match kind {
        "general" | "resolution" => {
            if let Some(power) = &a.power {
                if a.joint_motion.is_some() {
                    anyhow::bail!("a vote on a joint motion cites no power");
                }
                let deed: api::DeedView = c.get("/deed")?;
                if !deed.deed.powers.iter().any(|p| &p.rule.kind == power) {
                    let names: Vec<&str> = deed
                        .deed
                        .powers
                        .iter()
                        .map(|p| p.rule.kind.as_str())
                        .collect();
                    anyhow::bail!(
                        "the deed gives no power called {power:?}; its powers: {}",
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    );
                }
                motion.power = power.clone();
                motion.subject_ods = a.practice.clone().unwrap_or_default();
            }
            if let Some(j) = a.joint_motion.clone() {
                motion.joint_motion = id_bytes(j, "joint-motion")?;
                motion.federation = id_bytes(need(&a.federation, "federation")?, "federation")?;
            }
            K::General
        }
        "link-federation" => {
            let path = need(
                &a.charter.as_ref().map(|p| p.display().to_string()),
                "charter",
            )?;
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
            let hex_text = match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(v) => v["charter_event"].as_str().unwrap_or_default().to_string(),
                Err(_) => text.trim().to_string(),
            };
            motion.charter_event = hex::decode(hex_text.trim())
                .with_context(|| format!("{path}: not a hex charter event"))?;
            K::LinkFederation
        }
        "leave-federation" => {
            motion.federation = id_bytes(need(&a.federation, "federation")?, "federation")?;
            K::LeaveFederation
        }
        "admit-practice" => {
            motion.admit_practice = Some(pb::Practice {
                name: need(&a.practice_name, "practice-name")?,
                ods_code: need(&a.ods, "ods")?,
                locality: a.locality.clone(),
                list_size: a.list_size,
                node_key: key_bytes(&need(&a.node_key, "node-key")?, "node-key")?,
            });
            for f in &a.first_partner {
                let Some((name, key)) = f.rsplit_once('=') else {
                    anyhow::bail!("--first-partner {f:?}: write it as \"NAME=KEY\"");
                };
                motion.first_partners.push(pb::Partner {
                    name: name.trim().to_string(),
                    practice_ods: need(&a.ods, "ods")?,
                    role: pb::PartnerRole::Partner as i32,
                    key: key_bytes(key, "first-partner")?,
                });
            }
            K::AdmitPractice
        }
        "admit-partner" => {
            motion.admit_partner = Some(pb::Partner {
                name: need(&a.partner_name, "partner-name")?,
                practice_ods: need(&a.ods, "ods")?,
                role: role(a.role.as_deref().unwrap_or("partner"))? as i32,
                key: key_bytes(&need(&a.partner_key, "partner-key")?, "partner-key")?,
            });
            K::AdmitPartner
        }
        "remove-practice" => {
            motion.subject_ods = need(&a.ods, "ods")?;
            K::RemovePractice
        }
        "remove-partner" => {
            let (k, _) = resolve::partner(c, &need(&a.subject, "subject")?)?;
            motion.subject_key = k.as_bytes().to_vec();
            K::RemovePartner
        }
        "change-role" => {
            let (k, _) = resolve::partner(c, &need(&a.subject, "subject")?)?;
            motion.subject_key = k.as_bytes().to_vec();
            motion.new_role = role(&need(&a.role, "role")?)? as i32;
            K::ChangeRole
        }
        "replace-key" => {
            let (k, name) = resolve::partner(c, &need(&a.subject, "subject")?)?;
            motion.subject_key = k.as_bytes().to_vec();
            motion.replacement_key = key_bytes(
                &need(&a.replacement_key, "replacement-key")?,
                "replacement-key",
            )?;
            if motion.replacement_key == motion.subject_key {
                anyhow::bail!("the replacement key is {name}'s current key; give the new one");
            }
            let mine = mutual_node::keystore::Keystore::read(&a.key.path()?)?.public();
            if mine == k {
                anyhow::bail!(
                    "you cannot propose replacing your own key: while you hold it, replace it \
                     yourself (`mutual keystore rotate`); a lost key is replaced on another \
                     partner's proposal"
                );
            }
            K::ReplaceKey
        }
        "elect-board" | "elect-chair" => {
            if a.candidate.is_empty() {
                anyhow::bail!("--kind {kind} needs at least one --candidate");
            }
            let members: Vec<api::MemberView> = c.get("/members")?;
            for who in &a.candidate {
                let (key, name) = resolve::partner_in(&members, who)?;
                let b = key.as_bytes().to_vec();
                if motion.candidates.contains(&b) {
                    anyhow::bail!("{name} is named twice as a candidate");
                }
                motion.candidates.push(b);
            }
            if kind == "elect-chair" {
                if a.seats.is_some_and(|s| s != 1) || a.per_locality {
                    anyhow::bail!("a chair election fills one seat: no --seats or --per-locality");
                }
                K::ElectChair
            } else {
                match (a.seats, a.per_locality) {
                    (Some(n), false) => motion.seats = n,
                    (None, true) => motion.per_locality = true,
                    _ => anyhow::bail!(
                        "--kind elect-board needs --seats N or --per-locality (one seat per \
                         locality the candidates come from)"
                    ),
                }
                K::ElectBoard
            }
        }
        "amend-deed" => {
            let path = a
                .deed
                .as_ref()
                .with_context(|| "--kind amend-deed needs --deed FILE".to_string())?;
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let base = path.parent().unwrap_or(std::path::Path::new("."));
            let new = FoundingDeed::from_file_text(&text, base)
                .with_context(|| format!("{} is not a valid deed", path.display()))?;
            let now: api::DeedView = c.get("/deed")?;
            let diff = now.deed.diff(&DeedText::of(Some(&new)));
            if diff.is_empty() {
                anyhow::bail!("{} changes nothing in the deed in force", path.display());
            }
            eprintln!("the amendment changes the deed in force:");
            for line in diff {
                eprintln!("  {line}");
            }
            motion.new_deed = Some(new);
            K::AmendDeed
        }
        other => anyhow::bail!(
            "--kind {other:?}: general, admit-practice, admit-partner, remove-practice, \
             remove-partner, change-role, elect-board, elect-chair, amend-deed, replace-key, \
             link-federation or leave-federation"
        ),
    };
    motion.kind = k as i32;
    Ok(motion)
}

/// Proposes the motion `a` describes, signed with the partner's keystore.
pub(super) fn propose(json: bool, a: &ProposeArgs) -> Result<()> {
    let c = a.node.client()?;
    let attached = super::paper::attach(&a.attach)?;
    super::paper::check_room(&c, &attached)?;
    let mut motion = build_motion(&c, a)?;
    motion.papers = attached.iter().map(|x| x.paper.clone()).collect();
    let (voting_ms, closes_at) = voting_window(a.voting_minutes, a.closes.as_deref(), c.now())?;
    // Opens when signed (0 reads as the motion's own timestamp).
    motion.opens_at_ms = 0;
    motion.closes_at_ms = closes_at;
    let s = a.key.sign_and_submit(&c, Body::Motion(motion), voting_ms)?;
    // The id first: if a file then fails to reach the node, the motion is known.
    print_proposed(json, &s)?;
    super::paper::send(&c, &attached)?;
    if let (Some(deed), "amend-deed") = (&a.deed, a.kind.as_str()) {
        send_agreement(&c, deed)?;
    }
    Ok(())
}

/// After an amendment that names an agreement is stored, sends the agreement's file to
/// the node: it is a paper like any other (docs/GOVERNANCE.md §8.1).
fn send_agreement(c: &Client, deed_file: &std::path::Path) -> Result<()> {
    let text = std::fs::read_to_string(deed_file)?;
    #[derive(serde::Deserialize)]
    struct File {
        deed: Option<FoundingDeed>,
    }
    let Ok(File { deed: Some(mut d) }) = toml::from_str::<File>(&text) else {
        return Ok(());
    };
    d.resolve_paths(deed_file.parent().unwrap_or(std::path::Path::new(".")));
    if let Some(path) = &d.agreement {
        let bytes = std::fs::read(path)?;
        super::paper::put(c, &bytes).with_context(|| {
            format!(
                "the amendment is stored, but the agreement did not reach the node; send \
                     it with `mutual paper put {}`",
                path.display()
            )
        })?;
        eprintln!("the agreement {} sent to the node", path.display());
    }
    Ok(())
}

fn print_proposed(json: bool, s: &mutual_node::core::Submitted) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
    } else {
        println!("{}", s.id);
        eprintln!(
            "motion proposed; partners vote with `mutual vote {} for|against|abstain` (an \
             election: `--rank NAME,NAME,...`)",
            short(&s.id)
        );
    }
    Ok(())
}
