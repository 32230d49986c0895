//! The partners' web page: `/` and its assets under `/web/`, embedded in the binary, and
//! `/live`, the server-sent events that tell the page when the node's logs grow.
//!
//! The page signs in the browser with the partner's own keystore (node/web/keys.js); the
//! node serves it and never sees a key. Every answer carries a Content-Security-Policy that
//! lets the page load and ask nothing but this node, so it works with no internet and
//! sends nothing elsewhere. The libraries it uses are vendored, unmodified, under
//! node/web/vendor/ with their licences and checksums (node/web/vendor/README.md).

use super::common::ApiState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The policy every page answer carries: scripts, styles, images and requests from this
/// node only; no frames, no plug-ins, no forms posted elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// How often `/live` sends a comment when nothing changes, so proxies keep it open.
pub const LIVE_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The least time between two events of one `/live` stream: a node catching up changes
/// many times a second, and each change makes every open page ask the node again.
pub const LIVE_MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Most `/live` streams open at once; past it a page is answered 503, and tries again
/// some seconds later (node/web/app.js).
pub const MAX_LIVE_STREAMS: usize = 64;

/// One embedded file of the page.
pub struct Asset {
    /// Its path under `/web/`.
    pub path: &'static str,
    /// Its media type.
    pub mime: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $mime:expr) => {
        Asset {
            path: $path,
            mime: $mime,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the page is made of.
pub const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("views.js", JS),
    asset!("ui.js", JS),
    asset!("motions.js", JS),
    asset!("propose.js", JS),
    asset!("aid.js", JS),
    asset!("wire.js", JS),
    asset!("keys.js", JS),
    asset!("vendor/noble-hashes-2.4.0/argon2.js", JS),
    asset!("vendor/noble-hashes-2.4.0/blake2.js", JS),
    asset!("vendor/noble-hashes-2.4.0/_blake.js", JS),
    asset!("vendor/noble-hashes-2.4.0/_md.js", JS),
    asset!("vendor/noble-hashes-2.4.0/_u64.js", JS),
    asset!("vendor/noble-hashes-2.4.0/utils.js", JS),
    asset!("vendor/noble-ciphers-2.4.0/chacha.js", JS),
    asset!("vendor/noble-ciphers-2.4.0/_arx.js", JS),
    asset!("vendor/noble-ciphers-2.4.0/_poly1305.js", JS),
    asset!("vendor/noble-ciphers-2.4.0/utils.js", JS),
    asset!(
        "vendor/noble-hashes-2.4.0/LICENSE",
        "text/plain; charset=utf-8"
    ),
    asset!(
        "vendor/noble-ciphers-2.4.0/LICENSE",
        "text/plain; charset=utf-8"
    ),
];

fn serve(a: &Asset) -> Response {
    let mut r = a.bytes.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.mime));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // The binary is the version: a browser checks again rather than keep an old page.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

#[utoipa::path(get, path = "/", tag = "page", responses((status = 200, description = "The partners' web page.", body = String, content_type = "text/html")))]
/// `GET /`: the page.
pub(crate) async fn index() -> Response {
    serve(&ASSETS[0])
}

fn find(path: &str) -> Response {
    match ASSETS.iter().find(|a| a.path == path) {
        Some(a) => serve(a),
        None => (StatusCode::NOT_FOUND, "no such file in the page\n").into_response(),
    }
}

#[utoipa::path(get, path = "/web/{file}", tag = "page", params(("file" = String, Path, description = "One of the page's files.")), responses((status = 200, description = "The file.", body = String), (status = 404, description = "No such file.", body = String)))]
/// `GET /web/{file}`: one of the page's own files.
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    find(&file)
}

#[utoipa::path(get, path = "/web/vendor/{package}/{file}", tag = "page", params(("package" = String, Path, description = "A vendored library and its version."), ("file" = String, Path, description = "One of its files.")), responses((status = 200, description = "The file.", body = String), (status = 404, description = "No such file.", body = String)))]
/// `GET /web/vendor/{package}/{file}`: a file of a vendored library.
pub(crate) async fn vendored(Path((package, file)): Path<(String, String)>) -> Response {
    find(&format!("vendor/{package}/{file}"))
}

