//! The demo's nodes as child processes, and the commands the demo runs on them, each
//! printed before it runs.

use super::*;
use crate::api::federations::FederationView;
use crate::api::{AidView, MotionView};
use crate::client::Client;
use crate::daemon::FileConfig;
use crate::keystore::PASSPHRASE_ENV;
use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(super) struct Practice {
    pub(super) name: String,
    pub(super) ods: String,
    pub(super) locality: String,
    pub(super) partner: String,
    pub(super) dir: PathBuf,
    pub(super) keystore: PathBuf,
    pub(super) tcp: u16,
    pub(super) node_key: String,
    pub(super) peer_id: String,
    pub(super) child: Option<Child>,
}

impl Practice {
    pub(super) fn client(&self) -> Result<Client> {
        Client::of(&self.dir)
    }
    pub(super) fn address(&self) -> String {
        format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", self.tcp, self.peer_id)
    }
}

pub(super) struct Demo {
    pub(super) exe: PathBuf,
    pub(super) plan: Plan,
    pub(super) practices: Vec<Practice>,
    pub(super) started: Instant,
}

impl Drop for Demo {
    fn drop(&mut self) {
        // Whatever happened, leave no node running.
        for p in &mut self.practices {
            if let Some(mut c) = p.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Demo {
    pub(super) fn say(&self, text: &str) {
        let line = format!("[{:>5.1}s] {text}", self.started.elapsed().as_secs_f64());
        if self.plan.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }

    pub(super) fn heading(&self, text: &str) {
        if self.plan.json {
            eprintln!("\n== {text}");
        } else {
            println!("\n== {text}");
        }
    }

    pub(super) fn show_cmd(&self, args: &[String]) {
        let root = self.plan.dir.display().to_string();
        let shown: Vec<String> = args
            .iter()
            .map(|a| {
                let a = a.replace(&root, "$DEMO");
                let a = if a.chars().count() > 60 && !a.contains(' ') {
                    format!("{}…", a.chars().take(40).collect::<String>())
                } else {
                    a
                };
                if a.contains(' ') {
                    format!("{a:?}")
                } else {
                    a
                }
            })
            .collect();
        let text = format!("  $ mutual {}", shown.join(" "));
        if self.plan.json {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }

    /// Runs `mutual <args>`, shows it, and returns its stdout; fails with its stderr.
    pub(super) fn mutual(&self, args: &[&str]) -> Result<String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        self.show_cmd(&args);
        let out = Command::new(&self.exe)
            .args(&args)
            .env(PASSPHRASE_ENV, DEMO_PASSPHRASE)
            .stdin(Stdio::null())
            .output()
            .context("running mutual")?;
        if !out.status.success() {
            bail!(
                "`mutual {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    pub(super) fn path(p: &Path) -> &str {
        p.to_str().unwrap_or_default()
    }

    pub(super) fn start(&mut self, i: usize) -> Result<()> {
        let p = &self.practices[i];
        let args = vec![
            "start".to_string(),
            "--dir".into(),
            Self::path(&p.dir).into(),
        ];
        self.show_cmd(&args);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p.dir.join("node.log"))?;
        let child = Command::new(&self.exe)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting a node")?;
        self.practices[i].child = Some(child);
        let c = self.practices[i].client()?;
        self.wait(
            &format!("{}'s node to answer", self.practices[i].name),
            || Ok(c.get::<serde_json::Value>("/status").is_ok()),
        )
    }

    /// Stops a node: SIGTERM (a clean stop) or SIGKILL (a crash).
    pub(super) fn stop(&mut self, i: usize, crash: bool) -> Result<()> {
        let Some(mut child) = self.practices[i].child.take() else {
            return Ok(());
        };
        if crash {
            child.kill()?;
            child.wait()?;
            return Ok(());
        }
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .context("sending SIGTERM")?;
        let deadline = Instant::now() + self.plan.timeout;
        loop {
            if let Some(code) = child.try_wait()? {
                ensure!(
                    code.success(),
                    "{} stopped with {code}",
                    self.practices[i].name
                );
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("{} did not stop on SIGTERM", self.practices[i].name);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(super) fn wait(&self, what: &str, mut done: impl FnMut() -> Result<bool>) -> Result<()> {
        let deadline = Instant::now() + self.plan.timeout;
        loop {
            if done().unwrap_or(false) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "gave up waiting for {what} after {} s (node logs: {}/*/node.log)",
                    self.plan.timeout.as_secs(),
                    self.plan.dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The running nodes of the first partnership.
    pub(super) fn running(&self) -> Vec<usize> {
        (0..self.plan.practices)
            .filter(|&i| self.practices[i].child.is_some())
            .collect()
    }

    /// The index of the second partnership's practice.
    pub(super) fn ally(&self) -> usize {
        self.plan.practices
    }

    /// The running nodes of the partnership of practice `i`.
    pub(super) fn network_of(&self, i: usize) -> Vec<usize> {
        if i == self.ally() {
            vec![i]
        } else {
            self.running()
        }
    }

    pub(super) fn hashes(&self) -> Vec<(usize, String, u64, usize)> {
        self.running()
            .into_iter()
            .filter_map(|i| {
                let s: serde_json::Value = self.practices[i].client().ok()?.get("/status").ok()?;
                Some((
                    i,
                    s["state_hash"].as_str()?.to_string(),
                    s["events"].as_u64()?,
                    s["peers"].as_array()?.len(),
                ))
            })
            .collect()
    }

    /// Waits until every running node has the same state hash and nothing pending.
    pub(super) fn converge(&self) -> Result<String> {
        let n = self.running().len();
        let (mut hash, mut events) = (String::new(), 0);
        self.wait("the running nodes to converge", || {
            let h = self.hashes();
            let same = h.len() == n && h.iter().all(|x| x.1 == h[0].1);
            if same {
                (hash, events) = (h[0].1.clone(), h[0].2);
            }
            Ok(same)
        })?;
        self.say(&format!(
            "{n} nodes agree: {events} events, state hash {}…",
            hash.get(..16).unwrap_or(&hash)
        ));
        Ok(hash)
    }

    /// Practice 0's partner proposes a motion of `kind` (with `extra` arguments); returns
    /// its id once every running node has it.
    pub(super) fn propose(&self, kind: &str, title: &str, extra: &[&str]) -> Result<String> {
        self.propose_by(0, kind, title, extra)
    }

    /// Practice `by`'s partner proposes a motion in their partnership; returns its id once
    /// every running node of that partnership has it.
    pub(super) fn propose_by(
        &self,
        by: usize,
        kind: &str,
        title: &str,
        extra: &[&str],
    ) -> Result<String> {
        let p0 = &self.practices[by];
        let voting = VOTING_MINUTES.to_string();
        let mut args = vec![
            "motion",
            "propose",
            "--dir",
            Self::path(&p0.dir),
            "--keystore",
            Self::path(&p0.keystore),
            "--kind",
            kind,
            "--title",
            title,
            "--voting-minutes",
            &voting,
        ];
        args.extend_from_slice(extra);
        let id = self.mutual(&args)?;
        self.wait("the running nodes to see the motion", || {
            Ok(self
                .network_of(by)
                .into_iter()
                .all(|i| self.motion_on(i, &id).is_ok()))
        })?;
        Ok(id)
    }

    /// Practice `i`'s partner votes on `motion` through their own practice's node.
    pub(super) fn vote(&self, i: usize, motion: &str, choice: &str) -> Result<()> {
        self.mutual(&[
            "vote",
            "--dir",
            Self::path(&self.practices[i].dir),
            "--keystore",
            Self::path(&self.practices[i].keystore),
            motion,
            choice,
        ])
        .map(drop)
    }

    pub(super) fn motion_on(&self, i: usize, id: &str) -> Result<MotionView> {
        self.practices[i].client()?.get(&format!("/motions/{id}"))
    }

    /// Makes a practice's data directory `name_of_dir` (`mutual init`) under the demo's
    /// directory, with its clock behind, and the path of its partner's keystore
    /// (`partners/<keystore>.keystore`).
    pub(super) fn add_practice(
        &mut self,
        name_of_dir: &str,
        keystore: &str,
        (name, partner, locality): (&str, &str, &str),
        ods: String,
    ) -> Result<()> {
        let pdir = self.plan.dir.join(name_of_dir);
        let tcp = free_port()?;
        let api = free_port()?;
        let out = self.mutual(&[
            "init",
            "--dir",
            Self::path(&pdir),
            "--listen",
            &format!("/ip4/127.0.0.1/tcp/{tcp}"),
            "--api",
            &format!("127.0.0.1:{api}"),
            "--json",
        ])?;
        let mut config = FileConfig::read(&pdir)?;
        config.clock_offset_ms = -CLOCK_STEPS * CLOCK_STEP_MS;
        config.sync_interval_secs = 2;
        config.write(&pdir)?;
        let keystore = self
            .plan
            .dir
            .join("partners")
            .join(format!("{keystore}.keystore"));
        self.practices.push(Practice {
            name: name.to_string(),
            ods,
            locality: locality.to_string(),
            partner: partner.to_string(),
            dir: pdir,
            keystore,
            tcp,
            node_key: json_field(&out, "node_key")?,
            peer_id: json_field(&out, "peer_id")?,
            child: None,
        });
        Ok(())
    }

    /// A partner's new keystore (`mutual keystore new`); returns their public key.
    pub(super) fn new_keystore(&self, i: usize) -> Result<String> {
        let out = self.mutual(&[
            "keystore",
            "new",
            "--out",
            Self::path(&self.practices[i].keystore),
            "--json",
        ])?;
        json_field(&out, "key")
    }

    /// A founding file for the partnership `name` of practices `members`, each with its
    /// partner (whose key is `keys`, in order).
    pub(super) fn founding(&self, name: &str, members: &[usize], keys: &[String]) -> String {
        let mut founding = format!(
            "name = \"{name}\"\n\n[deed]\n# A real deed gives a day's grace \
             and a day's voting at least; the demo keeps them short.\ngrace_period_minutes = \
             {GRACE_MINUTES}\nmin_voting_minutes = 1\nmax_proxies_per_holder = 1\n\
             agreement = \"agreement.txt\"\n"
        );
        for p in members.iter().map(|&i| &self.practices[i]) {
            founding.push_str(&format!(
                "\n[[practice]]\nname = \"{}\"\nods = \"{}\"\nlocality = \"{}\"\nlist_size = 9000\nnode_key = \"{}\"\n",
                p.name, p.ods, p.locality, p.node_key
            ));
        }
        for (p, key) in members.iter().map(|&i| &self.practices[i]).zip(keys) {
            founding.push_str(&format!(
                "\n[[partner]]\nname = \"{}\"\npractice = \"{}\"\nkey = \"{key}\"\n",
                p.partner, p.ods
            ));
        }
        founding
    }

    /// Time passes: every node of both partnerships is stopped, its clock moved on by
    /// [`CLOCK_STEP_MS`], and started again, once every ballot on every node has been
    /// witnessed (docs/GOVERNANCE.md §5.5).
    pub(super) fn pass_time(&mut self) -> Result<()> {
        let all: Vec<usize> = (0..self.practices.len()).collect();
        self.wait_witnessed(&all)?;
        self.say(&format!(
            "rather than wait {} minutes for the voting and grace periods, every node is \
             stopped, its clock moved on that far (clock_offset_ms), and started again",
            CLOCK_STEP_MS / 60_000
        ));
        for &i in &all {
            self.stop(i, false)?;
            let mut c = FileConfig::read(&self.practices[i].dir)?;
            c.clock_offset_ms += CLOCK_STEP_MS;
            c.write(&self.practices[i].dir)?;
        }
        for &i in &all {
            self.start(i)?;
        }
        Ok(())
    }

    /// Waits until the nodes `which` have every ballot of every open motion witnessed.
    pub(super) fn wait_witnessed(&self, which: &[usize]) -> Result<()> {
        let witnessed = |i: usize| -> Result<bool> {
            let ms: Vec<MotionView> = self.practices[i].client()?.get("/motions")?;
            Ok(ms.iter().all(|m| m.closed || m.tally.unwitnessed == 0))
        };
        self.wait("every ballot to be witnessed on every node", || {
            Ok(which.iter().all(|&i| witnessed(i).unwrap_or(false)))
        })
    }

    /// A federation as practice `i`'s node shows it.
    pub(super) fn federation_on(&self, i: usize, id: &str) -> Result<FederationView> {
        self.practices[i]
            .client()?
            .get(&format!("/federations/{id}"))
    }

    /// Waits until `check` holds of the federation on every node of both partnerships.
    pub(super) fn wait_federation(
        &self,
        what: &str,
        id: &str,
        check: impl Fn(&FederationView) -> bool,
    ) -> Result<()> {
        self.wait(what, || {
            Ok((0..self.practices.len())
                .all(|i| self.federation_on(i, id).is_ok_and(|f| check(&f))))
        })
    }

    /// The federation's aid board as practice `i`'s node shows it.
    pub(super) fn fed_aid_on(&self, i: usize, id: &str) -> Result<AidView> {
        self.practices[i]
            .client()?
            .get(&format!("/federations/{id}/aid"))
    }

    /// Practice `i`'s node as it is now.
    pub(super) fn node_summary(&self, i: usize) -> Result<NodeSummary> {
        let s: serde_json::Value = self.practices[i].client()?.get("/status")?;
        Ok(NodeSummary {
            practice: self.practices[i].name.clone(),
            dir: self.practices[i].dir.clone(),
            events: s["events"].as_u64().unwrap_or_default(),
            state_hash: s["state_hash"].as_str().unwrap_or_default().to_string(),
        })
    }

    /// Whether practice `i`'s node holds the paper `sha256`.
    pub(super) fn holds(&self, i: usize, sha256: &str) -> bool {
        self.practices[i]
            .client()
            .and_then(|c| c.get::<crate::api::PapersView>("/papers"))
            .is_ok_and(|v| v.papers.iter().any(|p| p.sha256 == sha256 && p.held))
    }

    /// Whether practice `i`'s node holds every paper its log names.
    pub(super) fn holds_all(&self, i: usize) -> bool {
        self.practices[i]
            .client()
            .and_then(|c| c.get::<crate::api::PapersView>("/papers"))
            .is_ok_and(|v| v.held == v.named)
    }

    pub(super) fn aid_on(&self, i: usize) -> Result<AidView> {
        self.practices[i].client()?.get("/aid")
    }

    pub(super) fn wait_aid(&self, i: usize, seen: impl Fn(&AidView) -> bool) -> Result<()> {
        self.wait(
            &format!("{}'s node to see it", self.practices[i].name),
            || Ok(seen(&self.aid_on(i)?)),
        )
    }
}
