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
pub use common::{ApiError, ApiState, Authored, Authorised, MAX_API_BODY_BYTES, TOKEN_FILE};
pub use deed::{Amendment, DeedView, TermView};
pub use events::{EventFilter, EventView, FeedView, MAX_EVENTS_PER_PAGE};
pub use invitations::{InviteRequest, InviteResponse, DEFAULT_INVITATION_MS, MIN_INVITATION_MS};
pub use members::{MemberView, PartnerView, PracticeRequest};
pub use motions::{MotionView, TallyView};
pub use papers::{PaperRef, PaperView, PapersView};
pub use prepare::{PrepareRequest, Prepared};

use crate::node::{self};
use aid::{aid, aid_action};
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use common::host_guard;
use events::{event, events, export_log, feed, submit};
use invitations::invite;
use members::members;
use motions::{motion, motions};

/// The router.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/", get(web::index))
        .route("/web/{*path}", get(web::asset))
        .route("/live", get(web::live))
        .route("/health", get(|| async { "ok\n" }))
        .route("/status", get(status))
        .route("/members", get(members))
        .route("/deed", get(deed::deed))
        .route("/deed/history", get(deed::deed_history))
        .route("/practice", post(members::practice))
        .route("/metrics", get(metrics))
        .route("/motions", get(motions))
        .route("/motions/{id}", get(motion))
        .route("/aid", get(aid))
        .route("/prepare", post(prepare::prepare_route))
        .route("/events", get(events).post(submit))
        .route("/events/{id}", get(event))
        .route("/feeds/{key}", get(feed))
        .route("/export", get(export_log))
        .route("/invitations", post(invite))
        .route("/aid", post(aid_action))
        .route("/aid/body", post(aid::aid_body_route))
        .route("/papers", get(papers::list))
        .route(
            "/papers/{sha256}",
            get(papers::get_paper).put(papers::put_paper).layer(
                axum::extract::DefaultBodyLimit::max(
                    mutual_protocol::limits::MAX_PAPER_BYTES as usize,
                ),
            ),
        )
        .merge(federations::routes())
        .layer(axum::extract::DefaultBodyLimit::max(MAX_API_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            host_guard,
        ))
        .with_state(state)
}

pub(crate) async fn status(State(s): State<ApiState>) -> Result<Json<node::Status>, ApiError> {
    Ok(Json(s.node.status().await?))
}

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
