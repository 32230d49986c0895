//! The partnership deed as data: for each kind of decision, who proposes, who votes,
//! quorum, threshold, voting period, abstentions, associates and recusal.
//!
//! The deed in force is the genesis deed, replaced only by an amend-deed motion that
//! passes. A kind the deed has no (valid) rule for falls back to the rule of
//! [`default_deed`] for that kind; see docs/GOVERNANCE.md, "The deed".
//!
//! The deed also names its **powers** ([`Power`]): kinds of resolution with a name and a
//! rule of their own, such as the board's operational spending or a practice's own
//! matters, and the **terms** of the board and the chair ([`term_ms`]).

use super::GovernanceError;
use crate::limits::{MAX_CLOCK_SKEW_MS, MAX_LIST_LEN};
use mutual_proto::v1 as pb;
use pb::{DecisionKind, Group};

/// One basis point is 1/100 of a percent; a whole is this many.
pub const BASIS_POINTS: u32 = 10_000;

/// One day, in milliseconds.
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// The default grace period after a motion's close, in milliseconds: one day. It must be
/// well above [`crate::limits::MAX_CLOCK_SKEW_MS`] so that a ballot cast just before the
/// close has reached every node before any node can fold the closing (see
/// docs/GOVERNANCE.md, "Deadlines").
pub const DEFAULT_GRACE_PERIOD_MS: u64 = DAY_MS;

/// Default shortest voting period, in milliseconds: one day, so that every partner has
/// a working day to see a motion.
pub const DEFAULT_MIN_VOTING_PERIOD_MS: u64 = DAY_MS;

/// Default longest voting period, in milliseconds: 28 days, so that no motion can be
/// left open indefinitely.
pub const DEFAULT_MAX_VOTING_PERIOD_MS: u64 = 28 * DAY_MS;

/// Longest grace period a deed may set, in milliseconds: 30 days. The grace period delays
/// every motion's closing (and so its effect) by its length; a month is far more than any
/// network delay needs, and keeps a deed from holding motions open (and counting against
/// [`super::MAX_OPEN_MOTIONS`]) for ever. The shortest is
/// [`crate::limits::MAX_CLOCK_SKEW_MS`]: below it a node could fold a motion's closing
/// before a ballot cast in time has had a chance to arrive.
pub const MAX_GRACE_PERIOD_MS: u64 = 30 * DAY_MS;

/// Longest voting period a rule may set, in milliseconds: 365 days. A rule's
/// `max_voting_period_ms` above this is invalid, and 0 reads as
/// [`DEFAULT_MAX_VOTING_PERIOD_MS`]; so every motion closes within a bounded time of its
/// proposal and a deed cannot make motions that never close.
pub const MAX_VOTING_PERIOD_MS: u64 = 365 * DAY_MS;

/// Longest term of office a deed may set, in milliseconds: ten years. A term is how
/// long elected seats last before they lapse by themselves (docs/GOVERNANCE.md §8.2);
/// partnership deeds set one to five years.
pub const MAX_TERM_MS: u64 = 10 * 365 * DAY_MS;

/// Longest name of a power, in characters (each a lower-case letter, a digit or a
/// hyphen): long enough for "appoint-practice-manager", short enough to type.
pub const MAX_POWER_NAME_LEN: usize = 64;

/// Every decision kind a motion can have, in wire order.
pub const KINDS: [DecisionKind; 12] = [
    DecisionKind::General,
    DecisionKind::AdmitPractice,
    DecisionKind::AdmitPartner,
    DecisionKind::ChangeRole,
    DecisionKind::RemovePartner,
    DecisionKind::RemovePractice,
    DecisionKind::ElectBoard,
    DecisionKind::ElectChair,
    DecisionKind::AmendDeed,
    DecisionKind::LinkFederation,
    DecisionKind::ReplaceKey,
    DecisionKind::LeaveFederation,
];

