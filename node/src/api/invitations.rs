//! `POST /invitations`: invitations of new practices' nodes.

use super::common::{parse_key, ApiError, ApiState, Authorised, ErrorBody};
use super::events::latest_head_timestamp;
use crate::invite;
use axum::extract::State;
use axum::Json;
use mutual_proto::v1 as pb;
use mutual_protocol::event::{check_body, Body};
use mutual_protocol::limits::{MAX_INVITATION_MS, MAX_OPEN_INVITATIONS};
use serde::{Deserialize, Serialize};

/// Default length of an invitation made through the API: 7 days.
pub const DEFAULT_INVITATION_MS: u64 = 7 * 24 * 3_600_000;

/// Shortest invitation the API makes: one minute, so that the invitation cannot lapse
/// before its own event's timestamp.
pub const MIN_INVITATION_MS: u64 = 60_000;

/// `POST /invitations`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// The invited node's key (hex), as its `mutual init` printed it.
    pub node_key: String,
    /// The practice's name.
    pub practice_name: String,
    /// Its ODS code.
    pub ods_code: String,
    /// How long the invitation stays open, in ms (default 7 days, at most 30).
    pub valid_ms: Option<u64>,
    /// Addresses to give instead of this node's listen addresses.
    #[serde(default)]
    pub bootstrap: Vec<String>,
}

/// The answer to `POST /invitations`.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct InviteResponse {
    /// The invitation event's id.
    pub id: String,
    /// The one-line invite.
    pub invite: String,
    /// When it lapses (ms since the epoch).
    pub expires_ms: u64,
}

#[utoipa::path(post, path = "/invitations", tag = "members", security(("token" = [])), request_body = InviteRequest, responses((status = 200, description = "The one-line invite for the new practice's node.", body = InviteResponse), (status = 401, description = "The API token is missing or wrong.", body = ErrorBody), (status = 422, description = "Refused by the rules before anything was signed; the message says why.", body = ErrorBody), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
pub(crate) async fn invite(
    _: Authorised,
    State(s): State<ApiState>,
    Json(req): Json<InviteRequest>,
) -> Result<Json<InviteResponse>, ApiError> {
    let key = parse_key(&req.node_key)?;
    let valid = req.valid_ms.unwrap_or(DEFAULT_INVITATION_MS);
    if !(MIN_INVITATION_MS..=MAX_INVITATION_MS).contains(&valid) {
        return Err(ApiError::bad(format!(
            "an invitation lasts between {MIN_INVITATION_MS} ms (a minute) and \
             {MAX_INVITATION_MS} ms (30 days)"
        )));
    }
    let me = s.me;
    let now = s.now();
    let req_ods = req.ods_code.clone();
    let latest = s
        .node
        .query(move |r| {
            let st = r.state();
            let m = st.membership();
            if !m.is_active(&me) {
                return Err(ApiError::refused(
                    "this node is not (yet) an active member's node, so it cannot invite",
                ));
            }
            if m.is_known(&key) {
                return Err(ApiError::refused(format!(
                    "{key} already belongs to a member; an invitation is for a new practice's node"
                )));
            }
            let ods = req_ods.trim();
            if let Some(p) = m.practice(ods) {
                return Err(ApiError::refused(format!(
                    "ODS code {ods} is already {} ({}); an invitation is for a new practice",
                    p.practice.name,
                    format!("{:?}", p.status).to_lowercase()
                )));
            }
            let open = st
                .invitations()
                .filter(|(k, i)| i.inviter == me && **k != key && i.expires_ms > now)
                .count();
            if open >= MAX_OPEN_INVITATIONS {
                return Err(ApiError::refused(format!(
                    "this node already has {open} open invitations, the most allowed; wait \
                     for one to be used or to lapse"
                )));
            }
            Ok(latest_head_timestamp(r))
        })
        .await??;
    let status = s.node.status().await?;
    let bootstrap = if req.bootstrap.is_empty() {
        invite::dialable(&status.listen, &status.peer_id)
    } else {
        invite::normalise(&req.bootstrap, &status.peer_id).map_err(ApiError::bad)?
    };
    if bootstrap.is_empty() {
        return Err(ApiError::refused(
            "this node has no address another node could dial; give one with --address",
        ));
    }
    let expires_ms = s.now().max(latest) + valid;
    let body = Body::Invitation(pb::Invitation {
        node_key: key.as_bytes().to_vec(),
        expires_ms,
        practice_name: req.practice_name,
        ods_code: req.ods_code,
        bootstrap,
    });
    check_body(&body).map_err(|e| ApiError::bad(e.to_string()))?;
    let id = s.node.author(vec![body]).await?[0];
    let (wire, outcome) = s
        .node
        .query(move |r| (r.read_wire(&id), r.outcome(&id).map(|o| o.to_string())))
        .await?;
    let wire = wire?.ok_or_else(|| ApiError::refused("the invitation was not stored"))?;
    if outcome.as_deref() != Some("applied") {
        return Err(ApiError::refused(format!(
            "the invitation did not take effect: {}",
            outcome.unwrap_or_default()
        )));
    }
    Ok(Json(InviteResponse {
        id: id.to_string(),
        invite: invite::encode(&wire),
        expires_ms,
    }))
}
