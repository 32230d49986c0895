//! `GET /deed`: the deed in force in plain words, and the board and chair it elected.

use super::common::{ApiError, ApiState};
use super::motions::partner_name;
use crate::dates::format_ms;
use crate::deed::DeedText;
use axum::extract::State;
use axum::Json;
use mutual_proto::v1 as pb;
use mutual_protocol::replica::Replica;
use serde::{Deserialize, Serialize};

/// What `GET /deed` answers.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct DeedView {
    /// The deed, rule by rule, in words.
    pub deed: DeedText,
    /// The board in force: each member's name and practice locality.
    pub board: Vec<String>,
    /// The chair in force.
    pub chair: Option<String>,
    /// The motion that last changed the deed, and when it closed (absent: the founding
    /// deed is in force).
    pub amended_by: Option<String>,
}

pub(crate) fn deed_view(r: &Replica) -> DeedView {
    let state = r.state();
    let m = state.membership();
    let g = state.governance();
    let with_locality = |id| {
        let locality = m
            .partner(id)
            .and_then(|p| m.practice(&p.partner.practice_ods))
            .map(|pr| pr.practice.locality.clone())
            .unwrap_or_default();
        format!("{} ({locality})", partner_name(m, id))
    };
    let amended_by = g
        .motions()
        .filter(|rec| rec.kind == pb::DecisionKind::AmendDeed)
        .filter(|rec| rec.closed.is_some() && rec.tally().passed)
        .max_by_key(|rec| rec.final_at_ms)
        .map(|rec| {
            format!(
                "motion {} {:?}, final {}",
                rec.id.short(),
                rec.motion.title,
                format_ms(rec.final_at_ms)
            )
        });
    DeedView {
        deed: DeedText::of(state.deed()),
        board: g.board().iter().map(with_locality).collect(),
        chair: g.chair().map(with_locality),
        amended_by,
    }
}

pub(crate) async fn deed(State(s): State<ApiState>) -> Result<Json<DeedView>, ApiError> {
    Ok(Json(s.node.query(deed_view).await?))
}
