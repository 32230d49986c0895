//! `national_memory_mb`: the memory a node needs to hold a national network's log.
//!
//! [`generate`] writes, into a real store, a network grown as a national one would grow:
//! one founding practice whose registrar partner is elected chair, then every other
//! practice admitted with its first partners by motions the deed has the chair decide
//! (sixteen open at a time, as one proposer may have), then partners' business until the
//! log holds the events asked for: ordinary resolutions, each voted on by two hundred
//! partners, and practices' updates. Every event is signed, and every admission takes
//! effect in the fold, so the state holds the whole membership.
//!
//! [`hold`] is what a node does when it starts on that store (`NodeCore::open`: every
//! event read back, checked and folded); it runs in a process of its own (`mutual bench`
//! starts one), so that what it reports, the process's resident memory at its peak and
//! once it holds the log, is the node's alone.

use super::workload::{practice_key, T0};
use crate::core::store::Store;
use crate::core::{CoreConfig, NodeCore, Now};
use crate::store::SledStore;
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, FeedWriter, SignedEvent};
use mutual_protocol::governance::deed::default_deed;
use mutual_protocol::governance::MAX_OPEN_MOTIONS_PER_PROPOSER;
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::keys::Keypair;
use mutual_protocol::limits::MAX_CLOCK_SKEW_MS;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The size of a generated network.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct National {
    /// Member practices, the founding one included.
    pub practices: usize,
    /// Partners, the registrar included.
    pub partners: usize,
    /// Events in the log, the genesis included.
    pub events: usize,
}

/// Partners who vote on each ordinary resolution of the generated business.
const VOTERS_PER_MOTION: usize = 200;
/// Generated time between two events of the business, ms: a motion's 200 ballots come
/// within its vote, and with the least grace period about ten motions are open at a
/// time (at most 256 may be).
const STEP_MS: u64 = 200;
/// The shortest vote the generated deed allows, ms.
const VOTE_MS: u64 = 60_000;
/// Events written to the store at a time, each batch made durable.
const WRITE_BATCH: usize = 4_096;
/// The directory, in the benchmark's scratch directory, of the generated store.
pub const NATIONAL_DIR: &str = "national";
/// How the benchmark's scratch directory's name starts (`mutual-bench-<pid>`).
pub const SCRATCH_PREFIX: &str = "mutual-bench-";
/// Localities practices are spread over.
const LOCALITIES: [&str; 7] = [
    "North East",
    "North West",
    "Yorkshire",
    "Midlands",
    "East",
    "London",
    "South",
];

/// What the generated store holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Generated {
    /// The network.
    pub network: String,
    /// Events written.
    pub events: usize,
    /// Their bytes on the wire.
    pub wire_bytes: u64,
}

/// What a node holding the store reported ([`hold`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Held {
    /// Events the node holds.
    pub events: usize,
    /// Active practices in its state.
    pub practices: usize,
    /// Active partners in its state.
    pub partners: usize,
    /// The process's resident memory at its peak (`VmHWM`), MB.
    pub peak_mb: f64,
    /// Its resident memory once the node holds the log (`VmRSS`), MB.
    pub rss_mb: f64,
}

fn partner_key(n: usize) -> Keypair {
    let mut seed = [11u8; 32];
    seed[..8].copy_from_slice(&(n as u64).to_le_bytes());
    Keypair::from_seed(&seed).expect("any 32 bytes are a seed")
}

fn ods(n: usize) -> String {
    format!("N{n:05}")
}

/// The deed: the chair decides admissions of practices; every vote may be as short as
/// [`VOTE_MS`] and the grace period is the least allowed.
fn deed() -> pb::Deed {
    let mut d = default_deed();
    d.grace_period_ms = MAX_CLOCK_SKEW_MS;
    for r in &mut d.rules {
        r.min_voting_period_ms = VOTE_MS;
        if r.kind == pb::DecisionKind::AdmitPractice as i32 {
            r.voters = pb::Group::Chair as i32;
        }
    }
    d
}

