//! The deed as people write and read it: here the `[deed]` table of a founding file (also
//! the file an amend-deed motion takes); in `text` the deed in force in plain words,
//! rule by rule and power by power, which `GET /deed`, `mutual deed show`,
//! `mutual deed history` and the amendment's diff print.

use anyhow::{bail, Result};
use mutual_proto::v1 as pb;
use mutual_protocol::governance::deed::{self, KINDS};
use pb::{DecisionKind, Group};
use serde::{Deserialize, Serialize};

mod text;
pub use text::{DeedText, PowerText, RuleText};

pub use mutual_protocol::governance::duration_words;

const MINUTE: u64 = 60_000;

/// The `[deed]` table of a founding file, or an amend-deed file: the default deed
/// (docs/GOVERNANCE.md §2.3) with these values in place of its own. Every field is
/// optional.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FoundingDeed {
    /// The grace period after a motion's close, in minutes (at least 5).
    pub grace_period_minutes: Option<u64>,
    /// The shortest voting period of every kind of decision, in minutes.
    pub min_voting_minutes: Option<u64>,
    /// The longest voting period of every kind of decision, in minutes.
    pub max_voting_minutes: Option<u64>,
    /// How many proxies one partner may hold (0: proxies disabled).
    pub max_proxies_per_holder: Option<u32>,
    /// The partnership's overarching agreement: a file (relative to the TOML file), whose
    /// SHA-256 the deed names. Partners admitted later sign an accession to it before
    /// they vote (docs/GOVERNANCE.md §8.1).
    pub agreement: Option<std::path::PathBuf>,
    /// Who signs the aid events that commit a practice (offers, acceptances,
    /// countersignatures): "partners" (the default: a partner of the practice who is not
    /// an associate), "managing-partners", or "node" (the practice's node, whoever holds
    /// its API token).
    pub aid_signers: Option<String>,
    /// The board's term of office, in minutes (absent or 0: seats last until the next
    /// election).
    pub board_term_minutes: Option<u64>,
    /// The chair's term of office, in minutes.
    pub chair_term_minutes: Option<u64>,
    /// Changes to the rule of one kind of decision (`[[deed.rule]]`), after the above.
    #[serde(default)]
    pub rule: Vec<RuleChange>,
    /// Powers added, changed or removed (`[[deed.power]]`), after the rules.
    #[serde(default)]
    pub power: Vec<RuleChange>,
}

/// One `[[deed.rule]]`: the rule of one kind of decision, with these values in place of
/// its default ones; or one `[[deed.power]]`: a power of the deed by name, added (from
/// the rule of an ordinary resolution), changed, or with `remove = true` removed.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleChange {
    /// `[[deed.rule]]` only, the kind: general, admit-practice, admit-partner,
    /// change-role, remove-partner, remove-practice, elect-board, elect-chair,
    /// amend-deed, link-federation, replace-key or leave-federation.
    #[serde(default)]
    pub kind: String,
    /// `[[deed.power]]` only: the power's name (lower-case letters, digits, hyphens).
    #[serde(default)]
    pub name: String,
    /// `[[deed.power]]` only: what the power covers, in words.
    pub description: Option<String>,
    /// `[[deed.power]]` only: remove the power of this name.
    #[serde(default)]
    pub remove: bool,
    /// Who proposes: all-partners, practice-partners, board or chair.
    pub proposers: Option<String>,
    /// Who votes: the same groups.
    pub voters: Option<String>,
    /// Share of the electorate that must take part, in percent.
    pub quorum_percent: Option<f64>,
    /// Share that must vote for, in percent.
    pub threshold_percent: Option<f64>,
    /// The base of the threshold: "votes" (cast for or against) or "electorate".
    pub threshold_of: Option<String>,
    /// Shortest voting period, in minutes.
    pub min_voting_minutes: Option<u64>,
    /// Longest voting period, in minutes.
    pub max_voting_minutes: Option<u64>,
    /// Whether abstentions count toward the quorum.
    pub abstentions_count_toward_quorum: Option<bool>,
    /// Whether associate partners vote (and propose).
    pub associates_vote: Option<bool>,
    /// Whether the motion's subject is left out of the electorate.
    pub subject_recuses: Option<bool>,
    /// Whether a partner who declares an interest is left out of the electorate.
    pub interest_recuses: Option<bool>,
}

