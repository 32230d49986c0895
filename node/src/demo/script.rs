//! The partnership's story as a list of steps (`STEPS`), each a method that narrates
//! itself and leaves what the next steps need in a `Story`: founding, an invited
//! practice admitted by vote with its due diligence, mutual aid, a node killed and
//! restarted, elections, a second partnership and a federation, time passing, the
//! admitted practice taking part, the federation at work.

use super::governance::Votes;
use super::*;
use crate::api::MemberView;
use crate::daemon::CONFIG_FILE;
use crate::keystore::PASSPHRASE_ENV;
use anyhow::{ensure, Context, Result};

/// The practice that asks for aid, and the one that helps (indexes of founders).
const AID_REQUESTER: usize = 1;
const AID_HELPER: usize = 0;

/// What one step leaves for the next ones.
#[derive(Default)]
pub(super) struct Story {
    partner_keys: Vec<String>,
    network: String,
    /// The practice invited and admitted (the last one).
    new: usize,
    admit: String,
    due_diligence: String,
    /// The aid agreement.
    agreement: String,
    restarted: String,
    votes: Option<Votes>,
    ally: usize,
    fed: String,
    ally_network: String,
    board: Vec<String>,
    chair: Option<String>,
    acceded: bool,
    federation: Option<FederationSummary>,
}

/// One step of the story.
type Step = fn(&mut Demo, &mut Story) -> Result<()>;

/// The story, in order.
pub(super) const STEPS: [(&str, Step); 12] = [
    ("set up the practices and the partners' keys", Demo::set_up),
    ("found the partnership", Demo::found_partnership),
    (
        "invite a practice and propose admitting it",
        Demo::invite_and_propose,
    ),
    (
        "mutual aid between two practices",
        Demo::aid_between_practices,
    ),
    ("a node killed and restarted", Demo::crash_and_restart),
    ("elections, a proxy, a lost key", Demo::elect),
    (
        "a second partnership proposes a federation",
        Demo::link_partnerships,
    ),
    ("time passes: the votes close", Demo::time_passes),
    (
        "the admitted practice fetches the papers",
        Demo::fetch_papers,
    ),
    ("the count", Demo::count),
    (
        "the new partner accedes and asks for aid",
        Demo::new_partner_acts,
    ),
    ("the federation at work", Demo::federation_at_work),
];

impl Demo {
    /// Runs every step of [`STEPS`], then sums up.
    pub(super) fn script(&mut self) -> Result<Summary> {
        let mut st = Story::default();
        for (i, (name, step)) in STEPS.iter().enumerate() {
            step(self, &mut st).with_context(|| format!("demo step {} ({name})", i + 1))?;
        }
        self.result(st)
    }

    /// Whether every node of the first partnership shows practice `new` as an active
    /// member.
    fn admitted_everywhere(&self, new: usize) -> bool {
        let ods = &self.practices[new].ods;
        (0..self.plan.practices).all(|i| {
            self.practices[i]
                .client()
                .and_then(|c| c.get::<Vec<MemberView>>("/members"))
                .is_ok_and(|m| m.iter().any(|p| &p.ods == ods && p.status == "active"))
        })
    }

