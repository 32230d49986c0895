//! Crash tests on the real node: a `mutual start` process is killed with SIGKILL at
//! random moments while partners vote through its API, many times. After each restart
//! every acknowledged ballot is in the store, the store opens cleanly, and the state is
//! what the acknowledged ballots say.
//!
//! `MUTUAL_CRASH_CYCLES` sets the number of kill/restart cycles (default 12) and
//! `MUTUAL_CRASH_SEED` the seed of the kill moments (default 1); a failure prints both.
//!
//! And a full disk: a node whose files may not grow refuses writes with a clear message,
//! acknowledges nothing it did not store, and opens cleanly once there is room again.

use crate::common;

use common::{env_number, init, ok, s, start, start_with, stop};
use mutual_node::client::Client;
use mutual_proto::v1 as pb;
use mutual_protocol::event::Body;
use mutual_protocol::keys::Keypair;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PARTNERS: usize = 3;

/// One practice with three partners; returns the partners' keys.
fn found(dir: &Path) -> Vec<Keypair> {
    let (node_key, _, _) = init(dir);
    let partners: Vec<Keypair> = (0..PARTNERS)
        .map(|i| Keypair::from_seed(&[i as u8 + 1; 32]).expect("seed"))
        .collect();
    let mut f = format!(
        "name = \"Crash test\"\n[[practice]]\nname = \"Only\"\nods = \"C1\"\nnode_key = \"{node_key}\"\n"
    );
    for (i, p) in partners.iter().enumerate() {
        f.push_str(&format!(
            "[[partner]]\nname = \"Partner {i}\"\npractice = \"C1\"\nkey = \"{}\"\n",
            p.public()
        ));
    }
    let file = dir.join("founding.toml");
    std::fs::write(&file, f).expect("founding file");
    ok(&["found", "--dir", s(dir), "--founding", s(&file)]);
    partners
}

/// A general motion open for a week; returns its id.
fn propose(c: &Client, kp: &Keypair, title: &str) -> Vec<u8> {
    let m = c
        .sign_and_submit(
            kp,
            Body::Motion(pb::Motion {
                kind: pb::DecisionKind::General as i32,
                title: title.into(),
                closes_at_ms: c.now() + 7 * 24 * 3_600_000,
                ..Default::default()
            }),
        )
        .expect("the motion is proposed");
    hex::decode(&m.id).expect("hex")
}

fn vote(c: &Client, kp: &Keypair, motion: &[u8], choice: pb::Choice) -> anyhow::Result<String> {
    c.sign_and_submit(
        kp,
        Body::Ballot(pb::Ballot {
            motion: motion.to_vec(),
            choice: choice as i32,
            ..Default::default()
        }),
    )
    .map(|s| s.id)
}