/// A decision kind from its name as the command line writes it (`elect-board`).
pub fn kind_from_name(name: &str) -> Option<DecisionKind> {
    KINDS.iter().copied().find(|k| kind_label(*k) == name)
}

/// A decision kind's name as the command line writes it.
pub fn kind_label(k: DecisionKind) -> String {
    k.as_str_name()
        .trim_start_matches("DECISION_KIND_")
        .to_lowercase()
        .replace('_', "-")
}

fn group_from_name(name: &str) -> Option<Group> {
    Some(match name {
        "all-partners" => Group::AllPartners,
        "practice-partners" => Group::PracticePartners,
        "board" => Group::Board,
        "chair" => Group::Chair,
        _ => return None,
    })
}

/// A group in words: "all partners", "the board".
pub fn group_words(g: Group) -> &'static str {
    match g {
        Group::AllPartners | Group::Unspecified => "all partners",
        Group::PracticePartners => "the practice's partners",
        Group::Board => "the board",
        Group::Chair => "the chair",
    }
}

fn basis_points(what: &str, percent: f64) -> Result<u32> {
    if !(0.0..=100.0).contains(&percent) || percent.is_nan() {
        bail!("{what} must be a percentage from 0 to 100, not {percent}");
    }
    Ok((percent * 100.0).round() as u32)
}

impl FoundingDeed {
    /// Reads `agreement` relative to `base` (the directory of the file this table is
    /// in) from now on.
    pub fn resolve_paths(&mut self, base: &std::path::Path) {
        if let Some(a) = &self.agreement {
            if a.is_relative() {
                self.agreement = Some(base.join(a));
            }
        }
    }

    /// The deed: the default one, changed as this table says, and checked.
    pub fn deed(&self) -> Result<pb::Deed> {
        let mut d = deed::default_deed();
        if let Some(path) = &self.agreement {
            d.agreement_hash = agreement_hash(path)?.to_vec();
        }
        d.aid_signers = match self.aid_signers.as_deref().unwrap_or("partners") {
            "partners" => pb::AidSigners::Partners,
            "managing-partners" => pb::AidSigners::ManagingPartners,
            "node" => pb::AidSigners::Node,
            other => bail!(
                "[deed] aid_signers {other:?}: \"partners\", \"managing-partners\" or \"node\""
            ),
        } as i32;
        if let Some(g) = self.grace_period_minutes {
            d.grace_period_ms = g.saturating_mul(MINUTE);
        }
        if let Some(p) = self.max_proxies_per_holder {
            d.max_proxies_per_holder = p;
        }
        let powers = d.powers.iter_mut().filter_map(|p| p.rule.as_mut());
        for r in d.rules.iter_mut().chain(powers) {
            if let Some(m) = self.min_voting_minutes {
                r.min_voting_period_ms = m.saturating_mul(MINUTE);
            }
            if let Some(m) = self.max_voting_minutes {
                r.max_voting_period_ms = m.saturating_mul(MINUTE);
            }
        }
        if let Some(t) = self.board_term_minutes {
            d.board_term_ms = t.saturating_mul(MINUTE);
        }
        if let Some(t) = self.chair_term_minutes {
            d.chair_term_ms = t.saturating_mul(MINUTE);
        }
        for (i, c) in self.rule.iter().enumerate() {
            let at = format!("[deed] rule {} ({})", i + 1, c.kind);
            if !c.name.is_empty() || c.description.is_some() || c.remove {
                bail!("{at}: name, description and remove belong to a [[deed.power]]");
            }
            let Some(kind) = kind_from_name(&c.kind) else {
                bail!(
                    "{at}: no kind {:?}; kinds: {}",
                    c.kind,
                    KINDS.map(kind_label).join(", ")
                );
            };
            let Some(r) = d.rules.iter_mut().find(|r| r.kind == kind as i32) else {
                bail!("{at}: the default deed has no rule for it");
            };
            c.apply(&at, r)?;
        }
        for (i, c) in self.power.iter().enumerate() {
            let at = format!("[deed] power {} ({})", i + 1, c.name);
            if !c.kind.is_empty() {
                bail!("{at}: a power is a kind of resolution; it takes no kind");
            }
            if !deed::power_name_ok(&c.name) {
                bail!(
                    "{at}: {:?} is not a power's name (lower-case letters, digits and \
                     hyphens)",
                    c.name
                );
            }
            let found = d.powers.iter().position(|p| p.name == c.name);
            if c.remove {
                let Some(i) = found else {
                    bail!("{at}: the deed has no power called {} to remove", c.name);
                };
                d.powers.remove(i);
                continue;
            }
            let p = match found {
                Some(i) => &mut d.powers[i],
                None => {
                    d.powers.push(pb::Power {
                        name: c.name.clone(),
                        description: String::new(),
                        rule: Some(default_resolution_rule(&d)),
                    });
                    let last = d.powers.len() - 1;
                    &mut d.powers[last]
                }
            };
            if let Some(text) = &c.description {
                p.description = text.clone();
            }
            if p.description.trim().is_empty() {
                bail!("{at}: a power needs a description of what it covers");
            }
            c.apply(&at, p.rule.get_or_insert_with(Default::default))?;
        }
        deed::check_deed(&d).map_err(|e| anyhow::anyhow!("[deed]: {e}"))?;
        Ok(d)
    }

