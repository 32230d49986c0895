//! `/papers`: the files events name (docs/PROTOCOL.md §8.13, docs/NETWORK.md §10).
//! `GET /papers` lists them with whether this node holds each; `GET /papers/{sha256}`
//! (or a prefix of it) serves one as a download, never as a page; `PUT /papers/{sha256}`
//! takes a paper's bytes from a partner's client once an event naming them is stored.
//! Like `POST /events`, the upload needs no token: the bytes are accepted only if an event
//! signed by a member names exactly them, and everything that can be refused is refused
//! before the body is read.

use super::common::{ApiError, ApiState, ErrorBody};
use crate::core::papers::{hex_of, PaperHash, Papers, Wanted};
use crate::core::PaperStored;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mutual_proto::v1 as pb;
use mutual_protocol::limits::MAX_PAPER_BYTES;
use mutual_protocol::replica::Replica;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A paper as an API client names it when it builds an event: what `pb::Paper` carries.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct PaperRef {
    /// The file's name.
    pub name: String,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// Its length in bytes.
    pub size: u64,
    /// Its media type, if known.
    #[serde(default)]
    pub media_type: String,
}

impl PaperRef {
    /// The paper as the event carries it.
    pub fn to_pb(&self) -> Result<pb::Paper, String> {
        let sha256 = hex::decode(self.sha256.trim())
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| format!("{}: sha256 is not 64 hex digits", self.name))?;
        Ok(pb::Paper {
            name: self.name.clone(),
            sha256,
            size: self.size,
            media_type: self.media_type.clone(),
        })
    }
}

/// A paper an event names, and whether this node holds it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
pub struct PaperView {
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// Its name as signed.
    pub name: String,
    /// Its size as signed (absent for an agreement named only by its hash).
    pub size: Option<u64>,
    /// Its media type as signed.
    pub media_type: String,
    /// Whether this node holds its bytes (checked against the hash).
    pub held: bool,
    /// The events that name it.
    pub events: Vec<String>,
}

/// What `GET /papers` answers.
#[derive(Serialize, Deserialize, Debug, Clone, utoipa::ToSchema)]
pub struct PapersView {
    /// Papers the log names.
    pub named: usize,
    /// Of those, held here.
    pub held: usize,
    /// Being fetched from peers now.
    pub fetching: usize,
    /// Bytes of papers held.
    pub bytes_held: u64,
    /// Bytes of papers the node's store may still take (absent from a node that does
    /// not say).
    #[serde(default)]
    pub room: Option<u64>,
    /// Every paper, in hash order.
    pub papers: Vec<PaperView>,
}

fn view(hash: &PaperHash, w: &Wanted, p: &Papers) -> PaperView {
    PaperView {
        sha256: hex_of(hash),
        name: w.name.clone(),
        size: w.size,
        media_type: w.media_type.clone(),
        held: p.held().contains_key(hash),
        events: w.events.iter().map(|e| e.to_string()).collect(),
    }
}

/// The papers named by `pb_papers` (one event's), as this node holds them.
pub(crate) fn papers_of(pb_papers: &[pb::Paper], p: &Papers) -> Vec<PaperView> {
    pb_papers
        .iter()
        .map(|x| PaperView {
            sha256: hex::encode(&x.sha256),
            name: x.name.clone(),
            size: Some(x.size),
            media_type: x.media_type.clone(),
            held: <PaperHash>::try_from(x.sha256.as_slice())
                .is_ok_and(|h| p.held().contains_key(&h)),
            events: Vec::new(),
        })
        .collect()
}

pub(crate) fn papers_view(r: &Replica, p: &Papers) -> PapersView {
    let wanted = crate::core::papers::wanted_by(r);
    let papers: Vec<PaperView> = wanted.iter().map(|(h, w)| view(h, w, p)).collect();
    PapersView {
        named: papers.len(),
        held: papers.iter().filter(|v| v.held).count(),
        fetching: p.fetching(),
        bytes_held: p.bytes_held(),
        room: Some(p.room()),
        papers,
    }
}

#[utoipa::path(get, path = "/papers", tag = "papers", responses((status = 200, description = "Every paper the log names, and whether this node holds it.", body = PapersView), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
pub(crate) async fn list(State(s): State<ApiState>) -> Result<Json<PapersView>, ApiError> {
    Ok(Json(s.node.query_papers(papers_view).await?))
}

