//! The business of the simulated partnerships as the simulator hands it to their nodes:
//! which node acts, what its workload signs there, and the files a partner sends again.

use super::workload;
use super::world::{Asked, Sim};
use crate::core::Local;
use mutual_protocol::event::SignedEvent;
use rand::seq::SliceRandom;
use rand::Rng;

impl Sim {
    /// One piece of a partnership's business, by a node that is up and taking part: the
    /// first partnership's two times in three when it has an ally. The first time the
    /// first practice's node is up, it signs the charter of a federation of the two.
    pub(super) fn business(&mut self) {
        if self.nets.len() > 1 && !self.charter_asked && self.up(0) {
            self.charter_asked = true;
            let charter = self.charter();
            self.ask(0, Local::SignCharter(charter), Asked::Charter);
        }
        let net = usize::from(self.nets.len() > 1 && self.rng.gen_bool(1.0 / 3.0));
        // A node does business while its practice is a member as it sees it: the joining
        // practice's node not until the partners admit it, a practice's that left no more.
        let ups: Vec<usize> = (0..self.nodes.len())
            .filter(|&n| self.nodes[n].net == net && self.up(n) && Some(n) != self.silent)
            .filter(|&n| {
                self.nodes[n].core.as_ref().is_some_and(|c| {
                    c.replica()
                        .state()
                        .membership()
                        .is_active_practice_node(&c.key())
                })
            })
            .collect();
        let Some(&n) = ups.choose(&mut self.rng) else {
            return;
        };
        let now = self.now(n).wall_ms;
        let Some(core) = &self.nodes[n].core else {
            return;
        };
        let step = self.nets[net].workload.next(&mut self.rng, n, core, now);
        match step {
            Some(workload::Step::Node { what, log, body }) => self.ask(
                n,
                Local::Author {
                    log,
                    bodies: vec![*body],
                },
                Asked::Business(what),
            ),
            Some(workload::Step::Partner { what, wire, papers }) => {
                if let Ok(ev) = SignedEvent::decode(&wire) {
                    self.signed.insert(ev.id);
                }
                self.ask(n, Local::Submit { log: None, wire }, Asked::Business(what));
                // Then the partner's client hands the node the files the event names.
                for bytes in papers {
                    self.ask(n, Local::PutPaper(bytes), Asked::Business("paper"));
                }
            }
            None => {}
        }
        self.resend_papers(n);
    }

    /// A file handed to node `n` before its event was stored there is sent again, as a
    /// partner runs `mutual paper put`.
    pub(super) fn resend_papers(&mut self, n: usize) {
        let Some(core) = &self.nodes[n].core else {
            return;
        };
        let lacking: Vec<Vec<u8>> = self.nets[self.nodes[n].net]
            .workload
            .papers_lacking(n, core);
        for bytes in lacking {
            self.ask(
                n,
                Local::PutPaper(bytes),
                Asked::Business("paper sent again"),
            );
        }
    }
}