    /// Reads an amend-deed file: a TOML file with a `[deed]` table, as in a founding
    /// file (other tables of a founding file, if present, are ignored); `base` is the
    /// directory its paths are relative to.
    pub fn from_file_text(text: &str, base: &std::path::Path) -> Result<pb::Deed> {
        #[derive(Deserialize)]
        struct File {
            deed: Option<FoundingDeed>,
        }
        let f: File = toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        let Some(mut d) = f.deed else {
            bail!("the file has no [deed] table (the format of a founding file's [deed])");
        };
        d.resolve_paths(base);
        d.deed()
    }
}

/// The rule a new power starts from: the deed's rule for ordinary resolutions.
fn default_resolution_rule(d: &pb::Deed) -> pb::DecisionRule {
    deed::rule_for(Some(d), DecisionKind::General).to_pb()
}

impl RuleChange {
    /// Writes these values into `r`; `at` names the table in errors.
    fn apply(&self, at: &str, r: &mut pb::DecisionRule) -> Result<()> {
        let group = |v: &Option<String>, what: &str| -> Result<Option<i32>> {
            v.as_deref()
                .map(|n| {
                    group_from_name(n).map(|g| g as i32).ok_or_else(|| {
                        anyhow::anyhow!(
                            "{at}: {what} {n:?}: all-partners, practice-partners, board or \
                             chair"
                        )
                    })
                })
                .transpose()
        };
        if let Some(g) = group(&self.proposers, "proposers")? {
            r.proposers = g;
        }
        if let Some(g) = group(&self.voters, "voters")? {
            r.voters = g;
        }
        if let Some(q) = self.quorum_percent {
            r.quorum_basis_points = basis_points(&format!("{at}: quorum_percent"), q)?;
        }
        let t = r.threshold.get_or_insert_with(Default::default);
        if let Some(p) = self.threshold_percent {
            t.basis_points = basis_points(&format!("{at}: threshold_percent"), p)?;
        }
        match self.threshold_of.as_deref() {
            None => {}
            Some("votes") => t.of_electorate = false,
            Some("electorate") => t.of_electorate = true,
            Some(o) => bail!("{at}: threshold_of {o:?}: \"votes\" or \"electorate\""),
        }
        if let Some(m) = self.min_voting_minutes {
            r.min_voting_period_ms = m.saturating_mul(MINUTE);
        }
        if let Some(m) = self.max_voting_minutes {
            r.max_voting_period_ms = m.saturating_mul(MINUTE);
        }
        if let Some(v) = self.abstentions_count_toward_quorum {
            r.abstentions_count_toward_quorum = v;
        }
        if let Some(v) = self.associates_vote {
            r.associates_vote = v;
        }
        if let Some(v) = self.subject_recuses {
            r.subject_recuses = v;
        }
        if let Some(v) = self.interest_recuses {
            r.interest_recuses = v;
        }
        Ok(())
    }
}

