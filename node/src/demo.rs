//! `mutual demo`: a local partnership of separate node processes on loopback, driven by
//! the same commands a practice would type, narrated step by step.
//!
//! Every step runs this binary as a child process (`mutual init`, `found`, `join`,
//! `start`, `invite`, `motion propose`, `vote`, `aid ...`), printing the command first.
//! Each node keeps its store in its own directory under the demo's directory, which is
//! left in place for `mutual export` and `mutual verify`.

use crate::api::{AidView, MemberView, MotionView};
use crate::client::Client;
use crate::daemon::{FileConfig, CONFIG_FILE};
use crate::keystore::PASSPHRASE_ENV;
use anyhow::{bail, ensure, Context, Result};
use serde::Serialize;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Fewest practices a demo runs: two founders and one to admit.
pub const MIN_PRACTICES: usize = 3;
/// Most practices a demo runs.
pub const MAX_PRACTICES: usize = 12;
/// The passphrase of the demo partners' keystores (never use it for real keys).
pub const DEMO_PASSPHRASE: &str = "demo passphrase, not for real keys";
/// Minutes the demo's motions stay open.
const VOTING_MINUTES: u64 = 2;
/// The demo deed's grace period, in minutes (the least a deed may set).
const GRACE_MINUTES: u64 = 5;
/// How far behind the nodes' clocks run until "time passes" (`clock_offset_ms`): more
/// than a motion's voting and grace periods, so that setting the clocks right lets both
/// pass. Running behind rather than jumping ahead means no event is ever dated in the
/// future, so the stores verify at once afterwards.
const CLOCK_BEHIND_MS: i64 = ((VOTING_MINUTES + GRACE_MINUTES + 1) * 60_000) as i64;

const NAMES: [(&str, &str, &str); MAX_PRACTICES] = [
    ("Riverside Surgery", "Dr Amara Okafor", "North"),
    ("Hilltop Medical Centre", "Dr Ben Hughes", "North"),
    ("Parkview Practice", "Dr Chloe Patel", "South"),
    ("Meadow Lane Surgery", "Dr Daniel Evans", "South"),
    ("Castle Street Health Centre", "Dr Esther Cohen", "East"),
    ("Orchard Family Practice", "Dr Farid Rahman", "East"),
    ("Bridge End Surgery", "Dr Grace Lewis", "West"),
    ("Station Road Medical Practice", "Dr Hamid Ali", "West"),
    ("Mill House Surgery", "Dr Isla Morgan", "North"),
    ("Harbour View Practice", "Dr James Price", "South"),
    ("Elm Tree Surgery", "Dr Kemi Adeyemi", "East"),
    ("Wellgate Medical Group", "Dr Liam Walsh", "West"),
];

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Practices in all: the founders and one practice admitted by vote.
    pub practices: usize,
    /// Where the data directories go; must not exist or be empty.
    pub dir: PathBuf,
    /// How long each wait for the nodes may last.
    pub timeout: Duration,
    /// Narrate on stderr, leaving stdout to the JSON summary.
    pub json: bool,
}

/// One node at the end of the demo.
#[derive(Debug, Serialize)]
pub struct NodeSummary {
    /// The practice.
    pub practice: String,
    /// Its data directory.
    pub dir: PathBuf,
    /// Events in its store.
    pub events: u64,
    /// Its state hash.
    pub state_hash: String,
}

/// The demo's result (`--json`).
#[derive(Debug, Serialize)]
pub struct Summary {
    /// Whether every node ended with the same state hash.
    pub converged: bool,
    /// The network id.
    pub network: String,
    /// The admission motion and whether it took effect.
    pub admission_motion: String,
    /// Whether the invited practice ended as an active member.
    pub admitted: bool,
    /// The aid agreement made.
    pub agreement: String,
    /// The node killed and restarted, and whether it caught up.
    pub restarted: String,
    /// Every node.
    pub nodes: Vec<NodeSummary>,
}

struct Practice {
    name: String,
    ods: String,
    locality: String,
    partner: String,
    dir: PathBuf,
    keystore: PathBuf,
    tcp: u16,
    node_key: String,
    peer_id: String,
    child: Option<Child>,
}

