//! The deed in force in plain words: rule by rule and power by power, as a table, and
//! what an amendment changes (`GET /deed`, `mutual deed show`, `mutual deed history`).

use super::{group_words, kind_label};
use mutual_proto::v1 as pb;
use mutual_protocol::governance::deed::{self, KINDS};
use mutual_protocol::governance::duration_words;
use serde::{Deserialize, Serialize};

/// A deed in plain words: what `GET /deed` answers.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct DeedText {
    /// The grace period after a motion's close, in words.
    pub grace_period: String,
    /// How many proxies one partner may hold, in words.
    pub proxies: String,
    /// The agreement partners accede to: its SHA-256 (hex), or empty if none.
    #[serde(default)]
    pub agreement_hash: String,
    /// Who signs the aid events that commit a practice, in words.
    #[serde(default)]
    pub aid_signers: String,
    /// The board's term of office, in words.
    #[serde(default)]
    pub board_term: String,
    /// The chair's term of office, in words.
    #[serde(default)]
    pub chair_term: String,
    /// One line per kind of decision, in wire order.
    pub rules: Vec<RuleText>,
    /// The powers of the deed, in its order (docs/GOVERNANCE.md §2.5).
    #[serde(default)]
    pub powers: Vec<PowerText>,
}

/// A power of the deed in plain words: its rule under its name.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct PowerText {
    /// What it covers.
    pub description: String,
    /// Who proposes and decides, and how it is counted; `kind` is the power's name.
    pub rule: RuleText,
}

/// One kind's rule in plain words.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct RuleText {
    /// The kind, as the command line names it.
    pub kind: String,
    /// Who proposes.
    pub proposers: String,
    /// Who votes.
    pub voters: String,
    /// Quorum, threshold and abstentions.
    pub counted: String,
    /// Shortest and longest voting period.
    pub voting: String,
    /// Who recuses.
    pub recusal: String,
    /// The quorum, short: "50%" (", abstentions count").
    #[serde(default)]
    pub quorum: String,
    /// The threshold, short: "75% of votes cast", "50% of the electorate".
    #[serde(default)]
    pub threshold: String,
}

impl RuleText {
    /// The rule on one line.
    pub fn line(&self) -> String {
        format!(
            "{}: proposed by {}; decided by {}; {}; voting {}; {}",
            self.kind, self.proposers, self.voters, self.counted, self.voting, self.recusal
        )
    }
}

fn percent(bp: u32) -> String {
    if bp.is_multiple_of(100) {
        format!("{}%", bp / 100)
    } else {
        format!("{:.2}%", bp as f64 / 100.0)
    }
}

/// One rule in words, under `label` (a kind's name or a power's).
fn rule_text(label: String, r: &deed::Rule) -> RuleText {
    let who_votes = if r.associates_vote {
        format!("{} (associates too)", group_words(r.voters))
    } else {
        group_words(r.voters).to_string()
    };
    RuleText {
        kind: label,
        proposers: group_words(r.proposers).into(),
        voters: who_votes,
        counted: format!(
            "quorum {} of the electorate{}; passes with {} of {}",
            percent(r.quorum_bp),
            if r.abstentions_count {
                " (abstentions count)"
            } else {
                ""
            },
            percent(r.threshold_bp),
            if r.of_electorate {
                "the electorate"
            } else {
                "the votes for and against"
            }
        ),
        voting: format!(
            "{} to {}",
            duration_words(r.min_period_ms),
            duration_words(r.max_period_ms)
        ),
        recusal: match (r.subject_recuses, r.interest_recuses) {
            (true, true) => "the subject and the interested recuse",
            (true, false) => "the subject recuses",
            (false, true) => "the interested recuse",
            (false, false) => "no one recuses",
        }
        .into(),
        quorum: format!(
            "{}{}",
            percent(r.quorum_bp),
            if r.abstentions_count {
                " (abstentions count)"
            } else {
                ""
            }
        ),
        threshold: format!(
            "{} of {}",
            percent(r.threshold_bp),
            if r.of_electorate {
                "the electorate"
            } else {
                "votes cast"
            }
        ),
    }
}

fn term_words(t: Option<u64>) -> String {
    t.map_or_else(
        || "none: seats last until the next election".into(),
        duration_words,
    )
}

