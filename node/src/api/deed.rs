//! `GET /deed`: the deed in force in plain words, the board and chair it elected with
//! their terms; `GET /deed/history`: every amendment, with what it changed.

use super::common::{ApiError, ApiState, ErrorBody};
use super::motions::partner_name;
use crate::dates::format_ms;
use crate::deed::DeedText;
use axum::extract::State;
use axum::Json;
use mutual_proto::v1 as pb;
use mutual_protocol::event::Body;
use mutual_protocol::governance::motion::MotionRecord;
use mutual_protocol::governance::{PartnerId, Term};
use mutual_protocol::replica::{BodyError, Replica};
use prost::Message;
use serde::{Deserialize, Serialize};

/// What `GET /deed` answers.
#[derive(Serialize, Deserialize, Debug, Clone, utoipa::ToSchema)]
pub struct DeedView {
    /// The deed, rule by rule and power by power, in words.
    pub deed: DeedText,
    /// The board in force: each member's name and practice locality.
    pub board: Vec<String>,
    /// The chair in force.
    pub chair: Option<String>,
    /// The board's term (docs/GOVERNANCE.md §8.2).
    #[serde(default)]
    pub board_term: TermView,
    /// The chair's term.
    #[serde(default)]
    pub chair_term: TermView,
    /// The motion that last changed the deed, and when it closed (absent: the founding
    /// deed is in force).
    pub amended_by: Option<String>,
    /// The deed in force as an encoded `Deed` message, in hex (the default deed if the
    /// genesis named none): what an amendment starts from (the web page edits it).
    #[serde(default)]
    pub encoded: String,
}

/// An office's term, as the node sees it now.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq, utoipa::ToSchema)]
pub struct TermView {
    /// When the seats lapse (ms), if a term runs.
    pub ends_at_ms: Option<u64>,
    /// The same, as a date.
    pub ends: Option<String>,
    /// When the seats lapsed with no election since, as a date.
    pub lapsed: Option<String>,
    /// Whether an election is due: the term has ended (the seats lapse at the next event
    /// of a practice's node) or the seats have lapsed.
    pub election_due: bool,
}

impl TermView {
    fn of(t: Term, now: u64) -> Self {
        TermView {
            ends_at_ms: t.ends_at_ms,
            ends: t.ends_at_ms.map(format_ms),
            lapsed: t.lapsed_at_ms.map(format_ms),
            election_due: t.election_due(now),
        }
    }

    /// The term in words: "ends 2029-12-01 09:00 UTC", "ended …; an election is due".
    pub fn words(&self) -> String {
        match (&self.ends, &self.lapsed, self.election_due) {
            (_, Some(l), _) => format!("the seats lapsed {l}; an election is due"),
            (Some(e), None, true) => format!("the term ended {e}; an election is due"),
            (Some(e), None, false) => format!("the term ends {e}"),
            (None, None, _) => "no term: seats last until the next election".into(),
        }
    }
}

/// One amendment of the deed: `GET /deed/history`.
#[derive(Serialize, Deserialize, Debug, Clone, utoipa::ToSchema)]
pub struct Amendment {
    /// The amend-deed motion's id.
    pub motion: String,
    /// Its title.
    pub title: String,
    /// Who proposed it.
    pub proposer: String,
    /// When it took effect (its grace period's end), as a date.
    pub in_force_from: String,
    /// The tally, in words.
    pub result: String,
    /// What it changed: `- old` and `+ new` lines.
    pub changes: Vec<String>,
}

fn with_locality(r: &Replica, id: &PartnerId) -> String {
    let m = r.state().membership();
    let locality = m
        .partner(id)
        .and_then(|p| m.practice(&p.partner.practice_ods))
        .map(|pr| pr.practice.locality.clone())
        .unwrap_or_default();
    format!("{} ({locality})", partner_name(m, id))
}

/// The amendments that took effect, in the order they did.
fn amendments(r: &Replica) -> Vec<&MotionRecord> {
    let mut v: Vec<&MotionRecord> = r
        .state()
        .governance()
        .motions()
        .filter(|rec| rec.kind == pb::DecisionKind::AmendDeed)
        .filter(|rec| {
            rec.closed
                .as_ref()
                .is_some_and(|c| c.tally.passed && c.effect.is_ok())
        })
        .collect();
    v.sort_by_key(|rec| (rec.final_at_ms, rec.id));
    v
}

pub(crate) fn deed_view(r: &Replica, now: u64) -> DeedView {
    let state = r.state();
    let g = state.governance();
    let amended_by = amendments(r).last().map(|rec| {
        format!(
            "motion {} {:?}, in force from {}",
            rec.id.short(),
            rec.motion.title,
            format_ms(rec.final_at_ms)
        )
    });
    DeedView {
        deed: DeedText::of(state.deed()),
        board: g.board().iter().map(|id| with_locality(r, id)).collect(),
        chair: g.chair().map(|id| with_locality(r, id)),
        board_term: TermView::of(g.board_term(), now),
        chair_term: TermView::of(g.chair_term(), now),
        amended_by,
        encoded: hex::encode(
            state
                .deed()
                .cloned()
                .unwrap_or_else(mutual_protocol::governance::deed::default_deed)
                .encode_to_vec(),
        ),
    }
}

/// Every amendment, each with the changes from the deed before it (the founding deed's
/// first).
pub(crate) fn history(r: &Replica) -> Result<Vec<Amendment>, BodyError> {
    let founding = r
        .load(&r.network().genesis())?
        .and_then(|e| match e.event.body {
            Some(Body::Genesis(g)) => Some(g.deed),
            _ => None,
        });
    let mut before = DeedText::of(founding.flatten().as_ref());
    let m = r.state().membership();
    Ok(amendments(r)
        .into_iter()
        .map(|rec| {
            let after = DeedText::of(rec.motion.new_deed.as_ref());
            let changes = before.diff(&after);
            before = after;
            Amendment {
                motion: rec.id.to_string(),
                title: rec.motion.title.clone(),
                proposer: partner_name(m, &rec.proposer),
                in_force_from: format_ms(rec.final_at_ms),
                result: rec.tally().reason,
                changes,
            }
        })
        .collect())
}

#[utoipa::path(get, path = "/deed", tag = "deed", responses((status = 200, description = "The deed in force, in words.", body = DeedView), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
pub(crate) async fn deed(State(s): State<ApiState>) -> Result<Json<DeedView>, ApiError> {
    let now = s.now();
    Ok(Json(s.node.query(move |r| deed_view(r, now)).await?))
}

#[utoipa::path(get, path = "/deed/history", tag = "deed", responses((status = 200, description = "Every amendment and what it changed.", body = Vec<Amendment>), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 500, description = "The store cannot read back a stored event; the message says which.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
pub(crate) async fn deed_history(
    State(s): State<ApiState>,
) -> Result<Json<Vec<Amendment>>, ApiError> {
    Ok(Json(s.node.query(history).await??))
}