/// Counts an open `/live` stream while it lives.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[utoipa::path(get, path = "/live", tag = "page", responses((status = 200, description = "Server-sent events named `change`, each a JSON Change: one at once, then one each time the node's logs grow (at most one a second).", body = crate::node::Change, content_type = "text/event-stream"), (status = 503, description = "Too many streams are open.", body = super::common::ErrorBody)))]
/// `GET /live`: server-sent events. The first is sent at once; then one each time the
/// node's logs grow, at most one each [`LIVE_MIN_INTERVAL`], named `change`, whose data is
/// a [`crate::node::Change`] as JSON. At most [`MAX_LIVE_STREAMS`] are open at once; each
/// ends when the server stops.
pub(crate) async fn live(State(s): State<ApiState>) -> Response {
    if s.live.fetch_add(1, Ordering::Relaxed) >= MAX_LIVE_STREAMS {
        s.live.fetch_sub(1, Ordering::Relaxed);
        return super::common::ApiError::busy(format!(
            "{MAX_LIVE_STREAMS} live streams are open already; close a page or try later"
        ))
        .into_response();
    }
    let open = Open(s.live.clone());
    let rx = s.node.changes();
    let stopping = s.stopping.clone();
    let stream = futures::stream::unfold(
        (rx, stopping, open, true),
        |(mut rx, mut stopping, open, first)| async move {
            if !first {
                // Changes in the meantime are merged by the watch into the latest.
                tokio::select! {
                    _ = tokio::time::sleep(LIVE_MIN_INTERVAL) => {}
                    _ = stopping.wait() => return None,
                }
                tokio::select! {
                    changed = rx.changed() => changed.ok()?, // Err: the node stopped
                    _ = stopping.wait() => return None,
                }
            }
            let now = *rx.borrow_and_update();
            let data = serde_json::to_string(&now).unwrap_or_default();
            let event: Result<Event, Infallible> = Ok(Event::default().event("change").data(data));
            Some((event, (rx, stopping, open, false)))
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(LIVE_KEEP_ALIVE))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// The vendored libraries are byte for byte the files listed in SHA256SUMS (copied
    /// unmodified from the npm registry's tarballs, node/web/vendor/README.md).
    #[test]
    fn vendored_files_match_their_checksums() {
        let sums = include_str!("../../web/vendor/SHA256SUMS");
        let mut checked = 0;
        for line in sums.lines() {
            let (sum, path) = line.split_once("  ").expect("a sum and a path");
            let path = format!("vendor/{path}");
            let Some(a) = ASSETS.iter().find(|a| a.path == path) else {
                continue; // listed but not served (package.json)
            };
            assert_eq!(
                hex::encode(Sha256::digest(a.bytes)),
                sum,
                "{path} was changed"
            );
            checked += 1;
        }
        let vendored = ASSETS
            .iter()
            .filter(|a| a.path.starts_with("vendor/noble"))
            .count();
        assert_eq!(checked, vendored, "every vendored file served has a sum");
    }

    /// Every module the page imports is served: a missing entry would leave the page
    /// blank with nothing but a console error.
    #[test]
    fn every_import_of_the_page_is_served() {
        let mut imports = 0;
        for a in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let text = std::str::from_utf8(a.bytes).expect("utf-8");
            let dir = a.path.rsplit_once('/').map_or("", |(d, _)| d);
            for spec in text
                .split("from \"")
                .skip(1)
                .chain(text.split("import \"").skip(1))
            {
                let spec = spec.split('"').next().unwrap_or("");
                let Some(rel) = spec.strip_prefix("./") else {
                    assert!(!spec.contains("://"), "{} imports {spec}", a.path);
                    continue;
                };
                let path = if dir.is_empty() {
                    rel.to_string()
                } else {
                    format!("{dir}/{rel}")
                };
                assert!(
                    ASSETS.iter().any(|x| x.path == path),
                    "{} imports {path}, which is not served",
                    a.path
                );
                imports += 1;
            }
        }
        assert!(imports >= 10, "the page's imports were found ({imports})");
        let html = std::str::from_utf8(ASSETS[0].bytes).expect("utf-8");
        for part in html.split("/web/").skip(1) {
            let path = part.split('"').next().unwrap_or("");
            assert!(
                ASSETS.iter().any(|x| x.path == path),
                "index.html loads {path}"
            );
        }
    }

    /// The page and its files carry the policy and the right types; an unknown file is
    /// not found.
    #[tokio::test]
    async fn the_page_is_served_with_its_policy() {
        let r = index().await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
        assert!(r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let r = vendored(Path(("noble-hashes-2.4.0".into(), "argon2.js".into()))).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript"));
        assert_eq!(r.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        for missing in ["nothing.js", "../Cargo.toml", "SHA256SUMS", ""] {
            let r = asset(Path(missing.into())).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{missing}");
        }
        let r = vendored(Path(("..".into(), "Cargo.toml".into()))).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
    }
}
