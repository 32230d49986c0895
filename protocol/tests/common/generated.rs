//! Generated histories for the property tests: a seeded generator of valid, varied event
//! logs (membership changes, forks, governance).

use super::{key, practice, rotation, update, Fixture, T0};
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, FeedWriter, SignedEvent};
use mutual_protocol::governance::deed::default_deed;
use mutual_protocol::id::EventId;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One day in ms.
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// How far past [`T0`] a generated history's time jumps may take it: 90 days, well short
/// of the clock `deliver` ingests at (115 days past it), so no generated event is held as
/// future-dated.
const HISTORY_SPAN_MS: u64 = 90 * DAY_MS;

/// Most ballots one generated `Witness` event cites directly.
const MAX_WITNESSED_PER_EVENT: usize = 8;

/// The deed generated histories are founded with: the default deed (any partner proposes
/// every kind of motion, all partners vote) except that it allows two proxies per holder,
/// where the default allows none, so that proxy appointments and proxy votes can count.
pub fn history_deed() -> pb::Deed {
    pb::Deed {
        max_proxies_per_holder: 2,
        ..default_deed()
    }
}

/// A generated history: every event's wire bytes, with enough variety to exercise the
/// fold: several authors, a causal DAG, forks, key rotation and revocation, resignations,
/// strangers, bodies the state machine does not act on, and governance — valid motions of
/// every kind the deed lets partners propose, ballots (for, against, abstain, rankings,
/// declarations of interest), proxy appointments, proxy votes and revocations, `Witness`
/// events, and jumps in time that let the fold close motions and apply their effects.
pub struct History {
    pub fixture: Fixture,
    pub wires: Vec<Vec<u8>>,
    pub forks: usize,
}

/// A motion the generator proposed, with what its ballots need.
struct Proposed {
    id: EventId,
    closes_at_ms: u64,
    /// For an election, the candidates' keys as the motion lists them; else empty.
    candidates: Vec<Vec<u8>>,
}

/// A proxy appointment the generator made: on motion `motion` (an index into
/// `Gen::motions`), partner `appointer` appointed partner `holder` (indices into the
/// fixture's partners) by event `id`.
struct Appointed {
    motion: usize,
    appointer: usize,
    holder: usize,
    id: EventId,
}

/// Who a generated body should come from: the generator picks a live author of that role
/// nine times in ten and anyone the other time, so some governance events are (rightly)
/// refused.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Anyone,
    Partner,
    Practice,
}

/// The generator's state while it writes one history.
struct Gen {
    rng: ChaCha8Rng,
    fx: Fixture,
    wires: Vec<Vec<u8>>,
    ids: Vec<EventId>,
    /// Authors: practice nodes (`0..PRACTICES`), then the partners in the fixture's order
    /// (`PARTNERS_FROM..`), then one stranger. Each entry: (key number, writer).
    authors: Vec<(u32, FeedWriter)>,
    /// For each author, whether the generator believes its events still take effect: not
    /// forked, resigned or revoked (as far as the generator can tell without folding).
    /// Governance events come mostly from live authors, so that most of them count.
    live: Vec<bool>,
    next_key: u32,
    forks: usize,
    t: u64,
    motions: Vec<Proposed>,
    appointed: Vec<Appointed>,
    /// Ballots that no generated `Witness` event has cited yet, oldest first.
    unwitnessed: Vec<EventId>,
}

/// Practices in a generated history; their node writers come first in `Gen::authors`.
const PRACTICES: u32 = 3;
/// Index in `Gen::authors` of the first partner's writer.
const PARTNERS_FROM: usize = PRACTICES as usize;

/// Generates a history of `events` events (the genesis included) from `seed`.
pub fn history(seed: u64, events: usize) -> History {
    let (fx, founder) = Fixture::with_deed(PRACTICES, Some(history_deed()));
    let mut authors: Vec<(u32, FeedWriter)> = vec![(1, founder)];
    for &p in &fx.practices[1..] {
        authors.push((p, fx.writer(p)));
    }
    for &k in &fx.partners {
        authors.push((k, fx.writer(k)));
    }
    authors.push((999, fx.writer(999)));
    let mut live = vec![true; authors.len()];
    live[authors.len() - 1] = false;
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed),
        wires: vec![fx.genesis.to_wire()],
        ids: vec![fx.genesis.id],
        fx,
        authors,
        live,
        next_key: 5000,
        forks: 0,
        t: T0,
        motions: Vec::new(),
        appointed: Vec::new(),
        unwitnessed: Vec::new(),
    };
    // Every pass writes at least one event, so this runs at most `events` times.
    while g.wires.len() < events {
        g.step();
    }
    History {
        fixture: g.fx,
        wires: g.wires,
        forks: g.forks,
    }
}