/// Writes events to the store a batch at a time, each batch durable, counting them.
struct Writer<'a> {
    store: &'a mut SledStore,
    batch: Vec<SignedEvent>,
    events: usize,
    wire_bytes: u64,
    /// The last event written: the next one follows it, so the log is one causal order.
    last: EventId,
}

impl Writer<'_> {
    fn put(&mut self, ev: SignedEvent) -> Result<EventId, String> {
        let id = ev.id;
        self.wire_bytes += ev.to_wire().len() as u64;
        self.events += 1;
        self.last = id;
        self.batch.push(ev);
        if self.batch.len() >= WRITE_BATCH {
            self.flush()?;
        }
        Ok(id)
    }

    fn flush(&mut self) -> Result<(), String> {
        let refs: Vec<&SignedEvent> = self.batch.iter().collect();
        self.store.put_events(&refs).map_err(|e| e.to_string())?;
        self.store.sync().map_err(|e| e.to_string())?;
        self.batch.clear();
        Ok(())
    }
}

/// Generates a network of `size` into a new store at `dir` (see the module
/// documentation). Practice 0's node key founds it ([`practice_key`]).
pub fn generate(size: National, dir: &Path) -> Result<Generated, String> {
    let practices = size.practices.max(2);
    let partners = size.partners.max(practices);
    let founder = practice_key(0);
    let registrar = partner_key(0);
    let genesis = pb::Genesis {
        name: "National Partnership".into(),
        practices: vec![practice(0, &founder)],
        partners: vec![pb::Partner {
            name: "Registrar".into(),
            practice_ods: ods(0),
            role: pb::PartnerRole::Managing as i32,
            key: registrar.public().as_bytes().to_vec(),
        }],
        deed: Some(deed()),
        ..Default::default()
    };
    let (node, genesis) = FeedWriter::found(copy(&founder), T0, genesis);
    let network = NetworkId(genesis.id);
    let _ = std::fs::remove_dir_all(dir);
    let mut store = SledStore::open(dir).map_err(|e| e.to_string())?;
    store.set_network(network).map_err(|e| e.to_string())?;
    let mut w = Writer {
        store: &mut store,
        batch: Vec::new(),
        events: 0,
        wire_bytes: 0,
        last: genesis.id,
    };
    w.put(genesis)?;
    let mut reg = FeedWriter::resume(copy(&registrar), network, None);
    let mut nodes = Feeds::new(practices, practice_key, network);
    nodes.writers[0] = Some(node);
    // A practice node's event: it closes the motions whose grace has passed, and
    // witnesses every ballot in its past of a partner of another practice (of any other
    // member while one practice alone is active), so that they count (GOVERNANCE.md §5.5).
    let update = |nodes: &mut Feeds, p: usize, at: u64, after: EventId| {
        nodes.of(p).sign(
            at,
            vec![after],
            Body::PracticeUpdate(pb::PracticeUpdate {
                list_size: 8_000 + (at % 1_000) as u32,
                ..Default::default()
            }),
        )
    };
    let mut t = T0 + 1_000;

    // The registrar is elected chair.
    let chair = reg.sign(
        t,
        vec![],
        Body::Motion(pb::Motion {
            kind: pb::DecisionKind::ElectChair as i32,
            title: "Chair".into(),
            opens_at_ms: t,
            closes_at_ms: t + VOTE_MS,
            candidates: vec![registrar.public().as_bytes().to_vec()],
            ..Default::default()
        }),
    );
    let motion = w.put(chair)?;
    let ballot = w.put(reg.sign(
        t + 1,
        vec![],
        Body::Ballot(pb::Ballot {
            motion: motion.as_bytes().to_vec(),
            ranking: vec![registrar.public().as_bytes().to_vec()],
            ..Default::default()
        }),
    ))?;
    w.put(update(&mut nodes, 0, t + 2, ballot))?;
    let round_ms = VOTE_MS + MAX_CLOCK_SKEW_MS + 1_000;
    t += round_ms;

    // Every other practice, admitted with its first partners by the chair, sixteen
    // motions at a time (the first event after a round's grace closes it).
    let mut next_partner = 1;
    let per = (partners - 1) / (practices - 1);
    let extra = (partners - 1) % (practices - 1);
    let admitted: Vec<usize> = (1..practices).collect();
    for (round, group) in admitted.chunks(MAX_OPEN_MOTIONS_PER_PROPOSER).enumerate() {
        // The founding node closes the last round's motions, admitting its practices.
        w.put(update(&mut nodes, 0, t, w.last))?;
        t += 1;
        let mut motions = Vec::new();
        for (i, &p) in group.iter().enumerate() {
            let count = per + usize::from(p - 1 < extra);
            let first: Vec<pb::Partner> = (next_partner..next_partner + count)
                .map(|n| pb::Partner {
                    name: format!("Dr Partner {n}"),
                    practice_ods: ods(p),
                    role: pb::PartnerRole::Partner as i32,
                    key: partner_key(n).public().as_bytes().to_vec(),
                })
                .collect();
            next_partner += count;
            let at = t + i as u64;
            let m = reg.sign(
                at,
                vec![w.last],
                Body::Motion(pb::Motion {
                    kind: pb::DecisionKind::AdmitPractice as i32,
                    title: format!("Admit practice {p}"),
                    opens_at_ms: at,
                    closes_at_ms: at + VOTE_MS,
                    admit_practice: Some(practice(p, &practice_key(p))),
                    first_partners: first,
                    ..Default::default()
                }),
            );
            motions.push((w.put(m)?, at));
        }
        let mut last = t;
        for (m, at) in motions {
            last = at + MAX_OPEN_MOTIONS_PER_PROPOSER as u64;
            w.put(reg.sign(
                last,
                vec![m],
                Body::Ballot(pb::Ballot {
                    motion: m.as_bytes().to_vec(),
                    choice: pb::Choice::For as i32,
                    ..Default::default()
                }),
            ))?;
        }
        // The chair's ballots (practice 0's) witnessed: by practice 1's node once it is
        // a member, by the founding node while it is the only practice.
        let witness = if round == 0 { 0 } else { 1 };
        w.put(update(&mut nodes, witness, last + 1, w.last))?;
        t += round_ms;
    }

    // The founding node closes the last round.
    w.put(update(&mut nodes, 0, t, w.last))?;
    t += STEP_MS;

    // The partners' business: an ordinary resolution, voted on by 200 partners in turn,
    // and now and then a practice's update, until the log holds `size.events`.
    let mut feeds = Feeds::new(partners, partner_key, network);
    feeds.writers[0] = Some(reg);
    let mut n = 0usize;
    while w.events < size.events {
        let proposer = 1 + (n * 7_919) % (partners - 1);
        let m = feeds.of(proposer).sign(
            t,
            vec![w.last],
            Body::Motion(pb::Motion {
                kind: pb::DecisionKind::General as i32,
                title: format!("Resolution {n}"),
                text: "That the partnership adopts the proposal in the papers.".into(),
                opens_at_ms: t,
                closes_at_ms: t + VOTE_MS,
                ..Default::default()
            }),
        );
        let motion = w.put(m)?;
        for j in 0..VOTERS_PER_MOTION.min(partners) {
            if w.events >= size.events {
                break;
            }
            t += STEP_MS;
            if j % 50 == 49 {
                let p = (n * 31 + j) % practices;
                w.put(update(&mut nodes, p, t, w.last))?;
                continue;
            }
            let voter = (proposer + 1 + j) % partners;
            let choice = if j % 3 == 0 {
                pb::Choice::Against
            } else {
                pb::Choice::For
            };
            // Each event follows the one before, as in a busy, well-connected network:
            // the next practice node's event witnesses the ballot.
            let ballot = feeds.of(voter).sign(
                t,
                vec![motion, w.last],
                Body::Ballot(pb::Ballot {
                    motion: motion.as_bytes().to_vec(),
                    choice: choice as i32,
                    ..Default::default()
                }),
            );
            w.put(ballot)?;
        }
        t += STEP_MS;
        n += 1;
    }
    w.flush()?;
    Ok(Generated {
        network: network.to_string(),
        events: w.events,
        wire_bytes: w.wire_bytes,
    })
}

