//! `GET /members`: practices and their partners.

use super::common::{ApiError, ApiState, Authored, Authorised, ErrorBody};
use axum::extract::State;
use axum::Json;
use mutual_proto::v1 as pb;
use mutual_protocol::event::Body;
use mutual_protocol::membership::Holder;
use mutual_protocol::state::State as NetState;
use serde::{Deserialize, Serialize};

/// A practice and its partners, as `GET /members` shows it.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberView {
    /// Its name.
    pub name: String,
    /// ODS code.
    pub ods: String,
    /// Locality.
    pub locality: String,
    /// "active", "left" or "removed".
    pub status: String,
    /// Its node key (hex; empty once revoked).
    pub node_key: String,
    /// Its partners.
    pub partners: Vec<PartnerView>,
}

/// A partner, as `GET /members` shows it.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct PartnerView {
    /// Their name.
    pub name: String,
    /// Their lasting id (the key they were admitted with).
    pub id: String,
    /// Their current key (empty once revoked).
    pub key: String,
    /// "partner", "associate" or "managing".
    pub role: String,
    /// "active", "resigned" or "removed".
    pub status: String,
    /// Offices held: "board", "chair".
    #[serde(default)]
    pub offices: Vec<String>,
}

pub(crate) fn role_name(r: i32) -> &'static str {
    match pb::PartnerRole::try_from(r) {
        Ok(pb::PartnerRole::Associate) => "associate",
        Ok(pb::PartnerRole::Managing) => "managing",
        _ => "partner",
    }
}

pub(crate) fn member_views(state: &NetState) -> Vec<MemberView> {
    let m = state.membership();
    let g = state.governance();
    m.practices()
        .map(|p| MemberView {
            name: p.practice.name.clone(),
            ods: p.practice.ods_code.clone(),
            locality: p.practice.locality.clone(),
            status: format!("{:?}", p.status).to_lowercase(),
            node_key: hex::encode(&p.practice.node_key),
            partners: m
                .partners()
                .filter(|x| x.partner.practice_ods == p.practice.ods_code)
                .map(|x| PartnerView {
                    name: x.partner.name.clone(),
                    id: x.id.to_string(),
                    key: hex::encode(&x.partner.key),
                    role: role_name(x.partner.role).into(),
                    status: format!("{:?}", x.status).to_lowercase(),
                    offices: [
                        g.board().contains(&x.id).then_some("board"),
                        (g.chair() == Some(&x.id)).then_some("chair"),
                    ]
                    .into_iter()
                    .flatten()
                    .map(String::from)
                    .collect(),
                })
                .collect(),
        })
        .collect()
}

#[utoipa::path(get, path = "/members", tag = "members", responses((status = 200, description = "Practices, their partners, roles, offices and keys.", body = Vec<MemberView>), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
pub(crate) async fn members(State(s): State<ApiState>) -> Result<Json<Vec<MemberView>>, ApiError> {
    let list = s.node.query(|r| member_views(r.state())).await?;
    Ok(Json(list))
}

/// What `POST /practice` takes: this practice's node signs a change to its details, or
/// its leaving.
#[derive(Serialize, Deserialize, Debug, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PracticeRequest {
    /// New details; what is not given stays as it is.
    Update {
        /// The name.
        name: Option<String>,
        /// The locality.
        locality: Option<String>,
        /// Registered patients.
        list_size: Option<u32>,
    },
    /// The practice leaves, and its partners with it.
    Leave {
        /// Why.
        reason: String,
    },
    /// A partner of this practice's key is revoked (a stolen laptop the partner cannot
    /// revoke from): it signs nothing more; the partners vote a new one in (replace-key).
    RevokePartnerKey {
        /// The partner's current key (hex).
        key: String,
        /// Why.
        reason: String,
    },
    /// The node's key is replaced by `new_key` (hex), which proves possession with
    /// `proof` (hex: its signature of the rotation message, docs/PROTOCOL.md §8.6).
    RotateKey {
        /// The new key.
        new_key: String,
        /// Its proof.
        proof: String,
    },
}

#[utoipa::path(post, path = "/practice", tag = "members", security(("token" = [])), request_body = PracticeRequest, responses((status = 200, description = "The practice update, signed by this node.", body = Authored), (status = 401, description = "The API token is missing or wrong.", body = ErrorBody), (status = 422, description = "Refused by the rules before anything was signed; the message says why.", body = ErrorBody), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
pub(crate) async fn practice(
    _: Authorised,
    State(s): State<ApiState>,
    Json(req): Json<PracticeRequest>,
) -> Result<Json<Authored>, ApiError> {
    let me = s.me;
    let current = s
        .node
        .query(move |r| {
            let m = r.state().membership();
            match m.holder(&me) {
                Some(Holder::Practice(ods)) => m.practice(ods).map(|p| p.practice.clone()),
                _ => None,
            }
        })
        .await?
        .ok_or_else(|| ApiError::refused("this node is not an admitted practice's node"))?;
    let body = match req {
        PracticeRequest::Update {
            name,
            locality,
            list_size,
        } => Body::PracticeUpdate(pb::PracticeUpdate {
            name: name.unwrap_or(current.name),
            locality: locality.unwrap_or(current.locality),
            list_size: list_size.unwrap_or(current.list_size),
        }),
        PracticeRequest::Leave { reason } => Body::PracticeLeave(pb::PracticeLeave { reason }),
        PracticeRequest::RevokePartnerKey { key, reason } => {
            let key = super::common::parse_key(key.trim())?;
            Body::KeyRevocation(pb::KeyRevocation {
                key: key.as_bytes().to_vec(),
                reason,
            })
        }
        PracticeRequest::RotateKey { new_key, proof } => {
            let new_key = super::common::parse_key(new_key.trim())?;
            let proof = hex::decode(proof.trim()).map_err(|_| ApiError::bad("proof: not hex"))?;
            Body::KeyRotation(pb::KeyRotation {
                new_key: new_key.as_bytes().to_vec(),
                new_key_signature: proof,
            })
        }
    };
    let id = s.node.author(vec![body]).await?[0];
    Ok(Json(Authored {
        id: id.to_string(),
        outcome: "applied".into(),
    }))
}
