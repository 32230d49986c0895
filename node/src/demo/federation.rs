//! The second partnership, and the federation of the two: cards, a charter, each side's
//! vote to link, aid across them, a statement and a joint motion.

use super::*;
use crate::api::federations::{FederationView, SignedCharter};
use crate::api::AidView;
use anyhow::{ensure, Context, Result};

impl Demo {
    /// A second partnership of one practice is founded; the two sign a charter from their
    /// cards and each proposes and votes on linking under its own deed. Returns the second
    /// partnership's practice, the federation's id and the second network's id.
    pub(super) fn link(&mut self) -> Result<(usize, String, String)> {
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
    pub(super) fn decide_in_both(&self, kind: &str, title: &str, extra: &[&str]) -> Result<()> {
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
    pub(super) fn federate(
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
}