/// A decision rule with every field resolved to a usable value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The kind of decision.
    pub kind: DecisionKind,
    /// Who may propose.
    pub proposers: Group,
    /// Who votes.
    pub voters: Group,
    /// Share of the electorate that must take part, in basis points.
    pub quorum_bp: u32,
    /// Share of the base that must vote for, in basis points.
    pub threshold_bp: u32,
    /// Base of the threshold: the whole electorate (true) or the votes for and against.
    pub of_electorate: bool,
    /// Shortest voting period, ms.
    pub min_period_ms: u64,
    /// Longest voting period, ms.
    pub max_period_ms: u64,
    /// Whether abstentions count toward the quorum.
    pub abstentions_count: bool,
    /// Whether associate partners vote (and propose).
    pub associates_vote: bool,
    /// Whether the subject of the motion is left out of the electorate.
    pub subject_recuses: bool,
    /// Whether a partner who declares an interest is left out of the electorate.
    pub interest_recuses: bool,
}

impl Rule {
    /// The rule as wire data.
    pub fn to_pb(&self) -> pb::DecisionRule {
        pb::DecisionRule {
            kind: self.kind as i32,
            proposers: self.proposers as i32,
            voters: self.voters as i32,
            quorum_basis_points: self.quorum_bp,
            threshold: Some(pb::Threshold {
                basis_points: self.threshold_bp,
                of_electorate: self.of_electorate,
            }),
            min_voting_period_ms: self.min_period_ms,
            max_voting_period_ms: self.max_period_ms,
            abstentions_count_toward_quorum: self.abstentions_count,
            associates_vote: self.associates_vote,
            subject_recuses: self.subject_recuses,
            interest_recuses: self.interest_recuses,
        }
    }
}

/// A power of the deed with its rule resolved ([`check_power`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Power {
    /// Its name, as a motion cites it.
    pub name: String,
    /// What it covers, in words.
    pub description: String,
    /// Its rule; `kind` is [`DecisionKind::General`].
    pub rule: Rule,
}

