//! Motions: who may propose what, what a motion must carry, and the electorate fixed at
//! the motion's place in the fold.

use super::deed::{grace_period, power_for, powers, rule_for, Rule};
pub use super::electorate::partner_active;
use super::electorate::{practice_active, Electorates, GroupOf};
use super::tally::{self, Tally, Vote};
use super::{GovernanceError, PartnerId, MAX_CANDIDATES, MAX_OPENING_DELAY_MS, MAX_SEATS};
use crate::id::EventId;
use crate::keys::PublicKey;
use crate::membership::{Holder, Membership};
use imbl::{OrdMap, OrdSet};
use mutual_proto::v1 as pb;
use pb::{DecisionKind, Group, PartnerRole};
use sha2::{Digest, Sha256};

/// Domain prefix of the STV tie-break key: SHA-256(domain || motion id || candidate id).
pub const TIEBREAK_DOMAIN: &[u8] = b"mutual/v1/stv-tiebreak\0";

/// Whom or what a motion is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// No member in particular.
    None,
    /// A partner, by partner id.
    Partner(PartnerId),
    /// A practice, by ODS code.
    Practice(String),
}

/// How a closed motion ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closed {
    /// The final tally.
    pub tally: Tally,
    /// The event whose fold closed the motion.
    pub closed_by: EventId,
    /// For a passed motion: whether its effect applied, or why not.
    pub effect: Result<(), String>,
    /// The hash of the motion's ballot lists as they stood at the close, which the
    /// state keeps in place of the lists (docs/GOVERNANCE.md §10).
    pub votes_hash: [u8; 32],
}

/// A motion that took effect (was validly proposed), with its ballots.
#[derive(Clone, Debug, PartialEq)]
pub struct MotionRecord {
    /// The motion's event id.
    pub id: EventId,
    /// The motion as signed.
    pub motion: pb::Motion,
    /// Its kind.
    pub kind: DecisionKind,
    /// The proposer's partner id.
    pub proposer: PartnerId,
    /// The rule in force when it was proposed (a later amendment does not change it):
    /// the kind's, or for a resolution under a power, the power's.
    pub rule: Rule,
    /// The deed's power the resolution was made under, if any (docs/GOVERNANCE.md §2.5).
    pub power: Option<String>,
    /// Ballots timestamped before this do not count (ms).
    pub opens_at_ms: u64,
    /// Ballots timestamped after this do not count (ms).
    pub closes_at_ms: u64,
    /// The result is provisional until the local clock passes this (ms); the fold closes
    /// the motion at the first event timestamped after it.
    pub final_at_ms: u64,
    /// Whom the motion concerns.
    pub subject: Subject,
    /// The practice the motion concerns, if any (for [`Group::PracticePartners`]).
    pub practice: Option<String>,
    /// For elections: candidate partner ids, in the order listed.
    pub candidates: Vec<PartnerId>,
    /// For elections: the tie-break key of each candidate.
    pub tiebreak: Vec<[u8; 32]>,
    /// For elections: seats to fill (per-locality board elections: one per locality).
    pub seats: usize,
    /// For per-locality board elections (`Motion.per_locality`): each candidate's
    /// locality, fixed when the motion was applied, parallel to `candidates`. Empty
    /// otherwise.
    pub localities: Vec<String>,
    /// Proxies per holder allowed by the deed when the motion was proposed (0: none).
    pub max_proxies: u32,
    /// The ballots that count: each applied where the fold first found it witnessed
    /// (docs/GOVERNANCE.md §5.5). The final tally is taken from these. Once the motion
    /// is closed, only the electorate is kept: the ballot lists leave the state, which
    /// keeps their hash ([`Closed::votes_hash`], [`super::ClosedVotes`]).
    pub votes: Votes,
    /// Every valid ballot, applied where it sits in the fold, witnessed or not: what
    /// a new ballot is checked against, and the provisional tally. Once the motion is
    /// closed, the same as `votes`.
    pub seen: Votes,
    /// Valid ballots not yet counted (not witnessed, or waiting), by event id. Empty
    /// once the motion is closed: those left then never counted, the final tally says
    /// how many, and [`super::ClosedVotes`] which.
    pub unwitnessed: OrdSet<EventId>,
    /// Set once the fold has closed the motion.
    pub closed: Option<Closed>,
}

