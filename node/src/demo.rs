//! `mutual demo`: a local partnership of separate node processes on loopback, driven by
//! the same commands a practice would type, narrated step by step.
//!
//! Every step runs this binary as a child process (`mutual init`, `found`, `join`,
//! `start`, `invite`, `motion propose`, `vote`, `aid ...`, `federation ...`), printing the
//! command first. Each node keeps its store in its own directory under the demo's
//! directory, which is left in place for `mutual export` and `mutual verify`.
//!
//! A second partnership of one practice is founded beside the first, and the two link in
//! a federation by their own partners' votes, then share aid and decide a joint motion.

use crate::api::federations::{FederationView, SignedCharter};
use crate::api::{AidView, MemberView, MotionView};
use crate::client::Client;
use crate::daemon::{FileConfig, CONFIG_FILE};
use crate::keystore::PASSPHRASE_ENV;
use anyhow::{bail, ensure, Context, Result};
use serde::Serialize;
use std::collections::BTreeSet;
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
/// How far the nodes' clocks move each time "time passes" (`clock_offset_ms`): more than
/// a motion's voting and grace periods, so that both pass.
const CLOCK_STEP_MS: i64 = ((VOTING_MINUTES + GRACE_MINUTES + 1) * 60_000) as i64;
/// Times time passes in the demo: the nodes' clocks start this many steps behind and
/// are right at the end. Running behind rather than jumping ahead means no event is ever
/// dated in the future, so the stores verify at once afterwards.
const CLOCK_STEPS: i64 = 2;
/// The second partnership, which links with the first: its name, and its one practice
/// (name, partner, locality, ODS code).
const ALLY: (&str, (&str, &str, &str), &str) = (
    "Coastal GP Collaborative",
    ("Seaview Surgery", "Dr Nia Roberts", "Coast"),
    "E84001",
);
/// The federation's name.
const FEDERATION: &str = "North East GP Alliance";

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
    /// Whether every node of the first partnership ended with the same state hash.
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
    /// The federation with the second partnership.
    pub federation: FederationSummary,
}

