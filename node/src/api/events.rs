//! `GET /events`, `GET /events/{id}`, `POST /events`, `GET /feeds/{key}`, `GET /export`:
//! the signed log, and events signed elsewhere (by partners) handed to the node.

use super::common::{authorise, in_order, parse_id, parse_key, ApiError, ApiState, ErrorBody};
use super::motions::partner_name;
use crate::export;
use crate::node::{self};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use mutual_protocol::event::{body_name, Body, SignedEvent};
use mutual_protocol::id::EventId;
use mutual_protocol::keys::PublicKey;
use mutual_protocol::membership::Membership;
use mutual_protocol::replica::Replica;
use serde::{Deserialize, Serialize};

/// Most events one `GET /events` returns.
pub const MAX_EVENTS_PER_PAGE: usize = 1_000;

/// Longest text `GET /events?q=` searches for, in bytes.
pub const MAX_SEARCH_BYTES: usize = 200;

/// Filters for `GET /events`.
#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventFilter {
    /// Only events by this key (hex).
    pub author: Option<String>,
    /// Only this body type (`motion`, `ballot`, `aid_request`, ...).
    pub kind: Option<String>,
    /// Only events whose author's name, kind, outcome, id or author's key contains this
    /// text, whatever its case, an underscore read as a space (at most
    /// [`MAX_SEARCH_BYTES`]): a search of the whole log.
    pub q: Option<String>,
    /// Skip this many matching events (in fold order).
    #[serde(default)]
    pub skip: usize,
    /// At most this many (default and cap: [`MAX_EVENTS_PER_PAGE`]).
    pub limit: Option<usize>,
}

/// One event, as `GET /events` lists it.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
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

/// A text as a search compares it: lower case, an underscore read as a space (a kind is
/// `aid_request` in the API and "aid request" on the page).
fn folded(text: &str) -> String {
    text.to_lowercase().replace('_', " ")
}

impl EventView {
    /// Whether its author's name, kind, outcome, id or author's key contains `q`, a
    /// [`folded`] text.
    fn mentions(&self, q: &str) -> bool {
        // Ids and keys are lower-case hex already.
        self.id.contains(q)
            || self.author.contains(q)
            || [&self.who, &self.kind, &self.outcome]
                .iter()
                .any(|field| folded(field).contains(q))
    }
}

pub(crate) fn who(m: &Membership, key: &PublicKey) -> String {
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

pub(crate) fn event_view(r: &Replica, e: &SignedEvent) -> EventView {
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

#[utoipa::path(get, path = "/events/{id}", tag = "events", params(("id" = String, Path, description = "The event id, or a unique prefix of it.")), responses((status = 200, description = "One event.", body = EventView), (status = 404, description = "Not found.", body = ErrorBody), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
pub(crate) async fn event(
    State(s): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<EventView>, ApiError> {
    let id = parse_id(&id)?;
    s.node
        .query(move |r| r.load(&id).map(|e| e.map(|e| event_view(r, &e))))
        .await??
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no event {id} is stored here")))
}

#[utoipa::path(get, path = "/events", tag = "events", params(EventFilter), responses((status = 200, description = "The log in fold order, with outcomes.", body = Vec<EventView>), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 500, description = "The store cannot read back a stored event; the message says which.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
pub(crate) async fn events(
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
    let q = f.q.as_deref().map(str::trim).unwrap_or_default();
    if q.len() > MAX_SEARCH_BYTES {
        return Err(ApiError::bad(format!(
            "the search text may be at most {MAX_SEARCH_BYTES} bytes"
        )));
    }
    let q = folded(q);
    let list = s
        .node
        .query(move |r| {
            in_order(r, |events| {
                let chosen = events
                    .filter(|e| author.is_none_or(|a| e.event.author == a))
                    .filter(|e| {
                        f.kind
                            .as_deref()
                            .is_none_or(|k| e.event.body.as_ref().map(body_name) == Some(k))
                    });
                if q.is_empty() {
                    // Skipped events are never viewed.
                    chosen
                        .skip(f.skip)
                        .take(limit)
                        .map(|e| event_view(r, &e))
                        .collect()
                } else {
                    chosen
                        .map(|e| event_view(r, &e))
                        .filter(|v| v.mentions(&q))
                        .skip(f.skip)
                        .take(limit)
                        .collect()
                }
            })
        })
        .await??;
    Ok(Json(list))
}

/// `GET /feeds/{key}`: where a key's feed stands, for signing its next event elsewhere.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
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

pub(crate) fn latest_head_timestamp(r: &Replica) -> u64 {
    r.heads()
        .iter()
        .filter_map(|h| r.timestamp_of(h))
        .max()
        .unwrap_or(0)
}

#[utoipa::path(get, path = "/feeds/{key}", tag = "events", params(("key" = String, Path, description = "A key (64 hex digits).")), responses((status = 200, description = "The key's feed head, for signing elsewhere.", body = FeedView), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
pub(crate) async fn feed(
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
                timestamp_ms: head.and_then(|h| r.timestamp_of(&h.1)).unwrap_or(0),
                forked: r.forks().contains_key(&key),
                heads: r.heads().iter().map(|h| h.to_string()).collect(),
                heads_timestamp_ms: latest_head_timestamp(r),
            }
        })
        .await?;
    Ok(Json(view))
}