impl Practice {
    fn client(&self) -> Result<Client> {
        Client::of(&self.dir)
    }
    fn address(&self) -> String {
        format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", self.tcp, self.peer_id)
    }
}

struct Demo {
    exe: PathBuf,
    plan: Plan,
    practices: Vec<Practice>,
    started: Instant,
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

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn json_field(out: &str, field: &str) -> Result<String> {
    let v: serde_json::Value =
        serde_json::from_str(out).with_context(|| format!("expected JSON, got {out:?}"))?;
    v[field]
        .as_str()
        .map(String::from)
        .with_context(|| format!("no {field:?} in {out}"))
}

/// Runs the demo.
pub fn run(plan: &Plan) -> Result<Summary> {
    ensure!(
        (MIN_PRACTICES..=MAX_PRACTICES).contains(&plan.practices),
        "--practices must be between {MIN_PRACTICES} and {MAX_PRACTICES}"
    );
    if plan.dir.exists()
        && std::fs::read_dir(&plan.dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} already exists and is not empty; remove it or give another --dir",
            plan.dir.display()
        );
    }
    std::fs::create_dir_all(&plan.dir)?;
    let mut demo = Demo {
        exe: std::env::current_exe().context("cannot find the mutual binary")?,
        plan: plan.clone(),
        practices: Vec::new(),
        started: Instant::now(),
    };
    demo.script()
}

impl Demo {
    fn say(&self, text: &str) {
        let line = format!("[{:>5.1}s] {text}", self.started.elapsed().as_secs_f64());
        if self.plan.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }

    fn heading(&self, text: &str) {
        if self.plan.json {
            eprintln!("\n== {text}");
        } else {
            println!("\n== {text}");
        }
    }

