//! The local HTTP API's federation routes (docs/FEDERATION.md §7): this network's card
//! for a charter, signing a charter, the federations and their state, foreign aid, joint
//! motions and statements. Linking, leaving and voting on a joint motion are motions,
//! signed by partners and submitted through `POST /events`.

use super::aid::{aid_body, aid_view, AidAction, AidView};
use super::common::{ApiError, ApiState, Authored, Authorised, ErrorBody};
use crate::federation::{card, FedLog};
use axum::extract::{Path, State};
use axum::Json;
use mutual_proto::v1 as pb;
use mutual_protocol::event::{check_body, Body};
use mutual_protocol::federation::{FederationId, Party};
use mutual_protocol::id::NetworkId;
use mutual_protocol::keys::PublicKey;
use mutual_protocol::replica::Replica;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa_axum::router::OpenApiRouter;

/// The federation routes, with their OpenAPI descriptions.
pub fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(utoipa_axum::routes!(list))
        .routes(utoipa_axum::routes!(own_card))
        .routes(utoipa_axum::routes!(sign_charter))
        .routes(utoipa_axum::routes!(show))
        .routes(utoipa_axum::routes!(aid, aid_action))
        .routes(utoipa_axum::routes!(propose_joint))
        .routes(utoipa_axum::routes!(publish_statement))
}

/// One practice on a roster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
pub struct RosterEntry {
    /// The practice's name.
    pub name: String,
    /// Its ODS code.
    pub ods: String,
    /// Its node key (hex).
    pub node_key: String,
}

/// A network's entry for a charter: what `GET /federations/card` gives and
/// `POST /federations/charter` takes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
pub struct Card {
    /// The network's id (hex).
    pub network: String,
    /// Its name.
    pub name: String,
    /// Its active practices.
    pub practices: Vec<RosterEntry>,
    /// Where its nodes can be reached (multiaddrs ending in /p2p/<PeerId>).
    pub bootstrap: Vec<String>,
}

impl Card {
    fn of(n: &pb::CharterNetwork) -> Card {
        Card {
            network: hex::encode(&n.network),
            name: n.name.clone(),
            practices: n
                .practices
                .iter()
                .map(|p| RosterEntry {
                    name: p.name.clone(),
                    ods: p.ods_code.clone(),
                    node_key: hex::encode(&p.node_key),
                })
                .collect(),
            bootstrap: n.bootstrap.clone(),
        }
    }

    fn to_pb(&self) -> Result<pb::CharterNetwork, ApiError> {
        let network: NetworkId = self
            .network
            .parse()
            .map_err(|_| ApiError::bad(format!("network {:?} is not an id", self.network)))?;
        let mut practices = Vec::with_capacity(self.practices.len());
        for p in &self.practices {
            let key: PublicKey = p
                .node_key
                .parse()
                .map_err(|_| ApiError::bad(format!("node key {:?} is not a key", p.node_key)))?;
            practices.push(pb::Practice {
                name: p.name.clone(),
                ods_code: p.ods.clone(),
                node_key: key.as_bytes().to_vec(),
                ..Default::default()
            });
        }
        practices.sort_by(|a, b| a.ods_code.cmp(&b.ods_code));
        Ok(pb::CharterNetwork {
            network: network.as_bytes().to_vec(),
            name: self.name.clone(),
            practices,
            bootstrap: self.bootstrap.clone(),
        })
    }
}

/// What `POST /federations/charter` takes.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CharterRequest {
    /// The federation's name.
    pub name: String,
    /// Every network taking part, this one included.
    pub cards: Vec<Card>,
    /// Share aid requests marked for the federation.
    #[serde(default)]
    pub share_aid_requests: bool,
    /// Share statements.
    #[serde(default)]
    pub share_statements: bool,
    /// Share joint motions.
    #[serde(default)]
    pub share_joint_motions: bool,
    /// A joint motion passes only if every network passes it (else: more than half).
    #[serde(default)]
    pub joint_requires_all: bool,
}

/// A signed charter.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignedCharter {
    /// The federation's id (the charter event's id).
    pub federation: String,
    /// The charter event, hex: what a link motion carries.
    pub charter_event: String,
}

