//! The command line's side of the local API: plain HTTP/1.1 requests to the node of a
//! data directory, and signing events with a partner's key to hand to that node.

use crate::api::prepare::{encode_body, PrepareRequest, Prepared};
use crate::clock_ms;
use crate::daemon::{FileConfig, TOKEN_FILE};
use crate::keystore::FeedRecord;
use crate::node::Submitted;
use anyhow::{bail, Context, Result};
use mutual_protocol::event::{Body, SignedEvent};
use mutual_protocol::keys::Keypair;
use mutual_protocol::signature::EVENT_DOMAIN;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A connection to the node: plain TCP, or TLS over it.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Largest answer read from the API, in bytes (an export of a large log fits).
pub const MAX_RESPONSE_BYTES: u64 = 1 << 30;

/// Longest head of an answer read before its body, in bytes.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The node answered, and refused: what was sent did not and will not take effect.
#[derive(Debug, thiserror::Error)]
#[error("the node refused ({status}): {message}")]
pub struct Refused {
    /// The HTTP status.
    pub status: u16,
    /// The node's explanation.
    pub message: String,
}

/// A practice's running node, reached through its HTTP API: the node of a data directory
/// on this machine (which can use the directory's token for writes the node signs), or a
/// node elsewhere given by its URL (`--node`, `MUTUAL_NODE`), to which a partner hands
/// events they sign themselves.
#[derive(Debug, Clone)]
pub struct Client {
    addr: SocketAddr,
    host: String,
    token_file: Option<PathBuf>,
    clock_offset_ms: i64,
    /// For `https://`: the TLS configuration trusting the node's certificate, and the
    /// name to check it against.
    tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls::pki_types::ServerName<'static>,
    )>,
}

impl Client {
    /// The node of data directory `dir` (its API address, token and clock from there).
    pub fn of(dir: &Path) -> Result<Self> {
        let file = FileConfig::read(dir)?;
        let mut addr = file.api_addr()?;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        // Over TLS, the node's own certificate (which always names localhost) is trusted.
        let tls = if file.api_tls {
            let config = crate::tls::client_config(&dir.join(crate::tls::CERT_FILE))?;
            Some((config, crate::tls::server_name("localhost")?))
        } else {
            None
        };
        Ok(Client {
            addr,
            host: addr.to_string(),
            token_file: Some(dir.join(TOKEN_FILE)),
            clock_offset_ms: file.clock_offset_ms,
            tls,
        })
    }

    /// A node given by its URL, `https://HOST:PORT` (trusting the node's certificate in
    /// the PEM file `cert`) or `http://HOST:PORT` (on loopback or a trusted network); no
    /// token: only events a partner signs can be handed to it.
    pub fn remote(url: &str, cert: Option<&Path>) -> Result<Self> {
        let rest = url.trim().trim_end_matches('/');
        let (hostport, tls) = if let Some(h) = rest.strip_prefix("https://") {
            let Some(cert) = cert else {
                bail!(
                    "{url}: give the node's certificate (--node-cert FILE or \
                     MUTUAL_NODE_CERT), as the practice's IT lead hands it out"
                );
            };
            let host = h.rsplit_once(':').map_or(h, |(host, _)| host);
            let name = crate::tls::server_name(host)?;
            (h, Some((crate::tls::client_config(cert)?, name)))
        } else if let Some(h) = rest.strip_prefix("http://") {
            (h, None)
        } else {
            bail!("{url}: a node's URL looks like https://HOST:PORT or http://HOST:PORT");
        };
        if hostport.contains('/') {
            bail!("{url}: give the node's address only, without a path");
        }
        use std::net::ToSocketAddrs;
        let addr = hostport
            .to_socket_addrs()
            .with_context(|| format!("{url}: cannot resolve {hostport}"))?
            .next()
            .with_context(|| format!("{url}: {hostport} has no address"))?;
        let mut c = Client {
            addr,
            host: hostport.to_string(),
            token_file: None,
            clock_offset_ms: 0,
            tls,
        };
        // Times are read by the node's clock, as on its own machine.
        let status: serde_json::Value = c.get("/status")?;
        if let Some(node_now) = status["now_ms"].as_u64() {
            c.clock_offset_ms = (node_now as i64).saturating_sub(clock_ms(0) as i64);
        }
        Ok(c)
    }