#[utoipa::path(get, path = "/export", tag = "events", responses((status = 200, description = "The signed log in the export format (docs/PROTOCOL.md).", body = Vec<u8>, content_type = "application/octet-stream"), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 500, description = "The store cannot read back a stored event; the message says which.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
pub(crate) async fn export_log(State(s): State<ApiState>) -> Result<Response, ApiError> {
    let bytes = s
        .node
        .query(|r| in_order(r, |events| export::write(events)))
        .await??;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// Whether `author` may sign an event with `body` here: an active member's key, or a
/// pending partner's (admitted, not yet acceded) for their accession; else why not.
pub(crate) fn may_sign(r: &Replica, author: &PublicKey, body: Option<&Body>) -> Result<(), String> {
    let m = r.state().membership();
    if !r.state().is_founded() || m.is_active(author) {
        return Ok(());
    }
    if m.is_pending(author) {
        return match body {
            Some(Body::Accession(_)) => Ok(()),
            _ => Err(format!(
                "key {author} is a partner's who has not yet signed the partnership's \
                 agreement: sign it first (`mutual partner accede --agreement FILE`)"
            )),
        };
    }
    Err(if m.is_retired(author) {
        format!("key {author} was rotated or revoked and no longer signs for anyone")
    } else {
        format!("key {author} is not an active member's key here")
    })
}

/// Checks a partner-signed event before it is taken in, so that an event by a key that
/// no longer (or never did) speak for an active member, or a ballot on a motion whose
/// voting has closed, is refused at the door rather than stored as evidence.
pub(crate) fn precheck(r: &Replica, ev: &SignedEvent, now: u64) -> Result<(), String> {
    may_sign(r, &ev.event.author, ev.event.body.as_ref())?;
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

/// Takes in an event signed elsewhere. An event by a partner's key needs no token: its
/// signature is the authority, checked with the rest before anything is stored. Any other
/// author's needs the token.
#[utoipa::path(post, path = "/events", tag = "events", request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "An encoded SignedEvent."), responses((status = 200, description = "Taken in.", body = crate::node::Submitted), (status = 401, description = "The API token is missing or wrong.", body = ErrorBody), (status = 422, description = "Refused by the rules before anything was signed; the message says why.", body = ErrorBody), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
pub(crate) async fn submit(
    State(s): State<ApiState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<node::Submitted>, ApiError> {
    let ev = SignedEvent::decode(&body)
        .map_err(|e| ApiError::bad(format!("not a valid signed event: {e}")))?;
    let author = ev.event.author;
    let partner = s
        .node
        .query(move |r| {
            matches!(
                r.state().membership().holder(&author),
                Some(mutual_protocol::membership::Holder::Partner(_))
            )
        })
        .await?;
    if !partner {
        authorise(&s, &headers)?;
    }
    let now = s.now();
    s.node
        .query(move |r| precheck(r, &ev, now))
        .await?
        .map_err(ApiError::refused)?;
    Ok(Json(s.node.submit(body.to_vec()).await?))
}
