//! The local HTTP API (axum), served on loopback by default. Reads are JSON and open to
//! anyone who can reach the address; writes need the bearer token kept in the data
//! directory. The routes are listed in README.md, "The local HTTP API".

use crate::daemon::TOKEN_FILE;
use crate::node::{self, NodeHandle};
use crate::{clock_ms, export, invite};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mutual_proto::v1 as pb;
use mutual_protocol::aid::board::Board;
use mutual_protocol::aid::session::Session;
use mutual_protocol::aid::Aid;
use mutual_protocol::event::{body_name, check_body, Body, SignedEvent};
use mutual_protocol::governance::motion::MotionRecord;
use mutual_protocol::governance::stv::Action;
use mutual_protocol::governance::tally::{Tally, Vote};
use mutual_protocol::governance::Finality;
use mutual_protocol::id::EventId;
use mutual_protocol::keys::PublicKey;
use mutual_protocol::limits::{MAX_INVITATION_MS, MAX_OPEN_INVITATIONS};
use mutual_protocol::membership::Membership;
use mutual_protocol::replica::Replica;
use serde::{Deserialize, Serialize};

/// Largest body the local API accepts, in bytes (one signed event and its framing).
pub const MAX_API_BODY_BYTES: usize = 128 * 1024;
/// Most events one `GET /events` returns.
pub const MAX_EVENTS_PER_PAGE: usize = 1_000;
/// Default length of an invitation made through the API: 7 days.
pub const DEFAULT_INVITATION_MS: u64 = 7 * 24 * 3_600_000;
/// Shortest invitation the API makes: one minute, so that the invitation cannot lapse
/// before its own event's timestamp.
pub const MIN_INVITATION_MS: u64 = 60_000;

/// What the API handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The node.
    pub node: NodeHandle,
    /// The node's key (the author of the events it signs).
    pub me: PublicKey,
    /// The bearer token writes need.
    pub token: String,
    /// The node's clock offset (`clock_offset_ms`), for reads that depend on local time.
    pub clock_offset_ms: i64,
}

impl ApiState {
    pub(crate) fn now(&self) -> u64 {
        clock_ms(self.clock_offset_ms)
    }
}

/// The router.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/status", get(status))
        .route("/members", get(members))
        .route("/metrics", get(metrics))
        .route("/motions", get(motions))
        .route("/motions/{id}", get(motion))
        .route("/aid", get(aid))
        .route("/events", get(events).post(submit))
        .route("/events/{id}", get(event))
        .route("/feeds/{key}", get(feed))
        .route("/export", get(export_log))
        .route("/invitations", post(invite))
        .route("/aid", post(aid_action))
        .merge(crate::fedapi::routes())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_API_BODY_BYTES))
        .layer(axum::middleware::from_fn(host_guard))
        .with_state(state)
}

/// Answers only requests addressed to an IP address or `localhost`: a web page whose
/// domain was rebound to 127.0.0.1 sends its own domain as `Host` and is refused, so it
/// cannot read the partnership's data through a browser on the same machine.
async fn host_guard(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    if name == "localhost" || name.parse::<std::net::IpAddr>().is_ok() {
        next.run(req).await
    } else {
        ApiError(
            StatusCode::FORBIDDEN,
            format!("requests must be addressed to an IP address or localhost, not {host:?}"),
        )
        .into_response()
    }
}

/// An error answer: a status and a message saying what to do.
pub struct ApiError(StatusCode, String);

impl ApiError {
    pub(crate) fn bad(msg: impl Into<String>) -> Self {
        ApiError(StatusCode::BAD_REQUEST, msg.into())
    }
    pub(crate) fn refused(msg: impl Into<String>) -> Self {
        ApiError(StatusCode::UNPROCESSABLE_ENTITY, msg.into())
    }
    pub(crate) fn not_found(msg: impl Into<String>) -> Self {
        ApiError(StatusCode::NOT_FOUND, msg.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<node::NodeError> for ApiError {
    fn from(e: node::NodeError) -> Self {
        let code = match e {
            node::NodeError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError(code, e.to_string())
    }
}

/// The token check every write takes as its first argument, so it runs before the body
/// is read: a request without the right token is refused whatever its body.
pub struct Authorised;

impl axum::extract::FromRequestParts<ApiState> for Authorised {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        s: &ApiState,
    ) -> Result<Self, ApiError> {
        authorise(s, &parts.headers).map(|()| Authorised)
    }
}

fn authorise(s: &ApiState, headers: &HeaderMap) -> Result<(), ApiError> {
    use sha2::{Digest, Sha256};
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Compared as digests, so the time taken says nothing about how much of it matched.
    if Sha256::digest(given.as_bytes()) != Sha256::digest(s.token.as_bytes()) {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            format!(
                "a write needs `Authorization: Bearer <token>`, the token in the data \
                 directory's {TOKEN_FILE}"
            ),
        ));
    }
    Ok(())
}

fn parse_id(s: &str) -> Result<EventId, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad(format!("{s:?} is not an event id (64 hex digits)")))
}