    /// Every practice's data directory and node key, the agreement, the founders'
    /// keystores.
    fn set_up(&mut self, st: &mut Story) -> Result<()> {
        let n = self.plan.practices;
        let founders = n - 1;
        let dir = self.plan.dir.clone();
        self.heading(&format!(
            "Setting up {n} practices in {} (each runs its own node process)",
            dir.display()
        ));
        std::fs::create_dir_all(dir.join("partners"))?;
        std::fs::write(dir.join("agreement.txt"), super::governance::AGREEMENT)?;
        for i in 0..n {
            let (name, partner, locality) = practice_names(i);
            self.add_practice(
                &format!("practice-{}", i + 1),
                &format!("partner-{}", i + 1),
                (&name, &partner, &locality),
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
        st.partner_keys.clear();
        for i in 0..founders {
            st.partner_keys.push(self.new_keystore(i)?);
        }
        Ok(())
    }

    /// The first practice founds the partnership from a founding file; the other founders
    /// join.
    fn found_partnership(&mut self, st: &mut Story) -> Result<()> {
        let n = self.plan.practices;
        let founders = n - 1;
        let dir = self.plan.dir.clone();
        self.heading("Founding the partnership");
        let founders_list: Vec<usize> = (0..founders).collect();
        let founding = self.founding("Mutual demo partnership", &founders_list, &st.partner_keys);
        let founding_file = dir.join("founding.toml");
        std::fs::write(&founding_file, founding)?;
        self.say(&format!(
            "{} lists {founders} practices, a partner each, and the deed: its timings, one \
             proxy per partner, and the partnership's agreement (agreement.txt), which \
             partners admitted later sign before they vote",
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
        st.network = json_field(&out, "network")?;
        self.say(&format!(
            "network {} founded by {}",
            st.network, self.practices[0].name
        ));
        self.start(0)?;
        self.mutual(&[
            "paper",
            "put",
            "--dir",
            Self::path(&self.practices[0].dir),
            Self::path(&dir.join("agreement.txt")),
        ])?;
        self.say(
            "the founding node is given the agreement's file: a paper the deed names by its \
             hash, which every node fetches from its peers and checks",
        );
        let bootstrap = self.practices[0].address();
        for i in 1..founders {
            let d = Self::path(&self.practices[i].dir).to_string();
            self.mutual(&[
                "join",
                "--dir",
                &d,
                "--network",
                &st.network,
                "--bootstrap",
                &bootstrap,
            ])?;
            self.start(i)?;
        }
        self.converge()?;
        Ok(())
    }

    /// The last practice is invited, joins and syncs; a partner proposes admitting it with
    /// its first partner and its due-diligence report; the founders vote.
    fn invite_and_propose(&mut self, st: &mut Story) -> Result<()> {
        let n = self.plan.practices;
        let founders = n - 1;
        let dir = self.plan.dir.clone();
        let new = founders;
        st.new = new;
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

        let first_key = self.new_keystore(new)?;
        let first_partner = format!("{}={first_key}", self.practices[new].partner);
        let report = dir.join(format!("due-diligence-{}.pdf", self.practices[new].ods));
        std::fs::write(&report, due_diligence(&self.practices[new].name))?;
        let report_arg = Self::path(&report).to_string();
        let joining = &self.practices[new];
        st.admit = self.propose(
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
                "--first-partner",
                &first_partner,
                "--attach",
                &report_arg,
            ],
        )?;
        self.say(&format!(
            "the motion names the practice's first partner, {}, with the key she made, and \
             carries the due-diligence report ({}): the motion holds its SHA-256 and size, so \
             every vote is bound to that version",
            self.practices[new].partner,
            report.display()
        ));
        st.due_diligence = self.motion_on(0, &st.admit)?.papers[0].sha256.clone();
        self.wait("every member node to hold the report", || {
            Ok((0..founders).all(|i| self.holds(i, &st.due_diligence)))
        })?;
        self.say("every member's node fetched the report from a peer and checked its hash");
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
            self.vote(i, &st.admit, choice)?;
        }
        self.converge()?;
        let shown = self.mutual(&[
            "motion",
            "show",
            "--dir",
            Self::path(&self.practices[1].dir),
            &st.admit,
        ])?;
        for l in shown
            .lines()
            .filter(|l| l.starts_with("tally") || l.starts_with("result"))
        {
            self.say(l);
        }
        self.say("the result stays provisional until the vote closes and the grace period passes");
        Ok(())
    }

    /// One practice asks for cover, another offers, the first accepts and the second
    /// countersigns.
    fn aid_between_practices(&mut self, st: &mut Story) -> Result<()> {
        self.heading("Mutual aid: a practice short of a GP asks, another offers");
        let (req_i, off_i) = (AID_REQUESTER, AID_HELPER);
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
        // What commits a practice is signed by one of its partners, as the deed says.
        let offer = self.mutual(&[
            "aid",
            "offer",
            "--dir",
            Self::path(&self.practices[off_i].dir),
            "--keystore",
            Self::path(&self.practices[off_i].keystore),
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
        st.agreement = self.mutual(&[
            "aid",
            "accept",
            "--dir",
            Self::path(&self.practices[req_i].dir),
            "--keystore",
            Self::path(&self.practices[req_i].keystore),
            &offer,
        ])?;
        self.wait_aid(off_i, |v| v.agreements.iter().any(|a| a.id == st.agreement))?;
        self.mutual(&[
            "aid",
            "countersign",
            "--dir",
            Self::path(&self.practices[off_i].dir),
            "--keystore",
            Self::path(&self.practices[off_i].keystore),
            &st.agreement,
        ])?;
        self.converge()?;
        let binding = (0..=st.new).all(|i| {
            self.aid_on(i).is_ok_and(|v| {
                v.agreements
                    .iter()
                    .any(|a| a.id == st.agreement && a.status == "binding")
            })
        });
        ensure!(
            binding,
            "the agreement did not become binding on every node"
        );
        self.say(&format!(
            "{} covers {} on {day}: the agreement is signed by a partner of each practice and binding on every node",
            self.practices[off_i].name, self.practices[req_i].name
        ));
        Ok(())
    }

    /// A node is killed while the others vote, restarts from its store and catches up.
    fn crash_and_restart(&mut self, st: &mut Story) -> Result<()> {
        let n = self.plan.practices;
        let founders = n - 1;
        let victim = founders - 1;
        st.restarted = self.practices[victim].name.clone();
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
        Ok(())
    }

    /// The partners elect a board and a chair; a proxy, a declaration of interest, a lost
    /// key.
    fn elect(&mut self, st: &mut Story) -> Result<()> {
        let n = self.plan.practices;
        let founders = n - 1;
        st.votes = Some(self.govern(founders)?);
        Ok(())
    }

    /// A second partnership is founded and both vote to link in a federation.
    fn link_partnerships(&mut self, st: &mut Story) -> Result<()> {
        let (ally, fed, ally_network) = self.link()?;
        (st.ally, st.fed, st.ally_network) = (ally, fed, ally_network);
        Ok(())
    }

    /// The voting and grace periods pass; the admission takes effect everywhere.
    fn time_passes(&mut self, st: &mut Story) -> Result<()> {
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
            Self::path(&self.practices[AID_REQUESTER].dir),
            &st.agreement,
        ])?;
        let new = st.new;
        self.wait("the admission to take effect everywhere", || {
            Ok(self.admitted_everywhere(new))
        })?;
        let shown = self.mutual(&[
            "motion",
            "show",
            "--dir",
            Self::path(&self.practices[new].dir),
            &st.admit,
        ])?;
        for l in shown
            .lines()
            .filter(|l| l.starts_with("result") || l.starts_with("effect"))
        {
            self.say(l);
        }
        Ok(())
    }

    /// The admitted practice's node fetches every paper the log names from its peers.
    fn fetch_papers(&mut self, st: &mut Story) -> Result<()> {
        let new = st.new;
        self.say(&format!(
            "{} is a member now; its node signs its first event, and fetches the papers \
             the log names from its peers",
            self.practices[new].name
        ));
        self.wait("the admitted practice to hold the papers", || {
            Ok(self.holds(new, &st.due_diligence))
        })?;
        let listed = self.mutual(&[
            "paper",
            "list",
            "--dir",
            Self::path(&self.practices[new].dir),
        ])?;
        for l in listed.lines() {
            self.say(l.trim());
        }
        Ok(())
    }

    /// The elections' count, round by round; the board and chair in office.
    fn count(&mut self, st: &mut Story) -> Result<()> {
        let votes = st.votes.take().context("the elections step did not run")?;
        (st.board, st.chair) = self.governed(&votes)?;
        Ok(())
    }

    /// The admitted practice's first partner signs the agreement, then its node asks for
    /// aid.
    fn new_partner_acts(&mut self, st: &mut Story) -> Result<()> {
        let new = st.new;
        st.acceded = self.accede(new)?;
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
        Ok(())
    }

    /// Aid across the two partnerships, a statement and a joint motion.
    fn federation_at_work(&mut self, st: &mut Story) -> Result<()> {
        let ally_network = std::mem::take(&mut st.ally_network);
        st.federation = Some(self.federate(st.ally, &st.fed, ally_network)?);
        Ok(())
    }

    /// Each node's state, whether they agree, and the summary.
    fn result(&mut self, mut st: Story) -> Result<Summary> {
        let n = self.plan.practices;
        let dir = self.plan.dir.clone();
        let mut federation = st
            .federation
            .take()
            .context("the federation step did not run")?;
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
        let admitted_everywhere = self.admitted_everywhere(st.new);
        let papers_everywhere = (0..n).all(|i| self.holds_all(i));
        self.say(&format!("every paper on every node: {papers_everywhere}"));
        self.say(&format!("converged: {converged}"));
        self.say(&format!(
            "federation {}: live {}, agreement binding {}, joint motion {}, its log agreed \
             on every node of both partnerships: {}",
            st.fed, federation.live, federation.binding, federation.joint_result, federation.agreed
        ));
        // Read again just before the nodes stop, as the first partnership's are.
        federation.ally = self.node_summary(st.ally)?;
        for i in 0..=st.ally {
            self.stop(i, false)?;
        }
        self.say(&format!(
            "the nodes are stopped; their stores are in {}. Next: `mutual export --dir {} --out log.bin` then `mutual verify log.bin`",
            dir.display(),
            self.practices[0].dir.display()
        ));
        Ok(Summary {
            converged,
            network: st.network,
            admission_motion: st.admit,
            admitted: admitted_everywhere,
            due_diligence: st.due_diligence,
            papers_everywhere,
            agreement: st.agreement,
            restarted: st.restarted,
            board: st.board,
            chair: st.chair,
            acceded: st.acceded,
            nodes,
            federation,
        })
    }
}

/// A due-diligence report as the demo attaches it: a small PDF.
fn due_diligence(practice: &str) -> Vec<u8> {
    format!(
        "%PDF-1.4\n% Due diligence: {practice}\n1 0 obj << /Type /Catalog >> endobj\n\
         % Performance: QOF 98%, CQC good. Finances: accounts to March, audited.\n\
         % Ethos: interviewed by three partners.\n%%EOF\n"
    )
    .into_bytes()
}