    /// `--node URL` if given (or `MUTUAL_NODE`; with `--node-cert` for https), else the
    /// node of `--dir`.
    pub fn connect(dir: Option<&Path>, node: Option<&str>, cert: Option<&Path>) -> Result<Self> {
        match (node, dir) {
            (Some(url), _) => Self::remote(url, cert),
            (None, Some(dir)) => Self::of(dir),
            (None, None) => bail!(
                "which node? give --dir (the practice's data directory, on its machine) or \
                 --node http://HOST:PORT (from anywhere; also MUTUAL_NODE)"
            ),
        }
    }

    /// The node's clock (the local clock with the data directory's offset).
    pub fn now(&self) -> u64 {
        clock_ms(self.clock_offset_ms)
    }

    fn token(&self) -> Result<String> {
        let Some(file) = &self.token_file else {
            bail!(
                "this needs the practice's API token, on the node's machine (--dir); a \
                 partner's own events (motions, votes, proxies) need none"
            );
        };
        Ok(std::fs::read_to_string(file)
            .with_context(|| {
                format!(
                    "cannot read the API token {}; writes need it",
                    file.display()
                )
            })?
            .trim()
            .to_string())
    }

    /// Opens a connection to the node (over TLS when the node is reached that way).
    fn open(&self) -> Result<Box<dyn ReadWrite>> {
        let tcp = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))
            .with_context(|| {
                format!(
                    "no node is answering on {}; is `mutual start` running for this data directory?",
                    self.addr
                )
            })?;
        tcp.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(match &self.tls {
            None => Box::new(tcp),
            Some((config, name)) => {
                let conn = rustls::ClientConnection::new(config.clone(), name.clone())
                    .context("starting TLS")?;
                Box::new(rustls::StreamOwned::new(conn, tcp))
            }
        })
    }

    /// A request's head, up to and including the blank line.
    fn head(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        len: usize,
        auth: bool,
        expect_continue: bool,
    ) -> Result<String> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {len}\r\n",
            self.host
        );
        if len > 0 {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        if auth {
            head.push_str(&format!("Authorization: Bearer {}\r\n", self.token()?));
        }
        if expect_continue {
            head.push_str("Expect: 100-continue\r\n");
        }
        head.push_str("\r\n");
        Ok(head)
    }

    /// One request; returns the body of a 2xx answer, or an error with the node's message.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
        auth: bool,
    ) -> Result<Vec<u8>> {
        let mut stream = self.open()?;
        let head = self.head(method, path, content_type, body.len(), auth, false)?;
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        self.answer(stream, Vec::new())
    }

    /// `PUT` of a large body, sent only once the node says it will read it
    /// (`Expect: 100-continue`): a node that refuses from the head alone (a paper no event
    /// names, one it holds already) answers at once, and the body is never sent.
    pub fn put_large(&self, path: &str, body: &[u8]) -> Result<Vec<u8>> {
        let mut stream = self.open()?;
        let head = self.head(
            "PUT",
            path,
            "application/octet-stream",
            body.len(),
            false,
            true,
        )?;
        stream.write_all(head.as_bytes())?;
        // The interim or final answer's head, a byte at a time up to its blank line.
        let mut got = Vec::new();
        let mut b = [0u8; 1];
        while !got.ends_with(b"\r\n\r\n") {
            if got.len() > MAX_HEAD_BYTES || stream.read(&mut b)? == 0 {
                bail!("the node's answer is not HTTP");
            }
            got.push(b[0]);
        }
        if got.starts_with(b"HTTP/1.1 100") {
            stream.write_all(body)?;
            return self.answer(stream, Vec::new());
        }
        self.answer(stream, got)
    }

    /// Reads the node's answer (after `prefix`, what was read of it already): the body of
    /// a 2xx answer, or an error with the node's message.
    fn answer(&self, mut stream: Box<dyn ReadWrite>, prefix: Vec<u8>) -> Result<Vec<u8>> {
        let mut response = prefix;
        match (&mut stream)
            .take(MAX_RESPONSE_BYTES + 1)
            .read_to_end(&mut response)
        {
            Ok(_) => {}
            // A TLS peer that closes without its close_notify: what arrived is checked
            // against its Content-Length below.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
            Err(e) => {
                return Err(anyhow::Error::new(e).context(if self.tls.is_some() {
                    "reading the node's answer (over TLS: is --node-cert the node's certificate?)"
                } else {
                    "reading the node's answer"
                }))
            }
        }
        if response.len() as u64 > MAX_RESPONSE_BYTES {
            bail!("the node's answer is larger than {MAX_RESPONSE_BYTES} bytes");
        }
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .context("the node's answer is not HTTP")?;
        let head = String::from_utf8_lossy(&response[..split]).to_string();
        let body = response[split + 4..].to_vec();
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .context("the node's answer has no status")?;
        let lower = head.to_ascii_lowercase();
        if lower.contains("transfer-encoding: chunked") {
            bail!("the node's answer is chunked, which this client does not read");
        }
        // A cut-off answer (the node stopped mid-way) is an error, never a short success.
        let length = lower
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok());
        if length.is_some_and(|n| n != body.len()) {
            bail!(
                "the node's answer was cut off ({} of {} bytes)",
                body.len(),
                length.unwrap_or_default()
            );
        }
        if !(200..300).contains(&status) {
            let msg = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(String::from))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
            return Err(Refused {
                status,
                message: msg,
            }
            .into());
        }
        Ok(body)
    }

    /// GETs JSON.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let body = self.request("GET", path, "", &[], false)?;
        serde_json::from_slice(&body).with_context(|| format!("the node's answer to {path}"))
    }

    /// POSTs JSON with the token.
    pub fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        let body = self.request(
            "POST",
            path,
            "application/json",
            &serde_json::to_vec(body)?,
            true,
        )?;
        serde_json::from_slice(&body).with_context(|| format!("the node's answer to {path}"))
    }

    /// POSTs JSON without the token (to routes open to anyone who can reach the node).
    pub fn post_open<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        let body = self.request(
            "POST",
            path,
            "application/json",
            &serde_json::to_vec(body)?,
            false,
        )?;
        serde_json::from_slice(&body).with_context(|| format!("the node's answer to {path}"))
    }

    /// Has the node prepare `body` as the next event of `kp`'s feed (`POST /prepare`;
    /// for a motion, open for `voting_ms`), checks that the bytes say what was asked,
    /// signs them and hands them to the node (`POST /events`). Fails unless the event
    /// took effect; a mistake is refused by the node before anything is signed.
    pub fn sign_and_submit(&self, kp: &Keypair, body: Body) -> Result<Submitted> {
        self.sign_and_submit_with(kp, body, None, None)
    }

    /// [`Client::sign_and_submit`], with a motion's voting period and the keystore's
    /// record of the last event it signed (docs/PROTOCOL.md §5.10).
    pub fn sign_and_submit_with(
        &self,
        kp: &Keypair,
        body: Body,
        voting_ms: Option<u64>,
        record: Option<&mut FeedRecord>,
    ) -> Result<Submitted> {
        let mut record = record;
        let (prepared, signed) = self.prepare_and_sign(kp, body, voting_ms, record.as_deref())?;
        // Recorded before it leaves: if the answer is lost, the seq counts as used.
        let earlier = record.as_deref().map(FeedRecord::snapshot);
        if let Some(r) = record.as_deref_mut() {
            r.note(&signed)?;
        }
        let answer = match self.request(
            "POST",
            "/events",
            "application/octet-stream",
            &signed.to_wire(),
            false,
        ) {
            Ok(a) => a,
            Err(e) => {
                // Refused outright: nothing was stored, the seq is free again.
                if let (true, Some(r), Some(earlier)) = (refused_outright(&e), record, earlier) {
                    r.restore(earlier)?;
                }
                return Err(e);
            }
        };
        let s: Submitted = serde_json::from_slice(&answer)?;
        if s.result == "stored" && s.outcome.as_deref() == Some("applied") {
            return Ok(s);
        }
        if s.result == "stored" {
            // Folded, and refused by the rules: it will never take effect.
            return Err(Refused {
                status: 200,
                message: format!(
                    "event {} was stored as evidence but did not take effect: {}",
                    s.id,
                    s.outcome.as_deref().unwrap_or_default()
                ),
            }
            .into());
        }
        bail!(
            "event {} ({}) was {} and has not taken effect yet",
            s.id,
            prepared.summary,
            s.result
        )
    }

    /// Asks the node for the bytes of `kp`'s next event with `body`, checks them and signs
    /// them; sends nothing signed.
    pub fn prepare_and_sign(
        &self,
        kp: &Keypair,
        body: Body,
        voting_ms: Option<u64>,
        record: Option<&FeedRecord>,
    ) -> Result<(Prepared, SignedEvent)> {
        mutual_protocol::event::check_body(&body).map_err(|e| anyhow::anyhow!("{e}"))?;
        let p: Prepared = self.post_open(
            "/prepare",
            &PrepareRequest {
                author: kp.public().to_string(),
                body: encode_body(&body),
                voting_ms,
            },
        )?;
        let bytes = hex::decode(&p.event).context("the node sent event bytes that are not hex")?;
        // Everything is checked before anything is signed.
        let unsigned = SignedEvent::assemble(bytes, [0; mutual_protocol::signature::SIGNATURE_LEN])
            .map_err(|e| anyhow::anyhow!("the node prepared an invalid event: {e}"))?;
        check_prepared(&unsigned, kp, &body, voting_ms)?;
        if let Some(r) = record {
            r.check(&unsigned)?;
        }
        let signature = kp.sign(EVENT_DOMAIN, &unsigned.event_bytes);
        let signed = SignedEvent::assemble(unsigned.event_bytes, signature)
            .map_err(|e| anyhow::anyhow!("the node prepared an invalid event: {e}"))?;
        Ok((p, signed))
    }
}

