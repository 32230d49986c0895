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
use libp2p::Multiaddr;
use mutual_proto::v1 as pb;
use mutual_protocol::event::{FeedWriter, SignedEvent};
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::keys::{Keypair, PublicKey};
use mutual_protocol::membership::validate_genesis;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// The configuration file's name in a data directory.
pub const CONFIG_FILE: &str = "mutual.toml";
/// The node key file's name.
pub const KEY_FILE: &str = "node.key";
/// A new node key waiting to take over, once the rotation to it is in the store
/// (`mutual node rotate-key`).
pub const NEXT_KEY_FILE: &str = "node.key.next";
/// The node key a rotation replaced, kept aside.
pub const OLD_KEY_FILE: &str = "node.key.old";
/// The API token file's name.
pub use crate::api::TOKEN_FILE;
/// A network founded here and not yet started.
pub const GENESIS_FILE: &str = "genesis.bin";
/// The store's directory.
pub use crate::store::STORE_DIR;
/// Shortest API token the daemon accepts.
pub const MIN_TOKEN_CHARS: usize = 32;
/// Largest clock shift `clock_offset_ms` may set: one day either way.
pub const MAX_CLOCK_OFFSET_MS: i64 = 24 * 3_600_000;

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
    /// Shifts this node's clock, in ms (for demonstrations and tests only; see
    /// `mutual_node::clock_ms`).
    pub clock_offset_ms: i64,
    /// Lets the API listen beyond loopback over plain HTTP (default: refused, since the
    /// token and the partnership's data would cross the network in clear).
    pub api_plain_http_beyond_loopback: bool,
    /// Serves the API over TLS with the data directory's `api-cert.pem` and `api-key.pem`
    /// (`mutual tls init`), as it must be to listen beyond loopback.
    pub api_tls: bool,
    /// The most bytes of papers (files attached to motions and aid requests) the node
    /// stores; it fetches no more beyond it (default 4 GiB).
    pub paper_store_bytes: u64,
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
            clock_offset_ms: 0,
            api_plain_http_beyond_loopback: false,
            api_tls: false,
            paper_store_bytes: crate::core::papers::DEFAULT_PAPER_STORE_BYTES,
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

    /// Writes `mutual.toml` in `dir`, replacing it atomically (a temporary file renamed
    /// into place), so a crash never leaves it half written.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let tmp = dir.join(format!("{CONFIG_FILE}.tmp"));
        std::fs::write(&tmp, toml::to_string(self)?)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, dir.join(CONFIG_FILE))?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
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
        c.paper_store_bytes = self.paper_store_bytes;
        if self.sync_interval_secs == 0 {
            bail!("sync_interval_secs must be at least 1");
        }
        c.sync_interval = Duration::from_secs(self.sync_interval_secs);
        if self.clock_offset_ms.abs() > MAX_CLOCK_OFFSET_MS {
            bail!("clock_offset_ms must be within a day ({MAX_CLOCK_OFFSET_MS} ms) either way");
        }
        c.clock_offset_ms = self.clock_offset_ms;
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
    config.write(dir)?;
    Ok(kp)
}

/// Writes a new file readable by its owner only (0600), synced; never overwrites.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
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
    /// Changes to the default deed (docs/GOVERNANCE.md §2.3), if any.
    #[serde(default)]
    pub deed: Option<FoundingDeed>,
}

pub use crate::deed::FoundingDeed;

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
/// `dir` until the node starts, dated by the directory's clock (with its
/// `clock_offset_ms`). The default deed applies (docs/GOVERNANCE.md), changed
/// by the founding file's `[deed]` table.
pub fn found(dir: &Path, founding: &Founding) -> Result<SignedEvent> {
    let kp = keyfile::read(&dir.join(KEY_FILE))?;
    let now_ms = crate::clock_ms(FileConfig::read(dir)?.clock_offset_ms);
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
        deed: Some(match &founding.deed {
            Some(d) => d.deed()?,
            None => mutual_protocol::governance::deed::default_deed(),
        }),
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
    config.write(dir)?;
    Ok(())
}

/// Joins with a one-line invite (docs/NETWORK.md §2.1), checked against this data
/// directory's node key and clock: sets the network and bootstrap peers it names.
pub fn join_invite(dir: &Path, line: &str) -> Result<crate::invite::Invite> {
    let kp = keyfile::read(&dir.join(KEY_FILE))?;
    let file = FileConfig::read(dir)?;
    let inv = crate::invite::decode(line, &kp.public(), crate::clock_ms(file.clock_offset_ms))?;
    join(dir, &inv.network.to_string(), inv.bootstrap.clone())?;
    Ok(inv)
}