/// Practice `n`'s entry in a genesis or an admission.
fn practice(n: usize, key: &Keypair) -> pb::Practice {
    pb::Practice {
        name: format!("Practice {n}"),
        ods_code: ods(n),
        locality: LOCALITIES[n % LOCALITIES.len()].into(),
        list_size: 8_000,
        node_key: key.public().as_bytes().to_vec(),
    }
}

fn copy(k: &Keypair) -> Keypair {
    Keypair::from_seed(&k.seed()).expect("a valid seed")
}

/// The feeds of the partners (or of the practices' nodes), each writer made on first use.
struct Feeds {
    writers: Vec<Option<FeedWriter>>,
    key: fn(usize) -> Keypair,
    network: NetworkId,
}

impl Feeds {
    fn new(count: usize, key: fn(usize) -> Keypair, network: NetworkId) -> Feeds {
        Feeds {
            writers: (0..count).map(|_| None).collect(),
            key,
            network,
        }
    }

    fn of(&mut self, n: usize) -> &mut FeedWriter {
        let (key, network) = (self.key, self.network);
        self.writers[n].get_or_insert_with(|| FeedWriter::resume(key(n), network, None))
    }
}

/// Opens the store at `dir` as a starting node does and reports what it holds and the
/// process's memory (see the module documentation).
pub fn hold(dir: &Path, network: NetworkId) -> Result<Held, String> {
    // Only a store the benchmark generated: a practice's own store is never opened here.
    let generated = dir.file_name().is_some_and(|n| n == NATIONAL_DIR)
        && dir
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(SCRATCH_PREFIX));
    if !generated {
        return Err(format!(
            "{} is not a store `mutual bench` generated ({SCRATCH_PREFIX}*/{NATIONAL_DIR})",
            dir.display()
        ));
    }
    let store = SledStore::open(dir).map_err(|e| e.to_string())?;
    let now = Now {
        wall_ms: crate::now_ms(),
        mono_ms: 0,
    };
    let (core, _) = NodeCore::open(
        copy(&practice_key(0)),
        network,
        store,
        None,
        CoreConfig::default(),
        now,
    )
    .map_err(|e| e.to_string())?;
    let m = core.replica().state().membership();
    let practices = m
        .practices()
        .filter(|p| p.status == mutual_protocol::membership::Status::Active)
        .count();
    let partners = m
        .partners()
        .filter(|p| p.status == mutual_protocol::membership::Status::Active)
        .count();
    let (peak_mb, rss_mb) = memory_mb()?;
    Ok(Held {
        events: core.replica().len(),
        practices,
        partners,
        peak_mb,
        rss_mb,
    })
}