/// A name safe in a `Content-Disposition` header: printable ASCII, no quotes or
/// backslashes (others become `_`).
fn header_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[utoipa::path(get, path = "/papers/{sha256}", tag = "papers", params(("sha256" = String, Path, description = "The paper's SHA-256, or a unique prefix of at least 4 hex digits.")), responses((status = 200, description = "The paper's bytes, as an attachment.", body = Vec<u8>, content_type = "application/octet-stream"), (status = 404, description = "Not found.", body = ErrorBody), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
pub(crate) async fn get_paper(
    State(s): State<ApiState>,
    Path(prefix): Path<String>,
) -> Result<Response, ApiError> {
    let prefix = prefix.trim().to_ascii_lowercase();
    if prefix.len() < 4 || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiError::bad(
            "give a paper's SHA-256, or at least its first 4 hex digits",
        ));
    }
    let found = s
        .node
        .query_papers(move |r, _| {
            let all = crate::core::papers::wanted_by(r);
            let hits: Vec<(PaperHash, String)> = all
                .iter()
                .filter(|(h, _)| hex_of(h).starts_with(&prefix))
                .map(|(h, w)| (*h, w.name.clone()))
                .collect();
            (prefix, hits)
        })
        .await?;
    let (prefix, hits) = found;
    let (hash, name) = match hits.as_slice() {
        [one] => one.clone(),
        [] => {
            return Err(ApiError::not_found(format!(
                "no event here names a paper whose SHA-256 starts {prefix}"
            )))
        }
        _ => {
            return Err(ApiError::bad(format!(
                "{} papers have SHA-256s starting {prefix}; give more digits",
                hits.len()
            )))
        }
    };
    let Some(bytes) = s.node.read_paper(hash).await? else {
        return Err(ApiError::not_found(format!(
            "this node does not hold {name} ({}) yet; it is fetching it from the network's \
             nodes",
            hex_of(&hash)
        )));
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", header_name(&name)),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".to_string(),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// Most uploads read at once: each holds up to a paper's bytes in memory until checked.
pub const MAX_UPLOADS_AT_ONCE: usize = 2;

/// The slowest an upload may send its body, bytes per second (after
/// [`UPLOAD_GRACE_SECS`]): a client that stalls gives its upload slot up.
pub const MIN_UPLOAD_BYTES_PER_SEC: u64 = 64 * 1024;

/// Seconds every upload has on top of its size's worth at [`MIN_UPLOAD_BYTES_PER_SEC`].
pub const UPLOAD_GRACE_SECS: u64 = 30;

/// One of the [`MAX_UPLOADS_AT_ONCE`] upload slots, given back when dropped.
struct UploadSlot(Arc<AtomicUsize>);

impl UploadSlot {
    fn take(count: &Arc<AtomicUsize>) -> Option<UploadSlot> {
        count
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < MAX_UPLOADS_AT_ONCE).then_some(n + 1)
            })
            .ok()
            .map(|_| UploadSlot(count.clone()))
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `PUT /papers/{sha256}`: everything that can be refused is refused before the body is
/// read (the hash, the length, whether an event names it, room), then the bytes are read,
/// checked against the hash and stored.
#[utoipa::path(put, path = "/papers/{sha256}", tag = "papers", params(("sha256" = String, Path, description = "The paper's SHA-256 (64 hex digits), named by an event.")), request_body(content = Vec<u8>, content_type = "application/octet-stream"), responses((status = 200, description = "Stored.", body = crate::core::PaperStored), (status = 422, description = "Refused by the rules before anything was signed; the message says why.", body = ErrorBody), (status = 400, description = "The request is malformed; the message says why.", body = ErrorBody), (status = 503, description = "The node is stopping.", body = ErrorBody)))]
pub(crate) async fn put_paper(
    State(s): State<ApiState>,
    Path(sha256): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PaperStored>, ApiError> {
    let hash: PaperHash = hex::decode(sha256.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ApiError::bad("give the paper's whole SHA-256 (64 hex digits)"))?;
    let len: u64 = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ApiError::bad("an upload needs a Content-Length"))?;
    if len > MAX_PAPER_BYTES {
        return Err(ApiError::bad(format!(
            "the file is {len} bytes; a paper has at most {MAX_PAPER_BYTES}"
        )));
    }
    let held = s
        .node
        .query_papers(move |r, p| p.may_take(r, &hash, len))
        .await?
        .map_err(ApiError::refused)?;
    if let Some(size) = held {
        return Ok(Json(PaperStored {
            sha256: hex_of(&hash),
            size,
            already: true,
        }));
    }
    let Some(_slot) = UploadSlot::take(&s.uploads) else {
        return Err(ApiError::busy(
            "the node is taking other uploads; try again in a moment",
        ));
    };
    let limit = std::time::Duration::from_secs(UPLOAD_GRACE_SECS + len / MIN_UPLOAD_BYTES_PER_SEC);
    let bytes = tokio::time::timeout(limit, axum::body::to_bytes(body, MAX_PAPER_BYTES as usize))
        .await
        .map_err(|_| ApiError::bad(format!("the upload took longer than {} s", limit.as_secs())))?
        .map_err(|e| ApiError::bad(format!("reading the upload: {e}")))?;
    if <[u8; 32]>::from(Sha256::digest(&bytes)) != hash {
        return Err(ApiError::bad(format!(
            "these bytes are not the paper {}: their SHA-256 differs",
            hex_of(&hash)
        )));
    }
    Ok(Json(s.node.put_paper(bytes.to_vec()).await?))
}

/// A paper's line for people: "due-diligence.pdf, 1.2 MB, held (sha256 3f2a…)".
pub fn paper_line(v: &PaperView) -> String {
    format!(
        "{}, {}, {} (SHA-256 {})",
        v.name,
        v.size.map_or_else(|| "size not signed".into(), size_words),
        if v.held {
            "held here"
        } else {
            "not held here yet"
        },
        v.sha256.get(..16).unwrap_or(&v.sha256)
    )
}

/// A size for people: "812 bytes", "14.2 KB", "1.2 MB".
pub fn size_words(n: u64) -> String {
    const K: f64 = 1000.0;
    let f = n as f64;
    if f < K {
        format!("{n} bytes")
    } else if f < K * K {
        format!("{:.1} KB", f / K)
    } else {
        format!("{:.1} MB", f / (K * K))
    }
}