impl DeedText {
    /// The deed `d` (or the default deed, for `None`) in words, every kind's rule and
    /// every power resolved as the fold resolves them.
    pub fn of(d: Option<&pb::Deed>) -> Self {
        let rules = KINDS
            .iter()
            .map(|&k| rule_text(kind_label(k), &deed::rule_for(d, k)))
            .collect();
        let powers = deed::powers(d)
            .into_iter()
            .map(|p| PowerText {
                description: p.description.clone(),
                rule: rule_text(p.name, &p.rule),
            })
            .collect();
        let proxies = d.map_or(0, |d| d.max_proxies_per_holder);
        DeedText {
            agreement_hash: d
                .map(|d| hex::encode(&d.agreement_hash))
                .unwrap_or_default(),
            aid_signers: match d
                .and_then(|d| pb::AidSigners::try_from(d.aid_signers).ok())
                .unwrap_or_default()
            {
                pb::AidSigners::Node => "the practice's node",
                pb::AidSigners::Partners => "a partner of the practice (not an associate)",
                pb::AidSigners::ManagingPartners => "a managing partner of the practice",
            }
            .into(),
            grace_period: duration_words(deed::grace_period(d)),
            proxies: if proxies == 0 {
                "no proxies".into()
            } else {
                format!(
                    "a partner may hold {proxies} prox{}",
                    if proxies == 1 { "y" } else { "ies" }
                )
            },
            board_term: term_words(deed::term_ms(d, deed::Office::Board)),
            chair_term: term_words(deed::term_ms(d, deed::Office::Chair)),
            rules,
            powers,
        }
    }

    /// The deed, one line per rule.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![
            format!("grace period after a close: {}", self.grace_period),
            format!("proxies: {}", self.proxies),
            format!(
                "aid offers, acceptances and countersignatures: signed by {}",
                self.aid_signers
            ),
            if self.agreement_hash.is_empty() {
                "agreement: none named; partners admitted vote at once".to_string()
            } else {
                format!(
                    "agreement: SHA-256 {}; partners admitted sign an accession to it first",
                    self.agreement_hash
                )
            },
        ];
        out.push(format!("board's term: {}", self.board_term));
        out.push(format!("chair's term: {}", self.chair_term));
        out.extend(self.rules.iter().map(RuleText::line));
        out.extend(
            self.powers
                .iter()
                .map(|p| format!("power {} ({})", p.rule.line(), p.description)),
        );
        out
    }

    /// What changes from `self` to `new`: `- old` and `+ new` lines for each line that
    /// differs, a power removed as `- power …`, one added as `+ power …` (empty if
    /// nothing changes).
    pub fn diff(&self, new: &DeedText) -> Vec<String> {
        let (old, new) = (self.lines(), new.lines());
        // Lines are keyed by what they are about: the text before the first ':'.
        let key = |l: &String| l.split(':').next().unwrap_or_default().to_string();
        let mut out = Vec::new();
        for o in &old {
            match new.iter().find(|n| key(n) == key(o)) {
                Some(n) if n == o => {}
                Some(n) => {
                    out.push(format!("- {o}"));
                    out.push(format!("+ {n}"));
                }
                None => out.push(format!("- {o}")),
            }
        }
        for n in &new {
            if !old.iter().any(|o| key(o) == key(n)) {
                out.push(format!("+ {n}"));
            }
        }
        out
    }

    /// The rules and powers as a table: one row per kind and per power, with a header.
    pub fn table(&self) -> Vec<String> {
        let mut rows: Vec<[String; 7]> = vec![[
            "decision".into(),
            "proposed by".into(),
            "decided by".into(),
            "quorum".into(),
            "passes with".into(),
            "voting".into(),
            "recusal".into(),
        ]];
        let row = |label: String, r: &RuleText| {
            [
                label,
                r.proposers.clone(),
                r.voters.clone(),
                r.quorum.clone(),
                r.threshold.clone(),
                r.voting.clone(),
                r.recusal
                    .trim_end_matches(" recuses")
                    .trim_end_matches(" recuse")
                    .to_string(),
            ]
        };
        rows.extend(self.rules.iter().map(|r| row(r.kind.clone(), r)));
        rows.extend(
            self.powers
                .iter()
                .map(|p| row(format!("power {}", p.rule.kind), &p.rule)),
        );
        let widths: Vec<usize> = (0..7)
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        rows.iter()
            .map(|r| {
                let cells: Vec<String> = r
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                cells.join("  ").trim_end().to_string()
            })
            .collect()
    }
}