/// One motion's electorate and the ballots applied to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Votes {
    /// Partner ids entitled to vote, fixed when the motion was applied (less those who
    /// recused by declaring an interest).
    pub electorate: OrdSet<PartnerId>,
    /// Partner ids that would have been entitled but are recused.
    pub recused: OrdSet<PartnerId>,
    /// The ballot that counts for each partner: (ballot event id, vote).
    pub ballots: OrdMap<PartnerId, (EventId, Vote)>,
    /// Declarations of interest: partner id to the declaring event.
    pub declared: OrdMap<PartnerId, EventId>,
    /// Proxy appointments not revoked, replaced or ended by recusal (expiry is judged
    /// when a proxy votes), by appointer.
    pub proxies: OrdMap<PartnerId, super::proxy::Proxy>,
    /// Appointers whose counted vote was cast by their proxy, with the proxy.
    pub by_proxy: OrdMap<PartnerId, PartnerId>,
}

impl Votes {
    /// Lets go of the ballots, declarations and proxies, keeping the electorate.
    pub(super) fn let_go_of_ballots(&mut self) {
        self.ballots = OrdMap::new();
        self.declared = OrdMap::new();
        self.proxies = OrdMap::new();
        self.by_proxy = OrdMap::new();
    }
}

impl MotionRecord {
    /// Whether this is an election (counted by STV).
    pub fn is_election(&self) -> bool {
        matches!(
            self.kind,
            DecisionKind::ElectBoard | DecisionKind::ElectChair
        )
    }

    /// The tally: once closed, the final one; before, the provisional tally of every
    /// valid ballot so far, with [`Tally::unwitnessed`] saying how many of them would
    /// not count if the motion closed now.
    pub fn tally(&self) -> Tally {
        if let Some(c) = &self.closed {
            return c.tally.clone();
        }
        self.count(&self.seen)
    }

    /// The tally over `votes`, with the number of ballots not yet witnessed.
    pub(super) fn count(&self, votes: &Votes) -> Tally {
        let election = self.is_election().then_some(tally::Election {
            seats: self.seats,
            candidates: &self.candidates,
            tiebreak: &self.tiebreak,
            localities: self
                .motion
                .per_locality
                .then_some(self.localities.as_slice()),
        });
        let mut t = tally::count(
            &self.rule,
            u32::try_from(votes.electorate.len()).unwrap_or(u32::MAX),
            u32::try_from(votes.recused.len()).unwrap_or(u32::MAX),
            votes.ballots.values().map(|(_, v)| v),
            election,
        );
        t.unwitnessed = u32::try_from(self.unwitnessed.len()).unwrap_or(u32::MAX);
        t
    }
}

/// The partner id a key names: the partner it currently speaks for, or the partner
/// admitted with it (even if since rotated or revoked).
pub fn partner_id(m: &Membership, bytes: &[u8]) -> Option<PartnerId> {
    let k = PublicKey::from_slice(bytes).ok()?;
    match m.holder(&k) {
        Some(Holder::Partner(id)) => Some(*id),
        Some(Holder::Practice(_)) => None,
        None => m.partner(&k).map(|p| p.id),
    }
}

fn invalid<T>(s: impl Into<String>) -> Result<T, GovernanceError> {
    Err(GovernanceError::InvalidMotion(s.into()))
}

fn valid_role(r: i32) -> bool {
    matches!(
        PartnerRole::try_from(r),
        Ok(PartnerRole::Partner | PartnerRole::Associate | PartnerRole::Managing)
    )
}

