//! Gossip copies per event, counted where libp2p's connections read them: real nodes (the
//! node's driver, libp2p over TCP) on loopback, one network, every node a practice's.
//! The bytes are libp2p's bandwidth counters summed over every node, so a copy gossipsub
//! drops as a duplicate is counted like any other.
//!
//! One copy's bytes are measured the same way first: two nodes, one publishing, the
//! other reading each event once. Copies per event per node are then the bytes the
//! other nodes read while `events` events spread through `nodes` nodes, less what they
//! read in the same time when idle, ÷ (events × (nodes − 1) × one copy's bytes). Control
//! traffic that gossip sends because of the events (announcements of what a node holds,
//! requests for it), fetches of late causes and sync rounds are counted in.

use super::workload::{workload, Workload};
use crate::node::{self, Config, Network, NodeHandle};
use mutual_proto::v1 as pb;
use mutual_protocol::event::Body;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Longest wait for the nodes to connect, or for an event to reach every node.
const WAIT: Duration = Duration::from_secs(60);
/// How often the nodes are polled while waiting.
const POLL: Duration = Duration::from_millis(200);
/// Time given to gossip's mesh to form once the nodes are connected (several heartbeats).
const SETTLE: Duration = Duration::from_secs(4);
/// Bootstrap peers each node is started with: the founder's, which holds the genesis from
/// the start, and the nodes started just before; the rest it finds from the log's address
/// announcements.
const BOOTSTRAP: usize = 3;

/// Copies per event per node among `nodes` nodes, over `events` events; runs its own
/// tokio runtime and keeps the nodes' stores under `dir` (removed at the end).
pub fn copies_per_event(nodes: usize, events: usize, dir: &Path) -> Result<f64, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(dir);
    let result = rt.block_on(async {
        let one = bytes_per_event_read(2, events, &dir.join("pair")).await?;
        let many = bytes_per_event_read(nodes, events, &dir.join("many")).await?;
        if one <= 0.0 || many <= 0.0 {
            return Err(format!(
                "no gossip bytes measured ({one:.0} and {many:.0} per event)"
            ));
        }
        Ok::<f64, String>(many / one)
    });
    rt.shutdown_timeout(Duration::from_secs(5));
    let _ = std::fs::remove_dir_all(dir);
    result
}

/// Bytes read per event per receiving node while `events` events spread from the nodes
/// in turn through `n` nodes, idle traffic taken away.
async fn bytes_per_event_read(n: usize, events: usize, dir: &Path) -> Result<f64, String> {
    let w = workload(n, 0);
    let mut nodes = Vec::new();
    let result = match start_all(&w, dir, &mut nodes).await {
        Ok(()) => measure(&nodes, events).await,
        Err(e) => Err(e),
    };
    for h in &nodes {
        let _ = h.shutdown().await;
    }
    result
}

async fn measure(nodes: &[NodeHandle], events: usize) -> Result<f64, String> {
    let n = nodes.len();
    // Enough peers for a full gossip mesh, and room to choose it.
    let want_peers = (n - 1).min(crate::limits::GOSSIP_MESH_HIGH);
    wait_until(nodes, |s| s.peers.len() >= want_peers).await?;
    converged(nodes).await?;
    tokio::time::sleep(SETTLE).await;
    // Idle: what the nodes read when nothing happens.
    let t0 = Instant::now();
    let idle0 = read(nodes).await?;
    tokio::time::sleep(SETTLE).await;
    let idle_rate = (read(nodes).await? - idle0) as f64 / t0.elapsed().as_secs_f64();
    // The events, each signed by the next node in turn and gossiped.
    let start = Instant::now();
    let before = read(nodes).await?;
    for i in 0..events {
        let body = Body::PracticeUpdate(pb::PracticeUpdate {
            list_size: 5_000 + i as u32,
            ..Default::default()
        });
        nodes[i % n]
            .author(vec![body])
            .await
            .map_err(|e| e.to_string())?;
    }
    converged(nodes).await?;
    // Let the last announcements of what each node holds go out.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let read_bytes = (read(nodes).await? - before) as f64;
    let spent = start.elapsed().as_secs_f64();
    let idle = idle_rate * spent;
    if idle > read_bytes / 4.0 {
        return Err(format!(
            "idle traffic ({idle:.0} of {read_bytes:.0} bytes) too large to measure gossip by"
        ));
    }
    Ok((read_bytes - idle) / (events * (n - 1)) as f64)
}

/// Starts node 0 founding `w`'s network and the others joining it, each with up to
/// [`BOOTSTRAP`] earlier nodes as bootstrap peers. Sync rounds run as a node's do, every
/// ten seconds: they bring what gossip misses, and their bytes count like gossip's (in
/// sync, their idle cost is taken away with the rest).
async fn start_all(w: &Workload, dir: &Path, handles: &mut Vec<NodeHandle>) -> Result<(), String> {
    let mut addrs: Vec<libp2p::Multiaddr> = Vec::new();
    for (i, key) in w.keys.iter().enumerate() {
        let path: PathBuf = dir.join(i.to_string());
        std::fs::create_dir_all(&path).map_err(|e| e.to_string())?;
        let mut c = Config::new(path);
        c.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("an address")];
        c.bootstrap = addrs.iter().take(1).cloned().collect();
        c.bootstrap
            .extend(addrs.iter().skip(1).rev().take(BOOTSTRAP - 1).cloned());
        c.head_timeout = WAIT;
        let network = if i == 0 {
            Network::Found(Box::new(w.genesis.clone()))
        } else {
            Network::Join(w.network)
        };
        let key = mutual_protocol::keys::Keypair::from_seed(&key.seed()).ok_or("a key")?;
        handles.push(
            node::start(key, network, c)
                .await
                .map_err(|e| e.to_string())?,
        );
        let h = handles.last().expect("just started");
        let s = h.status().await.map_err(|e| e.to_string())?;
        let addr: libp2p::Multiaddr = s
            .listen
            .first()
            .ok_or("a node that listens nowhere")?
            .parse()
            .map_err(|e| format!("{e}"))?;
        addrs.push(addr.with(libp2p::multiaddr::Protocol::P2p(h.peer_id())));
    }
    Ok(())
}

/// Bytes read so far by every node's connections together.
async fn read(nodes: &[NodeHandle]) -> Result<u64, String> {
    let mut total = 0;
    for h in nodes {
        total += h
            .status()
            .await
            .map_err(|e| e.to_string())?
            .metrics
            .transport_bytes_in;
    }
    Ok(total)
}

/// Waits until every node holds the same log.
async fn converged(nodes: &[NodeHandle]) -> Result<(), String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut hashes = Vec::new();
        for h in nodes {
            hashes.push(h.status().await.map_err(|e| e.to_string())?.state_hash);
        }
        if hashes.windows(2).all(|p| p[0] == p[1]) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("the {} nodes did not converge", nodes.len()));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until every node's status satisfies `ok`.
async fn wait_until(
    nodes: &[NodeHandle],
    ok: impl Fn(&crate::core::Status) -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut all = true;
        let mut peers = Vec::new();
        for h in nodes {
            let s = h.status().await.map_err(|e| e.to_string())?;
            all &= ok(&s);
            peers.push(s.peers.len());
        }
        if all {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the {} nodes did not connect (peers of each: {peers:?})",
                nodes.len()
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}