    fn show_cmd(&self, args: &[String]) {
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
    fn mutual(&self, args: &[&str]) -> Result<String> {
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

    fn path(p: &Path) -> &str {
        p.to_str().unwrap_or_default()
    }

    fn start(&mut self, i: usize) -> Result<()> {
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
    fn stop(&mut self, i: usize, crash: bool) -> Result<()> {
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

    fn wait(&self, what: &str, mut done: impl FnMut() -> Result<bool>) -> Result<()> {
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

    fn running(&self) -> Vec<usize> {
        (0..self.practices.len())
            .filter(|&i| self.practices[i].child.is_some())
            .collect()
    }

    fn hashes(&self) -> Vec<(usize, String, u64, usize)> {
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
    fn converge(&self) -> Result<String> {
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
    fn propose(&self, kind: &str, title: &str, extra: &[&str]) -> Result<String> {
        let p0 = &self.practices[0];
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
                .running()
                .into_iter()
                .all(|i| self.motion_on(i, &id).is_ok()))
        })?;
        Ok(id)
    }

    /// Practice `i`'s partner votes on `motion` through their own practice's node.
    fn vote(&self, i: usize, motion: &str, choice: &str) -> Result<()> {
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

    fn motion_on(&self, i: usize, id: &str) -> Result<MotionView> {
        self.practices[i].client()?.get(&format!("/motions/{id}"))
    }

    fn script(&mut self) -> Result<Summary> {
        let n = self.plan.practices;
        let founders = n - 1;
        let dir = self.plan.dir.clone();
        self.heading(&format!(
            "Setting up {n} practices in {} (each runs its own node process)",
            dir.display()
        ));
        std::fs::create_dir_all(dir.join("partners"))?;
        for (i, (name, partner, locality)) in NAMES.iter().take(n).enumerate() {
            let pdir = dir.join(format!("practice-{}", i + 1));
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
            config.clock_offset_ms = -CLOCK_BEHIND_MS;
            config.sync_interval_secs = 2;
            config.write(&pdir)?;
            let keystore = dir
                .join("partners")
                .join(format!("partner-{}.keystore", i + 1));
            self.practices.push(Practice {
                name: name.to_string(),
                ods: format!("D8{:04}", 1001 + i),
                locality: locality.to_string(),
                partner: partner.to_string(),
                dir: pdir,
                keystore,
                tcp,
                node_key: json_field(&out, "node_key")?,
                peer_id: json_field(&out, "peer_id")?,
                child: None,
            });
        }
        self.say(&format!(
            "every node's clock runs {} minutes behind (clock_offset_ms in {CONFIG_FILE}), so \
             that the demo can later let the voting and grace periods pass by setting it right",
            CLOCK_BEHIND_MS / 60_000
        ));
        self.say(&format!(
            "each founding partner makes their own key, encrypted with a passphrase \
             (here {PASSPHRASE_ENV} holds a demo passphrase)"
        ));
        let mut partner_keys = Vec::new();
        for i in 0..founders {
            let out = self.mutual(&[
                "keystore",
                "new",
                "--out",
                Self::path(&self.practices[i].keystore),
                "--json",
            ])?;
            partner_keys.push(json_field(&out, "key")?);
        }

        self.heading("Founding the partnership");
        let mut founding = format!(
            "name = \"Mutual demo partnership\"\n\n[deed]\n# A real deed gives a day's grace \
             and a day's voting at least; the demo keeps them short.\ngrace_period_minutes = \
             {GRACE_MINUTES}\nmin_voting_minutes = 1\n"
        );
        for p in &self.practices[..founders] {
            founding.push_str(&format!(
                "\n[[practice]]\nname = \"{}\"\nods = \"{}\"\nlocality = \"{}\"\nlist_size = 9000\nnode_key = \"{}\"\n",
                p.name, p.ods, p.locality, p.node_key
            ));
        }
        for (p, key) in self.practices[..founders].iter().zip(&partner_keys) {
            founding.push_str(&format!(
                "\n[[partner]]\nname = \"{}\"\npractice = \"{}\"\nkey = \"{key}\"\n",
                p.partner, p.ods
            ));
        }
        let founding_file = dir.join("founding.toml");
        std::fs::write(&founding_file, founding)?;
        self.say(&format!(
            "{} lists {founders} practices, a partner each, and the deed's timings",
            founding_file.display()
        ));
        let out = self.mutual(&[
            "found",
            "--dir",
            Self::path(&self.practices[0].dir),
            "--founding",
            Self::path(&founding_file),
            "--json",
        ])?;
        let network = json_field(&out, "network")?;
        self.say(&format!(
            "network {network} founded by {}",
            self.practices[0].name
        ));
        self.start(0)?;
        let bootstrap = self.practices[0].address();
        for i in 1..founders {
            let d = Self::path(&self.practices[i].dir).to_string();
            self.mutual(&[
                "join",
                "--dir",
                &d,
                "--network",
                &network,
                "--bootstrap",
                &bootstrap,
            ])?;
            self.start(i)?;
        }
        self.converge()?;

        let new = founders;
        self.heading(&format!(
            "{} asks to join: invited, then admitted by the partners' vote",
            self.practices[new].name
        ));
        let out = self.mutual(&[
            "invite",
            "--dir",
            Self::path(&self.practices[0].dir),
            "--node-key",
            &self.practices[new].node_key,
            "--name",
            &self.practices[new].name,
            "--ods",
            &self.practices[new].ods,
            "--days",
            "2",
        ])?;
        let invite = out.lines().last().unwrap_or_default().to_string();
        self.say(&format!(
            "the invite is one signed line ({} characters) sent to the new practice",
            invite.len()
        ));
        self.mutual(&[
            "join",
            "--dir",
            Self::path(&self.practices[new].dir),
            &invite,
        ])?;
        self.start(new)?;
        self.converge()?;
        self.say("its node syncs the network's history but cannot act until admitted");

        let joining = &self.practices[new];
        let admit = self.propose(
            "admit-practice",
            &format!("Admit {}", joining.name),
            &[
                "--practice-name",
                &joining.name,
                "--ods",
                &joining.ods,
                "--locality",
                &joining.locality,
                "--node-key",
                &joining.node_key,
            ],
        )?;
        for i in 0..founders {
            // With four or more partners one votes against: 75% of votes cast still passes.
            let choice = if founders >= 4 && i == founders - 1 {
                "against"
            } else {
                "for"
            };
            self.say(&format!(
                "{} ({}) votes {choice}, signing with their own keystore",
                self.practices[i].partner, self.practices[i].name
            ));
            self.vote(i, &admit, choice)?;
        }
        self.converge()?;
        let shown = self.mutual(&[
            "motion",
            "show",
            "--dir",
            Self::path(&self.practices[1].dir),
            &admit,
        ])?;
        for l in shown
            .lines()
            .filter(|l| l.starts_with("tally") || l.starts_with("result"))
        {
            self.say(l);
        }
        self.say("the result stays provisional until the vote closes and the grace period passes");

        self.heading("Mutual aid: a practice short of a GP asks, another offers");
        let (req_i, off_i) = (1, 0);
        let day = date_after(crate::now_ms(), 7);
        let req = self.mutual(&[
            "aid",
            "request",
            "--dir",
            Self::path(&self.practices[req_i].dir),
            "--role",
            "GP",
            "--session",
            &format!("{day} AM"),
            "--session",
            &format!("{day} PM"),
            "--urgency",
            "urgent",
            "--notes",
            "two GPs off sick",
        ])?;
        self.wait_aid(off_i, |v| v.requests.iter().any(|r| r.id == req))?;
        let offer = self.mutual(&[
            "aid",
            "offer",
            "--dir",
            Self::path(&self.practices[off_i].dir),
            &req,
            "--role",
            "GP",
            "--terms",
            "usual locum rate",
        ])?;
        self.wait_aid(req_i, |v| {
            v.requests
                .iter()
                .any(|r| r.offers.iter().any(|o| o.0 == offer))
        })?;
        let agreement = self.mutual(&[
            "aid",
            "accept",
            "--dir",
            Self::path(&self.practices[req_i].dir),
            &offer,
        ])?;
        self.wait_aid(off_i, |v| v.agreements.iter().any(|a| a.id == agreement))?;
        self.mutual(&[
            "aid",
            "countersign",
            "--dir",
            Self::path(&self.practices[off_i].dir),
            &agreement,
        ])?;
        self.converge()?;
        let binding = (0..=new).all(|i| {
            self.aid_on(i).is_ok_and(|v| {
                v.agreements
                    .iter()
                    .any(|a| a.id == agreement && a.status == "binding")
            })
        });
        ensure!(
            binding,
            "the agreement did not become binding on every node"
        );
        self.say(&format!(
            "{} covers {} on {day}: the agreement is signed by both practices and binding on every node",
            self.practices[off_i].name, self.practices[req_i].name
        ));

        let victim = founders - 1;
        self.heading(&format!(
            "A crash: {}'s node is killed (SIGKILL) while the others carry on",
            self.practices[victim].name
        ));
        let events_at =
            |d: &Demo, i: usize| -> u64 { d.hashes().iter().find(|h| h.0 == i).map_or(0, |h| h.2) };
        let had = events_at(self, victim);
        self.say(&format!(
            "$ kill -KILL <pid of {}'s node>",
            self.practices[victim].name
        ));
        self.stop(victim, true)?;
        let general = self.propose("general", "Adopt a shared locum rate card", &[])?;
        for i in 0..founders {
            if i == victim {
                continue;
            }
            self.vote(i, &general, "for")?;
        }
        let before = self.converge()?;
        self.start(victim)?;
        let after = self.converge()?;
        ensure!(
            before == after,
            "the restarted node caught up without changing the state"
        );
        self.say(&format!(
            "{} restarted from its store ({had} events when killed) and caught up to {}",
            self.practices[victim].name,
            events_at(self, victim)
        ));

        self.heading("Time passes: the votes close");
        self.say(
            "a ballot counts only once an event by another practice has it in its past, \
             dated before the grace period ends; the practice nodes write one by themselves \
             within seconds of holding a ballot",
        );
        let witnessed = |d: &Demo, i: usize| -> Result<bool> {
            let ms: Vec<MotionView> = d.practices[i].client()?.get("/motions")?;
            Ok(ms.iter().all(|m| m.closed || m.tally.unwitnessed == 0))
        };
        self.wait("every ballot to be witnessed on every node", || {
            Ok((0..n).all(|i| witnessed(self, i).unwrap_or(false)))
        })?;
        self.say(&format!(
            "rather than wait {} minutes for the voting and grace periods, every node is \
             stopped, its clock set right (clock_offset_ms = 0), and started again",
            CLOCK_BEHIND_MS / 60_000
        ));
        for i in 0..n {
            self.stop(i, false)?;
            let mut c = FileConfig::read(&self.practices[i].dir)?;
            c.clock_offset_ms = 0;
            c.write(&self.practices[i].dir)?;
        }
        for i in 0..n {
            self.start(i)?;
        }
        self.converge()?;
        self.say(
            "the next event a practice node signs after the grace period (its own witness, \
             or any other) closes both motions on every node",
        );
        self.mutual(&[
            "aid",
            "fulfil",
            "--dir",
            Self::path(&self.practices[req_i].dir),
            &agreement,
        ])?;
        let new_ods = self.practices[new].ods.clone();
        let admitted = |d: &Demo, i: usize| -> Result<bool> {
            let m: Vec<MemberView> = d.practices[i].client()?.get("/members")?;
            Ok(m.iter().any(|p| p.ods == new_ods && p.status == "active"))
        };
        self.wait("the admission to take effect everywhere", || {
            Ok((0..n).all(|i| admitted(self, i).unwrap_or(false)))
        })?;
        let shown = self.mutual(&[
            "motion",
            "show",
            "--dir",
            Self::path(&self.practices[new].dir),
            &admit,
        ])?;
        for l in shown
            .lines()
            .filter(|l| l.starts_with("result") || l.starts_with("effect"))
        {
            self.say(l);
        }
        self.say(&format!(
            "{} is a member now; its node signs its first event",
            self.practices[new].name
        ));
        let later = date_after(crate::now_ms(), 10);
        self.mutual(&[
            "aid",
            "request",
            "--dir",
            Self::path(&self.practices[new].dir),
            "--role",
            "practice nurse",
            "--session",
            &format!("{later} AM"),
        ])?;

        self.heading("Result");
        let converged = self.converge().is_ok();
        let hashes = self.hashes();
        let mut nodes = Vec::new();
        for (i, hash, events, peers) in &hashes {
            let p = &self.practices[*i];
            self.say(&format!(
                "{:<30} {events:>4} events  {peers} peers  state {hash}",
                p.name
            ));
            nodes.push(NodeSummary {
                practice: p.name.clone(),
                dir: p.dir.clone(),
                events: *events,
                state_hash: hash.clone(),
            });
        }
        let converged = converged && hashes.len() == n;
        let admitted_everywhere = (0..n).all(|i| admitted(self, i).unwrap_or(false));
        self.say(&format!("converged: {converged}"));
        for i in 0..n {
            self.stop(i, false)?;
        }
        self.say(&format!(
            "the nodes are stopped; their stores are in {}. Next: `mutual export --dir {} --out log.bin` then `mutual verify log.bin`",
            dir.display(),
            self.practices[0].dir.display()
        ));
        Ok(Summary {
            converged,
            network,
            admission_motion: admit,
            admitted: admitted_everywhere,
            agreement,
            restarted: self.practices[victim].name.clone(),
            nodes,
        })
    }

    fn aid_on(&self, i: usize) -> Result<AidView> {
        self.practices[i].client()?.get("/aid")
    }

    fn wait_aid(&self, i: usize, seen: impl Fn(&AidView) -> bool) -> Result<()> {
        self.wait(
            &format!("{}'s node to see it", self.practices[i].name),
            || Ok(seen(&self.aid_on(i)?)),
        )
    }
}

/// The calendar date `days` after `now_ms`, as "YYYY-MM-DD" (civil-from-days, UTC).
pub fn date_after(now_ms: u64, days: u64) -> String {
    let z = (now_ms / 86_400_000 + days) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_civil_dates() {
        assert_eq!(super::date_after(0, 0), "1970-01-01");
        // 2024-02-29 12:00 UTC is 1_709_208_000_000 ms.
        assert_eq!(super::date_after(1_709_208_000_000, 0), "2024-02-29");
        assert_eq!(super::date_after(1_709_208_000_000, 1), "2024-03-01");
        assert_eq!(super::date_after(1_709_208_000_000, 307), "2025-01-01");
    }
}