/// What became of the holding node.
#[derive(Debug)]
pub enum Holding {
    /// It held the store and reported.
    Held(Held),
    /// It went past the memory the benchmark allows it, and was stopped there.
    Over {
        /// That memory, MB.
        cap_mb: f64,
    },
}

/// Share of this machine's memory (the least of its memory, its cgroup's limit, and what
/// was available when the node started) the holding node may take before the benchmark
/// stops it, so that measuring never starves the machine.
const MEMORY_CAP_SHARE: f64 = 0.75;
/// Longest the holding node may take to open the store: past it, the benchmark fails
/// rather than waiting for ever.
const HOLD_LIMIT: std::time::Duration = std::time::Duration::from_secs(4 * 3_600);

/// The memory the holding node may take, MB ([`MEMORY_CAP_SHARE`]).
fn memory_cap_mb() -> Result<f64, String> {
    let mut least = meminfo_mb("MemTotal:")?.min(meminfo_mb("MemAvailable:")?);
    if let Some(limit) = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        least = least.min(limit / 1_048_576.0);
    }
    Ok(least * MEMORY_CAP_SHARE)
}

/// Runs [`hold`] in a process of its own (`mutual bench-hold`, so this must run from the
/// `mutual` binary), watching its memory ten times a second: past [`MEMORY_CAP_SHARE`] of
/// the machine's it is stopped.
pub fn hold_in_child(dir: &Path, network: &str) -> Result<Holding, String> {
    let cap_mb = memory_cap_mb()?;
    let errors = dir.with_extension("err");
    let stderr = std::fs::File::create(&errors).map_err(|e| e.to_string())?;
    let mut child = std::process::Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .args(["bench-hold", &dir.display().to_string(), network])
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("starting the holding node: {e}"))?;
    let started = std::time::Instant::now();
    let stop = |child: &mut std::process::Child| {
        let _ = child.kill();
        let _ = child.wait();
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                stop(&mut child);
                return Err(format!("watching the holding node: {e}"));
            }
        }
        let rss = status_mb(&format!("/proc/{}/status", child.id()), "VmRSS:").unwrap_or(0.0);
        if rss > cap_mb {
            stop(&mut child);
            return Ok(Holding::Over { cap_mb });
        }
        if started.elapsed() > HOLD_LIMIT {
            stop(&mut child);
            return Err(format!(
                "the holding node had not opened the store after {} s",
                HOLD_LIMIT.as_secs()
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        std::io::Read::read_to_string(&mut stdout, &mut out).map_err(|e| e.to_string())?;
    }
    if !status.success() {
        let said = std::fs::read_to_string(&errors).unwrap_or_default();
        return Err(format!(
            "the holding node failed ({status}): {}",
            said.trim()
        ));
    }
    serde_json::from_str(&out)
        .map(Holding::Held)
        .map_err(|e| format!("the holding node's report: {e}"))
}

/// This process's resident memory at its peak and now, MB, from `/proc/self/status`.
fn memory_mb() -> Result<(f64, f64), String> {
    let path = "/proc/self/status";
    Ok((status_mb(path, "VmHWM:")?, status_mb(path, "VmRSS:")?))
}

/// A `kB` line of a `/proc` status-like file, in MB.
fn status_mb(path: &str, name: &str) -> Result<f64, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .ok_or_else(|| format!("no {name} in {path}"))
}

