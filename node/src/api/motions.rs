//! `GET /motions`, `GET /motions/{id}`: motions with their tallies explained.

use super::common::{parse_id, ApiError, ApiState, ErrorBody};
use axum::extract::{Path, State};
use axum::Json;
use mutual_proto::v1 as pb;
use mutual_protocol::governance::motion::MotionRecord;
use mutual_protocol::governance::stv::{self, Action};
use mutual_protocol::governance::tally::{Tally, Vote};
use mutual_protocol::governance::Finality;
use mutual_protocol::id::EventId;
use mutual_protocol::keys::PublicKey;
use mutual_protocol::membership::Membership;
use mutual_protocol::replica::Replica;
use serde::{Deserialize, Serialize};

/// A motion's tally, explained.
#[derive(Serialize, Deserialize, Debug, Clone, utoipa::ToSchema)]
pub struct TallyView {
    /// Partners entitled to vote, less the recused.
    pub electorate: u32,
    /// Partners recused.
    pub recused: u32,
    /// Partners whose ballot counts.
    pub turnout: u32,
    /// Ballots for.
    pub votes_for: u32,
    /// Ballots against.
    pub votes_against: u32,
    /// Abstentions.
    pub abstentions: u32,
    /// Participants needed for quorum.
    pub quorum_needed: u32,
    /// Whether quorum was met.
    pub quorum_met: bool,
    /// Whether the threshold was met.
    pub threshold_met: bool,
    /// Whether the motion passes (so far, until final).
    pub passed: bool,
    /// Why, in words.
    pub reason: String,
    /// Elected partners' names, in order of election.
    pub elected: Vec<String>,
    /// For elections: the count, one line per round.
    pub rounds: Vec<String>,
    /// For elections: the same count as a table, one row per round, each candidate's
    /// votes in it.
    #[serde(default)]
    pub count: Vec<CountRow>,
    /// Ballots no other practice has witnessed: before the close, counted above but
    /// would not count if the motion closed now; once closed, ballots that did not count
    /// (docs/GOVERNANCE.md §5.5).
    #[serde(default)]
    pub unwitnessed: u32,
}

/// One round of an election's count (docs/GOVERNANCE.md §6), for a table or a chart.
#[derive(Serialize, Deserialize, Debug, Clone, utoipa::ToSchema)]
pub struct CountRow {
    /// The locality whose seat this count fills; empty for a board elected as a whole.
    pub locality: String,
    /// The round, from 1.
    pub round: usize,
    /// Each candidate in the count, as (current key, name, votes at this round), in the
    /// motion's order of candidates (fractions are transferred surpluses).
    pub totals: Vec<(String, String, f64)>,
    /// Votes of ballots that ranked no candidate left in the count.
    pub exhausted: f64,
    /// What the round decided, in words.
    pub what: String,
}

/// A motion, as `GET /motions` and `GET /motions/{id}` show it.
#[derive(Serialize, Deserialize, Debug, Clone, utoipa::ToSchema)]
pub struct MotionView {
    /// Its event id.
    pub id: String,
    /// Its kind (`admit_practice`, `general`, ...).
    pub kind: String,
    /// Title.
    pub title: String,
    /// Text.
    pub text: String,
    /// Who proposed it.
    pub proposer: String,
    /// Ballots count from here (ms since the epoch).
    pub opens_at_ms: u64,
    /// ... to here.
    pub closes_at_ms: u64,
    /// Provisional until here; closed by the first event after it.
    pub final_at_ms: u64,
    /// "open", "provisional" or "final", at the node's local time.
    pub finality: String,
    /// Whether the fold has closed it (effects applied).
    pub closed: bool,
    /// For a closed motion that passed: "applied" or why the effect did not apply.
    pub effect: Option<String>,
    /// Where it stands, in words: "open, passing so far", "passed", "failed: ...",
    /// "lapsed: ..." (no quorum).
    pub standing: String,
    /// For elections: each candidate's key and name.
    #[serde(default)]
    pub candidates: Vec<(String, String)>,
    /// The tally so far.
    pub tally: TallyView,
    /// The ballots that count: partner name and vote. `GET /motions` leaves a closed
    /// motion's out (absent here, as are `ballot_keys` and `interests`): they are read
    /// back from the store, a ballot at a time, and `GET /motions/{id}` shows them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ballots: Option<Vec<(String, String)>>,
    /// The current key of the partner of each ballot, in the order of `ballots`: a
    /// partner's page finds their own ballot by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ballot_keys: Option<Vec<String>>,
    /// Proxies one partner may hold on this motion, fixed by the deed in force when it
    /// was proposed (0: none may be appointed).
    #[serde(default)]
    pub max_proxies: u32,
    /// A resolution under a power of the deed: the power's name (docs/GOVERNANCE.md §2.5).
    #[serde(default)]
    pub power: Option<String>,
    /// The practice the motion concerns, if any (ODS code).
    #[serde(default)]
    pub practice: Option<String>,
    /// Who decides, in words ("the board", "the partners of the practice concerned").
    #[serde(default)]
    pub decided_by: String,
    /// The papers the motion carries, and whether this node holds each.
    #[serde(default)]
    pub papers: Vec<super::papers::PaperView>,
    /// Partners who declared an interest in it, with the interest in their words (they
    /// recuse if the deed's rule for it says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interests: Option<Vec<(String, String)>>,
}

