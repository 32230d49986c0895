//! The command line's side of the local API: plain HTTP/1.1 requests to the node of a
//! data directory, and signing events with a partner's key to hand to that node.

use crate::api::{EventView, FeedView};
use crate::clock_ms;
use crate::daemon::{FileConfig, TOKEN_FILE};
use crate::node::Submitted;
use anyhow::{bail, Context, Result};
use mutual_protocol::event::{deps_for, referent, Body, FeedWriter};
use mutual_protocol::id::EventId;
use mutual_protocol::keys::Keypair;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Largest answer read from the API, in bytes (an export of a large log fits).
pub const MAX_RESPONSE_BYTES: u64 = 1 << 30;

/// The node answered, and refused: what was sent did not and will not take effect.
#[derive(Debug, thiserror::Error)]
#[error("the node refused ({status}): {message}")]
pub struct Refused {
    /// The HTTP status.
    pub status: u16,
    /// The node's explanation.
    pub message: String,
}

/// A data directory's running node, reached through its local API.
#[derive(Debug, Clone)]
pub struct Client {
    addr: SocketAddr,
    token_file: PathBuf,
    clock_offset_ms: i64,
}

impl Client {
    /// The node of data directory `dir` (its API address, token and clock from there).
    pub fn of(dir: &Path) -> Result<Self> {
        let file = FileConfig::read(dir)?;
        Ok(Client {
            addr: file.api_addr()?,
            token_file: dir.join(TOKEN_FILE),
            clock_offset_ms: file.clock_offset_ms,
        })
    }

    /// The node's clock (the local clock with the data directory's offset).
    pub fn now(&self) -> u64 {
        clock_ms(self.clock_offset_ms)
    }

    fn token(&self) -> Result<String> {
        Ok(std::fs::read_to_string(&self.token_file)
            .with_context(|| {
                format!(
                    "cannot read the API token {}; writes need it",
                    self.token_file.display()
                )
            })?
            .trim()
            .to_string())
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
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))
            .with_context(|| {
                format!(
                    "no node is answering on {}; is `mutual start` running for this data directory?",
                    self.addr
                )
            })?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if !body.is_empty() {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        if auth {
            head.push_str(&format!("Authorization: Bearer {}\r\n", self.token()?));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        let mut response = Vec::new();
        stream
            .take(MAX_RESPONSE_BYTES + 1)
            .read_to_end(&mut response)
            .context("reading the node's answer")?;
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

    /// Signs `body` with a partner's key as the next event of their feed, as the node
    /// knows it, and hands it to the node. Fails unless the event took effect.
    pub fn sign_and_submit(&self, kp: &Keypair, body: Body) -> Result<Submitted> {
        mutual_protocol::event::check_body(&body).map_err(|e| anyhow::anyhow!("{e}"))?;
        let status: serde_json::Value = self.get("/status")?;
        let network = crate::daemon::parse_network(status["network"].as_str().unwrap_or(""))?;
        let feed: FeedView = self.get(&format!("/feeds/{}", kp.public()))?;
        if feed.forked {
            bail!(
                "the key {} is forked (two events were signed with the same number); it \
                 cannot sign again: ask the partners to replace it",
                kp.public()
            );
        }
        let id = |h: &String| -> Result<EventId> {
            h.parse()
                .map_err(|_| anyhow::anyhow!("the node sent a bad event id {h:?}"))
        };
        let last = match &feed.head {
            Some(h) => Some((feed.seq, id(h)?)),
            None => None,
        };
        let heads = feed.heads.iter().map(id).collect::<Result<Vec<_>>>()?;
        // The referent, then the node's heads, so the event follows everything the node
        // knows (a new key's first event must follow the rotation that made it a member's).
        let deps = deps_for(&body, &heads, last.map(|l| l.1));
        // No earlier than any cause (docs/PROTOCOL.md §5.9).
        let mut at = self
            .now()
            .max(feed.timestamp_ms)
            .max(feed.heads_timestamp_ms);
        if let Some(r) = referent(&body) {
            let ev: EventView = self.get(&format!("/events/{r}"))?;
            at = at.max(ev.timestamp_ms);
        }
        let mut writer = FeedWriter::resume(
            Keypair::from_seed(&kp.seed()).context("key")?,
            network,
            last,
        );
        let ev = writer.sign(at, deps, body);
        let body = self.request(
            "POST",
            "/events",
            "application/octet-stream",
            &ev.to_wire(),
            true,
        )?;
        let s: Submitted = serde_json::from_slice(&body)?;
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
            "event {} was {} and has not taken effect yet",
            s.id,
            s.result
        )
    }
}
