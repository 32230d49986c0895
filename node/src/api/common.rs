//! What every route of the local HTTP API shares: its state, its errors, the token check,
//! the host guard and the parsing of ids and keys.

use crate::clock_ms;
use crate::node::{self, NodeHandle};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mutual_protocol::id::EventId;
use mutual_protocol::keys::PublicKey;
use serde::{Deserialize, Serialize};

/// The API token's file name, inside the data directory.
pub const TOKEN_FILE: &str = "api-token";

/// Largest body the local API accepts, in bytes (one signed event and its framing).
pub const MAX_API_BODY_BYTES: usize = 128 * 1024;

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
    /// Whether the API is served over TLS (then requests may name the node by host name).
    pub tls: bool,
    /// Paper uploads being read now (`PUT /papers/{sha256}`).
    pub uploads: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// A test's switch, set by no command: `POST /prepare` then answers bytes whose ballot
    /// says the opposite of what was asked, or whose motion's vote ends a day later, as a
    /// compromised node would, so a test can show that the web page catches it before
    /// signing.
    pub tamper_prepare: bool,
    /// `/live` streams open now.
    pub live: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Whether the server is stopping: long-lived answers (`/live`) then end, so that a
    /// graceful shutdown does not wait for open pages.
    pub stopping: Stopping,
}

/// Tells long-lived answers that the server is stopping. The default never stops (a test's
/// server, dropped with its runtime).
#[derive(Clone)]
pub struct Stopping {
    rx: tokio::sync::watch::Receiver<bool>,
    _keep: Option<std::sync::Arc<tokio::sync::watch::Sender<bool>>>,
}

impl Stopping {
    /// A pair: `send(true)` on the sender stops every answer waiting on the receiver.
    pub fn new() -> (tokio::sync::watch::Sender<bool>, Stopping) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (tx, Stopping { rx, _keep: None })
    }

    /// Returns once the server is stopping (or its sender is gone).
    pub async fn wait(&mut self) {
        let _ = self.rx.wait_for(|stopping| *stopping).await;
    }
}

impl Default for Stopping {
    fn default() -> Self {
        let (tx, rx) = tokio::sync::watch::channel(false);
        Stopping {
            rx,
            _keep: Some(std::sync::Arc::new(tx)),
        }
    }
}

impl ApiState {
    pub(crate) fn now(&self) -> u64 {
        clock_ms(self.clock_offset_ms)
    }
}

/// Over plain HTTP, answers only requests addressed to an IP address or `localhost`: a web
/// page whose domain was rebound to 127.0.0.1 sends its own domain as `Host` and is
/// refused, so it cannot read the partnership's data through a browser on the same
/// machine. Over TLS a host name is fine: a browser checks the node's certificate against
/// the name it asked for, which a rebound domain does not match.
pub(crate) async fn host_guard(
    axum::extract::State(s): axum::extract::State<ApiState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if s.tls {
        return next.run(req).await;
    }
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

/// An error answer's body, as the OpenAPI document describes it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong and what to do, in words.
    pub error: String,
}

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
    pub(crate) fn internal(msg: impl Into<String>) -> Self {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, msg.into())
    }
    pub(crate) fn busy(msg: impl Into<String>) -> Self {
        ApiError(StatusCode::SERVICE_UNAVAILABLE, msg.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<mutual_protocol::replica::BodyError> for ApiError {
    fn from(e: mutual_protocol::replica::BodyError) -> Self {
        tracing::error!(error = %e, "a stored event cannot be read back from the store");
        ApiError::internal(format!(
            "{e}; the node's store needs attention (see its log)"
        ))
    }
}

impl From<mutual_protocol::replica::ArchiveError> for ApiError {
    fn from(e: mutual_protocol::replica::ArchiveError) -> Self {
        tracing::error!(error = %e, "a closed motion's ballots cannot be read back");
        ApiError::internal(format!(
            "{e}; the node's store needs attention (see its log)"
        ))
    }
}

/// Stored events in fold order, handed to `f`, until one cannot be read back: then why.
pub(crate) fn in_order<T>(
    r: &mutual_protocol::replica::Replica,
    f: impl FnOnce(&mut dyn Iterator<Item = mutual_protocol::event::SignedEvent>) -> T,
) -> Result<T, mutual_protocol::replica::BodyError> {
    let mut failed = None;
    let out = {
        let mut events = r
            .try_events_in_order()
            .map_while(|e| e.map_err(|x| failed = Some(x)).ok());
        f(&mut events)
    };
    match failed {
        Some(e) => Err(e),
        None => Ok(out),
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

pub(crate) fn authorise(s: &ApiState, headers: &HeaderMap) -> Result<(), ApiError> {
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

pub(crate) fn parse_id(s: &str) -> Result<EventId, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad(format!("{s:?} is not an event id (64 hex digits)")))
}

pub(crate) fn parse_key(s: &str) -> Result<PublicKey, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad(format!("{s:?} is not a key (64 hex digits)")))
}

/// The answer to an authored write.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Authored {
    /// The new event's id.
    pub id: String,
    /// Its outcome in the fold ("applied", or why it was rejected).
    pub outcome: String,
}
