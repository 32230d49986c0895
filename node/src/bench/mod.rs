//! `mutual bench`: the performance figures of the README's targets (its "Benchmark"
//! section), each measured in one run on the machine it runs on and given as a ratio or a
//! count, never as an absolute time alone. A quick size by default, the targets' sizes
//! with `full`; the sizes used are part of the result. What cannot be measured yet is
//! `None`, with the reason in `notes`.
//!
//! - [`workload`]: the signed events measured; [`sync`]: two nodes' cores syncing over
//!   an in-memory link with every byte counted.

pub mod gossip;
pub mod national;
pub mod sync;
pub mod workload;

use crate::core::store::Store;
use crate::simulate;
use mutual_protocol::event::SignedEvent;
use mutual_protocol::replica::Replica;
use mutual_protocol::signature;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;
use workload::{workload, T0};

/// Events of the national network the target names.
pub const NATIONAL_EVENTS: usize = 10_000_000;

/// The sizes one run measures at.
#[derive(Debug, Clone, Serialize)]
pub struct Sizes {
    /// Whether these are the targets' own sizes.
    pub full: bool,
    /// Events ingested in order, and signatures batch-verified, for the ingest ratio.
    pub ingest_events: usize,
    /// Events of the small and the large out-of-order runs (`mutual simulate --orders`).
    pub reorder_events: (usize, usize),
    /// Replicas in each out-of-order run.
    pub reorder_replicas: usize,
    /// Events of the out-of-order run whose convergence is reported.
    pub simulate_events: usize,
    /// Authors, events and events missing for the sync ratio.
    pub sync_authors: usize,
    /// Events in that network.
    pub sync_events: usize,
    /// Events the lagging node lacks.
    pub sync_missing: usize,
    /// Authors of the network in which one event is missing: its practices and
    /// strangers' keys (see [`workload::with_strangers`]).
    pub wide_authors: usize,
    /// Events in that network.
    pub wide_events: usize,
    /// Events written to the store for the disk ratio.
    pub disk_events: usize,
    /// Nodes on loopback, and events gossiped among them, for the gossip copies.
    pub gossip_nodes: usize,
    /// Events gossiped.
    pub gossip_events: usize,
    /// The network a node holds for `national_memory_mb`.
    pub national: national::National,
}

impl Sizes {
    /// The quick sizes (seconds in a release build), or the full ones of the targets.
    pub fn new(full: bool) -> Sizes {
        if full {
            Sizes {
                full,
                ingest_events: 50_000,
                reorder_events: (2_000, 64_000),
                reorder_replicas: 3,
                simulate_events: 100_000,
                sync_authors: 200,
                sync_events: 20_000,
                sync_missing: 1_000,
                wide_authors: 40_000,
                wide_events: 20_000,
                disk_events: 100_000,
                gossip_nodes: 32,
                gossip_events: 256,
                national: national::National {
                    practices: 6_500,
                    partners: 40_000,
                    events: NATIONAL_EVENTS,
                },
            }
        } else {
            Sizes {
                full,
                ingest_events: 4_000,
                reorder_events: (250, 1_000),
                reorder_replicas: 2,
                simulate_events: 2_000,
                sync_authors: 50,
                sync_events: 1_200,
                sync_missing: 400,
                wide_authors: 2_000,
                wide_events: 400,
                disk_events: 2_000,
                gossip_nodes: 8,
                gossip_events: 16,
                national: national::National {
                    practices: 65,
                    partners: 400,
                    events: 10_000,
                },
            }
        }
    }
}

