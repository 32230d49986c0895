//! The federation in the simulation: the charter the first partnership's node signs for
//! the two partnerships, the business each does across it ([`Workload::federation`]), and
//! the checks that each network's nodes said in its log what they had to say.

use super::checks::count_by_kind;
use super::workload::{aid, motion, Step, Workload, VOTING_MS};
use super::world::Sim;
use super::{MemStore, Violation};
use crate::core::{NodeCore, Reply};
use mutual_proto::v1 as pb;
use mutual_protocol::aid::AgreementStatus;
use mutual_protocol::event::Body;
use mutual_protocol::federation::{roster_entry, FederationId, FederationState, JointRecord};
use mutual_protocol::id::EventId;
use mutual_protocol::replica::Replica;
use mutual_protocol::state::Outcome;
use pb::{Choice, DecisionKind};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// Most undecided joint motions beside which a practice node proposes another.
const MAX_OPEN_JOINT: usize = 2;

impl Workload {
    /// The business of the federation the partnerships are asked to link to: the
    /// partners' vote to link, once its charter is signed; once it is live, the partners'
    /// motion on how their network decides a joint motion, and, signed by the node in the
    /// federation's log, a joint motion, a statement or aid across the partnerships.
    pub(super) fn federation(
        &mut self,
        rng: &mut ChaCha8Rng,
        core: &NodeCore<MemStore>,
        ts: u64,
        now: u64,
        partner: Option<usize>,
    ) -> Option<Step> {
        let (fid, charter) = self.charter.clone()?;
        let st = core.replica().state();
        let g = st.governance();
        // The partners want a link (and later the ally's leaving): while such a motion is
        // open they vote for it, and do nothing else here until it closes.
        let open_for = |kind: DecisionKind| {
            g.motions()
                .find(|m| m.kind == kind && m.closed.is_none())
                .map(|m| {
                    (m.opens_at_ms <= ts && ts < m.closes_at_ms).then(|| {
                        Body::Ballot(pb::Ballot {
                            motion: m.id.as_bytes().to_vec(),
                            choice: Choice::For as i32,
                            ..Default::default()
                        })
                    })
                })
        };
        let Some(link) = g.link(&fid) else {
            // The partners vote for the link, or propose it again.
            if let Some(ballot) = open_for(DecisionKind::LinkFederation) {
                return self.partner_signs(core, partner?, now, ballot?, "ballot");
            }
            let mut mo = motion(
                DecisionKind::LinkFederation,
                "Join the Simulated Federation",
                ts,
            );
            mo.charter_event = charter;
            // A big decision: the partners are given twice the usual time, so that those
            // whose clocks run ahead see it open too.
            mo.closes_at_ms = ts + 2 * VOTING_MS;
            return self.partner_signs(core, partner?, now, Body::Motion(mo), "link motion");
        };
        if link.left_by.is_some() {
            return None;
        }
        let fs = core.federations().get(&fid)?.replica.state();
        if !fs.is_live() {
            return None;
        }
        // The allied partnership leaves once the federation has done some business: a
        // joint motion settled, and aid agreed.
        if let Some(ballot) = open_for(DecisionKind::LeaveFederation) {
            return self.partner_signs(core, partner?, now, ballot?, "ballot");
        }
        let leaving = g.motions().any(|m| m.kind == DecisionKind::LeaveFederation);
        if self.leaves()
            && !leaving
            && fs.joint_motions().any(|j| j.result.is_some())
            && fs
                .aid()
                .agreements()
                .any(|a| a.status == AgreementStatus::Binding)
            && rng.gen_bool(0.3)
        {
            let mut mo = motion(
                DecisionKind::LeaveFederation,
                "Leave the Simulated Federation",
                ts,
            );
            mo.federation = fid.as_bytes().to_vec();
            // As big a decision as the link, given as long.
            mo.closes_at_ms = ts + 2 * VOTING_MS;
            return self.partner_signs(core, partner?, now, Body::Motion(mo), "leave motion");
        }
        let undecided: Vec<&JointRecord> =
            fs.joint_motions().filter(|j| j.result.is_none()).collect();
        let put: Vec<&[u8]> = g
            .motions()
            .map(|m| m.motion.joint_motion.as_slice())
            .collect();
        let unput = undecided
            .iter()
            .find(|j| !put.contains(&j.id.as_bytes().as_slice()));
        if let (Some(j), true) = (unput, rng.gen_bool(0.7)) {
            let mut mo = motion(
                DecisionKind::General,
                format!("How we decide {:?}", j.motion.title),
                ts,
            );
            mo.federation = fid.as_bytes().to_vec();
            mo.joint_motion = j.id.as_bytes().to_vec();
            return self.partner_signs(core, partner?, now, Body::Motion(mo), "joint-motion vote");
        }
        let node = |what, body| {
            Some(Step::Node {
                what,
                log: Some(fid),
                body: Box::new(body),
            })
        };
        match rng.gen_range(0..6) {
            0 if undecided.len() < MAX_OPEN_JOINT => {
                return node(
                    "joint motion",
                    Body::JointMotion(pb::JointMotion {
                        title: format!("Joint motion {}", rng.gen_range(0..1_000)),
                        text: "Shared locum rates across the federation".into(),
                    }),
                )
            }
            1 => {
                return node(
                    "joint statement",
                    Body::JointStatement(pb::JointStatement {
                        title: format!("Statement {}", rng.gen_range(0..1_000)),
                        text: "Winter pressures across our practices".into(),
                    }),
                )
            }
            _ => {}
        }
        let mine = st.membership().practice_of_node(&core.key())?;
        let (what, body) = aid(rng, fs.aid(), &mine.practice.ods_code, now, true)?;
        node(what, body)
    }
}