/// Parses a network id given as 64 hex digits.
pub fn parse_network(s: &str) -> Result<NetworkId> {
    let bytes = hex::decode(s.trim()).context("a network id is 64 hex digits")?;
    EventId::from_slice(&bytes)
        .map(NetworkId)
        .context("a network id is 32 bytes (64 hex digits)")
}

/// After a node-key rotation (`mutual node rotate-key`): if the store holds the rotation
/// to the waiting key (it is now this practice's node key), the key files are swapped and
/// `true` is returned (the node must start again with the new key); if the store does not
/// (the rotation was never signed), the waiting key is removed.
async fn take_up_next_key(dir: &Path, handle: &NodeHandle) -> Result<bool> {
    let next_path = dir.join(NEXT_KEY_FILE);
    if !next_path.exists() {
        return Ok(false);
    }
    let next = keyfile::read(&next_path)?.public();
    let known = handle
        .query(move |r| r.state().membership().holder(&next).is_some())
        .await?;
    if !known {
        // Never rotated to: set aside (a key is never deleted), the old key stays.
        tracing::warn!("{NEXT_KEY_FILE} was never rotated to; set aside as {NEXT_KEY_FILE}.unused");
        std::fs::rename(&next_path, dir.join(format!("{NEXT_KEY_FILE}.unused")))?;
        return Ok(false);
    }
    // node.key is linked as node.key.old, then node.key.next renamed over node.key: a
    // crash at any point leaves a node.key (old or new) and, until the end, node.key.next,
    // so the next start finishes the swap.
    let old = dir.join(OLD_KEY_FILE);
    if old.exists() {
        std::fs::remove_file(&old)?;
    }
    std::fs::hard_link(dir.join(KEY_FILE), &old)?;
    std::fs::rename(&next_path, dir.join(KEY_FILE))?;
    std::fs::File::open(dir)?.sync_all()?;
    tracing::info!(key = %next, "the node takes up its new key");
    Ok(true)
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
    if token.len() < MIN_TOKEN_CHARS {
        bail!(
            "{} must hold a token of at least {MIN_TOKEN_CHARS} characters (`mutual init` \
             writes 64 random hex digits)",
            dir.join(TOKEN_FILE).display()
        );
    }
    if file.clock_offset_ms != 0 {
        tracing::warn!(
            clock_offset_ms = file.clock_offset_ms,
            "this node's clock is shifted (clock_offset_ms in {CONFIG_FILE}); for \
             demonstrations and tests only"
        );
    }
    let api_addr = file.api_addr()?;
    if !api_addr.ip().is_loopback() && !file.api_tls && !file.api_plain_http_beyond_loopback {
        bail!(
            "api = {api_addr:?} would serve plain HTTP beyond this machine, where the token \
             and the partnership's records cross the network in clear. Serve it over TLS: \
             `mutual tls init --dir {} --name <host>` and api_tls = true in {CONFIG_FILE}; or \
             keep api on 127.0.0.1 and let partners reach it through the practice's VPN or \
             an SSH tunnel; or, on a network you trust, set \
             api_plain_http_beyond_loopback = true",
            dir.display()
        );
    }
    let tls = if file.api_tls {
        Some(crate::tls::server_config(dir)?)
    } else {
        None
    };
    // The store first: a second node on the same directory is refused for that reason,
    // whoever holds the API port.
    let mut handle = start_node(dir, &file).await?;
    if take_up_next_key(dir, &handle).await? {
        handle.shutdown().await?;
        handle = start_node(dir, &file).await?;
    }
    let listener = match tokio::net::TcpListener::bind(api_addr).await {
        Ok(l) => l,
        Err(e) => {
            handle.shutdown().await?;
            return Err(
                anyhow::Error::new(e).context(format!("cannot listen for the API on {api_addr}"))
            );
        }
    };
    let status = handle.status().await?;
    tracing::info!(
        peer_id = %status.peer_id,
        network = %status.network,
        api = %api_addr,
        listen = ?status.listen,
        "node running"
    );
    let (stop, stopping) = crate::api::Stopping::new();
    let app = crate::api::router(crate::api::ApiState {
        me: keyfile::read(&dir.join(KEY_FILE))?.public(),
        node: handle.clone(),
        token,
        clock_offset_ms: file.clock_offset_ms,
        tls: tls.is_some(),
        uploads: Default::default(),
        tamper_prepare: false,
        live: Default::default(),
        stopping,
    });
    let shutdown = async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        // Open pages' live streams end, so the server's graceful stop does not wait on them.
        let _ = stop.send(true);
    };
    match tls {
        Some(config) => {
            axum::serve(crate::tls::TlsListener::new(listener, config)?, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
    .context("API server failed")?;
    handle.shutdown().await?;
    Ok(())
}
