//! Running a node from a data directory: its layout, its TOML configuration, founding a
//! network from a founding file, and the daemon with its local HTTP API.
//!
//! A data directory holds:
//! - `mutual.toml`: the configuration ([`FileConfig`]); every field has a working default;
//! - `node.key`: the practice node's key (mode 0600);
//! - `api-token`: the bearer token local writes need (mode 0600);
//! - `genesis.bin`: a network founded here, until the node first starts;
//! - `store/`: the node's store.

use crate::keyfile;
use crate::node::{self, Config, Network, NodeHandle};
use anyhow::{bail, Context, Result};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use libp2p::Multiaddr;
use mutual_proto::v1 as pb;
use mutual_protocol::event::{FeedWriter, SignedEvent};
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::keys::{Keypair, PublicKey};
use mutual_protocol::membership::validate_genesis;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The configuration file's name in a data directory.
pub const CONFIG_FILE: &str = "mutual.toml";
/// The node key file's name.
pub const KEY_FILE: &str = "node.key";
/// The API token file's name.
pub const TOKEN_FILE: &str = "api-token";
/// A network founded here and not yet started.
pub const GENESIS_FILE: &str = "genesis.bin";
/// The store's directory.
pub const STORE_DIR: &str = "store";
/// Largest body the local API accepts, in bytes (one signed event and its framing).
pub const MAX_API_BODY_BYTES: usize = 128 * 1024;

/// `mutual.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// Addresses to listen on (multiaddrs).
    pub listen: Vec<String>,
    /// Address of the local HTTP API.
    pub api: String,
    /// Peers to dial at start, each ending in `/p2p/<PeerId>`.
    pub bootstrap: Vec<String>,
    /// The network to join, as hex, when the store is empty and nothing was founded here.
    pub network: Option<String>,
    /// LAN discovery.
    pub mdns: bool,
    /// Seconds between sync rounds with each peer.
    pub sync_interval_secs: u64,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            listen: vec![
                "/ip4/0.0.0.0/tcp/7700".into(),
                "/ip4/0.0.0.0/udp/7700/quic-v1".into(),
            ],
            api: "127.0.0.1:7780".into(),
            bootstrap: Vec::new(),
            network: None,
            mdns: false,
            sync_interval_secs: 10,
        }
    }
}

impl FileConfig {
    /// Reads `mutual.toml` from `dir`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {}; run `mutual init --dir {}` first",
                path.display(),
                dir.display()
            )
        })?;
        toml::from_str(&text)
            .with_context(|| format!("{} is not a valid configuration", path.display()))
    }

    /// The node configuration this file describes, for data directory `dir`.
    pub fn node_config(&self, dir: &Path) -> Result<Config> {
        let parse = |s: &String| -> Result<Multiaddr> {
            s.parse()
                .with_context(|| format!("{s:?} is not a multiaddr"))
        };
        let mut c = Config::new(dir.join(STORE_DIR));
        c.listen = self.listen.iter().map(parse).collect::<Result<_>>()?;
        c.bootstrap = self.bootstrap.iter().map(parse).collect::<Result<_>>()?;
        c.mdns = self.mdns;
        if self.sync_interval_secs == 0 {
            bail!("sync_interval_secs must be at least 1");
        }
        c.sync_interval = Duration::from_secs(self.sync_interval_secs);
        Ok(c)
    }

    /// The API address.
    pub fn api_addr(&self) -> Result<SocketAddr> {
        self.api
            .parse()
            .with_context(|| format!("api = {:?} is not an address like 127.0.0.1:7780", self.api))
    }
}

/// Creates a data directory: key, token and a default configuration. Refuses to touch a
/// directory that already has a configuration or key.
pub fn init(dir: &Path, config: &FileConfig) -> Result<Keypair> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for f in [CONFIG_FILE, KEY_FILE] {
        if dir.join(f).exists() {
            bail!(
                "{} already has {f}; it is already initialised",
                dir.display()
            );
        }
    }
    let kp = keyfile::create(&dir.join(KEY_FILE))?;
    let mut token = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut token);
    write_private(&dir.join(TOKEN_FILE), hex::encode(token).as_bytes())?;
    std::fs::write(dir.join(CONFIG_FILE), toml::to_string(config)?)?;
    Ok(kp)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// The founding file: the partnership's name, its practices and partners.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Founding {
    /// The network's name.
    pub name: String,
    /// The founding practices.
    #[serde(rename = "practice")]
    pub practices: Vec<FoundingPractice>,
    /// The founding partners.
    #[serde(default, rename = "partner")]
    pub partners: Vec<FoundingPartner>,
}