impl Sim {
    /// The charter of a federation of the partnerships: every practice of each as its
    /// genesis lists them, sharing everything; a joint motion needs every network in
    /// even seeds, more than half of them in odd ones.
    pub(super) fn charter(&self) -> pb::FederationCharter {
        let mut members: Vec<pb::CharterNetwork> = self
            .nets
            .iter()
            .map(|net| {
                let genesis = net.workload.genesis();
                let mut practices: Vec<pb::Practice> =
                    genesis.practices.iter().map(roster_entry).collect();
                practices.sort_by(|a, b| a.ods_code.cmp(&b.ods_code));
                pb::CharterNetwork {
                    network: net.id.as_bytes().to_vec(),
                    name: genesis.name,
                    practices,
                    bootstrap: Vec::new(),
                }
            })
            .collect();
        members.sort_by(|a, b| a.network.cmp(&b.network));
        pb::FederationCharter {
            name: "Simulated Federation".into(),
            share_aid_requests: true,
            share_statements: true,
            share_joint_motions: true,
            joint_requires_all: self.plan.seed.is_multiple_of(2),
            members,
        }
    }

    /// The charter is signed (or the node could not sign it, and it is asked again).
    pub(super) fn chartered(&mut self, reply: Reply) {
        let Reply::Charter(signed) = reply else {
            return;
        };
        match *signed {
            Ok(ev) => {
                let id = mutual_protocol::federation::federation_id(&ev);
                self.signed.insert(ev.id);
                self.federation = Some(id);
                for net in &mut self.nets {
                    net.workload.set_charter(id, ev.to_wire());
                }
                *self.report.business.entry("charter".into()).or_default() += 1;
            }
            Err(_) => {
                self.report.signing_refused += 1;
                self.charter_asked = false;
            }
        }
    }