impl Gen {
    /// Writes the next event or two.
    fn step(&mut self) {
        self.t += self.rng.gen_range(1..5_000);
        let roll = self.rng.gen_range(0..100);
        let deps = self.random_deps();
        match roll {
            0..=1 => self.rotate(deps),
            2 => self.fork(deps),
            3 => {
                let a = self.author(Role::Anyone);
                let body = Body::PartnerResign(pb::PartnerResign {
                    reason: "retiring".into(),
                });
                self.emit(a, deps, body);
                if a >= PARTNERS_FROM {
                    self.live[a] = false;
                }
            }
            4..=6 => self.revoke(deps),
            7..=14 => {
                let a = self.author(Role::Anyone);
                let body = Body::AddressAnnouncement(pb::AddressAnnouncement {
                    addresses: vec![format!(
                        "/ip4/127.0.0.1/tcp/{}",
                        self.rng.gen_range(1024..65535)
                    )],
                });
                self.emit(a, deps, body);
            }
            15..=16 => {
                let a = self.author(Role::Anyone);
                let body = Body::Invitation(pb::Invitation {
                    node_key: key(8000 + self.rng.gen_range(0..20))
                        .public()
                        .as_bytes()
                        .to_vec(),
                    expires_ms: self.t + self.rng.gen_range(1..200_000),
                    ..Default::default()
                });
                self.emit(a, deps, body);
            }
            17..=20 => self.propose(deps),
            21..=43 => self.vote(deps),
            44..=48 => self.appoint(deps),
            49..=53 => self.vote_as_proxy(deps),
            54 => self.revoke_proxy(deps),
            55..=62 => self.witness(deps),
            63..=64 => {
                // Days pass: motions reach their close and grace, and the next practice
                // node event closes them (and applies what passed).
                let jump = self.rng.gen_range(DAY_MS / 2..3 * DAY_MS);
                if self.t + jump < T0 + HISTORY_SPAN_MS {
                    self.t += jump;
                }
                self.update(deps);
            }
            _ => self.update(deps),
        }
    }

    /// Up to three causes, chosen among every event so far.
    fn random_deps(&mut self) -> Vec<EventId> {
        let n = self.rng.gen_range(0..4);
        (0..n)
            .map(|_| self.ids[self.rng.gen_range(0..self.ids.len())])
            .collect()
    }

    /// An author index for a body meant for `role` (see [`Role`]): a live one of that
    /// role if there is one, nine times in ten.
    fn author(&mut self, role: Role) -> usize {
        let range = match role {
            Role::Anyone => return self.rng.gen_range(0..self.authors.len()),
            Role::Partner => PARTNERS_FROM..PARTNERS_FROM + self.fx.partners.len(),
            Role::Practice => 0..PARTNERS_FROM,
        };
        let live: Vec<usize> = range.filter(|&a| self.live[a]).collect();
        if !live.is_empty() && self.rng.gen_ratio(9, 10) {
            return live[self.rng.gen_range(0..live.len())];
        }
        self.rng.gen_range(0..self.authors.len())
    }

    /// The key partner `i` (an index into the fixture's partners) was admitted with: their
    /// partner id, which names them whatever key they sign with now.
    fn partner_key(&self, i: usize) -> Vec<u8> {
        key(self.fx.partners[i]).public().as_bytes().to_vec()
    }

    /// A key no member holds, for subjects of admissions and key replacements.
    fn fresh_key(&mut self) -> Vec<u8> {
        let k = key(self.next_key).public().as_bytes().to_vec();
        self.next_key += 1;
        k
    }

