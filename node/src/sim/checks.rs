//! The invariants a run must keep (see [`super::Violation`]): bounds at every step,
//! convergence, and at the end every acknowledged event everywhere, nothing stored that
//! no author signed, and the proof of every fork on every node.

use super::federation::federation_said;
use super::world::Sim;
use super::{MemStore, Violation};
use crate::core::NodeCore;
use mutual_protocol::federation::FederationState;
use mutual_protocol::id::EventId;
use mutual_protocol::keys::PublicKey;
use mutual_protocol::limits::{MAX_FUTURE_EVENTS, MAX_PENDING_EVENTS};
use mutual_protocol::replica::{Fold, Replica};
use mutual_protocol::state::Outcome;
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

    /// Whether every node is up and holds the same log as the others of its partnership,
    /// and every node whose partnership linked to the federation holds the same log of
    /// the federation as the others.
    pub(super) fn converged(&self) -> bool {
        if self.nodes.iter().any(|n| n.core.is_none()) {
            return false;
        }
        let nets = (0..self.nets.len()).all(|k| {
            let replicas: Vec<&Replica> = self
                .cores()
                .filter(|(n, _)| self.nodes[*n].net == k && !self.departed(*n))
                .map(|(_, c)| c.replica())
                .collect();
            agree(&replicas)
        });
        nets && self.federation.is_none_or(|fid| {
            let logs: Option<Vec<&Replica<FederationState>>> = self
                .cores()
                .filter(|(n, _)| !self.departed(*n))
                .filter(|(_, c)| c.replica().state().governance().link(&fid).is_some())
                .map(|(_, c)| c.federations().get(&fid).map(|l| &l.replica))
                .collect();
            logs.is_some_and(|l| agree(&l))
        })
    }

    /// The nodes that are up, with their cores.
    pub(super) fn cores(&self) -> impl Iterator<Item = (usize, &NodeCore<MemStore>)> + Clone {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(n, node)| node.core.as_ref().map(|c| (n, c)))
    }

    /// Whether every motion in each partnership's log has closed (on its first node, once
    /// all agree), every node of an active practice holds every paper its log names (a
    /// node outside the network is sent none), and the federation's log says what each
    /// linked network's nodes had to say: that it joined, and how it decided each joint
    /// motion it voted on.
    pub(super) fn settled(&self) -> bool {
        let firsts: Vec<&NodeCore<MemStore>> = self
            .nets
            .iter()
            .filter_map(|net| self.nodes[net.workload.founders().start].core.as_ref())
            .collect();
        firsts.len() == self.nets.len()
            && firsts.iter().all(|c| {
                c.replica()
                    .state()
                    .governance()
                    .motions()
                    .all(|m| m.closed.is_some())
            })
            && self
                .federation
                .is_none_or(|fid| firsts.iter().all(|c| federation_said(c, &fid)))
            && self.nodes.iter().all(|n| {
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
        let fed = self.federation;
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
                    let federation = fed
                        .and_then(|f| c.federations().get(&f))
                        .map(|l| {
                            let r = &l.replica;
                            format!(
                                "; federation {} events, {} pending, hash {}",
                                r.len(),
                                r.pending_len(),
                                &r.state_hash().to_string()[..12]
                            )
                        })
                        .unwrap_or_default();
                    let gone = if self.departed(n) {
                        " (its practice left)"
                    } else {
                        ""
                    };
                    format!(
                        "network {}{gone}: {} events, {} pending, {} held, hash {}, {open} \
                         motions open, papers {held} of {named} held{federation}",
                        node.net,
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
        for k in 0..self.nets.len() {
            self.check_network(k)?;
        }
        self.check_federation()?;
        let first = self.nodes[0]
            .core
            .as_ref()
            .expect("converged nodes are up")
            .replica();
        let forks = first.forks().len();
        let g = first.state().governance();
        let closed: Vec<_> = g.motions().filter(|m| m.closed.is_some()).collect();
        self.report.motions_closed = closed.len();
        self.report.ballots_counted = closed
            .iter()
            .map(|m| match first.closed_votes(&m.id) {
                Ok(Some(kept)) => Ok(kept.ballots.len()),
                Ok(None) => Err(format!("motion {} is closed with no ballots kept", m.id)),
                Err(e) => Err(e.to_string()),
            })
            .sum::<Result<usize, String>>()
            .map_err(|detail| Violation::Unreadable { node: 0, detail })?;
        let mut rejected = BTreeMap::new();
        let mut applied = BTreeMap::new();
        for (k, net) in self.nets.iter().enumerate() {
            if let Some(c) = &self.nodes[net.workload.founders().start].core {
                let log = if k == 0 { "" } else { "the ally's log: " };
                count_rejected(c.replica(), log, &mut rejected);
                count_by_kind(c.replica(), &mut applied, |body, outcome| {
                    (*outcome == Outcome::Applied).then(|| body.to_string())
                });
            }
        }
        self.report.network_kinds = applied;
        let fed = self.federation.and_then(|f| {
            self.cores()
                .find_map(|(_, c)| c.federations().get(&f).map(|l| &l.replica))
        });
        if let Some(r) = fed {
            count_rejected(r, "the federation's log: ", &mut rejected);
        }
        self.report.rejected = rejected;
        self.report.motions_passed = closed
            .iter()
            .filter(|m| m.closed.as_ref().is_some_and(|c| c.tally.passed))
            .count();
        let joiner = self.nodes[self.plan.nodes].key.public();
        self.report.admitted = first.state().membership().is_active_practice_node(&joiner);
        self.report.departed = (0..self.nodes.len()).filter(|&n| self.departed(n)).count();
        self.report.forks = forks;
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

    /// At the end, on every node of partnership `k`: every event its nodes acknowledged,
    /// nothing no author signed, and the same verifiable proof of every fork. A node whose
    /// practice left holds what it acknowledged itself, and nothing no author signed.
    fn check_network(&self, k: usize) -> Result<(), Violation> {
        type Held<'a> = Vec<(usize, &'a Replica)>;
        let (members, gone): (Held, Held) = self
            .cores()
            .filter(|(n, _)| self.nodes[*n].net == k)
            .map(|(n, c)| (n, c.replica()))
            .partition(|(n, _)| !self.departed(*n));
        for &(n, r) in &gone {
            self.holds_just(n, r, &self.nodes[n].acked, "at the end, its practice gone")?;
        }
        let acked: Vec<EventId> = members
            .iter()
            .chain(&gone)
            .flat_map(|(n, _)| self.nodes[*n].acked.iter().copied())
            .collect();
        let Some(&(_, first)) = members.first() else {
            return Ok(());
        };
        let forks: BTreeSet<PublicKey> = first.forks().keys().copied().collect();
        let forker = self.forker.map(|f| self.nodes[f].key.public());
        // Once any node has taken in the forker's second event, every node must hold the
        // proof of the fork.
        let twin_known = self
            .twin
            .is_some_and(|t| members.iter().any(|(_, r)| r.knows(&t)));
        if let (true, Some(f)) = (twin_known, forker) {
            if let Some((n, _)) = members.iter().find(|(_, r)| r.fork_proof(&f).is_none()) {
                return Err(Violation::ForkProof {
                    node: *n,
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
        for &(n, r) in &members {
            self.holds_just(n, r, &acked, "at the end")?;
            let theirs: BTreeSet<PublicKey> = r.forks().keys().copied().collect();
            if theirs != forks {
                return Err(Violation::ForkProof {
                    node: n,
                    detail: format!("{} forks, its first node has {}", theirs.len(), forks.len()),
                });
            }
            for author in &forks {
                let proof = r.fork_proof(author).ok_or_else(|| Violation::ForkProof {
                    node: n,
                    detail: format!("no proof for {author}"),
                })?;
                match proof.verify() {
                    Ok((who, _, net)) if who == *author && net == self.nets[k].id => {}
                    other => {
                        return Err(Violation::ForkProof {
                            node: n,
                            detail: format!("the proof for {author} gives {other:?}"),
                        })
                    }
                }
            }
        }
        Ok(())
    }

    /// Node `n` holds in log `r` every event in `acked`, and nothing that no author signed
    /// (a corrupted copy).
    pub(super) fn holds_just<F: Fold>(
        &self,
        n: usize,
        r: &Replica<F>,
        acked: &[EventId],
        when: &'static str,
    ) -> Result<(), Violation> {
        if let Some(lost) = acked.iter().find(|id| !r.contains(id)) {
            return Err(Violation::AcknowledgedLost {
                node: n,
                event: *lost,
                when,
            });
        }
        match r
            .events_in_order()
            .map(|e| e.id)
            .find(|id| !self.signed.contains(id))
        {
            Some(bad) => Err(Violation::InvalidStored {
                node: n,
                event: bad,
            }),
            None => Ok(()),
        }
    }
}

/// Counts the events of log `r` the fold rejected, by kind and reason, each name
/// prefixed by `log`.
fn count_rejected<F: Fold>(r: &Replica<F>, log: &str, into: &mut BTreeMap<String, usize>) {
    count_by_kind(r, into, |body, outcome| match outcome {
        Outcome::Rejected(why) => Some(format!("{log}{body}: {why}")),
        _ => None,
    });
}

/// Counts the events of log `r` under the name `name` gives each (from its body's name
/// and its outcome), passing over those it names nothing.
pub(super) fn count_by_kind<F: Fold>(
    r: &Replica<F>,
    into: &mut BTreeMap<String, usize>,
    name: impl Fn(&str, &Outcome) -> Option<String>,
) {
    for e in r.events_in_order() {
        let body = e
            .event
            .body
            .as_ref()
            .map_or("unknown", mutual_protocol::event::body_name);
        if let Some(key) = r.outcome(&e.id).and_then(|o| name(body, o)) {
            *into.entry(key).or_default() += 1;
        }
    }
}

/// Whether every replica has nothing pending or held and agrees with the first: the
/// counts first (cheap, and differing on most steps), then the state hash.
fn agree<F: Fold>(replicas: &[&Replica<F>]) -> bool {
    let Some(first) = replicas.first() else {
        return true;
    };
    replicas
        .iter()
        .all(|r| r.len() == first.len() && r.pending_len() == 0 && r.held_len() == 0)
        && replicas
            .iter()
            .all(|r| r.state_hash() == first.state_hash())
}