    /// At the end, on every node holding the federation's log: every event acknowledged
    /// there and nothing no author signed; and the report's figures of the federation.
    pub(super) fn check_federation(&mut self) -> Result<(), Violation> {
        let Some(fid) = self.federation else {
            return Ok(());
        };
        let acked: Vec<EventId> = self
            .nodes
            .iter()
            .flat_map(|n| n.fed_acked.iter().copied())
            .collect();
        let (logs, gone): (Vec<_>, Vec<_>) = self
            .cores()
            .filter_map(|(n, c)| c.federations().get(&fid).map(|l| (n, &l.replica)))
            .partition(|(n, _)| !self.departed(*n));
        // A node whose practice left holds what it acknowledged there itself.
        for &(n, r) in &gone {
            let own = &self.nodes[n].fed_acked;
            self.holds_just(
                n,
                r,
                own,
                "at the end, in the federation's log, its practice gone",
            )?;
        }
        let logs: Vec<(usize, &Replica<FederationState>)> = logs;
        for &(n, r) in &logs {
            self.holds_just(n, r, &acked, "at the end, in the federation's log")?;
            // No one forks on purpose in the federation's log.
            if let Some(author) = r.forks().keys().next() {
                return Err(Violation::HonestFork {
                    node: self.index_of(author).unwrap_or(n),
                });
            }
        }
        let Some(&(_, r)) = logs.first() else {
            return Ok(());
        };
        let fs = r.state();
        let linked = self
            .nets
            .iter()
            .filter_map(|net| self.nodes[net.workload.founders().start].core.as_ref())
            .filter(|c| c.replica().state().governance().link(&fid).is_some())
            .count();
        // Live once both joined; the ally's leaving later does not undo that.
        let went_live = fs.parties().count() >= 2 && fs.parties().all(|p| p.joined.is_some());
        let left = fs.parties().any(|p| p.left.is_some());
        let figures = (
            linked,
            went_live,
            r.len(),
            fs.joint_motions().count(),
            fs.joint_motions().filter(|j| j.result.is_some()).count(),
            fs.aid()
                .agreements()
                .filter(|a| a.status == AgreementStatus::Binding)
                .count(),
        );
        let mut kinds = BTreeMap::new();
        count_by_kind(r, &mut kinds, |body, outcome| {
            (*outcome == Outcome::Applied).then(|| body.to_string())
        });
        // Every network that joined (one that left later decided before it left).
        let joined: Vec<_> = fs
            .parties()
            .filter(|p| p.joined.is_some())
            .map(|p| p.network)
            .collect();
        let decided_by_all = fs
            .joint_motions()
            .filter(|j| !joined.is_empty() && joined.iter().all(|n| j.decisions.contains_key(n)))
            .count();
        let joiner = self.nodes[self.plan.nodes].key.public();
        let own = self.nets[0].id;
        let on_roster = fs
            .party(&own)
            .is_some_and(|p| p.roster.contains_key(&joiner));
        self.report.federation_left = left;
        self.report.federation_kinds = kinds;
        self.report.joint_decided_by_all = decided_by_all;
        self.report.joiner_on_roster = on_roster;
        let rp = &mut self.report;
        (
            rp.networks_linked,
            rp.federation_live,
            rp.federation_events,
            rp.joint_motions,
            rp.joint_settled,
            rp.federation_aid_agreed,
        ) = figures;
        Ok(())
    }
}

/// Whether the federation's log on `core` (a partnership's first node) says what its
/// network's nodes had to say: if its network linked, that it joined; if its partners
/// then passed leaving, that it left (after which it says nothing more there); else, while
/// the federation is live, how it decided each joint motion its partners voted on and
/// closed (unless the motion was settled first).
pub(super) fn federation_said(core: &NodeCore<MemStore>, fid: &FederationId) -> bool {
    let st = core.replica().state();
    let g = st.governance();
    let Some(link) = g.link(fid) else {
        return true;
    };
    let Some(log) = core.federations().get(fid) else {
        return false;
    };
    let fs = log.replica.state();
    let own = core.replica().network();
    let Some(party) = fs.party(&own) else {
        return false;
    };
    if party.joined.is_none() {
        return false;
    }
    if link.left_by.is_some() {
        return party.left.is_some();
    }
    // Once another network has left, the federation is no longer live: no joint motion
    // is decided there any more.
    if !fs.is_live() {
        return true;
    }
    g.motions()
        .filter(|m| m.closed.is_some() && m.motion.federation == fid.as_bytes())
        .filter_map(|m| m.motion.joint_motion.as_slice().try_into().ok())
        .filter_map(|j: [u8; 32]| fs.joint_motion(&EventId(j)))
        .all(|j| j.result.is_some() || j.decisions.contains_key(&own))
}