#[test]
fn acknowledged_ballots_survive_sigkill_at_random_moments() {
    let cycles = env_number("MUTUAL_CRASH_CYCLES").unwrap_or(12);
    let seed = env_number("MUTUAL_CRASH_SEED").unwrap_or(1);
    eprintln!(
        "crash test: {cycles} cycles, seed {seed} (replay: MUTUAL_CRASH_SEED={seed} \
         MUTUAL_CRASH_CYCLES={cycles} cargo nextest run -p mutual-node --test suite crash::)"
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("node");
    let partners = Arc::new(found(&dir));
    let mut child = start(&dir);
    let c = Client::of(&dir).expect("client");
    let motion = propose(&c, &partners[0], "Keep voting");
    // Every ballot the node acknowledged, and the latest acknowledged choice per partner.
    let acked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let latest: Arc<Mutex<Vec<Option<pb::Choice>>>> = Arc::new(Mutex::new(vec![None; PARTNERS]));
    let mut kills = 0;
    for cycle in 0..cycles {
        let running = Arc::new(AtomicBool::new(true));
        let voters: Vec<_> = (0..PARTNERS)
            .map(|p| {
                let (running, acked, latest, partners, motion) = (
                    running.clone(),
                    acked.clone(),
                    latest.clone(),
                    partners.clone(),
                    motion.clone(),
                );
                let c = Client::of(&dir).expect("client");
                std::thread::spawn(move || {
                    // Bounded: the node is killed within a second; at most 1,000 tries.
                    for n in cycle as usize..cycle as usize + 1_000 {
                        if !running.load(Ordering::SeqCst) {
                            break;
                        }
                        let choice = if (n + p).is_multiple_of(2) {
                            pb::Choice::For
                        } else {
                            pb::Choice::Against
                        };
                        if let Ok(id) = vote(&c, &partners[p], &motion, choice) {
                            acked.lock().expect("lock").insert(id);
                            latest.lock().expect("lock")[p] = Some(choice);
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.gen_range(20..600)));
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        kills += 1;
        running.store(false, Ordering::SeqCst);
        for v in voters {
            v.join().expect("voter");
        }
        // The store opens cleanly and holds every acknowledged ballot.
        child = start(&dir);
        let acked_now = acked.lock().expect("lock").clone();
        for id in &acked_now {
            let e: serde_json::Value = c.get(&format!("/events/{id}")).unwrap_or_else(|e| {
                panic!("cycle {cycle} (seed {seed}): acknowledged ballot {id} lost: {e}")
            });
            assert_eq!(e["outcome"], "applied", "cycle {cycle}: {e}");
        }
        // Each partner with an acknowledged ballot has a counted ballot.
        let m: serde_json::Value = c
            .get(&format!("/motions/{}", hex::encode(&motion)))
            .expect("motion");
        let counted: Vec<String> = m["ballots"]
            .as_array()
            .expect("ballots")
            .iter()
            .map(|b| b[0].as_str().unwrap_or_default().to_string())
            .collect();
        for (p, choice) in latest.lock().expect("lock").iter().enumerate() {
            if choice.is_some() {
                assert!(
                    counted.contains(&format!("Partner {p}")),
                    "cycle {cycle} (seed {seed}): partner {p}'s ballot is counted: {m}"
                );
            }
        }
    }
    let total = acked.lock().expect("lock").len();
    eprintln!("crash test: {kills} SIGKILLs, {total} acknowledged ballots, 0 lost");
    assert!(total > 0, "ballots were acknowledged");
    // Finally a clean stop, and the store still opens with every ballot.
    stop(child);
    let child = start(&dir);
    let mut stored = BTreeSet::new();
    for page in 0..100 {
        let events: Vec<serde_json::Value> = c
            .get(&format!("/events?kind=ballot&skip={}", page * 1_000))
            .expect("events");
        if events.is_empty() {
            break;
        }
        stored.extend(
            events
                .iter()
                .map(|e| e["id"].as_str().unwrap_or_default().to_string()),
        );
    }
    let acked = acked.lock().expect("lock");
    assert!(
        acked.is_subset(&stored),
        "{} stored, {total} acknowledged",
        stored.len()
    );
    stop(child);
}

/// The size of the largest file under `dir`.
fn largest_file(dir: &Path) -> u64 {
    let mut largest = 0;
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("a directory").flatten() {
            let meta = e.metadata().expect("metadata");
            if meta.is_dir() {
                dirs.push(e.path());
            } else {
                largest = largest.max(meta.len());
            }
        }
    }
    largest
}

#[test]
fn a_full_disk_gives_a_clear_error_and_no_corruption() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("node");
    let partners = found(&dir);
    // The node may grow no file more than 1 MiB past the largest it has now: past that
    // every write fails as on a full disk (RLIMIT_FSIZE, with SIGXFSZ ignored so the
    // write returns an error instead of killing the process).
    let limit = largest_file(&dir) + (1 << 20);
    let child = start_with(&dir, |command| {
        // SAFETY: between fork and exec only async-signal-safe calls are made.
        unsafe {
            command.pre_exec(move || {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let rl = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &rl) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    let c = Client::of(&dir).expect("client");
    let motion = propose(&c, &partners[0], "Fill the disk");
    let mut acked = vec![motion.clone()];
    let mut refusal = None;
    // Bounded: at most 20,000 ballots (each a few hundred bytes) or two minutes.
    let deadline = Instant::now() + Duration::from_secs(120);
    for n in 0..20_000 {
        let choice = if n % 2 == 0 {
            pb::Choice::For
        } else {
            pb::Choice::Against
        };
        match vote(&c, &partners[n % PARTNERS], &motion, choice) {
            Ok(id) => acked.push(hex::decode(id).expect("hex")),
            Err(e) => {
                refusal = Some(e.to_string());
                break;
            }
        }
        if Instant::now() > deadline {
            break;
        }
    }
    let refusal = refusal.expect("the disk filled up within the bound");
    eprintln!(
        "full disk after {} acknowledged events: {refusal}",
        acked.len()
    );
    assert!(refusal.contains("no room left for the store"), "{refusal}");
    // A second try is refused the same way, and changes nothing.
    let again = vote(&c, &partners[0], &motion, pb::Choice::Abstain).expect_err("still full");
    assert!(again.to_string().contains("no room left"), "{again}");
    child_killed(child);
    // Restarted with room again: the store opens cleanly and every acknowledged event is
    // there.
    let child = start(&dir);
    for id in &acked {
        let path = format!("/events/{}", hex::encode(id));
        let e: serde_json::Value = c
            .get(&path)
            .unwrap_or_else(|e| panic!("acknowledged event {} lost: {e}", hex::encode(id)));
        assert_eq!(e["id"], hex::encode(id));
    }
    vote(&c, &partners[1], &motion, pb::Choice::Abstain).expect("votes again");
    stop(child);
}

fn child_killed(mut child: std::process::Child) -> std::process::ExitStatus {
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped")
}
