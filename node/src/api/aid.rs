//! `GET /aid`, `POST /aid`: the aid board and a practice's aid actions.

use super::common::{parse_id, ApiError, ApiState, Authored, Authorised, ErrorBody};
use axum::extract::State;
use axum::Json;
use mutual_proto::v1 as pb;
use mutual_protocol::aid::board::Board;
use mutual_protocol::aid::session::Session;
use mutual_protocol::aid::Aid;
use mutual_protocol::event::{check_body, Body};
use mutual_protocol::keys::PublicKey;
use mutual_protocol::membership::Membership;
use serde::{Deserialize, Serialize};

/// An aid request, as `GET /aid` shows it.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct RequestView {
    /// Its event id.
    pub id: String,
    /// The requesting practice (ODS code).
    pub practice: String,
    /// The role needed.
    pub role: String,
    /// Sessions needed ("2026-12-01 AM").
    pub sessions: Vec<String>,
    /// "routine", "soon" or "urgent".
    pub urgency: String,
    /// "open", "fully_agreed", "expired", "withdrawn" or "requester_inactive".
    pub state: String,
    /// Sessions not yet held by an agreement.
    pub outstanding: usize,
    /// Offers made: (offer id, practice, sessions).
    pub offers: Vec<(String, String, Vec<String>)>,
}

/// An aid agreement, as `GET /aid` shows it.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgreementView {
    /// The acceptance's event id.
    pub id: String,
    /// The request.
    pub request: String,
    /// The requesting practice.
    pub requester: String,
    /// The offering practice.
    pub offerer: String,
    /// Sessions agreed.
    pub sessions: Vec<String>,
    /// "pending", "binding", "cancelled" or "fulfilled".
    pub status: String,
}

/// `GET /aid`.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct AidView {
    /// Every request.
    pub requests: Vec<RequestView>,
    /// Every agreement.
    pub agreements: Vec<AgreementView>,
}

pub(crate) fn sessions(list: &[Session]) -> Vec<String> {
    list.iter()
        .map(|s| format!("{} {}", s.date, s.part))
        .collect()
}

