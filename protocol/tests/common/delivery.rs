//! Delivering a history to a replica in a random order, and counting what its fold
//! exercised.

use super::{Fixture, T0};
use mutual_protocol::event::Body;
use mutual_protocol::replica::Replica;
use mutual_protocol::runs::MemoryRuns;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Delivers `wires` to a fresh replica in a random order, with duplicates, in random
/// batch sizes, then advances the clock past every timestamp.
pub fn deliver(fx: &Fixture, wires: &[Vec<u8>], seed: u64) -> Replica {
    deliver_with_runs(fx, wires, seed, None)
}

/// [`deliver`], to a replica keeping its indexes in runs (in memory) once more than
/// `limit` recent entries are held: many runs for a short history.
pub fn deliver_with_runs(
    fx: &Fixture,
    wires: &[Vec<u8>],
    seed: u64,
    runs: Option<usize>,
) -> Replica {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<&Vec<u8>> = wires.iter().collect();
    let dups = rng.gen_range(0..wires.len() / 4 + 1);
    for _ in 0..dups {
        order.push(&wires[rng.gen_range(0..wires.len())]);
    }
    order.shuffle(&mut rng);
    let mut r = Replica::new(fx.network);
    if let Some(limit) = runs {
        r.set_runs_with(std::sync::Arc::new(MemoryRuns::default()), limit);
    }
    let now = T0 + 10_000_000_000;
    let mut i = 0;
    while i < order.len() {
        let n = rng.gen_range(1..8).min(order.len() - i);
        for res in r.ingest_batch(now, &order[i..i + n]) {
            res.expect("every generated event is valid");
        }
        i += n;
    }
    r
}

/// How much of the governance machinery a replica's fold exercised: counted from each
/// stored event's outcome and from the motions' counted votes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exercised {
    /// Motion events stored.
    pub motion_events: usize,
    /// Motion events that took effect (validly proposed).
    pub motions_applied: usize,
    /// Ballot events that took effect (votes, declarations, appointments, revocations).
    pub ballots_applied: usize,
    /// Votes that count: summed over motions, the partners whose counted ballot stands.
    pub ballots_counted: usize,
    /// Of those, rankings (election ballots).
    pub rankings_counted: usize,
    /// Counted votes cast by a proxy for the appointer.
    pub proxy_votes_counted: usize,
    /// Proxy appointments in force among the counted votes.
    pub proxies_counted: usize,
    /// Witness events that took effect.
    pub witnesses_applied: usize,
    /// Motions the fold closed.
    pub motions_closed: usize,
    /// Closed motions that passed.
    pub motions_passed: usize,
    /// Passed motions whose effect applied.
    pub effects_applied: usize,
}

impl std::ops::AddAssign for Exercised {
    fn add_assign(&mut self, o: Self) {
        self.motion_events += o.motion_events;
        self.motions_applied += o.motions_applied;
        self.ballots_applied += o.ballots_applied;
        self.ballots_counted += o.ballots_counted;
        self.rankings_counted += o.rankings_counted;
        self.proxy_votes_counted += o.proxy_votes_counted;
        self.proxies_counted += o.proxies_counted;
        self.witnesses_applied += o.witnesses_applied;
        self.motions_closed += o.motions_closed;
        self.motions_passed += o.motions_passed;
        self.effects_applied += o.effects_applied;
    }
}

/// Counts what `r`'s fold exercised (see [`Exercised`]).
pub fn exercised(r: &Replica) -> Exercised {
    use mutual_protocol::governance::tally::Vote;
    use mutual_protocol::state::Outcome;
    let mut x = Exercised::default();
    for ev in r.events_in_order() {
        let applied = r.outcome(&ev.id) == Some(&Outcome::Applied);
        match &ev.event.body {
            Some(Body::Motion(_)) => {
                x.motion_events += 1;
                x.motions_applied += usize::from(applied);
            }
            Some(Body::Ballot(_)) => x.ballots_applied += usize::from(applied),
            Some(Body::Witness(_)) => x.witnesses_applied += usize::from(applied),
            _ => {}
        }
    }
    for m in r.state().governance().motions() {
        // A closed motion's ballots are kept beside the state, checked against its hash.
        let (ballots, by_proxy, proxies) = match r.closed_votes(&m.id).expect("kept") {
            Some(closed) => (
                r.closed_ballots(&m.id, &closed).expect("kept"),
                closed.ballots.values().filter(|(_, p)| p.is_some()).count(),
                closed.proxies.len(),
            ),
            None => (
                m.votes
                    .ballots
                    .iter()
                    .map(|(p, b)| (*p, b.clone()))
                    .collect(),
                m.votes.by_proxy.len(),
                m.votes.proxies.len(),
            ),
        };
        x.ballots_counted += ballots.len();
        x.rankings_counted += ballots
            .values()
            .filter(|(_, v)| matches!(v, Vote::Ranking(_)))
            .count();
        x.proxy_votes_counted += by_proxy;
        x.proxies_counted += proxies;
        if let Some(c) = &m.closed {
            x.motions_closed += 1;
            x.motions_passed += usize::from(c.tally.passed);
            x.effects_applied += usize::from(c.tally.passed && c.effect.is_ok());
        }
    }
    x
}