/// A practice in the founding file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FoundingPractice {
    /// Its name.
    pub name: String,
    /// Its ODS code.
    pub ods: String,
    /// Its locality.
    #[serde(default)]
    pub locality: String,
    /// Registered patients.
    #[serde(default)]
    pub list_size: u32,
    /// Its node key, as printed by `mutual init` (64 hex digits).
    pub node_key: String,
}

/// A partner in the founding file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FoundingPartner {
    /// Their name.
    pub name: String,
    /// Their practice's ODS code.
    pub practice: String,
    /// Their own key (64 hex digits).
    pub key: String,
    /// "partner" (the default), "associate" or "managing".
    #[serde(default)]
    pub role: Option<String>,
}

fn key_hex(s: &str, what: &str) -> Result<Vec<u8>> {
    let bytes = hex::decode(s.trim()).with_context(|| format!("{what}: not hex"))?;
    PublicKey::from_slice(&bytes).map_err(|e| anyhow::anyhow!("{what}: {e}"))?;
    Ok(bytes)
}

/// Signs the genesis described by `founding` with the node key in `dir` and keeps it in
/// `dir` until the node starts. The default deed applies (docs/GOVERNANCE.md).
pub fn found(dir: &Path, founding: &Founding, now_ms: u64) -> Result<SignedEvent> {
    let kp = keyfile::read(&dir.join(KEY_FILE))?;
    if dir.join(GENESIS_FILE).exists() || dir.join(STORE_DIR).exists() {
        bail!("{} already belongs to a network", dir.display());
    }
    let mut nonce = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
    let mut partners = Vec::new();
    for p in &founding.partners {
        let role = match p.role.as_deref().unwrap_or("partner") {
            "partner" => pb::PartnerRole::Partner,
            "associate" => pb::PartnerRole::Associate,
            "managing" => pb::PartnerRole::Managing,
            other => bail!("partner {}: unknown role {other:?}", p.name),
        };
        partners.push(pb::Partner {
            name: p.name.clone(),
            practice_ods: p.practice.clone(),
            role: role as i32,
            key: key_hex(&p.key, &format!("partner {}", p.name))?,
        });
    }
    let mut practices = Vec::new();
    for p in &founding.practices {
        practices.push(pb::Practice {
            name: p.name.clone(),
            ods_code: p.ods.clone(),
            locality: p.locality.clone(),
            list_size: p.list_size,
            node_key: key_hex(&p.node_key, &format!("practice {}", p.name))?,
        });
    }
    let g = pb::Genesis {
        name: founding.name.clone(),
        practices,
        partners,
        deed: Some(mutual_protocol::governance::deed::default_deed()),
        nonce: nonce.to_vec(),
    };
    validate_genesis(&g, &kp.public()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (_, genesis) = FeedWriter::found(kp, now_ms, g);
    write_private(&dir.join(GENESIS_FILE), &genesis.to_wire())?;
    Ok(genesis)
}

/// Sets the network to join and the peers to sync from in `dir`'s configuration.
pub fn join(dir: &Path, network: &str, bootstrap: Vec<String>) -> Result<()> {
    parse_network(network)?;
    if dir.join(STORE_DIR).exists() || dir.join(GENESIS_FILE).exists() {
        bail!("{} already belongs to a network", dir.display());
    }
    let mut config = FileConfig::read(dir)?;
    config.network = Some(network.trim().to_string());
    config.bootstrap = bootstrap;
    config.node_config(dir)?;
    std::fs::write(dir.join(CONFIG_FILE), toml::to_string(&config)?)?;
    Ok(())
}

/// Parses a network id given as 64 hex digits.
pub fn parse_network(s: &str) -> Result<NetworkId> {
    let bytes = hex::decode(s.trim()).context("a network id is 64 hex digits")?;
    EventId::from_slice(&bytes)
        .map(NetworkId)
        .context("a network id is 32 bytes (64 hex digits)")
}

/// Starts the node of data directory `dir` on the current runtime.
pub async fn start_node(dir: &Path, file: &FileConfig) -> Result<NodeHandle> {
    let kp = keyfile::read(&dir.join(KEY_FILE))?;
    let config = file.node_config(dir)?;
    let genesis_path = dir.join(GENESIS_FILE);
    let has_store = dir.join(STORE_DIR).join(crate::store::FORMAT_FILE).exists();
    // genesis.bin stays until the store holds the genesis durably, so a start that was
    // interrupted before that founds again (the same genesis: nothing is signed twice).
    let network = if genesis_path.exists() {
        let wire = std::fs::read(&genesis_path)?;
        let g = SignedEvent::decode(&wire).context("genesis.bin is not a signed event")?;
        Network::Found(Box::new(g))
    } else if has_store {
        Network::Stored
    } else if let Some(n) = &file.network {
        Network::Join(parse_network(n)?)
    } else {
        bail!(
            "{} belongs to no network yet: found one (`mutual found`) or set `network` and \
             `bootstrap` in {CONFIG_FILE}",
            dir.display()
        );
    };
    let founding = matches!(network, Network::Found(_));
    let handle = node::start(kp, network, config).await?;
    if founding {
        // The store now holds the genesis durably.
        std::fs::remove_file(&genesis_path)?;
    }
    Ok(handle)
}

/// Runs the daemon until SIGINT or SIGTERM: the node and its local API.
pub async fn run(dir: &Path) -> Result<()> {
    let file = FileConfig::read(dir)?;
    let token = std::fs::read_to_string(dir.join(TOKEN_FILE))
        .with_context(|| format!("cannot read {}", dir.join(TOKEN_FILE).display()))?
        .trim()
        .to_string();
    let api_addr = file.api_addr()?;
    let listener = tokio::net::TcpListener::bind(api_addr)
        .await
        .with_context(|| format!("cannot listen for the API on {api_addr}"))?;
    let handle = start_node(dir, &file).await?;
    let status = handle.status().await?;
    tracing::info!(
        peer_id = %status.peer_id,
        network = %status.network,
        api = %api_addr,
        listen = ?status.listen,
        "node running"
    );
    let app = api(ApiState {
        node: handle.clone(),
        token,
    });
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("API server failed")?;
    handle.shutdown().await?;
    Ok(())
}

/// What the API handlers share.
#[derive(Clone)]
pub struct ApiState {
    node: NodeHandle,
    token: String,
}

/// The local HTTP API (docs in README.md).
pub fn api(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/status", get(status))
        .route("/members", get(members))
        .route("/metrics", get(metrics))
        .route("/events", post(submit))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_API_BODY_BYTES))
        .with_state(state)
}