/// Checks what a motion of its kind must carry and finds its subject and practice.
fn subject_of(
    kind: DecisionKind,
    mo: &pb::Motion,
    m: &Membership,
) -> Result<(Subject, Option<String>), GovernanceError> {
    use DecisionKind as K;
    let active_partner = |bytes: &[u8]| -> Result<PartnerId, GovernanceError> {
        match partner_id(m, bytes) {
            Some(id) if partner_active(m, &id) => Ok(id),
            _ => invalid("subject_key names no active partner"),
        }
    };
    let practice_of = |id: &PartnerId| m.partner(id).map(|p| p.partner.practice_ods.clone());
    if kind != K::AdmitPractice && !mo.first_partners.is_empty() {
        return invalid("only an admit-practice motion names first partners");
    }
    Ok(match kind {
        // A resolution under a power may concern one practice (docs/GOVERNANCE.md §2.5);
        // without a power, `subject_ods` means nothing, as before powers existed.
        K::General if !mo.power.is_empty() && !mo.subject_ods.is_empty() => {
            if !practice_active(m, &mo.subject_ods) {
                return invalid(format!("{} is not an active practice", mo.subject_ods));
            }
            (Subject::None, Some(mo.subject_ods.clone()))
        }
        K::General
        | K::AmendDeed
        | K::LinkFederation
        | K::LeaveFederation
        | K::ElectBoard
        | K::ElectChair => (Subject::None, None),
        K::AdmitPractice => {
            let Some(p) = &mo.admit_practice else {
                return invalid("admit_practice is missing");
            };
            if p.name.trim().is_empty() || p.ods_code.trim().is_empty() {
                return invalid("the practice needs a name and an ODS code");
            }
            if m.practice(&p.ods_code).is_some() {
                return invalid(format!("ODS code {} is already known", p.ods_code));
            }
            let node_key = match PublicKey::from_slice(&p.node_key) {
                Ok(k) if !m.is_known(&k) => k,
                _ => return invalid("the practice's node key is invalid or already used"),
            };
            let mut keys = vec![node_key];
            for f in &mo.first_partners {
                if f.name.trim().is_empty() || !valid_role(f.role) {
                    return invalid("each first partner needs a name and a valid role");
                }
                if !f.practice_ods.is_empty() && f.practice_ods != p.ods_code {
                    return invalid("a first partner belongs to the practice admitted");
                }
                match PublicKey::from_slice(&f.key) {
                    Ok(k) if !m.is_known(&k) && !keys.contains(&k) => keys.push(k),
                    _ => {
                        return invalid(format!(
                            "first partner {}'s key is invalid, already used or named twice",
                            f.name
                        ))
                    }
                }
            }
            (Subject::None, None)
        }
        K::AdmitPartner => {
            let Some(p) = &mo.admit_partner else {
                return invalid("admit_partner is missing");
            };
            if !practice_active(m, &p.practice_ods) {
                return invalid(format!("{} is not an active practice", p.practice_ods));
            }
            if !valid_role(p.role) {
                return invalid("the partner needs a valid role");
            }
            match PublicKey::from_slice(&p.key) {
                Ok(k) if !m.is_known(&k) => {}
                _ => return invalid("the partner's key is invalid or already used"),
            }
            (Subject::None, Some(p.practice_ods.clone()))
        }
        K::ChangeRole => {
            let id = active_partner(&mo.subject_key)?;
            if !valid_role(mo.new_role) {
                return invalid("new_role is not a valid role");
            }
            if m.partner(&id)
                .is_some_and(|p| p.partner.role == mo.new_role)
            {
                return invalid("the partner already has that role");
            }
            (Subject::Partner(id), practice_of(&id))
        }
        K::RemovePartner => {
            let id = active_partner(&mo.subject_key)?;
            (Subject::Partner(id), practice_of(&id))
        }
        K::RemovePractice => {
            if !practice_active(m, &mo.subject_ods) {
                return invalid("subject_ods names no active practice");
            }
            (
                Subject::Practice(mo.subject_ods.clone()),
                Some(mo.subject_ods.clone()),
            )
        }
        K::ReplaceKey => {
            match PublicKey::from_slice(&mo.replacement_key) {
                Ok(k) if !m.is_known(&k) => {}
                _ => return invalid("replacement_key is invalid or already used"),
            }
            let k = PublicKey::from_slice(&mo.subject_key)
                .map_err(|_| GovernanceError::InvalidMotion("subject_key is invalid".into()))?;
            match m.holder(&k) {
                Some(Holder::Practice(ods)) if practice_active(m, ods) => {
                    (Subject::Practice(ods.clone()), Some(ods.clone()))
                }
                _ => {
                    let id = active_partner(&mo.subject_key)?;
                    (Subject::Partner(id), practice_of(&id))
                }
            }
        }
        K::Unspecified => return invalid("the motion has no kind"),
    })
}