/// A network as a federation's log shows it.
#[derive(Serialize, Deserialize, Debug, utoipa::ToSchema)]
pub struct PartyView {
    /// The network's id.
    pub network: String,
    /// Its name.
    pub name: String,
    /// "invited", "joined" or "left".
    pub state: String,
    /// Its roster's number and practices.
    pub roster_number: u64,
    /// Its practices.
    pub practices: Vec<RosterEntry>,
    /// Whether its roster is anchored in its own signed membership events
    /// (docs/FEDERATION.md §3); its words count only once it is.
    pub anchored: bool,
    /// How many of its own events the federation has taken in as evidence.
    pub evidence: usize,
}

/// A joint motion and its decisions.
#[derive(Serialize, Deserialize, Debug, utoipa::ToSchema)]
pub struct JointView {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its text.
    pub text: String,
    /// The proposer's network.
    pub network: String,
    /// Each network's decision so far: network id to passed.
    pub decisions: BTreeMap<String, bool>,
    /// "open", "passed" or "failed".
    pub result: String,
}

/// A federation as this node sees it.
#[derive(Serialize, Deserialize, Debug, utoipa::ToSchema)]
pub struct FederationView {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether every network joined and at least two remain.
    pub live: bool,
    /// This network's link: "linked" or "left".
    pub link: String,
    /// What the charter shares.
    pub shares: Vec<String>,
    /// "all" or "majority": how a joint motion passes.
    pub joint_rule: String,
    /// The networks.
    pub networks: Vec<PartyView>,
    /// Joint motions.
    pub joint_motions: Vec<JointView>,
    /// Statements: (id, network, title, text).
    pub statements: Vec<(String, String, String, String)>,
    /// Events in the federation's log.
    pub events: usize,
    /// The log's state hash (equal on every node that holds the same events).
    pub state_hash: String,
    /// Whether a node taking part has shown this node its own feed in the log since it
    /// started; until then it signs nothing there (docs/FEDERATION.md §5).
    pub head_confirmed: bool,
}

fn party_view(p: &Party) -> PartyView {
    PartyView {
        network: p.network.to_string(),
        name: p.name.clone(),
        state: match (p.joined, p.left) {
            (_, Some(_)) => "left",
            (Some(_), None) => "joined",
            (None, None) => "invited",
        }
        .into(),
        roster_number: p.roster_number,
        practices: Card::of(&pb::CharterNetwork {
            practices: p.practices.clone(),
            ..Default::default()
        })
        .practices,
        anchored: p.anchored,
        evidence: p.evidence_taken(),
    }
}

fn view(own: &Replica, log: &FedLog) -> FederationView {
    let r = &log.replica;
    let st = r.state();
    let c = st.charter().cloned().unwrap_or_default();
    let shares = [
        (c.share_aid_requests, "aid requests"),
        (c.share_statements, "statements"),
        (c.share_joint_motions, "joint motions"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, s)| s.to_string())
    .collect();
    let link = own
        .state()
        .governance()
        .link(&r.network())
        .map_or("none", |l| {
            if l.left_by.is_some() {
                "left"
            } else {
                "linked"
            }
        });
    FederationView {
        id: r.network().to_string(),
        name: c.name.clone(),
        live: st.is_live(),
        link: link.into(),
        shares,
        joint_rule: if c.joint_requires_all {
            "all"
        } else {
            "majority"
        }
        .into(),
        networks: st.parties().map(party_view).collect(),
        joint_motions: st
            .joint_motions()
            .map(|j| JointView {
                id: j.id.to_string(),
                title: j.motion.title.clone(),
                text: j.motion.text.clone(),
                network: j.network.to_string(),
                decisions: j
                    .decisions
                    .iter()
                    .map(|(n, v)| (n.to_string(), *v))
                    .collect(),
                result: match j.result {
                    None => "open",
                    Some((true, _)) => "passed",
                    Some((false, _)) => "failed",
                }
                .into(),
            })
            .collect(),
        statements: st
            .statements()
            .map(|s| {
                (
                    s.id.to_string(),
                    s.network.to_string(),
                    s.statement.title.clone(),
                    s.statement.text.clone(),
                )
            })
            .collect(),
        events: r.len(),
        state_hash: r.state_hash().to_string(),
        head_confirmed: log.head_confirmed,
    }
}