struct ApiError(StatusCode, String);

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

async fn status(State(s): State<ApiState>) -> Result<Json<node::Status>, ApiError> {
    Ok(Json(s.node.status().await?))
}

#[derive(Serialize)]
struct Member {
    name: String,
    ods: String,
    locality: String,
    status: String,
    node_key: String,
    partners: Vec<String>,
}

async fn members(State(s): State<ApiState>) -> Result<Json<Vec<Member>>, ApiError> {
    let list = s
        .node
        .query(|r| {
            let m = r.state().membership();
            m.practices()
                .map(|p| Member {
                    name: p.practice.name.clone(),
                    ods: p.practice.ods_code.clone(),
                    locality: p.practice.locality.clone(),
                    status: format!("{:?}", p.status).to_lowercase(),
                    node_key: hex::encode(&p.practice.node_key),
                    partners: m
                        .partners()
                        .filter(|x| x.partner.practice_ods == p.practice.ods_code)
                        .map(|x| x.partner.name.clone())
                        .collect(),
                })
                .collect()
        })
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
        "sync_bytes_in_total",
        "counter",
        "Bytes of sync responses received.",
        m.sync_bytes_in,
    );
    line(
        "sync_bytes_out_total",
        "counter",
        "Bytes of sync responses sent.",
        m.sync_bytes_out,
    );
    line(
        "gossip_bytes_in_total",
        "counter",
        "Bytes of gossip received.",
        m.gossip_bytes_in,
    );
    line(
        "sync_rounds_total",
        "counter",
        "Sync rounds started.",
        m.sync_rounds,
    );
    line(
        "invalid_events_total",
        "counter",
        "Invalid events received.",
        m.invalid_events,
    );
    line("bans_total", "counter", "Peers banned.", m.bans);
    line(
        "connections_refused_total",
        "counter",
        "Connections refused by the gate.",
        m.connections_refused,
    );
    line(
        "events_authored_total",
        "counter",
        "Events this node signed.",
        m.events_authored,
    );
    Ok(out)
}

async fn submit(
    State(s): State<ApiState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<node::Submitted>, ApiError> {
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given != Some(s.token.as_str()) {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            format!("a write needs `Authorization: Bearer <token>`, the token in the data directory's {TOKEN_FILE}"),
        ));
    }
    Ok(Json(s.node.submit(body.to_vec()).await?))
}

/// The data directory's API address and token, for commands that talk to a running node.
pub fn api_client_info(dir: &Path) -> Result<(SocketAddr, PathBuf)> {
    let file = FileConfig::read(dir)?;
    Ok((file.api_addr()?, dir.join(TOKEN_FILE)))
}

/// GETs `path` from the local API and returns the body (a plain HTTP/1.1 exchange with
/// the node's own API on loopback).
pub fn http_get(addr: SocketAddr, path: &str) -> Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .with_context(|| format!("no node is answering on {addr}; is `mutual start` running?"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("the node's answer is not HTTP")?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!("the node answered: {}", head.lines().next().unwrap_or(head));
    }
    Ok(body.to_string())
}