/// The powers under which `partner` may propose now, by name: a power proposed by one
/// practice's partners as "NAME (for ODS)", their own practice, the only one they may
/// propose it for.
pub fn powers_held(
    partner: &PartnerId,
    m: &Membership,
    deed: Option<&pb::Deed>,
    board: &OrdSet<PartnerId>,
    chair: Option<&PartnerId>,
) -> Vec<String> {
    let own = m.partner(partner).map(|p| p.partner.practice_ods.clone());
    powers(deed)
        .into_iter()
        .filter(|p| {
            let of = GroupOf {
                group: p.rule.proposers,
                rule: &p.rule,
                practice: own.as_deref(),
                board,
                chair,
            };
            of.has(m, partner).is_ok_and(|member| member)
        })
        .map(|p| match (&own, p.rule.proposers) {
            (Some(ods), Group::PracticePartners) => format!("{} (for {ods})", p.name),
            _ => p.name,
        })
        .collect()
}

/// Everything a proposal is checked against.
pub(super) struct Proposal<'a> {
    pub id: EventId,
    pub author: &'a PublicKey,
    pub timestamp_ms: u64,
    pub motion: &'a pb::Motion,
}

/// Checks a proposal and builds its record (see docs/GOVERNANCE.md, "Motions").
pub(super) fn open(
    p: Proposal<'_>,
    m: &Membership,
    deed: Option<&pb::Deed>,
    board: &OrdSet<PartnerId>,
    chair: Option<&PartnerId>,
    electorates: &mut Electorates,
) -> Result<MotionRecord, GovernanceError> {
    let mo = p.motion;
    let proposer = match m.holder(p.author) {
        Some(Holder::Partner(id)) => *id,
        _ => return Err(GovernanceError::NotAPartner),
    };
    let kind = match DecisionKind::try_from(mo.kind) {
        Ok(DecisionKind::Unspecified) | Err(_) => return invalid("the motion has no known kind"),
        Ok(k) => k,
    };
    let (rule, power) = if mo.power.is_empty() {
        (rule_for(deed, kind), None)
    } else {
        if kind != DecisionKind::General {
            return invalid("only a resolution (GENERAL) is made under a power");
        }
        if !mo.joint_motion.is_empty() {
            return invalid("a network's vote on a joint motion cites no power");
        }
        match power_for(deed, &mo.power) {
            Some(p) => (p.rule, Some(p.name)),
            None => {
                let names: Vec<String> = powers(deed).into_iter().map(|p| p.name).collect();
                return invalid(format!(
                    "the deed gives no power called {:?}; its powers: {}",
                    mo.power,
                    if names.is_empty() {
                        "none".into()
                    } else {
                        names.join(", ")
                    }
                ));
            }
        }
    };
    let (subject, practice) = subject_of(kind, mo, m)?;
    if let Some(name) = &power {
        let one_practice = |g: Group| g == Group::PracticePartners;
        if practice.is_none() && (one_practice(rule.proposers) || one_practice(rule.voters)) {
            return invalid(format!(
                "the power {name} is decided by one practice's partners: name the practice"
            ));
        }
    }
    let group = |group| GroupOf {
        group,
        rule: &rule,
        practice: practice.as_deref(),
        board,
        chair,
    };
    let proposes = group(rule.proposers).has(m, &proposer)?;
    if !proposes {
        return Err(match &power {
            Some(name) => GovernanceError::NotEmpowered {
                power: match (&practice, rule.proposers) {
                    (Some(ods), Group::PracticePartners) => format!("{name} for {ods}"),
                    _ => name.clone(),
                },
                held: powers_held(&proposer, m, deed, board, chair).join(", "),
            },
            None => GovernanceError::NotAProposer(kind.as_str_name().into()),
        });
    }
    // A motion cannot open before it exists (an earlier `opens_at_ms` reads as its own
    // timestamp), nor more than MAX_OPENING_DELAY_MS after.
    if mo.opens_at_ms > p.timestamp_ms.saturating_add(MAX_OPENING_DELAY_MS) {
        return Err(GovernanceError::OpensTooLate);
    }
    let opens_at_ms = mo.opens_at_ms.max(p.timestamp_ms);
    let closes_at_ms = mo.closes_at_ms;
    let period = closes_at_ms.saturating_sub(opens_at_ms);
    if closes_at_ms <= opens_at_ms || period < rule.min_period_ms || period > rule.max_period_ms {
        return Err(GovernanceError::VotingPeriod {
            min_ms: rule.min_period_ms,
            max_ms: rule.max_period_ms,
            got_ms: period,
        });
    }
    let Some(final_at_ms) = closes_at_ms.checked_add(grace_period(deed)) else {
        return invalid("the close plus the grace period is past the largest timestamp");
    };
    let (mut candidates, mut tiebreak, mut seats) = (Vec::new(), Vec::new(), 0);
    let mut localities: Vec<String> = Vec::new();
    if mo.per_locality && kind != DecisionKind::ElectBoard {
        return invalid("only a board election can fill one seat per locality");
    }
    if matches!(kind, DecisionKind::ElectBoard | DecisionKind::ElectChair) {
        seats = if mo.per_locality {
            if mo.seats != 0 {
                return invalid(
                    "a per-locality board election has one seat per locality; seats must be 0",
                );
            }
            // Set below, from the candidates' localities.
            1
        } else if kind == DecisionKind::ElectChair {
            if mo.seats > 1 {
                return invalid("a chair election fills one seat");
            }
            1
        } else {
            mo.seats as usize
        };
        if seats == 0 || seats > MAX_SEATS {
            return invalid(format!("seats must be 1 to {MAX_SEATS}"));
        }
        if mo.candidates.is_empty() || mo.candidates.len() > MAX_CANDIDATES {
            return invalid(format!(
                "an election needs 1 to {MAX_CANDIDATES} candidates"
            ));
        }
        for c in &mo.candidates {
            match partner_id(m, c) {
                Some(id) if partner_active(m, &id) && !candidates.contains(&id) => {
                    candidates.push(id)
                }
                _ => return invalid("every candidate must be a distinct active partner"),
            }
        }
        if mo.per_locality {
            for id in &candidates {
                let locality = m
                    .partner(id)
                    .and_then(|p| m.practice(&p.partner.practice_ods))
                    .map(|pr| pr.practice.locality.clone())
                    .unwrap_or_default();
                if locality.trim().is_empty() {
                    return invalid("every candidate's practice must have a locality");
                }
                localities.push(locality);
            }
            let mut distinct: Vec<&String> = localities.iter().collect();
            distinct.sort();
            distinct.dedup();
            seats = distinct.len();
            if seats > MAX_SEATS {
                return invalid(format!(
                    "candidates come from more than {MAX_SEATS} localities"
                ));
            }
        }
        tiebreak = candidates
            .iter()
            .map(|c| {
                let mut h = Sha256::new();
                h.update(TIEBREAK_DOMAIN);
                h.update(p.id.as_bytes());
                h.update(c.as_bytes());
                h.finalize().into()
            })
            .collect();
    }
    if kind == DecisionKind::AmendDeed {
        let Some(d) = &mo.new_deed else {
            return invalid("new_deed is missing");
        };
        super::deed::check_deed(d)?;
    }
    let voters = electorates.members(group(rule.voters), m)?;
    let mut recused = OrdSet::new();
    if rule.subject_recuses {
        match &subject {
            Subject::Partner(id) => {
                recused.insert(*id);
            }
            Subject::Practice(ods) if kind == DecisionKind::RemovePractice => {
                recused.extend(
                    m.partners()
                        .filter(|p| &p.partner.practice_ods == ods)
                        .map(|p| p.id),
                );
            }
            _ => {}
        }
    }
    let recused: OrdSet<PartnerId> = recused
        .into_iter()
        .filter(|id| voters.contains(id))
        .collect();
    let votes = Votes {
        electorate: voters.relative_complement(recused.clone()),
        recused,
        ballots: OrdMap::new(),
        declared: OrdMap::new(),
        proxies: OrdMap::new(),
        by_proxy: OrdMap::new(),
    };
    Ok(MotionRecord {
        id: p.id,
        motion: mo.clone(),
        kind,
        proposer,
        rule,
        opens_at_ms,
        closes_at_ms,
        final_at_ms,
        subject,
        practice,
        power,
        candidates,
        tiebreak,
        seats,
        localities,
        max_proxies: deed.map_or(0, |d| d.max_proxies_per_holder),
        votes: votes.clone(),
        seen: votes,
        unwitnessed: OrdSet::new(),
        closed: None,
    })
}
