//! Whole-system tests for Mutual live in `tests/tests/`. This library holds what they
//! share: a [`Cluster`] of real nodes (real libp2p over loopback, real sled stores in
//! temporary directories) founded as one partnership.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use mutual_node::node::{self, Config, Network, NodeHandle, Status};
use mutual_proto::v1 as pb;
use mutual_protocol::event::{deps_for, Body, FeedWriter, SignedEvent};
use mutual_protocol::governance::deed::default_deed;
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::keys::Keypair;
use mutual_protocol::limits::MAX_CLOCK_SKEW_MS;
use std::future::Future;
use std::path::Path;
use std::time::Duration;
use tempfile::TempDir;

/// The default deed with one-minute least voting periods and the least grace period
/// (`MAX_CLOCK_SKEW_MS`), so that a test can let a vote pass by moving clocks a few
/// minutes; ordinary resolutions need `general_bp` of the votes cast.
pub fn quick_deed(general_bp: u32) -> pb::Deed {
    let mut d = default_deed();
    d.grace_period_ms = MAX_CLOCK_SKEW_MS;
    for r in &mut d.rules {
        r.min_voting_period_ms = 60_000;
        if r.kind == pb::DecisionKind::General as i32 {
            if let Some(t) = &mut r.threshold {
                t.basis_points = general_bp;
            }
        }
    }
    d
}

/// The workspace root, for tests that inspect the project itself.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}

/// The key of partner `i` of a test cluster's partnership.
pub fn partner_key(i: usize) -> Keypair {
    let mut seed = [0x50; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    Keypair::from_seed(&seed).expect("seed gives a key")
}

/// How a [`Cluster`] is founded: which keys, how many nodes run, partners and deed.
#[derive(Clone, Debug)]
pub struct Founding {
    /// The partnership's name.
    pub name: String,
    /// Practice `i` of the cluster uses [`node_key`]`(base + i)` and [`practice`]`(base + i)`;
    /// partner `j` uses [`partner_key`]`(base + j)`.
    pub base: usize,
    /// Practices.
    pub practices: usize,
    /// Nodes started (the first ones).
    pub running: usize,
    /// Partners, all of the first practice ...
    pub partners: usize,
    /// ... or, if set, partner `j` of practice `j % practices`.
    pub spread: bool,
    /// The deed.
    pub deed: pb::Deed,
}

/// The node key of practice `i` in a test cluster.
pub fn node_key(i: usize) -> Keypair {
    let mut seed = [0x4d; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    Keypair::from_seed(&seed).expect("seed gives a key")
}

/// A copy of a keypair (keys are deliberately not `Clone`).
pub fn copy(k: &Keypair) -> Keypair {
    Keypair::from_seed(&k.seed()).expect("valid seed")
}

/// A practice record for node key `i`.
pub fn practice(i: usize) -> pb::Practice {
    pb::Practice {
        name: format!("Practice {i}"),
        ods_code: format!("M{:05}", 90000 + i),
        locality: ["North", "South"][i % 2].into(),
        list_size: 7000,
        node_key: node_key(i).public().as_bytes().to_vec(),
    }
}

/// A practice's everyday event: a new list size.
pub fn update(list_size: u32) -> Body {
    Body::PracticeUpdate(pb::PracticeUpdate {
        list_size,
        ..Default::default()
    })
}

/// Polls `check` every 100 ms until it returns true or `limit` passes; returns whether it
/// did. Bounded in time and in count.
pub async fn wait_for<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let step = Duration::from_millis(100);
    let tries = (limit.as_millis() / step.as_millis()).max(1);
    for _ in 0..tries {
        if check().await {
            return true;
        }
        tokio::time::sleep(step).await;
    }
    check().await
}

/// Whether the node's address is QUIC or TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// TCP with noise and yamux.
    Tcp,
    /// QUIC.
    Quic,
}

/// One partnership of `n` practices, each with its own node and store.
pub struct Cluster {
    /// The genesis, signed by practice 0's node.
    pub genesis: SignedEvent,
    /// Each node's data directory.
    pub dirs: Vec<TempDir>,
    /// Running nodes (`None` while stopped).
    pub nodes: Vec<Option<NodeHandle>>,
    /// Each node's last known listen address, with `/p2p/<peer id>`.
    pub addrs: Vec<Option<Multiaddr>>,
    /// Each node's clock offset (`clock_offset_ms`), moved forward by [`Cluster::advance`].
    pub clock_offset_ms: i64,
    /// Practice `i` uses key `base + i` (see [`Founding`]).
    pub base: usize,
    transport: Transport,
}

/// Most times [`Cluster::sign_as`] signs one body, when the node's own events keep taking
/// the seq it signed at.
pub const SIGN_AS_TRIES: usize = 3;