/// The figures, under the names the performance targets use.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    /// Events ingested per second (decoded, signatures batch-checked, stored in the
    /// replica, folded; in order, 64 at a time) ÷ signatures batch-verified per second,
    /// 64 at a time, over the same events; the best of three timings of each.
    pub ingest_over_batch_verify: f64,
    /// Time of the large out-of-order run ÷ the small one's; `None` if the large run did
    /// not converge (its time would mean nothing).
    pub reorder_growth: Option<f64>,
    /// n log n and n² growth for the same sizes, to read `reorder_growth` against.
    pub reorder_growth_n_log_n: f64,
    /// The same, n².
    pub reorder_growth_n_squared: f64,
    /// Whether every replica of the out-of-order run of `sizes.simulate_events` ended
    /// with every event and the same state hash.
    pub simulate_100k_converged: bool,
    /// Bytes of sync messages both ways until the lagging node holds every event ÷ the
    /// wire bytes of the events it lacked.
    pub sync_over_missing: f64,
    /// Bytes of sync messages both ways when one event of `sizes.wide_events` is missing,
    /// among `sizes.wide_authors` authors.
    pub sync_bytes_one_missing_40k_authors: u64,
    /// Bytes of one sync round (its requests and answers) between two nodes in sync.
    pub in_sync_round_bytes: u64,
    /// Gossip copies each node receives per event, on 32 loopback nodes; not measured yet.
    pub gossip_copies_per_event: Option<f64>,
    /// Bytes the store takes on disk ÷ the wire bytes of the events it holds.
    pub disk_over_wire: f64,
    /// The peak resident memory of a node holding the generated national network, MB
    /// ([`national`]); `None` if it went past what the benchmark lets it take.
    pub national_memory_mb: Option<f64>,
    /// The memory past which the holding node was stopped, MB, if it was.
    pub national_memory_exceeded_mb: Option<f64>,
    /// The size of this `mutual` binary, MB; `None` when it cannot be read, or when this
    /// is not a release build (the target is the release binary's).
    pub binary_mb: Option<f64>,
    /// The sizes measured at.
    pub sizes: Sizes,
    /// What was not measured, and why.
    pub notes: Vec<String>,
}

/// One line of the targets: the figure, what it is now, and the target.
pub struct Line {
    /// The figure's key.
    pub key: &'static str,
    /// Its value, in words.
    pub value: String,
    /// The target.
    pub target: &'static str,
    /// Whether it is met (`None`: not measured, or measured at a quick size while the
    /// target names a size).
    pub met: Option<bool>,
    /// Whether it was measured at all.
    pub measured: bool,
}

impl Figures {
    /// The figures against their targets, one line each. A target that names a size is
    /// judged only at the full sizes.
    pub fn lines(&self) -> Vec<Line> {
        let full = self.sizes.full;
        let sized = |met: bool| full.then_some(met);
        let ratio = |x: f64| format!("{x:.2}");
        let opt = |x: Option<f64>| x.map_or("not measured".into(), ratio);
        vec![
            Line {
                key: "ingest_over_batch_verify",
                value: ratio(self.ingest_over_batch_verify),
                target: ">= 0.8",
                met: Some(self.ingest_over_batch_verify >= 0.8),
                measured: true,
            },
            Line {
                key: "reorder_growth",
                value: match self.reorder_growth {
                    Some(g) => format!(
                        "{g:.1} (n log n {:.1}, n² {:.0})",
                        self.reorder_growth_n_log_n, self.reorder_growth_n_squared
                    ),
                    None => "the large run did not converge".into(),
                },
                target: "<= 60 at 2k -> 64k",
                met: sized(self.reorder_growth.is_some_and(|g| g <= 60.0)),
                measured: true,
            },
            Line {
                key: "simulate_100k_converged",
                value: self.simulate_100k_converged.to_string(),
                target: "true at 100,000 events",
                met: sized(self.simulate_100k_converged),
                measured: true,
            },
            Line {
                key: "sync_over_missing",
                value: ratio(self.sync_over_missing),
                target: "<= 1.05",
                met: sized(self.sync_over_missing <= 1.05),
                measured: true,
            },
            Line {
                key: "sync_bytes_one_missing_40k_authors",
                value: format!("{} bytes", self.sync_bytes_one_missing_40k_authors),
                target: "<= 4 KB at 40,000 authors",
                met: (self.sizes.wide_authors >= 40_000)
                    .then_some(self.sync_bytes_one_missing_40k_authors <= 4_096),
                measured: true,
            },
            Line {
                key: "in_sync_round_bytes",
                value: format!("{} bytes", self.in_sync_round_bytes),
                target: "<= 512 B",
                met: Some(self.in_sync_round_bytes <= 512),
                measured: true,
            },
            Line {
                key: "gossip_copies_per_event",
                value: opt(self.gossip_copies_per_event),
                target: "<= 3 at 32 nodes",
                met: self
                    .gossip_copies_per_event
                    .filter(|_| self.sizes.gossip_nodes >= 32)
                    .map(|c| c <= 3.0),
                measured: self.gossip_copies_per_event.is_some(),
            },
            Line {
                key: "disk_over_wire",
                value: ratio(self.disk_over_wire),
                target: "<= 1.5",
                met: sized(self.disk_over_wire <= 1.5),
                measured: true,
            },
            Line {
                key: "national_memory_mb",
                value: match (self.national_memory_mb, self.national_memory_exceeded_mb) {
                    (Some(m), _) => format!("{m:.0} MB"),
                    (None, Some(cap)) => format!("more than {cap:.0} MB (stopped there)"),
                    (None, None) => "not measured".into(),
                },
                target: "<= 256 MB at 10M events",
                // Judged at the target's own network only; a node stopped past the cap
                // has missed it.
                met: if self.national_memory_exceeded_mb.is_some() {
                    Some(false)
                } else {
                    let at_target = full && self.sizes.national.events == NATIONAL_EVENTS;
                    self.national_memory_mb
                        .and_then(|m| at_target.then_some(m <= 256.0))
                },
                measured: self.national_memory_mb.is_some()
                    || self.national_memory_exceeded_mb.is_some(),
            },
            Line {
                key: "binary_mb",
                value: self
                    .binary_mb
                    .map_or("not measured".into(), |m| format!("{m:.1} MB")),
                target: "<= 30",
                met: self.binary_mb.map(|m| m <= 30.0),
                measured: self.binary_mb.is_some(),
            },
        ]
    }
}