fn parse_key(s: &str) -> Result<PublicKey, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad(format!("{s:?} is not a key (64 hex digits)")))
}

async fn status(State(s): State<ApiState>) -> Result<Json<node::Status>, ApiError> {
    Ok(Json(s.node.status().await?))
}

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

fn role_name(r: i32) -> &'static str {
    match pb::PartnerRole::try_from(r) {
        Ok(pb::PartnerRole::Associate) => "associate",
        Ok(pb::PartnerRole::Managing) => "managing",
        _ => "partner",
    }
}

fn member_views(m: &Membership) -> Vec<MemberView> {
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

async fn members(State(s): State<ApiState>) -> Result<Json<Vec<MemberView>>, ApiError> {
    let list = s
        .node
        .query(|r| member_views(r.state().membership()))
        .await?;
    Ok(Json(list))
}

async fn metrics(State(s): State<ApiState>) -> Result<String, ApiError> {
    let st = s.node.status().await?;
    let m = &st.metrics;
    let mut out = String::new();
    let mut line = |name: &str, kind: &str, help: &str, v: u64| {
        out.push_str(&format!(
            "# HELP mutual_{name} {help}\n# TYPE mutual_{name} {kind}\nmutual_{name} {v}\n"
        ));
    };
    line("events", "gauge", "Events stored.", st.events as u64);
    line(
        "pending_events",
        "gauge",
        "Events waiting for causes.",
        st.pending as u64,
    );
    line("peers", "gauge", "Connected peers.", st.peers.len() as u64);
    line(
        "quarantined_events",
        "gauge",
        "Events by keys the network does not know, kept apart.",
        st.quarantined as u64,
    );
    for (name, help, v) in [
        (
            "sync_bytes_in_total",
            "Bytes of sync responses received.",
            m.sync_bytes_in,
        ),
        (
            "sync_bytes_out_total",
            "Bytes of sync responses sent.",
            m.sync_bytes_out,
        ),
        (
            "gossip_bytes_in_total",
            "Bytes of gossip received.",
            m.gossip_bytes_in,
        ),
        ("sync_rounds_total", "Sync rounds started.", m.sync_rounds),
        (
            "invalid_events_total",
            "Invalid events received.",
            m.invalid_events,
        ),
        ("bans_total", "Peers banned.", m.bans),
        (
            "connections_refused_total",
            "Connections refused by the gate.",
            m.connections_refused,
        ),
        (
            "events_authored_total",
            "Events this node signed.",
            m.events_authored,
        ),
        (
            "events_received_total",
            "Events taken in from peers.",
            m.events_received,
        ),
        (
            "evidence_refused_total",
            "Events by unknown keys dropped at the quarantine's caps.",
            m.evidence_refused,
        ),
        (
            "malformed_messages_total",
            "Malformed or oversized messages received.",
            m.malformed_messages,
        ),
        (
            "rate_limited_total",
            "Requests refused for exceeding the rate limit.",
            m.rate_limited,
        ),
    ] {
        line(name, "counter", help, v);
    }
    Ok(out)
}

/// A motion's tally, explained.
#[derive(Serialize, Deserialize)]
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
    /// Ballots no other practice has witnessed: before the close, counted above but
    /// would not count if the motion closed now; once closed, ballots that did not count
    /// (docs/GOVERNANCE.md §5.5).
    #[serde(default)]
    pub unwitnessed: u32,
}

/// A motion, as `GET /motions` and `GET /motions/{id}` show it.
#[derive(Serialize, Deserialize)]
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
    /// The tally so far.
    pub tally: TallyView,
    /// The ballots that count: partner name and vote.
    pub ballots: Vec<(String, String)>,
}