/// What the federation came to (`--json`).
#[derive(Debug, Serialize)]
pub struct FederationSummary {
    /// The federation's id.
    pub id: String,
    /// The second partnership's network id.
    pub ally_network: String,
    /// The second partnership's node.
    pub ally: NodeSummary,
    /// Whether every node of both networks holds the federation live.
    pub live: bool,
    /// The aid agreement between practices of the two networks.
    pub agreement: String,
    /// Whether it is binding on every node of both networks.
    pub binding: bool,
    /// The joint motion.
    pub joint_motion: String,
    /// The joint motion's result: "passed", "failed" or "open".
    pub joint_result: String,
    /// Whether every node of both networks ended with the same federation state hash.
    pub agreed: bool,
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

/// A loopback port free just now and not handed out before by this process. The system
/// may give the same free port to two binds in a row once the first is closed, so a node's
/// libp2p port and its API port, chosen one after the other before it starts, could
/// otherwise be the same.
pub fn free_port() -> std::io::Result<u16> {
    static HANDED: std::sync::Mutex<BTreeSet<u16>> = std::sync::Mutex::new(BTreeSet::new());
    let mut handed = HANDED.lock().unwrap_or_else(|e| e.into_inner());
    // Bounded: the system has tens of thousands of ephemeral ports.
    for _ in 0..1000 {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        if handed.insert(port) {
            return Ok(port);
        }
    }
    Err(std::io::Error::other(
        "no loopback port left that was not handed out",
    ))
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

    /// The running nodes of the first partnership.
    fn running(&self) -> Vec<usize> {
        (0..self.plan.practices)
            .filter(|&i| self.practices[i].child.is_some())
            .collect()
    }

    /// The index of the second partnership's practice.
    fn ally(&self) -> usize {
        self.plan.practices
    }

    /// The running nodes of the partnership of practice `i`.
    fn network_of(&self, i: usize) -> Vec<usize> {
        if i == self.ally() {
            vec![i]
        } else {
            self.running()
        }
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
        self.propose_by(0, kind, title, extra)
    }

    /// Practice `by`'s partner proposes a motion in their partnership; returns its id once
    /// every running node of that partnership has it.
    fn propose_by(&self, by: usize, kind: &str, title: &str, extra: &[&str]) -> Result<String> {
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

    /// Makes a practice's data directory `name_of_dir` (`mutual init`) under the demo's
    /// directory, with its clock behind, and the path of its partner's keystore
    /// (`partners/<keystore>.keystore`).
    fn add_practice(
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
    fn new_keystore(&self, i: usize) -> Result<String> {
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
    fn founding(&self, name: &str, members: &[usize], keys: &[String]) -> String {
        let mut founding = format!(
            "name = \"{name}\"\n\n[deed]\n# A real deed gives a day's grace \
             and a day's voting at least; the demo keeps them short.\ngrace_period_minutes = \
             {GRACE_MINUTES}\nmin_voting_minutes = 1\n"
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
    fn pass_time(&mut self) -> Result<()> {
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
    fn wait_witnessed(&self, which: &[usize]) -> Result<()> {
        let witnessed = |i: usize| -> Result<bool> {
            let ms: Vec<MotionView> = self.practices[i].client()?.get("/motions")?;
            Ok(ms.iter().all(|m| m.closed || m.tally.unwitnessed == 0))
        };
        self.wait("every ballot to be witnessed on every node", || {
            Ok(which.iter().all(|&i| witnessed(i).unwrap_or(false)))
        })
    }

    /// A federation as practice `i`'s node shows it.
    fn federation_on(&self, i: usize, id: &str) -> Result<FederationView> {
        self.practices[i]
            .client()?
            .get(&format!("/federations/{id}"))
    }

    /// Waits until `check` holds of the federation on every node of both partnerships.
    fn wait_federation(
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
    fn fed_aid_on(&self, i: usize, id: &str) -> Result<AidView> {
        self.practices[i]
            .client()?
            .get(&format!("/federations/{id}/aid"))
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
        for (i, names) in NAMES.iter().take(n).enumerate() {
            self.add_practice(
                &format!("practice-{}", i + 1),
                &format!("partner-{}", i + 1),
                *names,
                format!("D8{:04}", 1001 + i),
            )?;
        }
        self.say(&format!(
            "every node's clock runs {} minutes behind (clock_offset_ms in {CONFIG_FILE}), so \
             that the demo can later let the voting and grace periods pass by moving it on",
            CLOCK_STEPS * CLOCK_STEP_MS / 60_000
        ));
        self.say(&format!(
            "each founding partner makes their own key, encrypted with a passphrase \
             (here {PASSPHRASE_ENV} holds a demo passphrase)"
        ));
        let mut partner_keys = Vec::new();
        for i in 0..founders {
            partner_keys.push(self.new_keystore(i)?);
        }

        self.heading("Founding the partnership");
        let founders_list: Vec<usize> = (0..founders).collect();
        let founding = self.founding("Mutual demo partnership", &founders_list, &partner_keys);
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
        self.converge()?;
        self.start(victim)?;
        // Converging means the same state hash on every running node, the restarted one
        // included (the nodes may meanwhile witness the ballots, adding events).
        self.converge()?;
        self.say(&format!(
            "{} restarted from its store ({had} events when killed) and caught up to {}",
            self.practices[victim].name,
            events_at(self, victim)
        ));

        let (ally, fed, ally_network) = self.link()?;

        self.heading("Time passes: the votes close");
        self.say(
            "a ballot counts only once an event by another practice (in a partnership of \
             one practice, its node) has it in its past, dated before the grace period ends; \
             the practice nodes write one by themselves within seconds of holding a ballot",
        );
        self.pass_time()?;
        self.converge()?;
        self.say(
            "the next event a practice node signs after the grace period (its own witness, \
             or any other) closes the motions on every node",
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

        let mut federation = self.federate(ally, &fed, ally_network)?;

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
        self.say(&format!(
            "federation {fed}: live {}, agreement binding {}, joint motion {}, its log agreed \
             on every node of both partnerships: {}",
            federation.live, federation.binding, federation.joint_result, federation.agreed
        ));
        // Read again just before the nodes stop, as the first partnership's are.
        federation.ally = self.node_summary(ally)?;
        for i in 0..=ally {
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
            federation,
        })
    }

    /// A second partnership of one practice is founded; the two sign a charter from their
    /// cards and each proposes and votes on linking under its own deed. Returns the second
    /// partnership's practice, the federation's id and the second network's id.
    fn link(&mut self) -> Result<(usize, String, String)> {
        let (name, names, ods) = ALLY;
        self.heading(&format!(
            "A second partnership, {name}, proposes a federation: each side links by its own vote"
        ));
        self.add_practice("ally-1", "ally-partner-1", names, ods.to_string())?;
        let ally = self.ally();
        let key = self.new_keystore(ally)?;
        let founding_file = self.plan.dir.join("ally-founding.toml");
        std::fs::write(&founding_file, self.founding(name, &[ally], &[key]))?;
        let out = self.mutual(&[
            "found",
            "--dir",
            Self::path(&self.practices[ally].dir),
            "--founding",
            Self::path(&founding_file),
            "--json",
        ])?;
        let ally_network = json_field(&out, "network")?;
        self.start(ally)?;
        self.say(&format!(
            "network {ally_network} founded by {}, one practice with one partner",
            self.practices[ally].name
        ));
        let mut cards = Vec::new();
        for (i, file) in [(0, "card-1.json"), (ally, "card-2.json")] {
            let card = self.mutual(&[
                "federation",
                "card",
                "--dir",
                Self::path(&self.practices[i].dir),
            ])?;
            let path = self.plan.dir.join(file);
            std::fs::write(&path, card)?;
            cards.push(path);
        }
        self.say("each partnership's card lists its network, its practices and its node's address");
        let out = self.mutual(&[
            "federation",
            "charter",
            "--dir",
            Self::path(&self.practices[0].dir),
            "--name",
            FEDERATION,
            "--card",
            Self::path(&cards[0]),
            "--card",
            Self::path(&cards[1]),
            "--share-aid",
            "--share-statements",
            "--share-joint-motions",
            "--joint-requires-all",
            "--json",
        ])?;
        let signed: SignedCharter =
            serde_json::from_str(&out).context("the charter command's JSON")?;
        let charter_file = self.plan.dir.join("charter.hex");
        std::fs::write(&charter_file, &signed.charter_event)?;
        self.say(&format!(
            "the charter is signed; its event's id, {}, is the federation's id. Nothing is \
             linked until each partnership's partners pass it",
            signed.federation
        ));
        self.decide_in_both(
            "link-federation",
            &format!("Join the {FEDERATION}"),
            &["--charter", Self::path(&charter_file)],
        )?;
        self.say(
            "each partnership's partners vote to link, under its own deed (75% of the votes \
             cast by default)",
        );
        Ok((ally, signed.federation, ally_network))
    }

    /// A motion proposed in each partnership (by the first's practice 0, then by the
    /// second's practice), for which every partner of each votes.
    fn decide_in_both(&self, kind: &str, title: &str, extra: &[&str]) -> Result<()> {
        let ally = self.ally();
        for by in [0, ally] {
            let motion = self.propose_by(by, kind, title, extra)?;
            // The first partnership's partners belong to its founders.
            let voters: Vec<usize> = if by == ally {
                vec![ally]
            } else {
                (0..self.plan.practices - 1).collect()
            };
            for i in voters {
                self.vote(i, &motion, "for")?;
            }
        }
        Ok(())
    }

    /// Once both links have passed: the federation goes live on every node; a practice of
    /// the second partnership asks for cover across the federation and one of the first
    /// covers it; a statement; a joint motion, which each partnership votes on under its
    /// own deed; time passes again and it passes, as the charter says, only because both
    /// passed it.
    fn federate(
        &mut self,
        ally: usize,
        fed: &str,
        ally_network: String,
    ) -> Result<FederationSummary> {
        self.heading(
            "The federation is live: aid across partnerships, a statement, a joint motion",
        );
        self.wait_federation("the federation to be live on every node", fed, |f| f.live)?;
        let listed = self.mutual(&[
            "federation",
            "list",
            "--dir",
            Self::path(&self.practices[0].dir),
        ])?;
        ensure!(
            listed.contains(fed),
            "`mutual federation list` shows the federation: {listed}"
        );
        let shown = self.mutual(&[
            "federation",
            "show",
            "--dir",
            Self::path(&self.practices[ally].dir),
            fed,
        ])?;
        for l in shown.lines().take(4) {
            self.say(l);
        }
        let (req_i, off_i) = (ally, 1);
        let day = date_after(crate::now_ms(), 14);
        let fed_aid = |d: &Demo, i: usize, args: &[&str]| -> Result<String> {
            let mut all = vec!["aid", "--federation", fed];
            all.extend_from_slice(&args[..1]);
            all.extend_from_slice(&["--dir", Self::path(&d.practices[i].dir)]);
            all.extend_from_slice(&args[1..]);
            d.mutual(&all)
        };
        let session = format!("{day} AM");
        let req = fed_aid(
            self,
            req_i,
            &[
                "request",
                "--role",
                "GP",
                "--session",
                &session,
                "--urgency",
                "soon",
            ],
        )?;
        let seen = |d: &Demo, i: usize, f: &dyn Fn(&AidView) -> bool| -> Result<()> {
            d.wait(&format!("{}'s node to see it", d.practices[i].name), || {
                Ok(f(&d.fed_aid_on(i, fed)?))
            })
        };
        seen(self, off_i, &|v| v.requests.iter().any(|r| r.id == req))?;
        let offer = fed_aid(
            self,
            off_i,
            &["offer", &req, "--role", "GP", "--terms", "sessional rate"],
        )?;
        seen(self, req_i, &|v| {
            v.requests
                .iter()
                .any(|r| r.offers.iter().any(|o| o.0 == offer))
        })?;
        let agreement = fed_aid(self, req_i, &["accept", &offer])?;
        seen(self, off_i, &|v| {
            v.agreements.iter().any(|a| a.id == agreement)
        })?;
        fed_aid(self, off_i, &["countersign", &agreement])?;
        let all: Vec<usize> = (0..self.practices.len()).collect();
        let binding = |d: &Demo| {
            all.iter().all(|&i| {
                d.fed_aid_on(i, fed).is_ok_and(|v| {
                    v.agreements
                        .iter()
                        .any(|a| a.id == agreement && a.status == "binding")
                })
            })
        };
        self.wait(
            "the agreement to be binding on every node of both partnerships",
            || Ok(binding(self)),
        )?;
        self.say(&format!(
            "{} covers {} on {day}: signed by practices of two partnerships, binding on every \
             node of both; neither partnership's own log holds it",
            self.practices[off_i].name, self.practices[req_i].name
        ));
        self.mutual(&[
            "federation",
            "statement",
            "--dir",
            Self::path(&self.practices[0].dir),
            fed,
            "--title",
            "Winter pressures",
            "--text",
            "Our partnerships share cover across the alliance this winter.",
        ])?;
        let joint = self.mutual(&[
            "federation",
            "joint",
            "--dir",
            Self::path(&self.practices[ally].dir),
            fed,
            "--title",
            "Ask the ICB for a joint winter fund",
            "--text",
            "Passes only if every partnership passes it.",
        ])?;
        self.wait_federation("every node to see the joint motion", fed, |f| {
            f.joint_motions.iter().any(|j| j.id == joint)
        })?;
        self.decide_in_both(
            "general",
            "Our vote on the joint winter fund",
            &["--federation", fed, "--joint-motion", &joint],
        )?;
        self.say("each partnership votes on the joint motion in its own log, under its own deed");

        self.heading(
            "Time passes again: each partnership's vote closes and its nodes say the result",
        );
        self.pass_time()?;
        self.wait_federation("the joint motion to be decided on every node", fed, |f| {
            f.joint_motions
                .iter()
                .any(|j| j.id == joint && j.result != "open")
        })?;
        let shown = self.mutual(&[
            "federation",
            "show",
            "--dir",
            Self::path(&self.practices[0].dir),
            fed,
        ])?;
        for l in shown.lines().filter(|l| l.starts_with("  joint motion")) {
            self.say(l);
        }
        let agreed = self
            .wait("the federation's log to agree on every node", || {
                let hashes: Vec<String> = all
                    .iter()
                    .map(|&i| self.federation_on(i, fed).map(|f| f.state_hash))
                    .collect::<Result<_>>()?;
                Ok(hashes.iter().all(|h| *h == hashes[0]))
            })
            .is_ok();
        let views: Vec<FederationView> = all
            .iter()
            .map(|&i| self.federation_on(i, fed))
            .collect::<Result<_>>()?;
        let binding = binding(self);
        let joint_result = views[0]
            .joint_motions
            .iter()
            .find(|j| j.id == joint)
            .map_or("open".to_string(), |j| j.result.clone());
        Ok(FederationSummary {
            id: fed.to_string(),
            ally_network,
            ally: self.node_summary(ally)?,
            live: views.iter().all(|f| f.live),
            agreement,
            binding,
            joint_motion: joint,
            joint_result,
            agreed,
        })
    }

    /// Practice `i`'s node as it is now.
    fn node_summary(&self, i: usize) -> Result<NodeSummary> {
        let s: serde_json::Value = self.practices[i].client()?.get("/status")?;
        Ok(NodeSummary {
            practice: self.practices[i].name.clone(),
            dir: self.practices[i].dir.clone(),
            events: s["events"].as_u64().unwrap_or_default(),
            state_hash: s["state_hash"].as_str().unwrap_or_default().to_string(),
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

    #[test]
    fn free_ports_are_never_handed_out_twice() {
        // The system readily gives a just-closed port to the next bind; two nodes' or one
        // node's two ports must still differ.
        let ports: std::collections::BTreeSet<u16> = (0..200)
            .map(|_| super::free_port().expect("a port"))
            .collect();
        assert_eq!(ports.len(), 200);
    }
}