/// Runs every benchmark at the quick sizes, or the full ones; `store_dir` is a scratch
/// directory for the store's benchmark (emptied first).
pub fn run(sizes: Sizes, store_dir: &Path) -> Result<Figures, String> {
    let ingest_over_batch_verify = ingest_ratio(sizes.ingest_events)?;
    let reorder = reorder(&sizes)?;
    let (_, simulate_converged) = out_of_order(sizes.simulate_events, sizes.reorder_replicas)?;
    let sync_over_missing = sync_ratio(&sizes)?;
    let wide = one_missing(sizes.wide_authors, sizes.wide_events)?;
    let in_sync = in_sync_round(sizes.sync_authors, sizes.sync_events.min(2_000))?;
    let disk_over_wire = disk_ratio(sizes.disk_events, store_dir)?;
    let copies = gossip::copies_per_event(
        sizes.gossip_nodes,
        sizes.gossip_events,
        &store_dir.join("gossip"),
    )?;
    let binary_mb = binary_mb();
    // A national network the machine cannot hold is said, and the other figures stand;
    // a node that holds other than what was generated fails the benchmark.
    let (made, holding) = national_memory(sizes.national, store_dir)?;
    let (national_memory_mb, national_note) = national_figure(&made, sizes.national, &holding);
    let national_memory_exceeded_mb = match holding {
        national::Holding::Over { cap_mb } => Some(cap_mb),
        national::Holding::Held(_) => None,
    };
    Ok(Figures {
        ingest_over_batch_verify,
        reorder_growth: reorder.growth,
        reorder_growth_n_log_n: reorder.n_log_n,
        reorder_growth_n_squared: reorder.n_squared,
        simulate_100k_converged: simulate_converged,
        sync_over_missing,
        sync_bytes_one_missing_40k_authors: wide,
        in_sync_round_bytes: in_sync,
        gossip_copies_per_event: Some(copies),
        disk_over_wire,
        national_memory_mb,
        national_memory_exceeded_mb,
        binary_mb,
        notes: vec![
            format!(
                "sync_bytes_one_missing_40k_authors is measured at {} authors, {} of them \
                 practices and the rest keys that each signed one event both nodes hold \
                 (a genesis lists at most {} practices); the bytes do not depend on history",
                sizes.wide_authors,
                sizes.wide_authors.min(WIDE_PRACTICES),
                workload::MAX_AUTHORS
            ),
            format!(
                "gossip_copies_per_event: bytes libp2p's connections read while {} events spread \
                 through {} nodes on loopback, idle traffic taken away, per receiving node and \
                 event, ÷ the bytes one node reads for one event from one other",
                sizes.gossip_events, sizes.gossip_nodes
            ),
            national_note,
            "binary_mb is measured on a release build only".into(),
        ],
        sizes,
    })
}