/// A partner's current key (hex), by their lasting id; the id itself if the membership
/// has no such partner.
fn current_key(m: &Membership, id: &PublicKey) -> String {
    m.partner(id)
        .and_then(|p| PublicKey::from_slice(&p.partner.key).ok())
        .unwrap_or(*id)
        .to_string()
}

pub(crate) fn partner_name(m: &Membership, id: &PublicKey) -> String {
    m.partner(id)
        .map(|p| p.partner.name.clone())
        .unwrap_or_else(|| id.to_string())
}

pub(crate) fn kind_name(k: pb::DecisionKind) -> String {
    k.as_str_name()
        .trim_start_matches("DECISION_KIND_")
        .to_lowercase()
}

/// Votes in a count's units, as people read them ("2", "1.5").
fn votes(units: u64) -> String {
    let whole = units / stv::VOTE;
    let frac = units % stv::VOTE;
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{:.2}", units as f64 / stv::VOTE as f64)
    }
}

/// An election's count, one row per round, each candidate named; `of` maps the count's
/// candidate indices to the motion's.
fn count_rows(
    locality: &str,
    count: &stv::Count,
    of: &dyn Fn(usize) -> usize,
    name_of: &dyn Fn(usize) -> String,
    key_of: &dyn Fn(usize) -> String,
) -> Vec<CountRow> {
    let units = |u: u64| u as f64 / stv::VOTE as f64;
    count
        .rounds
        .iter()
        .enumerate()
        .map(|(n, r)| CountRow {
            locality: locality.to_string(),
            round: n + 1,
            totals: r
                .totals
                .iter()
                .enumerate()
                .map(|(i, t)| (key_of(of(i)), name_of(of(i)), units(*t)))
                .collect(),
            exhausted: units(r.exhausted),
            what: match &r.action {
                Action::Elected { candidate, surplus } => format!(
                    "{} elected, surplus {} transferred",
                    name_of(of(*candidate)),
                    votes(*surplus)
                ),
                Action::Excluded { candidate } => format!(
                    "{} excluded, their votes transferred",
                    name_of(of(*candidate))
                ),
                Action::ElectedRemaining { candidates } => format!(
                    "{} elected to the remaining seat(s)",
                    candidates
                        .iter()
                        .map(|&c| name_of(of(c)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
        })
        .collect()
}

/// The same count in words, one line per round after the quota's.
fn count_lines(locality: &str, count: &stv::Count, rows: &[CountRow]) -> Vec<String> {
    let label = if locality.is_empty() {
        String::new()
    } else {
        format!("{locality}: ")
    };
    let mut out = vec![format!(
        "{label}quota {} of {} valid ballot(s)",
        votes(count.quota),
        count.valid
    )];
    let shown = |v: f64| votes((v * stv::VOTE as f64).round() as u64);
    for row in rows {
        let totals: Vec<String> = row
            .totals
            .iter()
            .map(|(_, name, v)| format!("{name} {}", shown(*v)))
            .collect();
        let exhausted = if row.exhausted > 0.0 {
            format!("; {} exhausted", shown(row.exhausted))
        } else {
            String::new()
        };
        out.push(format!(
            "{label}round {}: {}{exhausted}; {}",
            row.round,
            totals.join(", "),
            row.what
        ));
    }
    out
}

pub(crate) fn tally_view(m: &Membership, rec: &MotionRecord, t: &Tally) -> TallyView {
    let name_of = |i: usize| {
        rec.candidates
            .get(i)
            .map(|c| partner_name(m, c))
            .unwrap_or_else(|| format!("candidate {i}"))
    };
    let key_of = |i: usize| {
        rec.candidates
            .get(i)
            .map(|c| current_key(m, c))
            .unwrap_or_default()
    };
    let mut rounds = Vec::new();
    let mut count = Vec::new();
    if let Some(c) = &t.stv {
        let rows = count_rows("", c, &|i| i, &name_of, &key_of);
        rounds.extend(count_lines("", c, &rows));
        count.extend(rows);
    }
    for seat in &t.localities {
        let rows = count_rows(
            &seat.locality,
            &seat.count,
            &|i| seat.candidates.get(i).copied().unwrap_or(usize::MAX),
            &name_of,
            &key_of,
        );
        rounds.extend(count_lines(&seat.locality, &seat.count, &rows));
        count.extend(rows);
        let label = format!("{}: ", seat.locality);
        rounds.push(match seat.elected {
            Some(e) => format!("{label}{} takes the seat", name_of(e)),
            None => format!("{label}no ballot ranked a candidate; the seat stays empty"),
        });
    }
    TallyView {
        electorate: t.electorate,
        recused: t.recused,
        turnout: t.turnout,
        votes_for: t.votes_for,
        votes_against: t.votes_against,
        abstentions: t.abstentions,
        quorum_needed: t.quorum_needed,
        quorum_met: t.quorum_met,
        threshold_met: t.threshold_met,
        passed: t.passed,
        reason: t.reason.clone(),
        elected: t.elected.iter().map(|k| partner_name(m, k)).collect(),
        rounds,
        count,
        unwitnessed: t.unwitnessed,
    }
}

/// Where a motion stands, in words: open (passing or failing so far), provisional, or
/// passed, failed or lapsed (no quorum) once closed.
fn standing(closed: bool, finality: Finality, t: &Tally) -> String {
    let so_far = if t.passed { "passing" } else { "failing" };
    if closed {
        if t.passed {
            "passed".into()
        } else if !t.quorum_met {
            format!("lapsed: {}", t.reason)
        } else {
            format!("failed: {}", t.reason)
        }
    } else {
        match finality {
            Finality::Open => format!("open, {so_far} so far"),
            Finality::Provisional | Finality::Final => {
                format!("voting over, {so_far}; provisional until final")
            }
        }
    }
}

/// The ballots and declarations a motion's tally counts: every valid one while it is
/// open, from the state; the witnessed ones once it is closed, from the lists kept beside
/// the state, with each vote read back from its ballot event.
struct Counted {
    ballots: Vec<(PublicKey, Vote)>,
    declared: Vec<(PublicKey, EventId)>,
}

/// What a motion view shows of its ballots.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ballots {
    /// Every motion's.
    All,
    /// An open motion's only: a closed motion's are read back from the store.
    OfOpenMotions,
}

fn counted(r: &Replica, rec: &MotionRecord, shown: Ballots) -> Result<Option<Counted>, ApiError> {
    if rec.closed.is_none() {
        return Ok(Some(Counted {
            ballots: (rec.seen.ballots.iter())
                .map(|(p, (_, v))| (*p, v.clone()))
                .collect(),
            declared: rec.seen.declared.iter().map(|(p, e)| (*p, *e)).collect(),
        }));
    }
    if shown == Ballots::OfOpenMotions {
        return Ok(None);
    }
    let Some(closed) = r.closed_votes(&rec.id)? else {
        return Ok(None);
    };
    let ballots = r.closed_ballots(&rec.id, &closed)?;
    Ok(Some(Counted {
        ballots: (ballots.into_iter()).map(|(p, (_, v))| (p, v)).collect(),
        declared: closed.declared.into_iter().collect(),
    }))
}

/// A vote in words: "for", "against", "abstain", or a ranking by name.
fn vote_words(m: &Membership, rec: &MotionRecord, v: &Vote) -> String {
    match v {
        Vote::For => "for".to_string(),
        Vote::Against => "against".to_string(),
        Vote::Abstain => "abstain".to_string(),
        Vote::Ranking(r) => format!(
            "ranking {}",
            r.iter()
                .map(|&i| {
                    rec.candidates
                        .get(i)
                        .map(|c| partner_name(m, c))
                        .unwrap_or_else(|| format!("candidate {i}"))
                })
                .collect::<Vec<_>>()
                .join(", then ")
        ),
    }
}

pub(crate) fn motion_view(
    r: &Replica,
    papers: &crate::core::papers::Papers,
    rec: &MotionRecord,
    now: u64,
    shown: Ballots,
) -> Result<MotionView, ApiError> {
    let state = r.state();
    let m = state.membership();
    let report = state.governance().report(&rec.id, now);
    let fin = report.as_ref().map_or(Finality::Open, |rep| rep.finality);
    let counted = counted(r, rec, shown)?;
    let (finality, effect) = match &report {
        Some(rep) => (
            match rep.finality {
                Finality::Open => "open",
                Finality::Provisional => "provisional",
                Finality::Final => "final",
            },
            rep.effect
                .as_ref()
                .filter(|_| rep.tally.passed)
                .map(|e| match e {
                    Ok(()) => "applied".to_string(),
                    Err(why) => format!("not applied: {why}"),
                }),
        ),
        None => ("open", None),
    };
    let tally = rec.tally();
    Ok(MotionView {
        id: rec.id.to_string(),
        kind: kind_name(rec.kind),
        title: rec.motion.title.clone(),
        text: rec.motion.text.clone(),
        proposer: partner_name(m, &rec.proposer),
        opens_at_ms: rec.opens_at_ms,
        closes_at_ms: rec.closes_at_ms,
        final_at_ms: rec.final_at_ms,
        finality: finality.into(),
        closed: rec.closed.is_some(),
        effect,
        standing: standing(rec.closed.is_some(), fin, &tally),
        candidates: rec
            .candidates
            .iter()
            .map(|c| (current_key(m, c), partner_name(m, c)))
            .collect(),
        tally: tally_view(m, rec, &tally),
        ballots: counted.as_ref().map(|c| {
            (c.ballots.iter())
                .map(|(p, v)| (partner_name(m, p), vote_words(m, rec, v)))
                .collect()
        }),
        ballot_keys: counted
            .as_ref()
            .map(|c| (c.ballots.iter()).map(|(p, _)| current_key(m, p)).collect()),
        max_proxies: rec.max_proxies,
        power: rec.power.clone(),
        practice: rec.practice.clone(),
        decided_by: crate::deed::group_words(rec.rule.voters).to_string(),
        papers: super::papers::papers_of(&rec.motion.papers, papers),
        interests: counted
            .map(|c| {
                (c.declared.iter())
                    .map(|(partner, event)| {
                        let statement = match r.load(event)?.and_then(|e| e.event.body) {
                            Some(mutual_protocol::event::Body::Ballot(b)) => b.statement,
                            _ => String::new(),
                        };
                        Ok((partner_name(m, partner), statement))
                    })
                    .collect::<Result<Vec<_>, ApiError>>()
            })
            .transpose()?,
    })
}

#[utoipa::path(get, path = "/motions", tag = "motions", responses((status = 200, description = "Every motion with its tally and finality; an open motion's ballots (a closed motion's: `GET /motions/{id}`).", body = Vec<MotionView>), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 500, description = "A declaration on an open motion cannot be read back from the store; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
pub(crate) async fn motions(State(s): State<ApiState>) -> Result<Json<Vec<MotionView>>, ApiError> {
    let now = s.now();
    let list = s
        .node
        .query_papers(move |r, p| {
            r.state()
                .governance()
                .motions()
                .map(|rec| motion_view(r, p, rec, now, Ballots::OfOpenMotions))
                .collect::<Result<Vec<_>, _>>()
        })
        .await??;
    Ok(Json(list))
}

#[utoipa::path(get, path = "/motions/{id}", tag = "motions", params(("id" = String, Path, description = "The motion's event id, or a unique prefix of it.")), responses((status = 200, description = "One motion: its tally explained, its ballots, its effect.", body = MotionView), (status = 404, description = "Not found.", body = ErrorBody), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 500, description = "A closed motion's ballots cannot be read back from the store; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
pub(crate) async fn motion(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<MotionView>, ApiError> {
    let id = parse_id(&id)?;
    let now = s.now();
    s.node
        .query_papers(move |r, p| {
            r.state()
                .governance()
                .motion(&id)
                .map(|rec| motion_view(r, p, rec, now, Ballots::All))
                .transpose()
        })
        .await??
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no motion {id} has taken effect here")))
}
