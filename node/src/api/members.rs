//! `GET /members`: practices and their partners.

use super::common::{ApiError, ApiState};
use axum::extract::State;
use axum::Json;
use mutual_proto::v1 as pb;
use mutual_protocol::membership::Membership;
use serde::{Deserialize, Serialize};

/// A practice and its partners, as `GET /members` shows it.
#[derive(Serialize, Deserialize)]
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
#[derive(Serialize, Deserialize)]
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
}

pub(crate) fn role_name(r: i32) -> &'static str {
    match pb::PartnerRole::try_from(r) {
        Ok(pb::PartnerRole::Associate) => "associate",
        Ok(pb::PartnerRole::Managing) => "managing",
        _ => "partner",
    }
}

pub(crate) fn member_views(m: &Membership) -> Vec<MemberView> {
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
                })
                .collect(),
        })
        .collect()
}

pub(crate) async fn members(State(s): State<ApiState>) -> Result<Json<Vec<MemberView>>, ApiError> {
    let list = s
        .node
        .query(|r| member_views(r.state().membership()))
        .await?;
    Ok(Json(list))
}