/// Times each leg of the ingest ratio is measured, alternating; the best of each counts.
const INGEST_REPEATS: usize = 3;

/// The figures one run can measure alone (`mutual bench --only`).
pub const FIGURES: &[&str] = &[
    "ingest_over_batch_verify",
    "reorder_growth",
    "simulate_100k_converged",
    "sync_over_missing",
    "sync_bytes_one_missing_40k_authors",
    "in_sync_round_bytes",
    "gossip_copies_per_event",
    "disk_over_wire",
    "national_memory_mb",
    "binary_mb",
];

/// Measures one figure alone, at the quick sizes or the full ones: `{figure: value,
/// "sizes": …}`.
pub fn run_only(figure: &str, sizes: Sizes, store_dir: &Path) -> Result<serde_json::Value, String> {
    let value = match figure {
        "ingest_over_batch_verify" => serde_json::json!(ingest_ratio(sizes.ingest_events)?),
        "reorder_growth" => {
            let r = reorder(&sizes)?;
            return Ok(serde_json::json!({
                figure: r.growth,
                "reorder_growth_n_log_n": r.n_log_n,
                "reorder_growth_n_squared": r.n_squared,
                "sizes": sizes,
            }));
        }
        "simulate_100k_converged" => {
            serde_json::json!(out_of_order(sizes.simulate_events, sizes.reorder_replicas)?.1)
        }
        "sync_over_missing" => serde_json::json!(sync_ratio(&sizes)?),
        "sync_bytes_one_missing_40k_authors" => {
            serde_json::json!(one_missing(sizes.wide_authors, sizes.wide_events)?)
        }
        "in_sync_round_bytes" => serde_json::json!(in_sync_round(
            sizes.sync_authors,
            sizes.sync_events.min(2_000)
        )?),
        "gossip_copies_per_event" => serde_json::json!(gossip::copies_per_event(
            sizes.gossip_nodes,
            sizes.gossip_events,
            &store_dir.join("gossip"),
        )?),
        "disk_over_wire" => serde_json::json!(disk_ratio(sizes.disk_events, store_dir)?),
        "national_memory_mb" => {
            let (made, holding) = national_memory(sizes.national, store_dir)?;
            let (value, note) = national_figure(&made, sizes.national, &holding);
            let (held, exceeded) = match holding {
                national::Holding::Held(held) => (Some(held), None),
                national::Holding::Over { cap_mb } => (None, Some(cap_mb)),
            };
            return Ok(serde_json::json!({
                figure: value,
                "national_memory_exceeded_mb": exceeded,
                "held": held,
                "note": note,
                "sizes": sizes,
            }));
        }
        "binary_mb" => serde_json::json!(binary_mb()),
        _ => {
            return Err(format!(
                "no figure named {figure:?}; the figures measured alone: {}",
                FIGURES.join(", ")
            ))
        }
    };
    Ok(serde_json::json!({ figure: value, "sizes": sizes }))
}

/// Generates the national network of `size` into a store under `store_dir`, and has a
/// node of its own process hold it ([`national::hold_in_child`]): what it holds and its
/// memory. The node must hold every event and the whole membership generated, or the
/// measure would be of something else.
fn national_memory(
    size: national::National,
    store_dir: &Path,
) -> Result<(national::Generated, national::Holding), String> {
    let dir = store_dir.join(national::NATIONAL_DIR);
    let made = national::generate(size, &dir);
    let holding = made
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|made| national::hold_in_child(&dir, &made.network));
    let _ = std::fs::remove_dir_all(&dir);
    let (made, holding) = (made?, holding?);
    if let national::Holding::Held(held) = &holding {
        let want = (made.events, size.practices, size.partners);
        if (held.events, held.practices, held.partners) != want {
            return Err(format!(
                "the node holds {} events, {} practices and {} partners, not the {} events, \
                 {} practices and {} partners generated",
                held.events, held.practices, held.partners, want.0, want.1, want.2
            ));
        }
    }
    Ok((made, holding))
}