    /// Signs `body` by author `a` and records it; returns its id.
    fn emit(&mut self, a: usize, deps: Vec<EventId>, body: Body) -> EventId {
        let ev = self.authors[a].1.sign(self.t, deps, body);
        self.ids.push(ev.id);
        self.wires.push(ev.to_wire());
        ev.id
    }

    fn update(&mut self, deps: Vec<EventId>) {
        let a = self.author(Role::Anyone);
        let body = update(self.rng.gen_range(1..99_999));
        self.emit(a, deps, body);
    }

    /// Rotates an author to a fresh key; the author continues under it.
    fn rotate(&mut self, deps: Vec<EventId>) {
        let a = self.author(Role::Anyone);
        let new = key(self.next_key);
        let body = rotation(&self.fx.network, &self.authors[a].1.author(), &new);
        let rotated = self.emit(a, deps, body);
        self.authors[a] = (
            self.next_key,
            FeedWriter::resume(new, self.fx.network, None),
        );
        self.next_key += 1;
        self.t += 1;
        let body = update(self.rng.gen_range(1..99_999));
        self.emit(a, vec![rotated], body);
    }

    /// Revokes a partner's admitted key: it takes effect when signed by that key itself or
    /// by their practice's node (the generator's authors are chosen at random, so mostly it
    /// does not).
    fn revoke(&mut self, deps: Vec<EventId>) {
        let a = self.author(Role::Anyone);
        let target = self.rng.gen_range(0..self.fx.partners.len());
        let admitted = self.fx.partners[target];
        let body = Body::KeyRevocation(pb::KeyRevocation {
            key: self.partner_key(target),
            reason: "lost laptop".into(),
        });
        self.emit(a, deps, body);
        let by_self = self.authors[a].0 == admitted;
        let by_practice = self.authors[a].0 == (admitted - 100) / 2;
        if self.live[a] && (by_self || by_practice) {
            self.live[PARTNERS_FROM + target] = false;
        }
    }

    /// Forks an author: a second writer at the same position signs something else.
    fn fork(&mut self, deps: Vec<EventId>) {
        let a = self.author(Role::Anyone);
        self.live[a] = false;
        let (kn, w) = &self.authors[a];
        let mut twin = twin_writer(&self.fx, *kn, w, &self.wires);
        let ev = twin.sign(self.t, deps.clone(), update(self.rng.gen_range(1..99_999)));
        self.ids.push(ev.id);
        self.wires.push(ev.to_wire());
        self.forks += 1;
        let body = update(self.rng.gen_range(1..99_999));
        self.emit(a, deps, body);
    }

    /// A motion by a partner (mostly): one in twenty is malformed (no kind), the rest are
    /// well formed motions of every kind the deed lets partners propose, open from their
    /// own timestamp (or a little later) for one to two days.
    fn propose(&mut self, deps: Vec<EventId>) {
        use pb::DecisionKind as K;
        let a = self.author(Role::Partner);
        let partners = self.fx.partners.len();
        let opens_at_ms = match self.rng.gen_range(0..6) {
            0..=2 => 0, // reads as the motion's own timestamp
            3..=4 => self.t,
            _ => self.t + self.rng.gen_range(1..60_000),
        };
        let closes_at_ms = opens_at_ms.max(self.t) + DAY_MS + self.rng.gen_range(0..DAY_MS);
        let mut mo = pb::Motion {
            title: "A motion".into(),
            opens_at_ms,
            closes_at_ms,
            ..Default::default()
        };
        let subject = self.rng.gen_range(0..partners);
        let kind = match self.rng.gen_range(0..20) {
            0 => K::Unspecified,
            1..=6 => K::General,
            7..=9 => {
                let n = self.rng.gen_range(2..=4);
                mo.candidates = self.candidates(n);
                if self.rng.gen_ratio(1, 3) {
                    mo.per_locality = true;
                } else {
                    mo.seats = self.rng.gen_range(1..=2);
                }
                K::ElectBoard
            }
            10..=11 => {
                let n = self.rng.gen_range(1..=3);
                mo.candidates = self.candidates(n);
                mo.seats = 1;
                K::ElectChair
            }
            12..=13 => {
                mo.subject_key = self.partner_key(subject);
                mo.new_role = *[pb::PartnerRole::Associate, pb::PartnerRole::Managing]
                    .choose(&mut self.rng)
                    .expect("non-empty") as i32;
                K::ChangeRole
            }
            14 => {
                let ods = &self.fx.practices[self.rng.gen_range(0..self.fx.practices.len())];
                mo.admit_partner = Some(pb::Partner {
                    name: "Dr New".into(),
                    practice_ods: format!("M{:05}", 85000 + ods),
                    role: pb::PartnerRole::Partner as i32,
                    key: self.fresh_key(),
                });
                K::AdmitPartner
            }
            15 => {
                let n = self.next_key;
                mo.admit_practice = Some(pb::Practice {
                    node_key: self.fresh_key(),
                    ..practice(n)
                });
                K::AdmitPractice
            }
            16..=17 => {
                mo.new_deed = Some(pb::Deed {
                    max_proxies_per_holder: self.rng.gen_range(0..=3),
                    ..default_deed()
                });
                K::AmendDeed
            }
            18 => {
                mo.subject_key = self.partner_key(subject);
                K::RemovePartner
            }
            _ => {
                mo.subject_key = self.partner_key(subject);
                mo.replacement_key = self.fresh_key();
                K::ReplaceKey
            }
        };
        mo.kind = kind as i32;
        if kind == K::Unspecified {
            // The malformed motion the generator used to write every time.
            mo = pb::Motion {
                title: "A motion".into(),
                ..Default::default()
            };
        }
        let candidates = mo.candidates.clone();
        let id = self.emit(a, deps, Body::Motion(mo));
        self.motions.push(Proposed {
            id,
            closes_at_ms,
            candidates,
        });
    }