impl Cluster {
    /// Founds a partnership of `n` practices and starts every node: practice 0 founds,
    /// the others join with practice 0 as their bootstrap peer.
    pub async fn found(n: usize, transport: Transport) -> Cluster {
        Self::found_running(n, n, transport).await
    }

    /// Founds a partnership of `n` practices and starts only the first `running` nodes;
    /// the others' keys are left for a test to use as it likes.
    pub async fn found_running(n: usize, running: usize, transport: Transport) -> Cluster {
        Self::found_with(
            Founding {
                name: "Loopback Partnership".into(),
                base: 0,
                practices: n,
                running,
                partners: 0,
                deed: mutual_protocol::governance::deed::default_deed(),
                spread: false,
            },
            transport,
        )
        .await
    }

    /// Founds a partnership as `f` says and starts its first `f.running` nodes.
    pub async fn found_with(f: Founding, transport: Transport) -> Cluster {
        let n = f.practices;
        let first = practice(f.base);
        let g = pb::Genesis {
            name: f.name.clone(),
            practices: (0..n).map(|i| practice(f.base + i)).collect(),
            partners: (0..f.partners)
                .map(|j| pb::Partner {
                    name: format!("Dr Partner {}", f.base + j),
                    practice_ods: if f.spread {
                        practice(f.base + j % n).ods_code
                    } else {
                        first.ods_code.clone()
                    },
                    role: pb::PartnerRole::Partner as i32,
                    key: partner_key(f.base + j).public().as_bytes().to_vec(),
                })
                .collect(),
            deed: Some(f.deed),
            nonce: vec![
                n as u8,
                f.base as u8,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            ],
        };
        let (_, genesis) = FeedWriter::found(node_key(f.base), mutual_node::now_ms(), g);
        let mut c = Cluster {
            genesis,
            dirs: (0..n).map(|_| TempDir::new().expect("tempdir")).collect(),
            nodes: (0..n).map(|_| None).collect(),
            addrs: vec![None; n],
            clock_offset_ms: 0,
            base: f.base,
            transport,
        };
        for i in 0..f.running {
            c.start(i).await;
        }
        c
    }

    /// Lets `ms` of time pass for the running nodes: each is stopped and started again,
    /// on the same address, with its clock that much further ahead.
    pub async fn advance(&mut self, ms: i64) {
        self.clock_offset_ms += ms;
        let running = self.running();
        for &i in &running {
            self.stop(i).await;
        }
        for &i in &running {
            self.start_with(i, self.config_in_place(i)).await;
        }
    }