/// Whether `name` is a power's name: 1 to [`MAX_POWER_NAME_LEN`] lower-case ASCII
/// letters, digits and hyphens, not starting or ending with a hyphen.
pub fn power_name_ok(name: &str) -> bool {
    (1..=MAX_POWER_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Checks one power as written: a valid name and a valid rule whose kind is
/// `UNSPECIFIED` or `GENERAL`.
pub fn check_power(p: &pb::Power) -> Result<Power, GovernanceError> {
    let bad = |s: String| Err(GovernanceError::InvalidDeed(s));
    if !power_name_ok(&p.name) {
        return bad(format!(
            "{:?} is not a power's name (1 to {MAX_POWER_NAME_LEN} lower-case letters, \
             digits and hyphens)",
            p.name
        ));
    }
    let Some(r) = &p.rule else {
        return bad(format!("the power {} names no rule", p.name));
    };
    let mut r = *r;
    match DecisionKind::try_from(r.kind) {
        Ok(DecisionKind::Unspecified | DecisionKind::General) => {
            r.kind = DecisionKind::General as i32
        }
        _ => return bad(format!("the power {}'s rule is not a resolution's", p.name)),
    }
    Ok(Power {
        name: p.name.clone(),
        description: p.description.clone(),
        rule: check_rule(&r)?,
    })
}

fn power(name: &str, description: &str, group: Group) -> pb::Power {
    let rule = Rule {
        proposers: group,
        voters: group,
        ..default_rule(DecisionKind::General)
    };
    pb::Power {
        name: name.into(),
        description: description.into(),
        rule: Some(rule.to_pb()),
    }
}

/// The default deed's powers: the board decides operational spending within the budget
/// and appoints the partnership's manager; a practice's partners decide the practice's
/// own matters; everything else is for all partners.
pub fn default_powers() -> Vec<pb::Power> {
    vec![
        power(
            "operational-spending",
            "Spending within the budget the partners approved, up to £50,000 a decision: \
             equipment, services and contracts for the partnership's shared work.",
            Group::Board,
        ),
        power(
            "appoint-manager",
            "Appointing, or replacing, the partnership's business manager.",
            Group::Board,
        ),
        power(
            "practice-matter",
            "A matter of one practice's own, within the partnership's policies: its staff, \
             sessions, premises and list. Decided by that practice's partners.",
            Group::PracticePartners,
        ),
    ]
}

/// The powers in force under `deed`, in the deed's order: its valid powers, the first of
/// each name (with no deed at all, the default deed's).
pub fn powers(deed: Option<&pb::Deed>) -> Vec<Power> {
    let written = match deed {
        Some(d) => d.powers.clone(),
        None => default_powers(),
    };
    let mut out: Vec<Power> = Vec::new();
    for p in written.iter().filter_map(|p| check_power(p).ok()) {
        if !out.iter().any(|q| q.name == p.name) {
            out.push(p);
        }
    }
    out
}

/// The power called `name` in force under `deed`, if any.
pub fn power_for(deed: Option<&pb::Deed>, name: &str) -> Option<Power> {
    powers(deed).into_iter().find(|p| p.name == name)
}

/// Which office a term is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Office {
    /// The board's seats.
    Board,
    /// The chair.
    Chair,
}

/// The term of `office` set by `deed`, in ms: `None` when the deed sets none (0) or one
/// out of range (over [`MAX_TERM_MS`], in a genesis deed).
pub fn term_ms(deed: Option<&pb::Deed>, office: Office) -> Option<u64> {
    let d = deed?;
    let t = match office {
        Office::Board => d.board_term_ms,
        Office::Chair => d.chair_term_ms,
    };
    (1..=MAX_TERM_MS).contains(&t).then_some(t)
}

/// The default rule for `kind` (see [`default_deed`]).
pub fn default_rule(kind: DecisionKind) -> Rule {
    use DecisionKind as K;
    let threshold_bp = match kind {
        K::AdmitPractice
        | K::AdmitPartner
        | K::RemovePartner
        | K::RemovePractice
        | K::AmendDeed
        | K::LinkFederation => 7_500,
        _ => 5_000,
    };
    Rule {
        kind,
        proposers: Group::AllPartners,
        voters: Group::AllPartners,
        quorum_bp: 5_000,
        threshold_bp,
        of_electorate: false,
        min_period_ms: DEFAULT_MIN_VOTING_PERIOD_MS,
        max_period_ms: DEFAULT_MAX_VOTING_PERIOD_MS,
        abstentions_count: true,
        associates_vote: false,
        subject_recuses: matches!(
            kind,
            K::ChangeRole | K::RemovePartner | K::RemovePractice | K::ReplaceKey
        ),
        interest_recuses: true,
    }
}

/// The default deed, mirroring common practice in GP partnership deeds:
///
/// - every kind: proposed by any partner, voted on by all partners (associates neither
///   propose nor vote), quorum 50% of the electorate with abstentions counting toward
///   it, voting period between one day and 28 days, threshold of the votes cast for or
///   against;
/// - general resolutions, changes of role, replacing a lost key, elections and leaving a
///   federation: simple majority (at least 50% and more for than against; a tie fails);
/// - admitting a practice or a partner, removing a partner or a practice, amending the
///   deed and linking a federation: 75%;
/// - the subject recuses on a change of role, a removal and a key replacement;
/// - a partner who declares an interest in a motion recuses from it;
/// - grace period one day; proxies disabled (0 per holder);
/// - the powers of [`default_powers`]; no terms of office.
pub fn default_deed() -> pb::Deed {
    pb::Deed {
        rules: KINDS.iter().map(|&k| default_rule(k).to_pb()).collect(),
        grace_period_ms: DEFAULT_GRACE_PERIOD_MS,
        max_proxies_per_holder: 0,
        agreement_hash: Vec::new(),
        aid_signers: pb::AidSigners::Node as i32,
        powers: default_powers(),
        board_term_ms: 0,
        chair_term_ms: 0,
    }
}

/// Checks one rule as written; the rule is usable iff this is `Ok`.
pub fn check_rule(r: &pb::DecisionRule) -> Result<Rule, GovernanceError> {
    let bad = |s: &str| Err(GovernanceError::InvalidDeed(s.into()));
    let kind = match DecisionKind::try_from(r.kind) {
        Ok(DecisionKind::Unspecified) | Err(_) => return bad("a rule has no known kind"),
        Ok(k) => k,
    };
    let group = |g: i32| match Group::try_from(g) {
        Ok(Group::Unspecified) => Some(Group::AllPartners),
        Ok(g) => Some(g),
        Err(_) => None,
    };
    let (Some(proposers), Some(voters)) = (group(r.proposers), group(r.voters)) else {
        return bad("a rule names an unknown group");
    };
    let threshold = r.threshold.unwrap_or(pb::Threshold {
        basis_points: default_rule(kind).threshold_bp,
        of_electorate: false,
    });
    if r.quorum_basis_points > BASIS_POINTS || threshold.basis_points > BASIS_POINTS {
        return bad("a quorum or threshold is over 10000 basis points");
    }
    if threshold.basis_points == 0 {
        return bad("a threshold of 0 would pass anything");
    }
    // 0 reads as the default longest period, never as "no maximum".
    let max_period_ms = if r.max_voting_period_ms == 0 {
        DEFAULT_MAX_VOTING_PERIOD_MS
    } else {
        r.max_voting_period_ms
    };
    if max_period_ms > MAX_VOTING_PERIOD_MS {
        return bad("a rule's longest voting period is over 365 days");
    }
    if r.min_voting_period_ms > max_period_ms {
        return bad("a rule's shortest voting period is longer than its longest");
    }
    Ok(Rule {
        kind,
        proposers,
        voters,
        quorum_bp: r.quorum_basis_points,
        threshold_bp: threshold.basis_points,
        of_electorate: threshold.of_electorate,
        min_period_ms: r.min_voting_period_ms,
        max_period_ms,
        abstentions_count: r.abstentions_count_toward_quorum,
        associates_vote: r.associates_vote,
        subject_recuses: r.subject_recuses,
        interest_recuses: r.interest_recuses,
    })
}

/// Whether a grace period is in range: [`MAX_CLOCK_SKEW_MS`] to [`MAX_GRACE_PERIOD_MS`].
pub fn grace_period_valid(ms: u64) -> bool {
    (MAX_CLOCK_SKEW_MS..=MAX_GRACE_PERIOD_MS).contains(&ms)
}

/// Checks a whole deed, as an amend-deed motion must: every rule valid, no kind twice,
/// grace period in range ([`grace_period_valid`]), every power valid and no name twice,
/// terms of at most [`MAX_TERM_MS`].
pub fn check_deed(d: &pb::Deed) -> Result<(), GovernanceError> {
    if d.rules.len() > MAX_LIST_LEN {
        return Err(GovernanceError::InvalidDeed("too many rules".into()));
    }
    if !grace_period_valid(d.grace_period_ms) {
        return Err(GovernanceError::InvalidDeed(format!(
            "the grace period must be {MAX_CLOCK_SKEW_MS} to {MAX_GRACE_PERIOD_MS} ms"
        )));
    }
    if pb::AidSigners::try_from(d.aid_signers).is_err() {
        return Err(GovernanceError::InvalidDeed(
            "aid_signers is not a known value".into(),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for r in &d.rules {
        let rule = check_rule(r)?;
        if !seen.insert(rule.kind as i32) {
            return Err(GovernanceError::InvalidDeed(format!(
                "two rules for {}",
                rule.kind.as_str_name()
            )));
        }
    }
    if d.powers.len() > MAX_LIST_LEN {
        return Err(GovernanceError::InvalidDeed("too many powers".into()));
    }
    let mut names = std::collections::BTreeSet::new();
    for p in &d.powers {
        let power = check_power(p)?;
        if !names.insert(power.name) {
            return Err(GovernanceError::InvalidDeed(format!(
                "two powers called {}",
                p.name
            )));
        }
    }
    if d.board_term_ms > MAX_TERM_MS || d.chair_term_ms > MAX_TERM_MS {
        return Err(GovernanceError::InvalidDeed(
            "a term of office is over ten years".into(),
        ));
    }
    Ok(())
}

/// The rule in force for `kind` under `deed`: the deed's first valid rule for the kind,
/// else the default rule (also when there is no deed at all).
pub fn rule_for(deed: Option<&pb::Deed>, kind: DecisionKind) -> Rule {
    deed.into_iter()
        .flat_map(|d| d.rules.iter())
        .filter(|r| r.kind == kind as i32)
        .find_map(|r| check_rule(r).ok())
        .unwrap_or_else(|| default_rule(kind))
}

/// The grace period in force: the deed's if it is in range ([`grace_period_valid`]),
/// else (a genesis deed out of range, or no deed at all) the default.
pub fn grace_period(deed: Option<&pb::Deed>) -> u64 {
    deed.map(|d| d.grace_period_ms)
        .filter(|&g| grace_period_valid(g))
        .unwrap_or(DEFAULT_GRACE_PERIOD_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_deed_is_valid_and_complete() {
        let d = default_deed();
        assert!(check_deed(&d).is_ok());
        for k in KINDS {
            assert_eq!(rule_for(Some(&d), k), default_rule(k));
            assert_eq!(rule_for(None, k), default_rule(k));
        }
        assert_eq!(rule_for(None, DecisionKind::AmendDeed).threshold_bp, 7_500);
        assert_eq!(rule_for(None, DecisionKind::General).threshold_bp, 5_000);
        assert_eq!(powers(Some(&d)).len(), 3);
        assert_eq!(powers(None), powers(Some(&d)));
        let spending = power_for(None, "operational-spending").expect("a default power");
        assert_eq!(spending.rule.voters, Group::Board);
        assert_eq!(term_ms(Some(&d), Office::Board), None);
    }

    #[test]
    fn a_power_must_be_named_and_ruled_once() {
        for bad in [
            "",
            "Spending",
            "-x",
            "x-",
            "a b",
            &"a".repeat(MAX_POWER_NAME_LEN + 1),
        ] {
            assert!(!power_name_ok(bad), "{bad:?}");
        }
        assert!(power_name_ok(&"a".repeat(MAX_POWER_NAME_LEN)));
        let mut d = default_deed();
        d.powers.push(d.powers[0].clone());
        assert!(check_deed(&d).is_err(), "two powers with one name");
        // In a genesis deed the first valid one of a name is in force.
        assert_eq!(powers(Some(&d)).len(), 3);
        let mut d = default_deed();
        d.powers[0].rule = None;
        assert!(check_deed(&d).is_err());
        assert_eq!(
            powers(Some(&d)).len(),
            2,
            "an invalid power is not in force"
        );
        let mut d = default_deed();
        if let Some(r) = d.powers[0].rule.as_mut() {
            r.kind = DecisionKind::AmendDeed as i32;
        }
        assert!(check_deed(&d).is_err(), "a power's rule is a resolution's");
        let mut d = default_deed();
        d.board_term_ms = MAX_TERM_MS + 1;
        assert!(check_deed(&d).is_err());
        assert_eq!(term_ms(Some(&d), Office::Board), None);
        d.board_term_ms = MAX_TERM_MS;
        assert!(check_deed(&d).is_ok());
        assert_eq!(term_ms(Some(&d), Office::Board), Some(MAX_TERM_MS));
    }

    #[test]
    fn an_invalid_rule_falls_back_to_the_default() {
        let mut r = default_rule(DecisionKind::General).to_pb();
        r.quorum_basis_points = BASIS_POINTS + 1;
        let d = pb::Deed {
            rules: vec![r],
            ..default_deed()
        };
        assert!(check_deed(&d).is_err());
        assert_eq!(
            rule_for(Some(&d), DecisionKind::General),
            default_rule(DecisionKind::General)
        );
    }
}