fn federation_id(s: &str) -> Result<FederationId, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad(format!("{s:?} is not a federation id (64 hex digits)")))
}

fn log_of<'a>(
    feds: &'a BTreeMap<FederationId, FedLog>,
    id: &FederationId,
) -> Result<&'a FedLog, ApiError> {
    feds.get(id).ok_or_else(|| {
        ApiError::not_found(format!("this network has not linked to federation {id}"))
    })
}

#[utoipa::path(get, path = "/federations", tag = "federations", responses((status = 200, description = "The federations linked to: networks, joint motions, statements.", body = Vec<FederationView>), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
async fn list(State(s): State<ApiState>) -> Result<Json<Vec<FederationView>>, ApiError> {
    let v = s
        .node
        .query_federations(|own, feds| feds.values().map(|l| view(own, l)).collect())
        .await?;
    Ok(Json(v))
}

#[utoipa::path(get, path = "/federations/{id}", tag = "federations", params(("id" = String, Path, description = "The federation id.")), responses((status = 200, description = "One federation.", body = FederationView), (status = 404, description = "Not found.", body = ErrorBody), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
async fn show(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<FederationView>, ApiError> {
    let id = federation_id(&id)?;
    let v = s
        .node
        .query_federations(move |own, feds| log_of(feds, &id).map(|l| view(own, l)))
        .await??;
    Ok(Json(v))
}

#[utoipa::path(get, path = "/federations/card", tag = "federations", responses((status = 200, description = "This network's card, for a charter.", body = Card), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
async fn own_card(State(s): State<ApiState>) -> Result<Json<Card>, ApiError> {
    let status = s.node.status().await?;
    let me = s.node.peer_id();
    let bootstrap: Vec<String> = status
        .listen
        .iter()
        .filter(|a| !a.contains("/0.0.0.0/") && !a.contains("/::/"))
        .map(|a| format!("{a}/p2p/{me}"))
        .collect();
    let c = s
        .node
        .query(move |r| {
            let st = r.state();
            card(
                r.network(),
                st.name().unwrap_or_default(),
                st.membership(),
                &bootstrap,
            )
        })
        .await?;
    Ok(Json(Card::of(&c)))
}

#[utoipa::path(post, path = "/federations/charter", tag = "federations", security(("token" = [])), request_body = CharterRequest, responses((status = 200, description = "The charter, signed by this node.", body = SignedCharter), (status = 401, description = "The API token is missing or wrong.", body = ErrorBody), (status = 422, description = "Refused by the rules before anything was signed; the message says why.", body = ErrorBody), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
async fn sign_charter(
    _: Authorised,
    State(s): State<ApiState>,
    Json(req): Json<CharterRequest>,
) -> Result<Json<SignedCharter>, ApiError> {
    let mut members = req
        .cards
        .iter()
        .map(Card::to_pb)
        .collect::<Result<Vec<_>, _>>()?;
    members.sort_by(|a, b| a.network.cmp(&b.network));
    let charter = pb::FederationCharter {
        name: req.name,
        share_aid_requests: req.share_aid_requests,
        share_statements: req.share_statements,
        share_joint_motions: req.share_joint_motions,
        joint_requires_all: req.joint_requires_all,
        members,
    };
    let ev = s.node.sign_charter(charter).await?;
    Ok(Json(SignedCharter {
        federation: ev.id.to_string(),
        charter_event: hex::encode(ev.to_wire()),
    }))
}

#[utoipa::path(get, path = "/federations/{id}/aid", tag = "federations", params(("id" = String, Path, description = "The federation id.")), responses((status = 200, description = "The aid board shared across the federation's networks.", body = AidView), (status = 404, description = "Not found.", body = ErrorBody), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
async fn aid(State(s): State<ApiState>, Path(id): Path<String>) -> Result<Json<AidView>, ApiError> {
    let id = federation_id(&id)?;
    let now = s.now();
    let v = s
        .node
        .query_federations(move |_, feds| {
            log_of(feds, &id).map(|l| {
                let st = l.replica.state();
                aid_view(st.aid(), st.members(), now)
            })
        })
        .await??;
    Ok(Json(v))
}

/// Authors one body in a federation's log and reports its outcome.
async fn author(s: &ApiState, id: FederationId, body: Body) -> Result<Json<Authored>, ApiError> {
    check_body(&body).map_err(|e| ApiError::bad(e.to_string()))?;
    let ev = s.node.author_in(id, vec![body]).await?[0];
    let outcome = s
        .node
        .query_federations(move |_, feds| {
            feds.get(&id)
                .and_then(|l| l.replica.outcome(&ev))
                .map(|o| o.to_string())
                .unwrap_or_default()
        })
        .await?;
    Ok(Json(Authored {
        id: ev.to_string(),
        outcome,
    }))
}

#[utoipa::path(post, path = "/federations/{id}/aid", tag = "federations", security(("token" = [])), params(("id" = String, Path, description = "The federation id.")), request_body = AidAction, responses((status = 200, description = "The aid event, signed by this node in the federation's log.", body = Authored), (status = 401, description = "The API token is missing or wrong.", body = ErrorBody), (status = 422, description = "Refused by the rules before anything was signed; the message says why.", body = ErrorBody), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
async fn aid_action(
    _: Authorised,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Json(action): Json<AidAction>,
) -> Result<Json<Authored>, ApiError> {
    let id = federation_id(&id)?;
    if matches!(&action, AidAction::Request { papers, .. } if !papers.is_empty()) {
        return Err(ApiError::bad(
            "papers go with a partnership's own requests: they are never sent outside a \
             network, so a federation's log carries none",
        ));
    }
    let now = s.now();
    let me = s.me;
    let body = s
        .node
        .query_federations(move |_, feds| {
            let st = log_of(feds, &id)?.replica.state();
            aid_body(
                st.aid(),
                st.members(),
                pb::Visibility::Federation,
                &me,
                action,
                now,
            )
        })
        .await??;
    author(&s, id, body).await
}

/// A joint motion or a statement.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Text {
    /// The title.
    pub title: String,
    /// The text.
    #[serde(default)]
    pub text: String,
}