    /// The nodes now running.
    pub fn running(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_some())
            .collect()
    }

    /// The cluster's clock: this machine's, moved as far as [`Cluster::advance`] moved
    /// the nodes'.
    pub fn now_ms(&self) -> u64 {
        (mutual_node::now_ms() as i64 + self.clock_offset_ms) as u64
    }

    /// Signs `body` as partner key `kp` following everything node 0 holds, and submits
    /// it there; it must take effect.
    ///
    /// A node signs with its own key too (its address announcements, its witnesses), so
    /// with a node's key one of its own events can take the seq between the query and the
    /// submit: the node refuses ours, storing nothing, and it is signed again after it, at
    /// most [`SIGN_AS_TRIES`] times in all.
    pub async fn sign_as(&self, kp: &Keypair, body: Body) -> EventId {
        for attempt in 1..=SIGN_AS_TRIES {
            match self.try_sign_as(kp, body.clone()).await {
                Ok(id) => return id,
                Err(node::NodeError::Refused(why))
                    if attempt < SIGN_AS_TRIES && why.contains("already signed event") => {}
                Err(e) => panic!("submitted: {e:?}"),
            }
        }
        unreachable!("the last try returns or panics")
    }

    async fn try_sign_as(&self, kp: &Keypair, body: Body) -> Result<EventId, node::NodeError> {
        let node = self.node(0);
        let me = kp.public();
        let (last, heads, latest) = node
            .query(move |r| {
                let heads = r.heads();
                let latest = heads
                    .iter()
                    .filter_map(|h| r.get(h))
                    .map(|e| e.event.timestamp_ms)
                    .max()
                    .unwrap_or(0);
                (r.feed_head(&me), heads, latest)
            })
            .await
            .expect("query");
        let deps = deps_for(&body, &heads, last.map(|l| l.1));
        let ev = FeedWriter::resume(copy(kp), self.network(), last).sign(
            self.now_ms().max(latest),
            deps,
            body,
        );
        let s = node.submit(ev.to_wire()).await?;
        assert_eq!(s.outcome.as_deref(), Some("applied"), "{s:?}");
        Ok(ev.id)
    }

    /// The network id.
    pub fn network(&self) -> NetworkId {
        NetworkId(self.genesis.id)
    }

    /// A node's configuration: loopback, an ephemeral port, a 1 s sync interval, and every
    /// other known node as a bootstrap peer.
    pub fn config(&self, i: usize) -> Config {
        let mut c = Config::new(self.dirs[i].path().to_path_buf());
        c.listen = vec![match self.transport {
            Transport::Tcp => "/ip4/127.0.0.1/tcp/0".parse().expect("addr"),
            Transport::Quic => "/ip4/127.0.0.1/udp/0/quic-v1".parse().expect("addr"),
        }];
        c.bootstrap = self
            .addrs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .filter_map(|(_, a)| a.clone())
            .collect();
        c.sync_interval = Duration::from_secs(1);
        c.head_timeout = Duration::from_secs(60);
        c.clock_offset_ms = self.clock_offset_ms;
        c
    }

    /// Node `i`'s configuration, listening where it last listened, as a practice's node
    /// with a fixed port does: nodes of other networks know it by the address in the
    /// charter, not by its own network's bootstrap list.
    pub fn config_in_place(&self, i: usize) -> Config {
        let mut c = self.config(i);
        if let Some(a) = &self.addrs[i] {
            c.listen = vec![a
                .iter()
                .filter(|p| !matches!(p, Protocol::P2p(_)))
                .collect()];
        }
        c
    }

    /// Starts node `i` from its store (founding or joining on its first start).
    pub async fn start(&mut self, i: usize) {
        let config = self.config(i);
        self.start_with(i, config).await;
    }

    /// Starts node `i` with `config`.
    pub async fn start_with(&mut self, i: usize, config: Config) {
        let fresh = std::fs::read_dir(self.dirs[i].path())
            .map(|mut d| d.next().is_none())
            .unwrap_or(true);
        let network = match (i, fresh) {
            (_, false) => Network::Stored,
            (0, true) => Network::Found(Box::new(self.genesis.clone())),
            (_, true) => Network::Join(self.network()),
        };
        let handle = node::start(node_key(self.base + i), network, config)
            .await
            .expect("node starts");
        let status = handle.status().await.expect("status");
        let addr: Multiaddr = status
            .listen
            .first()
            .expect("listening")
            .parse()
            .expect("addr");
        self.addrs[i] = Some(addr.with(Protocol::P2p(handle.peer_id())));
        self.nodes[i] = Some(handle);
    }

    /// Stops node `i`, leaving its store.
    pub async fn stop(&mut self, i: usize) {
        if let Some(h) = self.nodes[i].take() {
            h.shutdown().await.expect("clean shutdown");
        }
    }

    /// A running node.
    pub fn node(&self, i: usize) -> &NodeHandle {
        self.nodes[i].as_ref().expect("node is running")
    }

    /// Node `i`'s data directory.
    pub fn dir(&self, i: usize) -> &Path {
        self.dirs[i].path()
    }

    /// Statuses of the running nodes among `which`.
    pub async fn statuses(&self, which: &[usize]) -> Vec<Status> {
        let mut out = Vec::new();
        for &i in which {
            if let Some(h) = &self.nodes[i] {
                out.push(h.status().await.expect("status"));
            }
        }
        out
    }

    /// Waits until the nodes in `which` all report the same state hash and no pending
    /// events; returns whether they did within `limit`.
    pub async fn converge(&self, which: &[usize], limit: Duration) -> bool {
        wait_for(limit, || async {
            let s = self.statuses(which).await;
            s.len() == which.len()
                && s.iter().all(|x| x.pending == 0)
                && s.windows(2).all(|w| w[0].state_hash == w[1].state_hash)
        })
        .await
    }
}

/// Copies a directory tree (a store, while its node is stopped).
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Serves node `i`'s local HTTP API (as the daemon does) on a loopback port, with `token`
/// as its API token.
pub async fn serve_api(c: &Cluster, i: usize, token: &str) -> std::net::SocketAddr {
    serve_api_with(c, i, token, false).await
}

/// As [`serve_api`]; with `tamper_prepare`, `POST /prepare` answers bytes that say
/// otherwise than what was asked (a ballot turned, a motion's vote lengthened), as a
/// compromised node would.
pub async fn serve_api_with(
    c: &Cluster,
    i: usize,
    token: &str,
    tamper_prepare: bool,
) -> std::net::SocketAddr {
    let state = mutual_node::api::ApiState {
        node: c.node(i).clone(),
        me: node_key(c.base + i).public(),
        token: token.into(),
        clock_offset_ms: c.clock_offset_ms,
        tls: false,
        uploads: Default::default(),
        tamper_prepare,
        live: Default::default(),
        stopping: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, mutual_node::api::router(state)).await;
    });
    addr
}

/// `GET path` on `addr` over plain HTTP/1.1, read to the end: the status line and headers,
/// and the body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut out))
        .await
        .expect("answered in time")
        .expect("read");
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    (head.to_string(), body.to_string())
}
