//! The local HTTP API (axum), served on loopback by default. Reads are JSON and open to
//! anyone who can reach the address; writes need the bearer token kept in the data
//! directory. The routes are listed in README.md, "The local HTTP API".
//!
//! One file per resource: [`members`], [`motions`], [`aid`], [`events`],
//! [`invitations`], [`federations`], [`deed`], [`papers`]; the partners' web page and its
//! live updates in [`web`]; what they share is in [`common`].

pub mod aid;
pub mod common;
pub mod deed;
pub mod events;
pub mod federations;
pub mod invitations;
pub mod members;
pub mod motions;
pub mod papers;
pub mod prepare;
pub mod web;

pub use aid::{AgreementView, AidAction, AidBodyRequest, AidView, RequestView};
pub use common::{
    ApiError, ApiState, Authored, Authorised, ErrorBody, Stopping, MAX_API_BODY_BYTES, TOKEN_FILE,
};
pub use deed::{Amendment, DeedView, TermView};
pub use events::{EventFilter, EventView, FeedView, MAX_EVENTS_PER_PAGE};
pub use invitations::{InviteRequest, InviteResponse, DEFAULT_INVITATION_MS, MIN_INVITATION_MS};
pub use members::{MemberView, PartnerView, PracticeRequest};
pub use motions::{MotionView, TallyView};
pub use papers::{PaperRef, PaperView, PapersView};
pub use prepare::{PrepareRequest, Prepared};

use crate::node::{self};
use axum::extract::State;
use axum::{Json, Router};
use common::host_guard;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every route, each with its OpenAPI description from its handler's `#[utoipa::path]`:
/// the router and the document are made from this one list, so neither can name a route
/// the other lacks.
fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(web::index))
        .routes(routes!(web::asset))
        .routes(routes!(web::vendored))
        .routes(routes!(web::live))
        .routes(routes!(health))
        .routes(routes!(openapi_json))
        .routes(routes!(status))
        .routes(routes!(metrics))
        .routes(routes!(members::members))
        .routes(routes!(members::practice))
        .routes(routes!(deed::deed))
        .routes(routes!(deed::deed_history))
        .routes(routes!(motions::motions))
        .routes(routes!(motions::motion))
        .routes(routes!(aid::aid, aid::aid_action))
        .routes(routes!(aid::aid_body_route))
        .routes(routes!(prepare::prepare_route))
        .routes(routes!(events::events, events::submit))
        .routes(routes!(events::event))
        .routes(routes!(events::feed))
        .routes(routes!(events::export_log))
        .routes(routes!(invitations::invite))
        .routes(routes!(papers::list))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(papers::get_paper, papers::put_paper))
                .layer(axum::extract::DefaultBodyLimit::max(
                    mutual_protocol::limits::MAX_PAPER_BYTES as usize,
                )),
        )
        .merge(federations::routes())
}

/// The OpenAPI document of the whole API, as `GET /openapi.json` serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

/// The router.
pub fn router(state: ApiState) -> Router {
    let (router, _) = routes().split_for_parts();
    router
        .fallback(no_route)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_API_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            host_guard,
        ))
        .with_state(state)
}

/// What the API says of a path it does not serve.
async fn no_route(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!(
        "no route {method} {}: the routes are listed in /openapi.json",
        uri.path()
    ))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Mutual node API",
        description = "A Mutual node's HTTP API (README.md, \"The local HTTP API\"). Reads \
            are open to whoever can reach the address; writes by the node need the bearer \
            token kept in the data directory's `api-token`. A partner's signed events \
            (`POST /events`) need no token: the signature is the authority."
    ),
    modifiers(&BearerToken),
    tags(
        (name = "node", description = "The node's state and this document."),
        (name = "members", description = "Practices and partners."),
        (name = "deed", description = "The partnership's rules."),
        (name = "motions", description = "Motions, their tallies and ballots."),
        (name = "events", description = "The signed log: reading it, preparing and submitting events."),
        (name = "aid", description = "Mutual aid between practices."),
        (name = "papers", description = "Files that events name by hash."),
        (name = "federations", description = "Links between partnerships."),
        (name = "page", description = "The partners' web page and its live updates."),
    )
)]
struct ApiDoc;

/// Declares the bearer token writes need.
struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "token",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

#[utoipa::path(get, path = "/health", tag = "node", responses((status = 200, description = "The node answers.", body = String, content_type = "text/plain")))]
pub(crate) async fn health() -> &'static str {
    "ok\n"
}

#[utoipa::path(get, path = "/openapi.json", tag = "node", responses((status = 200, description = "This document (OpenAPI 3.1).", body = Object)))]
pub(crate) async fn openapi_json() -> axum::response::Response {
    use axum::response::IntoResponse;
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let doc = DOC.get_or_init(|| openapi().to_pretty_json().unwrap_or_default());
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        doc.as_str(),
    )
        .into_response()
}

#[utoipa::path(get, path = "/status", tag = "node", responses((status = 200, description = "Peers, events, state hash, traffic counters.", body = crate::node::Status), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
pub(crate) async fn status(State(s): State<ApiState>) -> Result<Json<node::Status>, ApiError> {
    Ok(Json(s.node.status().await?))
}

#[utoipa::path(get, path = "/metrics", tag = "node", responses((status = 200, description = "Prometheus text format.", body = String, content_type = "text/plain"), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
pub(crate) async fn metrics(State(s): State<ApiState>) -> Result<String, ApiError> {
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
        "papers_missing",
        "gauge",
        "Papers the log names that this node does not hold yet.",
        (st.papers_named - st.papers_held) as u64,
    );
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
        (
            "transport_bytes_in_total",
            "Bytes read on libp2p connections, every protocol together.",
            m.transport_bytes_in,
        ),
        (
            "transport_bytes_out_total",
            "Bytes written on libp2p connections, every protocol together.",
            m.transport_bytes_out,
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
        (
            "papers_fetched_total",
            "Papers fetched from peers and checked.",
            m.papers_fetched,
        ),
        (
            "papers_rejected_total",
            "Papers from peers whose bytes did not match their hash.",
            m.papers_rejected,
        ),
        (
            "papers_refused_total",
            "Paper requests refused to nodes outside the network.",
            m.papers_refused,
        ),
    ] {
        line(name, "counter", help, v);
    }
    Ok(out)
}
