//! The partnership's story, step by step: founding, an invited practice admitted by
//! vote, a motion, mutual aid, a node killed and restarted, time passing.

use super::*;
use crate::api::MemberView;
use crate::daemon::CONFIG_FILE;
use crate::keystore::PASSPHRASE_ENV;
use anyhow::{ensure, Result};

impl Demo {
    pub(super) fn script(&mut self) -> Result<Summary> {
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
        let network = json_field(&out, "network")?;
        self.say(&format!(
            "network {network} founded by {}",
            self.practices[0].name
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

        let first_key = self.new_keystore(new)?;
        let first_partner = format!("{}={first_key}", self.practices[new].partner);
        let report = dir.join(format!("due-diligence-{}.pdf", self.practices[new].ods));
        std::fs::write(&report, due_diligence(&self.practices[new].name))?;
        let report_arg = Self::path(&report).to_string();
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
        let due_diligence = self.motion_on(0, &admit)?.papers[0].sha256.clone();
        self.wait("every member node to hold the report", || {
            Ok((0..founders).all(|i| self.holds(i, &due_diligence)))
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
        let agreement = self.mutual(&[
            "aid",
            "accept",
            "--dir",
            Self::path(&self.practices[req_i].dir),
            "--keystore",
            Self::path(&self.practices[req_i].keystore),
            &offer,
        ])?;
        self.wait_aid(off_i, |v| v.agreements.iter().any(|a| a.id == agreement))?;
        self.mutual(&[
            "aid",
            "countersign",
            "--dir",
            Self::path(&self.practices[off_i].dir),
            "--keystore",
            Self::path(&self.practices[off_i].keystore),
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
            "{} covers {} on {day}: the agreement is signed by a partner of each practice and binding on every node",
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

        let votes = self.govern(founders)?;
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
            "{} is a member now; its node signs its first event, and fetches the papers \
             the log names from its peers",
            self.practices[new].name
        ));
        self.wait("the admitted practice to hold the papers", || {
            Ok(self.holds(new, &due_diligence))
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
        let (board, chair) = self.governed(&votes)?;
        let acceded = self.accede(new)?;
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
        let papers_everywhere = (0..n).all(|i| self.holds_all(i));
        self.say(&format!("every paper on every node: {papers_everywhere}"));
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
            due_diligence,
            papers_everywhere,
            agreement,
            restarted: self.practices[victim].name.clone(),
            board,
            chair,
            acceded,
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
