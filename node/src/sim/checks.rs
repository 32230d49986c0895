//! The invariants a run must keep (see [`super::Violation`]): bounds at every step,
//! convergence, and at the end every acknowledged event everywhere, nothing stored that
//! no author signed, and the proof of every fork on every node.

use super::world::Sim;
use super::Violation;
use mutual_protocol::id::EventId;
use mutual_protocol::keys::PublicKey;
use mutual_protocol::limits::{MAX_FUTURE_EVENTS, MAX_PENDING_EVENTS};
use std::collections::{BTreeMap, BTreeSet};

impl Sim {
    // ---------------------------------------------------------------- the checks

    pub(super) fn check_bounds(&mut self) -> Result<(), Violation> {
        for (n, node) in self.nodes.iter().enumerate() {
            let Some(core) = &node.core else { continue };
            let r = core.replica();
            let (pending, held) = (r.pending_len(), r.held_len());
            self.report.max_pending = self.report.max_pending.max(pending);
            self.report.max_held = self.report.max_held.max(held);
            if pending > MAX_PENDING_EVENTS || held > MAX_FUTURE_EVENTS {
                return Err(Violation::OverBound {
                    node: n,
                    pending,
                    held,
                });
            }
        }
        Ok(())
    }

    pub(super) fn converged(&self) -> bool {
        let Some(first) = self.nodes[0].core.as_ref().map(|c| c.replica()) else {
            return false;
        };
        let replicas: Vec<_> = self
            .nodes
            .iter()
            .filter_map(|n| n.core.as_ref().map(|c| c.replica()))
            .collect();
        // The counts first: they are cheap, and differ on most steps.
        replicas.len() == self.nodes.len()
            && replicas
                .iter()
                .all(|r| r.len() == first.len() && r.pending_len() == 0 && r.held_len() == 0)
            && replicas
                .iter()
                .all(|r| r.state_hash() == first.state_hash())
    }

    /// Whether every motion in the log has closed (on node 0, once all agree), and every
    /// node of an active practice holds every paper its log names (a node outside the
    /// network is sent none).
    pub(super) fn settled(&self) -> bool {
        self.nodes[0].core.as_ref().is_some_and(|c| {
            c.replica()
                .state()
                .governance()
                .motions()
                .all(|m| m.closed.is_some())
        }) && self.nodes.iter().all(|n| {
            n.core.as_ref().is_some_and(|c| {
                let (named, held) = c.papers().counts(c.replica());
                let member = c
                    .replica()
                    .state()
                    .membership()
                    .is_active_practice_node(&c.key());
                named == held || !member
            })
        })
    }

    pub(super) fn difference(&self) -> String {
        let mut by_hash: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (n, node) in self.nodes.iter().enumerate() {
            let key = match &node.core {
                Some(c) => {
                    let r = c.replica();
                    let (named, held) = c.papers().counts(r);
                    let open = r
                        .state()
                        .governance()
                        .motions()
                        .filter(|m| m.closed.is_none())
                        .count();
                    format!(
                        "{} events, {} pending, {} held, hash {}, {open} motions open, papers \
                         {held} of {named} held",
                        r.len(),
                        r.pending_len(),
                        r.held_len(),
                        &r.state_hash().to_string()[..12]
                    )
                }
                None => "down".into(),
            };
            by_hash.entry(key).or_default().push(n);
        }
        by_hash
            .iter()
            .map(|(k, ns)| format!("nodes {ns:?}: {k}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub(super) fn check_end(&mut self) -> Result<(), Violation> {
        let acked: Vec<EventId> = self.nodes.iter().flat_map(|n| n.acked.clone()).collect();
        let replicas: Vec<&mutual_protocol::replica::Replica> = self
            .nodes
            .iter()
            .map(|n| n.core.as_ref().expect("converged nodes are up").replica())
            .collect();
        let forks: BTreeSet<PublicKey> = replicas[0].forks().keys().copied().collect();
        let forker = self.forker.map(|f| self.nodes[f].key.public());
        // Once any node has taken in the forker's second event, every node must hold the
        // proof of the fork.
        let twin_known = self
            .twin
            .is_some_and(|t| replicas.iter().any(|r| r.knows(&t)));
        if let (true, Some(f)) = (twin_known, forker) {
            if let Some(n) = replicas.iter().position(|r| r.fork_proof(&f).is_none()) {
                return Err(Violation::ForkProof {
                    node: n,
                    detail: "the forker's second event was taken in, but no proof is held".into(),
                });
            }
        }
        if let Some(honest) = forks.iter().find(|a| Some(**a) != forker) {
            let node = self.index_of(honest);
            return Err(Violation::HonestFork {
                node: node.unwrap_or(usize::MAX),
            });
        }
        for (n, r) in replicas.iter().enumerate() {
            if let Some(lost) = acked.iter().find(|id| r.get(id).is_none()) {
                return Err(Violation::AcknowledgedLost {
                    node: n,
                    event: *lost,
                    when: "at the end",
                });
            }
            if let Some(bad) = r
                .events_in_order()
                .map(|e| e.id)
                .find(|id| !self.signed.contains(id))
            {
                return Err(Violation::InvalidStored {
                    node: n,
                    event: bad,
                });
            }
            let theirs: BTreeSet<PublicKey> = r.forks().keys().copied().collect();
            if theirs != forks {
                return Err(Violation::ForkProof {
                    node: n,
                    detail: format!("{} forks, node 0 has {}", theirs.len(), forks.len()),
                });
            }
            for author in &forks {
                let proof = r.fork_proof(author).ok_or_else(|| Violation::ForkProof {
                    node: n,
                    detail: format!("no proof for {author}"),
                })?;
                match proof.verify() {
                    Ok((who, _, net)) if who == *author && net == self.network => {}
                    other => {
                        return Err(Violation::ForkProof {
                            node: n,
                            detail: format!("the proof for {author} gives {other:?}"),
                        })
                    }
                }
            }
        }
        let first = replicas[0];
        let g = first.state().governance();
        let closed: Vec<_> = g.motions().filter(|m| m.closed.is_some()).collect();
        self.report.motions_closed = closed.len();
        self.report.ballots_counted = closed.iter().map(|m| m.votes.ballots.len()).sum();
        for e in first.events_in_order() {
            if let Some(mutual_protocol::state::Outcome::Rejected(why)) = first.outcome(&e.id) {
                let what = format!(
                    "{}: {why}",
                    e.event
                        .body
                        .as_ref()
                        .map_or("unknown", mutual_protocol::event::body_name)
                );
                *self.report.rejected.entry(what).or_default() += 1;
            }
        }
        self.report.motions_passed = closed
            .iter()
            .filter(|m| m.closed.as_ref().is_some_and(|c| c.tally.passed))
            .count();
        let joiner = self.nodes[self.plan.nodes].key.public();
        self.report.admitted = first.state().membership().is_active_practice_node(&joiner);
        self.report.forks = forks.len();
        self.report.papers = crate::core::papers::wanted_by(first).len();
        self.report.board_lapsed = g.board_term().lapsed_at_ms.is_some();
        self.report.boards_elected = closed
            .iter()
            .filter(|m| m.kind == mutual_proto::v1::DecisionKind::ElectBoard)
            .filter(|m| m.closed.as_ref().is_some_and(|c| c.tally.passed))
            .count();
        self.report.events = first.len();
        self.report.state_hash = first.state_hash().to_string();
        Ok(())
    }
}