    /// `n` distinct partners' ids, in random order.
    fn candidates(&mut self, n: usize) -> Vec<Vec<u8>> {
        let mut idx: Vec<usize> = (0..self.fx.partners.len()).collect();
        idx.shuffle(&mut self.rng);
        idx.truncate(n);
        idx.into_iter().map(|i| self.partner_key(i)).collect()
    }

    /// A motion to vote on: nine times in ten one whose voting is still open at the
    /// current time, if any (the newest more often than not, so that some motions reach
    /// their quorum); otherwise any motion so far (a late ballot is refused), or none (the
    /// caller writes something else).
    fn pick_motion(&mut self) -> Option<usize> {
        let t = self.t;
        let open: Vec<usize> = (0..self.motions.len())
            .filter(|&i| self.motions[i].closes_at_ms >= t)
            .collect();
        if self.motions.is_empty() || !self.rng.gen_ratio(9, 10) {
            return (!self.motions.is_empty()).then(|| self.rng.gen_range(0..self.motions.len()));
        }
        if self.rng.gen_ratio(3, 5) {
            return open.last().copied();
        }
        open.choose(&mut self.rng).copied()
    }

    /// A vote on motion `m`: for an election, a ranking of some of its candidates (now and
    /// then an abstention or a declaration of interest instead); otherwise for, against or
    /// abstain, with the odd declaration of interest.
    fn ballot(&mut self, m: usize) -> pb::Ballot {
        use pb::Choice as C;
        let motion = self.motions[m].id.as_bytes().to_vec();
        let candidates = self.motions[m].candidates.clone();
        let roll = self.rng.gen_range(0..20);
        if !candidates.is_empty() && roll < 17 {
            let n = self.rng.gen_range(1..=candidates.len());
            let ranking = candidates
                .choose_multiple(&mut self.rng, n)
                .cloned()
                .collect();
            return pb::Ballot {
                motion,
                ranking,
                ..Default::default()
            };
        }
        let choice = match roll {
            0..=8 => C::For,
            9..=14 => C::Against,
            15..=18 => C::Abstain,
            _ => C::DeclareInterest,
        };
        pb::Ballot {
            motion,
            choice: choice as i32,
            ..Default::default()
        }
    }

    /// Records a ballot event for the next `Witness` to cite.
    fn cast(&mut self, a: usize, mut deps: Vec<EventId>, m: usize, b: pb::Ballot) -> EventId {
        deps.push(self.motions[m].id);
        let id = self.emit(a, deps, Body::Ballot(b));
        self.unwitnessed.push(id);
        id
    }