/// A line of `/proc/meminfo`, in MB.
fn meminfo_mb(name: &str) -> Result<f64, String> {
    status_mb("/proc/meminfo", name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutual_protocol::membership::Status;
    use mutual_protocol::state::Outcome;

    /// The generated log is what the figure claims: every event signed, valid and taking
    /// effect (no rejection), the membership as large as asked, and its ballots counted.
    #[test]
    fn every_generated_event_takes_effect_and_the_membership_is_as_asked() {
        let dir = tempfile::TempDir::new().expect("dir");
        let size = National {
            practices: 20,
            partners: 300,
            events: 3_000,
        };
        let made = generate(size, dir.path()).expect("generated");
        assert_eq!(made.events, size.events);
        let mut store = SledStore::open(dir.path()).expect("store");
        let network: NetworkId = made.network.parse().expect("an id");
        let mut r = mutual_protocol::replica::Replica::new(network);
        crate::core::store::load_log(&mut store, &mut r, u64::MAX / 2).expect("loaded");
        assert_eq!(r.len(), size.events);
        let refused: Vec<_> = r
            .events_in_order()
            .filter_map(|e| match r.outcome(&e.id) {
                Some(Outcome::Applied) => None,
                o => Some((e.event.author, e.event.seq, o.cloned())),
            })
            .collect();
        assert!(refused.is_empty(), "{refused:?}");
        let st = r.state();
        let m = st.membership();
        let active = |s: &Status| *s == Status::Active;
        assert_eq!(m.practices().filter(|p| active(&p.status)).count(), 20);
        assert_eq!(m.partners().filter(|p| active(&p.status)).count(), 300);
        assert!(st.governance().chair().is_some());
        // The resolutions closed by then counted their witnessed ballots.
        let closed: Vec<_> = st
            .governance()
            .motions()
            .filter(|m| m.kind == pb::DecisionKind::General && m.closed.is_some())
            .collect();
        assert!(!closed.is_empty());
        assert_eq!(r.archived_in_memory(), 0, "kept in the store's closed file");
        assert!(closed.iter().all(|m| {
            let kept = r.closed_votes(&m.id).expect("kept").expect("closed");
            kept.ballots.len() > 100 && m.votes.ballots.is_empty()
        }));
    }
}