/// The figure (the peak, MB, if the node held the store) and what it measured, in words.
fn national_figure(
    made: &national::Generated,
    size: national::National,
    holding: &national::Holding,
) -> (Option<f64>, String) {
    let what = format!(
        "a node's process that opens a store of {} events ({} practices, {} partners, \
         admitted by the chair, then resolutions each voted on by 200 partners) as a node \
         does on start",
        made.events, size.practices, size.partners
    );
    match holding {
        national::Holding::Held(held) => (
            Some(held.peak_mb),
            format!(
                "national_memory_mb is the peak resident memory of {what}; once it holds them \
                 its resident memory is {:.0} MB (at most what it uses: the allocator may keep \
                 memory it freed)",
                held.rss_mb
            ),
        ),
        national::Holding::Over { cap_mb } => (
            None,
            format!(
                "national_memory_mb is not given: {what} went past {cap_mb:.0} MB, what the \
                 benchmark lets it take on this machine, and was stopped there"
            ),
        ),
    }
}

/// This binary's size in MB, if it is a release build and can be read.
fn binary_mb() -> Option<f64> {
    std::env::current_exe()
        .and_then(std::fs::metadata)
        .ok()
        .filter(|_| !cfg!(debug_assertions))
        .map(|m| m.len() as f64 / 1e6)
}

/// Events per second ingested in order ÷ signatures per second batch-verified, over the
/// same `events` events: the best of [`INGEST_REPEATS`] timings of each, alternating.
fn ingest_ratio(events: usize) -> Result<f64, String> {
    const BATCH: usize = 64;
    let w = workload(5, events);
    let wires: Vec<Vec<u8>> = std::iter::once(&w.genesis)
        .chain(&w.events)
        .map(SignedEvent::to_wire)
        .collect();
    let (mut verify_secs, mut ingest_secs) = (f64::MAX, f64::MAX);
    for _ in 0..INGEST_REPEATS {
        let started = Instant::now();
        let mut valid = 0;
        for chunk in w.events.chunks(BATCH) {
            let items: Vec<_> = chunk.iter().map(SignedEvent::signature_item).collect();
            let ok = std::hint::black_box(signature::verify_batch(&items));
            valid += ok.iter().filter(|v| **v).count();
        }
        verify_secs = verify_secs.min(started.elapsed().as_secs_f64());
        if valid != w.events.len() {
            return Err(format!("{valid} of {} signatures verified", w.events.len()));
        }
        let started = Instant::now();
        let mut r = Replica::new(w.network);
        for chunk in wires.chunks(BATCH) {
            r.ingest_batch(T0 + 1_000_000_000, chunk);
        }
        ingest_secs = ingest_secs.min(started.elapsed().as_secs_f64());
        if r.len() != wires.len() {
            return Err(format!("{} of {} events ingested", r.len(), wires.len()));
        }
    }
    let verify = w.events.len() as f64 / verify_secs.max(1e-9);
    let ingest = wires.len() as f64 / ingest_secs.max(1e-9);
    Ok(ingest / verify)
}

/// The growth of out-of-order ingest between the two sizes, and the n log n and n²
/// growth to read it against.
struct Reorder {
    growth: Option<f64>,
    n_log_n: f64,
    n_squared: f64,
}

/// Times the delivery-order check at the small and the large size; no growth if the
/// large run did not converge (its time would mean nothing).
fn reorder(sizes: &Sizes) -> Result<Reorder, String> {
    let (small, large) = sizes.reorder_events;
    let (t_small, _) = out_of_order(small, sizes.reorder_replicas)?;
    let (t_large, converged) = out_of_order(large, sizes.reorder_replicas)?;
    let growth = |f: fn(f64) -> f64| f(large as f64) / f(small as f64);
    Ok(Reorder {
        growth: converged.then(|| t_large / t_small),
        n_log_n: growth(|n| n * n.log2()),
        n_squared: growth(|n| n * n),
    })
}

/// Seconds the in-process delivery-order check takes to deliver `events` events to every
/// replica (its authoring is not timed) and whether
/// every replica ended with every event and one state hash.
fn out_of_order(events: usize, replicas: usize) -> Result<(f64, bool), String> {
    let plan = simulate::Plan {
        practices: replicas,
        events,
        seed: 1,
        start_ms: T0,
    };
    let s = simulate::run(&plan).map_err(|e| e.to_string())?;
    let complete = s.nodes.iter().all(|n| n.events == s.authored);
    Ok((s.delivery_secs, s.converged && complete))
}