#[utoipa::path(post, path = "/federations/{id}/joint", tag = "federations", security(("token" = [])), params(("id" = String, Path, description = "The federation id.")), request_body = Text, responses((status = 200, description = "The joint motion, signed by this node.", body = Authored), (status = 401, description = "The API token is missing or wrong.", body = ErrorBody), (status = 422, description = "Refused by the rules before anything was signed; the message says why.", body = ErrorBody), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
async fn propose_joint(
    _: Authorised,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Json(t): Json<Text>,
) -> Result<Json<Authored>, ApiError> {
    author_text(&s, &id, t, |title, text| {
        Body::JointMotion(pb::JointMotion { title, text })
    })
    .await
}

#[utoipa::path(post, path = "/federations/{id}/statements", tag = "federations", security(("token" = [])), params(("id" = String, Path, description = "The federation id.")), request_body = Text, responses((status = 200, description = "The statement, signed by this node.", body = Authored), (status = 401, description = "The API token is missing or wrong.", body = ErrorBody), (status = 422, description = "Refused by the rules before anything was signed; the message says why.", body = ErrorBody), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
async fn publish_statement(
    _: Authorised,
    State(s): State<ApiState>,
    Path(id): Path<String>,
    Json(t): Json<Text>,
) -> Result<Json<Authored>, ApiError> {
    author_text(&s, &id, t, |title, text| {
        Body::JointStatement(pb::JointStatement { title, text })
    })
    .await
}

/// Signs a titled text (a joint motion or a statement) into federation `id`'s log.
async fn author_text(
    s: &ApiState,
    id: &str,
    t: Text,
    body: fn(String, String) -> Body,
) -> Result<Json<Authored>, ApiError> {
    let id = federation_id(id)?;
    author(s, id, body(t.title, t.text)).await
}