pub(crate) fn snake<T: std::fmt::Debug>(v: T) -> String {
    let mut out = String::new();
    for (i, c) in format!("{v:?}").chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

#[utoipa::path(get, path = "/aid", tag = "aid", responses((status = 200, description = "Requests with their offers; agreements and their status.", body = AidView), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
pub(crate) async fn aid(State(s): State<ApiState>) -> Result<Json<AidView>, ApiError> {
    let now = s.now();
    let view = s
        .node
        .query(move |r| aid_view(r.state().aid(), r.state().membership(), now))
        .await?;
    Ok(Json(view))
}

/// The aid board of a network's or a federation's aid, as `GET /aid` shows it.
pub(crate) fn aid_view(aid: &Aid, members: &Membership, now: u64) -> AidView {
    let board = Board::of(aid, members, now);
    AidView {
        requests: board
            .requests
            .iter()
            .map(|q| RequestView {
                id: q.id.to_string(),
                practice: q.practice.clone(),
                role: q.role.clone(),
                sessions: sessions(&q.sessions),
                urgency: q
                    .urgency
                    .as_str_name()
                    .trim_start_matches("URGENCY_")
                    .to_lowercase(),
                state: snake(q.state),
                outstanding: q.counts.outstanding,
                offers: aid
                    .request(&q.id)
                    .map(|rec| {
                        rec.offers
                            .iter()
                            .filter_map(|o| aid.offer(o))
                            .map(|o| (o.id.to_string(), o.practice.clone(), sessions(&o.sessions)))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect(),
        agreements: board
            .agreements
            .iter()
            .map(|a| AgreementView {
                id: a.id.to_string(),
                request: a.request.to_string(),
                requester: a.requester.clone(),
                offerer: a.offerer.clone(),
                sessions: sessions(&a.sessions),
                status: a.status.name().into(),
            })
            .collect(),
    }
}

/// `POST /aid`: an aid action this practice's node signs.
#[derive(Deserialize, Serialize, Debug, Clone, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum AidAction {
    /// Ask for help.
    Request {
        /// The role needed ("GP", "practice nurse").
        role: String,
        /// Sessions, each "YYYY-MM-DD AM|PM|HH:MM-HH:MM".
        sessions: Vec<String>,
        /// "routine", "soon" or "urgent".
        urgency: String,
        /// Free text.
        #[serde(default)]
        notes: String,
        /// Days until it lapses.
        days: u64,
        /// Files that go with it (their bytes are sent to the node once it is signed).
        #[serde(default)]
        papers: Vec<super::papers::PaperRef>,
    },
    /// Offer to cover some of a request's sessions.
    Offer {
        /// The request's id.
        request: String,
        /// The sessions offered (default: all of the request's).
        #[serde(default)]
        sessions: Vec<String>,
        /// Who will cover.
        role: String,
        /// Any terms.
        #[serde(default)]
        terms: String,
    },
    /// Accept an offer (the requester).
    Accept {
        /// The offer's id.
        offer: String,
        /// The sessions accepted (default: all offered).
        #[serde(default)]
        sessions: Vec<String>,
    },
    /// Countersign an acceptance of this practice's offer (the offerer).
    Countersign {
        /// The agreement (acceptance) id.
        agreement: String,
    },
    /// Cancel an agreement (either party).
    Cancel {
        /// The agreement id.
        agreement: String,
        /// Why.
        reason: String,
        /// Notice given, in hours.
        #[serde(default)]
        notice_hours: u64,
    },
    /// Record an agreement as fulfilled (the requester).
    Fulfil {
        /// The agreement id.
        agreement: String,
    },
    /// Withdraw a request (the requester).
    Withdraw {
        /// The request id.
        request: String,
        /// Why.
        #[serde(default)]
        reason: String,
    },
}

/// Sessions as people write them ("2026-12-01 AM"), each checked, none before today (UTC,
/// at `now`): aid is asked and offered for sessions to come.
pub(crate) fn parse_sessions(list: &[String], now: u64) -> Result<Vec<pb::Session>, ApiError> {
    let today = crate::dates::date_after(now, 0);
    list.iter()
        .map(|s| {
            let (date, part) = s.trim().split_once(' ').ok_or_else(|| {
                ApiError::bad(format!(
                    "{s:?}: a session is \"YYYY-MM-DD AM\" (or PM, or HH:MM-HH:MM)"
                ))
            })?;
            let pb_session = pb::Session {
                date: date.into(),
                part: part.trim().into(),
            };
            Session::parse(&pb_session).map_err(|e| ApiError::bad(format!("{s:?}: {e}")))?;
            if pb_session.date.as_str() < today.as_str() {
                return Err(ApiError::bad(format!(
                    "{s:?}: that day has passed (today is {today}); aid is for sessions to come"
                )));
            }
            Ok(pb_session)
        })
        .collect()
}

/// The aid body an action signs, checked against this node's state so that a mistaken
/// action is refused rather than signed and stored as a rejected event.
pub(crate) fn aid_body(
    aid: &Aid,
    members: &Membership,
    visibility: pb::Visibility,
    me: &PublicKey,
    a: AidAction,
    now: u64,
) -> Result<Body, ApiError> {
    // The practice the author acts for: a node's, or a partner's own.
    let mine = match members.holder(me) {
        Some(mutual_protocol::membership::Holder::Partner(id)) if members.is_active(me) => {
            members.partner(id).map(|p| p.partner.practice_ods.clone())
        }
        _ => members
            .practice_of_node(me)
            .map(|p| p.practice.ods_code.clone()),
    }
    .ok_or_else(|| {
        ApiError::refused("the author is not an active member practice's node or an active partner")
    })?;
    let agreement = |id: &str| {
        let id = parse_id(id)?;
        aid.agreement(&id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("no agreement {id} here")))
    };
    Ok(match a {
        AidAction::Request {
            role,
            sessions,
            urgency,
            notes,
            days,
            papers,
        } => {
            let urgency = match urgency.as_str() {
                "routine" => pb::Urgency::Routine,
                "soon" => pb::Urgency::Soon,
                "urgent" => pb::Urgency::Urgent,
                other => {
                    return Err(ApiError::bad(format!(
                        "urgency {other:?}: routine, soon or urgent"
                    )))
                }
            };
            if days == 0 || days > 365 {
                return Err(ApiError::bad("a request lasts 1 to 365 days"));
            }
            Body::AidRequest(pb::AidRequest {
                role,
                sessions: parse_sessions(&sessions, now)?,
                urgency: urgency as i32,
                requirements: Vec::new(),
                notes,
                expires_at_ms: now + days * 24 * 3_600_000,
                visibility: visibility as i32,
                papers: papers
                    .iter()
                    .map(super::papers::PaperRef::to_pb)
                    .collect::<Result<_, _>>()
                    .map_err(ApiError::bad)?,
            })
        }
        AidAction::Offer {
            request,
            sessions,
            role,
            terms,
        } => {
            let id = parse_id(&request)?;
            let req = aid
                .request(&id)
                .ok_or_else(|| ApiError::not_found(format!("no request {id} here")))?;
            if req.practice == mine {
                return Err(ApiError::refused(
                    "a practice cannot offer on its own request",
                ));
            }
            let sessions = if sessions.is_empty() {
                req.sessions.iter().map(Session::to_pb).collect()
            } else {
                parse_sessions(&sessions, now)?
            };
            Body::AidOffer(pb::AidOffer {
                request: id.as_bytes().to_vec(),
                sessions,
                role,
                terms,
            })
        }
        AidAction::Accept { offer, sessions } => {
            let id = parse_id(&offer)?;
            let off = aid
                .offer(&id)
                .ok_or_else(|| ApiError::not_found(format!("no offer {id} here")))?;
            let requester = aid.request(&off.request).map(|q| q.practice.clone());
            if requester.as_deref() != Some(mine.as_str()) {
                return Err(ApiError::refused(
                    "only the practice that made the request can accept an offer on it",
                ));
            }
            let sessions = if sessions.is_empty() {
                off.sessions.iter().map(Session::to_pb).collect()
            } else {
                parse_sessions(&sessions, now)?
            };
            Body::AidAcceptance(pb::AidAcceptance {
                offer: id.as_bytes().to_vec(),
                sessions,
            })
        }
        AidAction::Countersign { agreement: a } => {
            let ag = agreement(&a)?;
            if ag.offerer != mine {
                return Err(ApiError::refused(
                    "only the offering practice countersigns an agreement",
                ));
            }
            Body::AidCountersign(pb::AidCountersign {
                acceptance: ag.id.as_bytes().to_vec(),
            })
        }
        AidAction::Cancel {
            agreement: a,
            reason,
            notice_hours,
        } => {
            let ag = agreement(&a)?;
            if ag.offerer != mine && ag.requester != mine {
                return Err(ApiError::refused("only a party to an agreement cancels it"));
            }
            Body::AidCancel(pb::AidCancel {
                acceptance: ag.id.as_bytes().to_vec(),
                reason,
                notice_ms: notice_hours.saturating_mul(3_600_000),
            })
        }
        AidAction::Fulfil { agreement: a } => {
            let ag = agreement(&a)?;
            if ag.requester != mine {
                return Err(ApiError::refused(
                    "only the requesting practice records an agreement as fulfilled",
                ));
            }
            Body::AidFulfil(pb::AidFulfil {
                acceptance: ag.id.as_bytes().to_vec(),
            })
        }
        AidAction::Withdraw { request, reason } => {
            let id = parse_id(&request)?;
            let req = aid
                .request(&id)
                .ok_or_else(|| ApiError::not_found(format!("no request {id} here")))?;
            if req.practice != mine {
                return Err(ApiError::refused(
                    "only the requesting practice withdraws it",
                ));
            }
            Body::AidWithdraw(pb::AidWithdraw {
                request: id.as_bytes().to_vec(),
                reason,
            })
        }
    })
}

/// The body of `action` by `author` in the network's log, checked against the node's
/// state and in shape.
async fn network_aid_body(
    s: &ApiState,
    author: PublicKey,
    action: AidAction,
) -> Result<Body, ApiError> {
    let now = s.now();
    let body = s
        .node
        .query(move |r| {
            let st = r.state();
            aid_body(
                st.aid(),
                st.membership(),
                pb::Visibility::Network,
                &author,
                action,
                now,
            )
        })
        .await??;
    check_body(&body).map_err(|e| ApiError::bad(e.to_string()))?;
    Ok(body)
}

/// What `POST /aid/body` takes: an aid action for a partner to sign.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct AidBodyRequest {
    /// The partner's key (hex); they act for their own practice.
    pub author: String,
    /// The action.
    pub action: AidAction,
}

/// `POST /aid/body`: the body of an aid action by a partner (for `POST /prepare`), checked
/// against the node's state as `POST /aid` checks the node's own. Signs nothing.
#[utoipa::path(post, path = "/aid/body", tag = "aid", request_body = AidBodyRequest, responses((status = 200, description = "The aid body to sign elsewhere, checked against the state: an encoded Event holding only the body, in hex.", body = Object), (status = 422, description = "Refused by the rules before anything was signed; the message says why.", body = ErrorBody), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
pub(crate) async fn aid_body_route(
    State(s): State<ApiState>,
    Json(req): Json<AidBodyRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let author = super::common::parse_key(req.author.trim())?;
    let body = network_aid_body(&s, author, req.action).await?;
    Ok(Json(
        serde_json::json!({ "body": super::prepare::encode_body(&body) }),
    ))
}

#[utoipa::path(post, path = "/aid", tag = "aid", security(("token" = [])), request_body = AidAction, responses((status = 200, description = "The aid event, signed by this node.", body = Authored), (status = 401, description = "The API token is missing or wrong.", body = ErrorBody), (status = 422, description = "Refused by the rules before anything was signed; the message says why.", body = ErrorBody), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
pub(crate) async fn aid_action(
    _: Authorised,
    State(s): State<ApiState>,
    Json(action): Json<AidAction>,
) -> Result<Json<Authored>, ApiError> {
    let body = network_aid_body(&s, s.me, action).await?;
    let id = s.node.author(vec![body]).await?[0];
    let outcome = s
        .node
        .query(move |r| r.outcome(&id).map(|o| o.to_string()).unwrap_or_default())
        .await?;
    Ok(Json(Authored {
        id: id.to_string(),
        outcome,
    }))
}