/// Sync bytes ÷ missing bytes: node 1 lacks the last `sync_missing` events.
fn sync_ratio(sizes: &Sizes) -> Result<f64, String> {
    let w = workload(sizes.sync_authors, sizes.sync_events);
    let keep = w.events.len().saturating_sub(sizes.sync_missing);
    let held: Vec<bool> = (0..w.events.len()).map(|i| i < keep).collect();
    let missing: usize = w.events[keep..].iter().map(|e| e.to_wire().len()).sum();
    let mut pair = sync::Pair::new(&w, &held)?;
    let traffic = pair.connect_and_sync()?;
    Ok(traffic.total() as f64 / missing.max(1) as f64)
}

/// Sync bytes when node 1 lacks one event (the last) of `events` by a network's
/// practices, both nodes holding feeds of `authors` authors in all (see
/// [`workload::with_strangers`]).
fn one_missing(authors: usize, events: usize) -> Result<u64, String> {
    let practices = authors.min(WIDE_PRACTICES);
    let w = workload::with_strangers(workload(practices, events), authors - practices);
    let held: Vec<bool> = (0..w.events.len())
        .map(|i| i + 1 < w.events.len())
        .collect();
    let mut pair = sync::Pair::new(&w, &held)?;
    Ok(pair.connect_and_sync()?.total())
}

/// Practices of the network in which one event is missing; its other authors are
/// strangers' keys.
const WIDE_PRACTICES: usize = 100;

/// Bytes of the larger of the two rounds two nodes in sync start when they connect.
fn in_sync_round(authors: usize, events: usize) -> Result<u64, String> {
    let w = workload(authors, events);
    let held = vec![true; w.events.len()];
    let mut pair = sync::Pair::new(&w, &held)?;
    let t = pair.connect_and_sync()?;
    if t.rounds == 0 {
        return Err("no sync round started".into());
    }
    Ok(t.by_round_of[0].max(t.by_round_of[1]))
}

/// Bytes the node's store (its event file, its closed motions' file and sled) takes on disk for `events` events ÷ their wire bytes:
/// written as the node writes a peer's pages (a batch, then a durable sync), then the
/// derived-state snapshot the node saves beside them.
fn disk_ratio(events: usize, dir: &Path) -> Result<f64, String> {
    let w = workload(5, events);
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let wire: usize = std::iter::once(&w.genesis)
        .chain(&w.events)
        .map(|e| e.to_wire().len())
        .sum();
    let disk = {
        let mut store = crate::store::SledStore::open(dir).map_err(|e| e.to_string())?;
        store.set_network(w.network).map_err(|e| e.to_string())?;
        let all: Vec<&SignedEvent> = std::iter::once(&w.genesis).chain(&w.events).collect();
        for chunk in all.chunks(256) {
            store.put_events(chunk).map_err(|e| e.to_string())?;
            store.sync().map_err(|e| e.to_string())?;
        }
        // As a node's does, the replica keeps closed motions' ballots in the store, and
        // its indexes in the store's run files.
        let mut r = Replica::new(w.network);
        if let Some(archive) = crate::core::store::Store::archive(&store) {
            r.set_archive(archive);
        }
        if let Some(runs) = crate::core::store::Store::runs(&store) {
            r.set_runs(runs);
        }
        for chunk in all.chunks(256) {
            let wires: Vec<Vec<u8>> = chunk.iter().map(|e| e.to_wire()).collect();
            r.ingest_batch(T0 + 1_000_000_000, &wires);
        }
        let state = r.state();
        let snapshot = crate::core::store::Snapshot {
            state_hash: r.state_hash().0,
            events: state.events(),
            digest: state.canonical_bytes(&r.network(), r.forks()),
        };
        store.save_snapshot(&snapshot).map_err(|e| e.to_string())?;
        store.sync().map_err(|e| e.to_string())?;
        // Counted while the node holds them: the index runs are removed with the store.
        dir_bytes(dir).map_err(|e| e.to_string())?
    };
    let _ = std::fs::remove_dir_all(dir);
    Ok(disk as f64 / wire.max(1) as f64)
}

/// Bytes of the files under `dir`.
fn dir_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}