fn partner_name(m: &Membership, id: &PublicKey) -> String {
    m.partner(id)
        .map(|p| p.partner.name.clone())
        .unwrap_or_else(|| id.to_string())
}

fn kind_name(k: pb::DecisionKind) -> String {
    k.as_str_name()
        .trim_start_matches("DECISION_KIND_")
        .to_lowercase()
}

fn tally_view(m: &Membership, rec: &MotionRecord, t: &Tally) -> TallyView {
    let name_of = |i: usize| {
        rec.candidates
            .get(i)
            .map(|c| partner_name(m, c))
            .unwrap_or_else(|| format!("candidate {i}"))
    };
    let rounds = t
        .stv
        .iter()
        .flat_map(|c| c.rounds.iter())
        .enumerate()
        .map(|(n, r)| {
            let what = match &r.action {
                Action::Elected { candidate, surplus } => {
                    format!("{} elected (surplus {surplus})", name_of(*candidate))
                }
                Action::Excluded { candidate } => format!("{} excluded", name_of(*candidate)),
                Action::ElectedRemaining { candidates } => format!(
                    "{} elected to the remaining seats",
                    candidates
                        .iter()
                        .map(|&c| name_of(c))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            format!("round {}: totals {:?}; {what}", n + 1, r.totals)
        })
        .collect();
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
        unwitnessed: t.unwitnessed,
    }
}

fn motion_view(r: &Replica, rec: &MotionRecord, now: u64) -> MotionView {
    let state = r.state();
    let m = state.membership();
    let report = state.governance().report(&rec.id, now);
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
    MotionView {
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
        tally: tally_view(m, rec, &tally),
        // The ballots the tally shown counts: every valid one while open, the witnessed
        // ones once closed.
        ballots: if rec.closed.is_some() {
            &rec.votes
        } else {
            &rec.seen
        }
        .ballots
        .iter()
        .map(|(p, (_, v))| {
            let vote = match v {
                Vote::For => "for".to_string(),
                Vote::Against => "against".to_string(),
                Vote::Abstain => "abstain".to_string(),
                Vote::Ranking(r) => format!("ranking {r:?}"),
            };
            (partner_name(m, p), vote)
        })
        .collect(),
    }
}

async fn motions(State(s): State<ApiState>) -> Result<Json<Vec<MotionView>>, ApiError> {
    let now = s.now();
    let list = s
        .node
        .query(move |r| {
            r.state()
                .governance()
                .motions()
                .map(|rec| motion_view(r, rec, now))
                .collect()
        })
        .await?;
    Ok(Json(list))
}

async fn motion(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<MotionView>, ApiError> {
    let id = parse_id(&id)?;
    let now = s.now();
    s.node
        .query(move |r| {
            r.state()
                .governance()
                .motion(&id)
                .map(|rec| motion_view(r, rec, now))
        })
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no motion {id} has taken effect here")))
}

/// An aid request, as `GET /aid` shows it.
#[derive(Serialize, Deserialize)]
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
#[derive(Serialize, Deserialize)]
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
#[derive(Serialize, Deserialize)]
pub struct AidView {
    /// Every request.
    pub requests: Vec<RequestView>,
    /// Every agreement.
    pub agreements: Vec<AgreementView>,
}

fn sessions(list: &[Session]) -> Vec<String> {
    list.iter()
        .map(|s| format!("{} {}", s.date, s.part))
        .collect()
}

fn snake<T: std::fmt::Debug>(v: T) -> String {
    let mut out = String::new();
    for (i, c) in format!("{v:?}").chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

async fn aid(State(s): State<ApiState>) -> Result<Json<AidView>, ApiError> {
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

/// Filters for `GET /events`.
#[derive(Deserialize, Default)]
pub struct EventFilter {
    /// Only events by this key (hex).
    pub author: Option<String>,
    /// Only this body type (`motion`, `ballot`, `aid_request`, ...).
    pub kind: Option<String>,
    /// Skip this many matching events (in fold order).
    #[serde(default)]
    pub skip: usize,
    /// At most this many (default and cap: [`MAX_EVENTS_PER_PAGE`]).
    pub limit: Option<usize>,
}

/// One event, as `GET /events` lists it.
#[derive(Serialize, Deserialize)]
pub struct EventView {
    /// Its id.
    pub id: String,
    /// Its author's key.
    pub author: String,
    /// Who that is ("practice X12345", "partner Dr A", or "unknown").
    pub who: String,
    /// Its seq in the author's feed.
    pub seq: u64,
    /// Its timestamp (ms since the epoch).
    pub timestamp_ms: u64,
    /// Its body type.
    pub kind: String,
    /// What it did ("applied", "rejected: ...").
    pub outcome: String,
}

fn who(m: &Membership, key: &PublicKey) -> String {
    use mutual_protocol::membership::Holder;
    match m.holder(key) {
        Some(Holder::Practice(ods)) => format!("practice {ods}"),
        Some(Holder::Partner(id)) => format!("partner {}", partner_name(m, id)),
        None => m
            .partner(key)
            .map(|p| format!("partner {} (former key)", p.partner.name))
            .unwrap_or_else(|| "not a current key".into()),
    }
}

fn event_view(r: &Replica, e: &SignedEvent) -> EventView {
    EventView {
        id: e.id.to_string(),
        author: e.event.author.to_string(),
        who: who(r.state().membership(), &e.event.author),
        seq: e.event.seq,
        timestamp_ms: e.event.timestamp_ms,
        kind: e
            .event
            .body
            .as_ref()
            .map(body_name)
            .unwrap_or("none")
            .into(),
        outcome: r.outcome(&e.id).map(|o| o.to_string()).unwrap_or_default(),
    }
}

async fn event(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<EventView>, ApiError> {
    let id = parse_id(&id)?;
    s.node
        .query(move |r| r.get(&id).map(|e| event_view(r, e)))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no event {id} is stored here")))
}

async fn events(
    State(s): State<ApiState>,
    Query(f): Query<EventFilter>,
) -> Result<Json<Vec<EventView>>, ApiError> {
    let author = f.author.as_deref().map(parse_key).transpose()?;
    let limit = f.limit.unwrap_or(MAX_EVENTS_PER_PAGE);
    if limit > MAX_EVENTS_PER_PAGE {
        return Err(ApiError::bad(format!(
            "limit may be at most {MAX_EVENTS_PER_PAGE}"
        )));
    }
    let list = s
        .node
        .query(move |r| {
            r.events_in_order()
                .filter(|e| author.is_none_or(|a| e.event.author == a))
                .filter(|e| {
                    f.kind
                        .as_deref()
                        .is_none_or(|k| e.event.body.as_ref().map(body_name) == Some(k))
                })
                .skip(f.skip)
                .take(limit)
                .map(|e| event_view(r, e))
                .collect()
        })
        .await?;
    Ok(Json(list))
}

/// `GET /feeds/{key}`: where a key's feed stands, for signing its next event elsewhere.
#[derive(Serialize, Deserialize)]
pub struct FeedView {
    /// The last seq (0 for an empty feed).
    pub seq: u64,
    /// The last event's id (absent for an empty feed).
    pub head: Option<String>,
    /// The last event's timestamp (0 for an empty feed).
    pub timestamp_ms: u64,
    /// Whether the key is forked.
    pub forked: bool,
    /// The node's current heads (events nothing else cites yet): an event signed
    /// elsewhere cites them so that it follows everything the node knows, such as the
    /// rotation that made its key a member's.
    pub heads: Vec<String>,
    /// The latest timestamp among `heads` (an event citing them may not be dated earlier).
    pub heads_timestamp_ms: u64,
}

fn latest_head_timestamp(r: &Replica) -> u64 {
    r.heads()
        .iter()
        .filter_map(|h| r.get(h))
        .map(|e| e.event.timestamp_ms)
        .max()
        .unwrap_or(0)
}

async fn feed(
    State(s): State<ApiState>,
    Path(key): Path<String>,
) -> Result<Json<FeedView>, ApiError> {
    let key = parse_key(&key)?;
    let view = s
        .node
        .query(move |r| {
            let head = r.feed_head(&key);
            FeedView {
                seq: head.map_or(0, |h| h.0),
                head: head.map(|h| h.1.to_string()),
                timestamp_ms: head
                    .and_then(|h| r.get(&h.1))
                    .map_or(0, |e| e.event.timestamp_ms),
                forked: r.forks().contains_key(&key),
                heads: r.heads().iter().map(|h| h.to_string()).collect(),
                heads_timestamp_ms: latest_head_timestamp(r),
            }
        })
        .await?;
    Ok(Json(view))
}

async fn export_log(State(s): State<ApiState>) -> Result<Response, ApiError> {
    let bytes = s.node.query(|r| export::write(r.events_in_order())).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// Checks a partner-signed event before it is taken in, so that an event by a key that
/// no longer (or never did) speak for an active member, or a ballot on a motion whose
/// voting has closed, is refused at the door rather than stored as evidence.
fn precheck(r: &Replica, ev: &SignedEvent, now: u64) -> Result<(), String> {
    let m = r.state().membership();
    if r.state().is_founded() && !m.is_active(&ev.event.author) {
        return Err(if m.is_retired(&ev.event.author) {
            format!(
                "key {} was rotated or revoked and no longer signs for anyone",
                ev.event.author
            )
        } else {
            format!("key {} is not an active member's key here", ev.event.author)
        });
    }
    if let Some(Body::Ballot(b)) = &ev.event.body {
        let Some(id) = EventId::from_slice(&b.motion) else {
            return Ok(());
        };
        match r.state().governance().motion(&id) {
            None => return Err(format!("no motion {id} has taken effect on this node")),
            Some(rec) if rec.closed.is_some() || now > rec.closes_at_ms => {
                return Err(format!(
                    "voting on motion {id} ({:?}) closed at {} ms; ballots are no longer \
                     accepted",
                    rec.motion.title, rec.closes_at_ms
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

async fn submit(
    _: Authorised,
    State(s): State<ApiState>,
    body: axum::body::Bytes,
) -> Result<Json<node::Submitted>, ApiError> {
    let ev = SignedEvent::decode(&body)
        .map_err(|e| ApiError::bad(format!("not a valid signed event: {e}")))?;
    let now = s.now();
    s.node
        .query(move |r| precheck(r, &ev, now))
        .await?
        .map_err(ApiError::refused)?;
    Ok(Json(s.node.submit(body.to_vec()).await?))
}

/// `POST /invitations`.
#[derive(Deserialize)]
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
#[derive(Serialize, Deserialize)]
pub struct InviteResponse {
    /// The invitation event's id.
    pub id: String,
    /// The one-line invite.
    pub invite: String,
    /// When it lapses (ms since the epoch).
    pub expires_ms: u64,
}

async fn invite(
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
        .query(move |r| {
            (
                r.get(&id).map(SignedEvent::to_wire),
                r.outcome(&id).map(|o| o.to_string()),
            )
        })
        .await?;
    let wire = wire.ok_or_else(|| ApiError::refused("the invitation was not stored"))?;
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

/// `POST /aid`: an aid action this practice's node signs.
#[derive(Deserialize, Serialize, Debug, Clone)]
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

fn parse_sessions(list: &[String]) -> Result<Vec<pb::Session>, ApiError> {
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
    let mine = members
        .practice_of_node(me)
        .map(|p| p.practice.ods_code.clone())
        .ok_or_else(|| {
            ApiError::refused("this node is not (yet) an active member practice's node")
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
                sessions: parse_sessions(&sessions)?,
                urgency: urgency as i32,
                requirements: Vec::new(),
                notes,
                expires_at_ms: now + days * 24 * 3_600_000,
                visibility: visibility as i32,
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
                parse_sessions(&sessions)?
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
                parse_sessions(&sessions)?
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

/// The answer to an authored write.
#[derive(Serialize, Deserialize)]
pub struct Authored {
    /// The new event's id.
    pub id: String,
    /// Its outcome in the fold ("applied", or why it was rejected).
    pub outcome: String,
}

async fn aid_action(
    _: Authorised,
    State(s): State<ApiState>,
    Json(action): Json<AidAction>,
) -> Result<Json<Authored>, ApiError> {
    let now = s.now();
    let me = s.me;
    let body = s
        .node
        .query(move |r| {
            let st = r.state();
            aid_body(
                st.aid(),
                st.membership(),
                pb::Visibility::Network,
                &me,
                action,
                now,
            )
        })
        .await??;
    check_body(&body).map_err(|e| ApiError::bad(e.to_string()))?;
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