/// Whether `e` is the node's outright refusal (a 4xx answer): what was sent was not
/// stored and never will be. Any other failure (no answer, a lost answer, the node
/// unable to store, 5xx) leaves open that it was.
pub fn refused_outright(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Refused>()
        .is_some_and(|r| (400..500).contains(&r.status))
}

/// Checks that the bytes the node prepared say what the partner chose: their key, the
/// body they asked for (a motion's voting window as asked), before they are signed.
fn check_prepared(
    signed: &SignedEvent,
    kp: &Keypair,
    body: &Body,
    voting_ms: Option<u64>,
) -> Result<()> {
    let ev = &signed.event;
    if ev.author != kp.public() {
        bail!("the node prepared an event for another key; nothing was signed");
    }
    let mut expected = body.clone();
    if let (Some(ms), Some(Body::Motion(got)), Body::Motion(want)) =
        (voting_ms, &ev.body, &mut expected)
    {
        if got.closes_at_ms.checked_sub(got.opens_at_ms) != Some(ms)
            || got.opens_at_ms != ev.timestamp_ms
        {
            bail!("the node prepared a motion with another voting period; nothing was sent");
        }
        want.opens_at_ms = got.opens_at_ms;
        want.closes_at_ms = got.closes_at_ms;
    }
    if ev.body.as_ref() != Some(&expected) {
        bail!("the node prepared an event that says something else; nothing was sent");
    }
    Ok(())
}