/// The SHA-256 of an agreement's file, as a deed names it.
pub fn agreement_hash(path: &std::path::Path) -> Result<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("the agreement {}: {e}", path.display()))?;
    if bytes.is_empty() {
        bail!("the agreement {} is empty", path.display());
    }
    Ok(Sha256::digest(&bytes).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_change_changes_only_its_kind() {
        let f: FoundingDeed = toml::from_str(
            "[[rule]]\nkind = \"general\"\nthreshold_percent = 66.67\nthreshold_of = \"electorate\"\n",
        )
        .expect("toml");
        let d = f.deed().expect("deed");
        let old = DeedText::of(Some(&FoundingDeed::default().deed().expect("default")));
        let diff = old.diff(&DeedText::of(Some(&d)));
        assert_eq!(diff.len(), 2, "{diff:?}");
        assert!(diff[0].starts_with("- general:") && diff[0].contains("50% of the votes"));
        assert!(diff[1].starts_with("+ general:") && diff[1].contains("66.67% of the electorate"));
    }

    #[test]
    fn powers_are_added_changed_and_removed_by_name() {
        let f: FoundingDeed = toml::from_str(
            "board_term_minutes = 1576800
             [[power]]
name = \"operational-spending\"
proposers = \"all-partners\"
             voters = \"all-partners\"
             [[power]]
name = \"appoint-manager\"
remove = true
             [[power]]
name = \"premises\"
description = \"Leases and buildings\"
             voters = \"board\"
threshold_percent = 75
",
        )
        .expect("toml");
        let d = f.deed().expect("deed");
        let names: Vec<&str> = d.powers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["operational-spending", "practice-matter", "premises"]
        );
        assert_eq!(d.board_term_ms, 1_576_800 * MINUTE);
        let text = DeedText::of(Some(&d));
        assert_eq!(text.board_term, "1095 days");
        let old = DeedText::of(Some(&FoundingDeed::default().deed().expect("default")));
        let diff = old.diff(&text).join("\n");
        for want in [
            "- power operational-spending: proposed by the board",
            "+ power operational-spending: proposed by all partners",
            "- power appoint-manager",
            "+ power premises: proposed by all partners; decided by the board; quorum 50% \
             of the electorate (abstentions count); passes with 75%",
            "+ board's term: 1095 days",
        ] {
            assert!(diff.contains(want), "{want:?} in\n{diff}");
        }
        let table = text.table();
        assert!(table[0].starts_with("decision"), "{table:?}");
        assert!(table.iter().any(|r| r.starts_with("power premises")));
    }

    #[test]
    fn a_bad_power_is_refused_with_its_place() {
        for (toml_text, says) in [
            (
                "[[power]]
name = \"Premises\"
",
                "not a power's name",
            ),
            (
                "[[power]]
name = \"premises\"
",
                "needs a description",
            ),
            (
                "[[power]]
name = \"boats\"
remove = true
",
                "no power called boats",
            ),
            (
                "[[power]]
name = \"premises\"
kind = \"general\"
description = \"x\"
",
                "takes no kind",
            ),
            (
                "[[rule]]
kind = \"general\"
name = \"x\"
",
                "belong to a [[deed.power]]",
            ),
            (
                "board_term_minutes = 6000000
",
                "ten years",
            ),
        ] {
            let f: FoundingDeed = toml::from_str(toml_text).expect("toml");
            let e = f.deed().expect_err(toml_text).to_string();
            assert!(e.contains(says), "{toml_text}: {e}");
        }
    }

    #[test]
    fn a_bad_rule_is_refused_with_its_place() {
        for (toml_text, says) in [
            ("[[rule]]\nkind = \"genral\"\n", "no kind \"genral\""),
            (
                "[[rule]]\nkind = \"general\"\nvoters = \"everyone\"\n",
                "voters \"everyone\"",
            ),
            (
                "[[rule]]\nkind = \"general\"\nquorum_percent = 101.0\n",
                "quorum_percent",
            ),
            (
                "[[rule]]\nkind = \"general\"\nmax_voting_minutes = 1\n",
                "[deed]",
            ),
        ] {
            let f: FoundingDeed = toml::from_str(toml_text).expect("toml");
            let e = f.deed().expect_err(toml_text).to_string();
            assert!(e.contains(says), "{toml_text}: {e}");
        }
        assert!(FoundingDeed::from_file_text("name = \"x\"\n", std::path::Path::new(".")).is_err());
    }
}