    /// A partner (mostly) votes on a motion, citing it.
    fn vote(&mut self, deps: Vec<EventId>) {
        let Some(m) = self.pick_motion() else {
            return self.update(deps);
        };
        let a = self.author(Role::Partner);
        let b = self.ballot(m);
        self.cast(a, deps, m, b);
    }

    /// A partner appoints another as proxy on a motion, until its close or earlier.
    fn appoint(&mut self, deps: Vec<EventId>) {
        let Some(m) = self.pick_motion() else {
            return self.update(deps);
        };
        let partners = self.fx.partners.len();
        let appointer = self.author(Role::Partner);
        if appointer < PARTNERS_FROM || appointer >= PARTNERS_FROM + partners {
            // Not a partner: the appointment is refused, and there is no one to record.
            let b = self.ballot(m);
            self.cast(appointer, deps, m, b);
            return;
        }
        let appointer = appointer - PARTNERS_FROM;
        let holder = (appointer + self.rng.gen_range(1..partners)) % partners;
        let expires = if self.rng.gen_ratio(1, 2) {
            0 // the motion's close
        } else {
            self.t + self.rng.gen_range(DAY_MS / 4..2 * DAY_MS)
        };
        let b = pb::Ballot {
            motion: self.motions[m].id.as_bytes().to_vec(),
            choice: pb::Choice::AppointProxy as i32,
            proxy: self.partner_key(holder),
            proxy_expires_at_ms: expires,
            ..Default::default()
        };
        let id = self.cast(PARTNERS_FROM + appointer, deps, m, b);
        self.appointed.push(Appointed {
            motion: m,
            appointer,
            holder,
            id,
        });
    }

    /// A proxy votes for their appointer, citing the appointment: nine times in ten one
    /// on a motion still open at the current time.
    fn vote_as_proxy(&mut self, mut deps: Vec<EventId>) {
        let t = self.t;
        let open: Vec<usize> = (0..self.appointed.len())
            .filter(|&i| self.motions[self.appointed[i].motion].closes_at_ms >= t)
            .collect();
        let pick = if self.rng.gen_ratio(9, 10) {
            open.choose(&mut self.rng).copied()
        } else {
            (!self.appointed.is_empty()).then(|| self.rng.gen_range(0..self.appointed.len()))
        };
        let Some(pick) = pick else {
            return self.update(deps);
        };
        let p = &self.appointed[pick];
        let (m, appointer, holder) = (p.motion, p.appointer, p.holder);
        deps.push(p.id);
        let mut b = self.ballot(m);
        b.on_behalf_of = self.partner_key(appointer);
        self.cast(PARTNERS_FROM + holder, deps, m, b);
    }

    /// An appointer revokes their proxy.
    fn revoke_proxy(&mut self, mut deps: Vec<EventId>) {
        if self.appointed.is_empty() {
            return self.update(deps);
        }
        let p = self
            .appointed
            .swap_remove(self.rng.gen_range(0..self.appointed.len()));
        deps.push(p.id);
        let b = pb::Ballot {
            motion: self.motions[p.motion].id.as_bytes().to_vec(),
            choice: pb::Choice::RevokeProxy as i32,
            ..Default::default()
        };
        self.cast(PARTNERS_FROM + p.appointer, deps, p.motion, b);
    }

    /// A practice node (mostly) writes a `Witness` event citing ballots not yet cited.
    fn witness(&mut self, mut deps: Vec<EventId>) {
        let a = self.author(Role::Practice);
        let n = self.unwitnessed.len().min(MAX_WITNESSED_PER_EVENT);
        deps.extend(self.unwitnessed.drain(..n));
        self.emit(a, deps, Body::Witness(pb::Witness {}));
    }
}

/// A writer for the same key at the same position as `w`, found by replaying `wires`.
fn twin_writer(fx: &Fixture, kn: u32, w: &FeedWriter, wires: &[Vec<u8>]) -> FeedWriter {
    let author = w.author();
    let last = wires
        .iter()
        .filter_map(|b| SignedEvent::decode(b).ok())
        .filter(|e| e.event.author == author && e.event.seq + 1 == w.next_seq())
        .map(|e| (e.event.seq, e.id))
        .next();
    FeedWriter::resume(key(kn), fx.network, last)
}
