//! The business a simulated partnership does (see `super`): who signs what, when. Each
//! step is chosen by the simulator's seeded generator from what the chosen node's own
//! replica shows (open motions, open aid requests, whether the new practice is invited),
//! as a practice's staff and partners act on what their node shows them. A partner's
//! event is signed with the partner's own key, following the node's heads, and handed to
//! the node as a partner's command line does; a practice's is signed by the node.

use crate::core::{sign_next, LogId, NodeCore};
use crate::sim::MemStore;
use mutual_proto::v1 as pb;
use mutual_protocol::aid::{AgreementStatus, Aid};
use mutual_protocol::event::Body;
use mutual_protocol::federation::FederationId;
use mutual_protocol::governance::deed::default_deed;
use mutual_protocol::id::EventId;
use mutual_protocol::keys::Keypair;
use mutual_protocol::limits::MAX_CLOCK_SKEW_MS;
use mutual_protocol::membership::rotation_message;
use mutual_protocol::signature::ROTATE_DOMAIN;
use pb::{Choice, DecisionKind};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Partners of each founding practice.
pub const PARTNERS_PER_PRACTICE: usize = 2;
/// The text of the simulated partnership's agreement, whose hash its deed names.
const AGREEMENT: &[u8] = b"The partners of the simulated partnership agree to share its work.";
/// Voting period of every simulated motion, ms: the deed's least.
pub const VOTING_MS: u64 = 120_000;
/// The simulated deed's quorum, basis points of the electorate: low enough that the
/// partners voting in a few simulated minutes reach it.
pub const QUORUM_BP: u32 = 2_500;
/// Most motions open at once that the workload proposes more beside.
const MAX_OPEN: usize = 4;
/// The board's term in the simulated deed, ms: short enough that seats lapse, and are
/// filled again, within a run.
pub const BOARD_TERM_MS: u64 = 2 * VOTING_MS;

/// One piece of business, for the simulator to hand to a node.
#[derive(Debug)]
pub enum Step {
    /// The node signs this body, in this log.
    Node {
        /// What it is, for the report.
        what: &'static str,
        /// The log: the network's, or a federation's.
        log: LogId,
        /// The body.
        body: Box<Body>,
    },
    /// A partner signed this event; the node takes it in, then the papers it names.
    Partner {
        /// What it is, for the report.
        what: &'static str,
        /// The signed event's wire bytes.
        wire: Vec<u8>,
        /// The bytes of the papers the event names.
        papers: Vec<Vec<u8>>,
    },
}

/// One partnership's people and keys.
pub struct Workload {
    seed: u64,
    /// The simulator's index of its first practice's node; its practices' nodes follow.
    first: usize,
    nodes: usize,
    /// Whether a practice joins later (its node follows the founders').
    joins: bool,
    /// The partnership's name.
    name: String,
    /// The charter of the federation the partnerships are asked to link to, once signed:
    /// its id and the charter event's wire bytes.
    pub(super) charter: Option<(FederationId, Vec<u8>)>,
    /// Each partner's practice (node index) and current key.
    partners: Vec<(usize, Keypair)>,
    /// Whether a partner's key has been rotated yet.
    rotated: bool,
    /// Whether a partner has resigned yet.
    resigned: bool,
    /// Whether a practice's node has revoked one of its partners' keys yet.
    revoked: bool,
    /// The practice (node index) a new partner was proposed for, once proposed.
    newcomer_at: Option<usize>,
    /// Whether the new partner has acceded to the agreement.
    acceded: bool,
    /// Whether a practice has left the partnership yet.
    practice_left: bool,
    /// The latest close of a motion proposed so far (by its proposer's clock).
    latest_close_ms: u64,
    /// Every paper attached so far, by SHA-256, with the node it was handed to: the
    /// partners keep their files.
    library: BTreeMap<[u8; 32], (usize, Vec<u8>)>,
}

fn key_for(seed: u64, label: u64) -> Keypair {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ label.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    Keypair::generate(&mut rng)
}

fn ods(n: usize) -> String {
    format!("Y{:05}", 10_000 + n)
}

fn copy(k: &Keypair) -> Keypair {
    Keypair::from_seed(&k.seed()).expect("a valid seed")
}

impl Workload {
    /// The people of a partnership named `name` of `nodes` founding practices (and one
    /// that joins later if `joins`), whose nodes are the simulator's from `first` on,
    /// every key drawn from `seed`.
    pub fn new(seed: u64, name: &str, first: usize, nodes: usize, joins: bool) -> Self {
        let partners = (first..first + nodes)
            .flat_map(|n| {
                (0..PARTNERS_PER_PRACTICE).map(move |i| {
                    (
                        n,
                        key_for(seed, 1_000 + (n * PARTNERS_PER_PRACTICE + i) as u64),
                    )
                })
            })
            .collect();
        Workload {
            seed,
            first,
            nodes,
            joins,
            name: name.into(),
            charter: None,
            partners,
            rotated: false,
            resigned: false,
            revoked: false,
            newcomer_at: None,
            acceded: false,
            practice_left: false,
            latest_close_ms: 0,
            // The agreement's text is with the first practice; its node has it from the
            // start, and the others fetch it as they fetch any paper.
            library: BTreeMap::from([(
                Sha256::digest(AGREEMENT).into(),
                (first, AGREEMENT.to_vec()),
            )]),
        }
    }

    /// Whether this partnership leaves the federation once a joint motion has been decided
    /// by every network there and aid agreed: the allied one (no practice joins it) does.
    pub fn leaves(&self) -> bool {
        !self.joins
    }

    /// The key of the partner the partners vote to admit.
    fn newcomer_key(&self) -> Keypair {
        key_for(self.seed, 7_777 + self.first as u64)
    }

    /// The founding practice (node index) that leaves the partnership once motions have
    /// begun to close: the last of the partnership that a practice joins, if it has more
    /// founders than the simulator's special nodes (the forker, the silent member and the
    /// runaway clock, nodes 1 to 3).
    fn leaver(&self) -> Option<usize> {
        (self.joins && self.nodes > 4).then(|| self.first + self.nodes - 1)
    }

    /// The partners of practice `n` the workload still acts for, by index.
    fn partners_at(&self, n: usize) -> Vec<usize> {
        (0..self.partners.len())
            .filter(|&i| self.partners[i].0 == n)
            .collect()
    }

    /// The key of the simulator's node `n`.
    pub fn node_key(&self, n: usize) -> Keypair {
        key_for(self.seed, n as u64)
    }

    /// The simulator's index of the node of the practice that joins later (if one does).
    pub fn joiner(&self) -> usize {
        self.first + self.nodes
    }

    /// The simulator's indices of the founding practices' nodes.
    pub fn founders(&self) -> std::ops::Range<usize> {
        self.first..self.first + self.nodes
    }

    /// The federation's charter is signed: the partners may now vote to link.
    pub fn set_charter(&mut self, id: FederationId, event: Vec<u8>) {
        self.charter = Some((id, event));
    }

    /// The founding document: the practices in four localities, their partners, and a
    /// deed whose voting periods suit a simulation of minutes (the least grace period the
    /// protocol allows, proxies allowed).
    pub fn genesis(&self) -> pb::Genesis {
        let mut deed = default_deed();
        deed.grace_period_ms = MAX_CLOCK_SKEW_MS;
        deed.max_proxies_per_holder = 2;
        deed.board_term_ms = BOARD_TERM_MS;
        deed.aid_signers = pb::AidSigners::Partners as i32;
        let powers = deed.powers.iter_mut().filter_map(|p| p.rule.as_mut());
        for r in deed.rules.iter_mut().chain(powers) {
            r.min_voting_period_ms = VOTING_MS;
            r.quorum_basis_points = QUORUM_BP;
        }
        // An agreement the partners hold: a partner admitted later accedes to it.
        deed.agreement_hash = Sha256::digest(AGREEMENT).to_vec();
        pb::Genesis {
            name: self.name.clone(),
            practices: self
                .founders()
                .map(|n| pb::Practice {
                    name: format!("Practice {}", n + 1),
                    ods_code: ods(n),
                    locality: ["North", "South", "East", "West"][n % 4].into(),
                    list_size: 6_000 + 500 * n as u32,
                    node_key: self.node_key(n).public().as_bytes().to_vec(),
                })
                .collect(),
            partners: self
                .partners
                .iter()
                .enumerate()
                .map(|(i, (n, k))| pb::Partner {
                    name: format!("Dr Partner {}", i + 1),
                    practice_ods: ods(*n),
                    role: pb::PartnerRole::Partner as i32,
                    key: k.public().as_bytes().to_vec(),
                })
                .collect(),
            deed: Some(deed),
            nonce: [self.seed, self.first as u64]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        }
    }

    /// The next piece of business at node `n`, from what its replica shows at `now`.
    pub fn next(
        &mut self,
        rng: &mut ChaCha8Rng,
        n: usize,
        core: &NodeCore<MemStore>,
        now: u64,
    ) -> Option<Step> {
        let r = core.replica();
        let st = r.state();
        // The time the partner's event will carry: not before any event it follows.
        let ts = r
            .heads()
            .iter()
            .filter_map(|h| r.get(h))
            .map(|e| e.event.timestamp_ms)
            .max()
            .unwrap_or(0)
            .max(now);
        let joiner = self.node_key(self.joiner()).public();
        let invited = self.joins && st.invitations().any(|(k, _)| *k == joiner);
        let g = st.governance();
        let open: Vec<&mutual_protocol::governance::motion::MotionRecord> = g
            .motions()
            .filter(|m| m.closed.is_none() && m.opens_at_ms <= ts && ts < m.closes_at_ms)
            .collect();
        let admitting = g.motions().any(|m| m.kind == DecisionKind::AdmitPractice);
        // A board election is proposed when none is open and no board sits in its term.
        let electing = g
            .motions()
            .any(|m| m.kind == DecisionKind::ElectBoard && m.closed.is_none())
            || (!g.board().is_empty() && !g.board_term().election_due(ts));
        // A partner admitted while the deed names an agreement accedes to it first.
        let newcomer = self.newcomer_key();
        if !self.acceded && st.membership().is_pending(&newcomer.public()) {
            let hash = st
                .deed()
                .map(|d| d.agreement_hash.clone())
                .unwrap_or_default();
            let body = Body::Accession(pb::Accession {
                agreement_hash: hash,
            });
            let step = self.signs_as(core, copy(&newcomer), now, body, "accession")?;
            self.acceded = true;
            let at = self.newcomer_at.unwrap_or(n);
            self.partners.push((at, newcomer));
            return Some(step);
        }
        let roll = rng.gen_range(0..100);
        let partner = self.partner_of(rng, n);
        // Once the charter is signed, linking is the first thing the partners propose.
        let unproposed = !g.motions().any(|m| m.kind == DecisionKind::LinkFederation);
        if self.charter.is_some() && unproposed {
            return self.federation(rng, core, ts, now, partner);
        }
        match roll {
            0..=9 if self.joins && !invited && n != self.joiner() => Some(Step::Node {
                what: "invitation",
                log: None,
                body: Box::new(self.invitation(now)),
            }),
            10..=19 if invited && !admitting => {
                let mo = pb::Motion {
                    admit_practice: Some(pb::Practice {
                        name: "Joining Practice".into(),
                        ods_code: ods(self.joiner()),
                        locality: "North".into(),
                        list_size: 7_000,
                        node_key: joiner.as_bytes().to_vec(),
                    }),
                    ..motion(
                        DecisionKind::AdmitPractice,
                        "Admit the joining practice",
                        ts,
                    )
                };
                self.partner_signs(
                    core,
                    partner?,
                    now,
                    Body::Motion(mo),
                    "admit-practice motion",
                )
            }
            20..=24 if !electing => {
                let candidates: Vec<Vec<u8>> = self
                    .partners
                    .choose_multiple(rng, 3)
                    .map(|(_, k)| k.public().as_bytes().to_vec())
                    .collect();
                let mo = pb::Motion {
                    seats: 2,
                    candidates,
                    ..motion(DecisionKind::ElectBoard, "Elect the board", ts)
                };
                self.partner_signs(core, partner?, now, Body::Motion(mo), "election")
            }
            25..=34 if open.len() < MAX_OPEN => {
                // Some are made under a power: a practice's own matter, or spending by a
                // partner who sits on the board (who proposes half of this practice's).
                let on_board = |i: usize| {
                    let me = self.partners[i].1.public();
                    st.membership().holder(&me).is_some_and(|h| {
                        matches!(h, mutual_protocol::membership::Holder::Partner(id) if g.board().contains(id))
                    })
                };
                let board_partner = (0..self.partners.len())
                    .find(|&i| self.partners[i].0 == n && on_board(i))
                    .filter(|_| rng.gen_bool(0.5));
                let i = board_partner.or(partner)?;
                let mut mo = motion(DecisionKind::General, format!("Resolution {roll}"), ts);
                let what = if board_partner.is_some() {
                    mo.power = "operational-spending".into();
                    "board resolution"
                } else if rng.gen_bool(0.25) {
                    mo.power = "practice-matter".into();
                    mo.subject_ods = ods(self.partners[i].0);
                    "practice resolution"
                } else {
                    "motion"
                };
                // Half carry a paper for the voters to read.
                let mut papers = Vec::new();
                if rng.gen_bool(0.5) {
                    let bytes = format!(
                        "Paper for {:?}, seed {}, at {ts}: {}\n",
                        mo.title,
                        self.seed,
                        rng.gen::<u64>()
                    )
                    .into_bytes();
                    let sha256: [u8; 32] = Sha256::digest(&bytes).into();
                    mo.papers.push(pb::Paper {
                        name: format!("paper-{}.txt", hex::encode(&sha256[..4])),
                        sha256: sha256.to_vec(),
                        size: bytes.len() as u64,
                        media_type: "text/plain".into(),
                    });
                    self.library.insert(sha256, (n, bytes.clone()));
                    papers.push(bytes);
                }
                let step = self.partner_signs(core, i, now, Body::Motion(mo), what);
                match step {
                    Some(Step::Partner { what, wire, .. }) => {
                        Some(Step::Partner { what, wire, papers })
                    }
                    other => other,
                }
            }
            35..=64 if !open.is_empty() => {
                // The admission is what the partnership most wants settled.
                let admission = open
                    .iter()
                    .find(|m| wanted(m.kind))
                    .filter(|_| rng.gen_bool(0.5));
                let m = match admission {
                    Some(m) => m,
                    None => open.choose(rng)?,
                };
                let ballot = if m.kind == DecisionKind::ElectBoard {
                    let mut ranking: Vec<Vec<u8>> = m.motion.candidates.clone();
                    ranking.shuffle(rng);
                    ranking.truncate(rng.gen_range(1..=ranking.len().max(1)));
                    pb::Ballot {
                        motion: m.id.as_bytes().to_vec(),
                        ranking,
                        ..Default::default()
                    }
                } else {
                    let choice = if wanted(m.kind) || rng.gen_bool(0.6) {
                        Choice::For
                    } else if rng.gen_bool(0.7) {
                        Choice::Against
                    } else {
                        Choice::Abstain
                    };
                    pb::Ballot {
                        motion: m.id.as_bytes().to_vec(),
                        choice: choice as i32,
                        ..Default::default()
                    }
                };
                let what = if ballot.ranking.is_empty() {
                    "ballot"
                } else {
                    "ranked ballot"
                };
                self.partner_signs(core, partner?, now, Body::Ballot(ballot), what)
            }
            65..=69 if !open.is_empty() => {
                let m = open.choose(rng)?;
                let holder = self.partners.choose(rng)?.1.public();
                let me = self.partners.get(partner?)?.1.public();
                if holder == me {
                    return None;
                }
                let appoint = pb::Ballot {
                    motion: m.id.as_bytes().to_vec(),
                    choice: Choice::AppointProxy as i32,
                    proxy: holder.as_bytes().to_vec(),
                    ..Default::default()
                };
                self.partner_signs(core, partner?, now, Body::Ballot(appoint), "proxy")
            }
            70..=79 => {
                // What commits a practice is signed by one of its partners, as the deed
                // says (`aid_signers`); a request by its node.
                let mine = st.membership().practice_of_node(&core.key())?;
                let (what, body) = aid(rng, st.aid(), &mine.practice.ods_code, now, false)?;
                if matches!(body, Body::AidRequest(_)) {
                    Some(Step::Node {
                        what,
                        log: None,
                        body: Box::new(body),
                    })
                } else {
                    self.partner_signs(core, partner?, now, body, what)
                }
            }
            80..=81 if !self.rotated => {
                let i = partner?;
                let old = copy(&self.partners[i].1);
                let new = key_for(self.seed, 9_999 + self.first as u64);
                let sig = new.sign(
                    ROTATE_DOMAIN,
                    &rotation_message(&r.network(), &old.public()),
                );
                let body = Body::KeyRotation(pb::KeyRotation {
                    new_key: new.public().as_bytes().to_vec(),
                    new_key_signature: sig.to_vec(),
                });
                let step = self.partner_signs(core, i, now, body, "key rotation");
                if step.is_some() {
                    self.rotated = true;
                    self.partners[i].1 = new;
                }
                step
            }
            // Once motions have begun to close, the leaving practice soon goes.
            90..=96
                if Some(n) == self.leaver()
                    && !self.practice_left
                    && g.motions().any(|m| m.closed.is_some()) =>
            {
                self.practice_left = true;
                self.partners.retain(|(at, _)| *at != n);
                Some(Step::Node {
                    what: "practice leave",
                    log: None,
                    body: Box::new(Body::PracticeLeave(pb::PracticeLeave {
                        reason: "Merging with a neighbouring partnership".into(),
                    })),
                })
            }
            82..=96 => self.federation(rng, core, ts, now, partner),
            // A partner of a practice that has another resigns.
            97 if !self.resigned && self.partners_at(n).len() > 1 => {
                let i = partner?;
                let body = Body::PartnerResign(pb::PartnerResign {
                    reason: "Retiring from partnership".into(),
                });
                let step = self.partner_signs(core, i, now, body, "partner resignation")?;
                self.resigned = true;
                self.partners.remove(i);
                Some(step)
            }
            // A practice's node revokes the key of one of its partners (a lost laptop).
            98 if !self.revoked && self.partners_at(n).len() > 1 => {
                let i = *self.partners_at(n).choose(rng)?;
                self.revoked = true;
                let key = self.partners.remove(i).1.public();
                Some(Step::Node {
                    what: "key revocation",
                    log: None,
                    body: Box::new(Body::KeyRevocation(pb::KeyRevocation {
                        key: key.as_bytes().to_vec(),
                        reason: "Laptop lost".into(),
                    })),
                })
            }
            // The partners vote to admit a new partner to this practice.
            99 if self.newcomer_at.is_none() && Some(n) != self.leaver() => {
                let mo = pb::Motion {
                    admit_partner: Some(pb::Partner {
                        name: "Dr Newcomer".into(),
                        practice_ods: ods(n),
                        role: pb::PartnerRole::Partner as i32,
                        key: newcomer.public().as_bytes().to_vec(),
                    }),
                    ..motion(DecisionKind::AdmitPartner, "Admit a new partner", ts)
                };
                let step = self.partner_signs(
                    core,
                    partner?,
                    now,
                    Body::Motion(mo),
                    "admit-partner motion",
                )?;
                self.newcomer_at = Some(n);
                Some(step)
            }
            _ if rng.gen_bool(0.5) => Some(Step::Node {
                what: "practice update",
                log: None,
                body: Box::new(Body::PracticeUpdate(pb::PracticeUpdate {
                    list_size: rng.gen_range(3_000..20_000),
                    ..Default::default()
                })),
            }),
            _ => Some(Step::Node {
                what: "address announcement",
                log: None,
                body: Box::new(Body::AddressAnnouncement(pb::AddressAnnouncement {
                    addresses: vec![format!("/ip4/127.0.0.1/tcp/{}", 40_000 + n)],
                })),
            }),
        }
    }

    /// The invitation of the practice that joins, as its inviting node signs it.
    pub fn invitation(&self, now: u64) -> Body {
        Body::Invitation(pb::Invitation {
            node_key: self.node_key(self.joiner()).public().as_bytes().to_vec(),
            expires_ms: now + 24 * 3_600_000,
            practice_name: "Joining Practice".into(),
            ods_code: ods(self.joiner()),
            bootstrap: Vec::new(),
        })
    }

    /// One of the partners of practice `n`, by index.
    fn partner_of(&self, rng: &mut ChaCha8Rng, n: usize) -> Option<usize> {
        self.partners_at(n).choose(rng).copied()
    }

    /// The latest close of any motion proposed so far, ms by its proposer's clock.
    pub fn latest_close_ms(&self) -> u64 {
        self.latest_close_ms
    }

    /// Partner `i` signs `body` as the next event of their feed, following the node's
    /// heads, as `mutual` does on the partner's behalf.
    pub(super) fn partner_signs(
        &mut self,
        core: &NodeCore<MemStore>,
        i: usize,
        now: u64,
        body: Body,
        what: &'static str,
    ) -> Option<Step> {
        let key = copy(&self.partners.get(i)?.1);
        self.signs_as(core, key, now, body, what)
    }

    /// `key` signs `body` as the next event of its feed, following the node's heads.
    fn signs_as(
        &mut self,
        core: &NodeCore<MemStore>,
        key: Keypair,
        now: u64,
        body: Body,
        what: &'static str,
    ) -> Option<Step> {
        if let Body::Motion(m) = &body {
            self.latest_close_ms = self.latest_close_ms.max(m.closes_at_ms);
        }
        let ev = sign_next(core.replica(), key, now, body).ok()?;
        Some(Step::Partner {
            what,
            wire: ev.to_wire(),
            papers: Vec::new(),
        })
    }

    /// The papers partners handed node `n` (whose core is `core`) that its log names but
    /// it does not hold: what a partner sends again when the event was not yet stored
    /// there the first time. Every other node fetches them by the paper protocol.
    pub fn papers_lacking(&self, n: usize, core: &NodeCore<MemStore>) -> Vec<Vec<u8>> {
        let held = core.papers().held();
        let missing: Vec<(&[u8; 32], &Vec<u8>)> = self
            .library
            .iter()
            .filter(|(h, (to, _))| *to == n && !held.contains_key(*h))
            .map(|(h, (_, b))| (h, b))
            .collect();
        if missing.is_empty() {
            return Vec::new();
        }
        let named = crate::core::papers::wanted_by(core.replica());
        missing
            .into_iter()
            .filter(|(h, _)| named.contains_key(*h))
            .map(|(_, b)| b.clone())
            .collect()
    }
}

/// A motion of `kind` titled `title`, open for the voting period from `ts`.
pub(super) fn motion(kind: DecisionKind, title: impl Into<String>, ts: u64) -> pb::Motion {
    pb::Motion {
        kind: kind as i32,
        title: title.into(),
        opens_at_ms: ts,
        closes_at_ms: ts + VOTING_MS,
        ..Default::default()
    }
}

/// Whether the partners all want a motion of this kind to pass: the admission of the
/// practice that joins, of the new partner, the link to the federation, and (the ally's)
/// leaving it.
fn wanted(kind: DecisionKind) -> bool {
    matches!(
        kind,
        DecisionKind::AdmitPractice
            | DecisionKind::AdmitPartner
            | DecisionKind::LinkFederation
            | DecisionKind::LeaveFederation
    )
}

/// Aid between practices on the board `aid`, by practice `mine`: the countersignature
/// of an acceptance of its offer, the acceptance of an offer on its own request, an offer
/// on another practice's open request, or a request. In a network, the request is signed
/// by the node and the rest by a partner, as the simulated deed's `aid_signers` says; in
/// a federation's log (`fed`), all by the node.
pub(super) fn aid(
    rng: &mut ChaCha8Rng,
    aid: &Aid,
    mine: &str,
    now: u64,
    fed: bool,
) -> Option<(&'static str, Body)> {
    let name = |net: &'static str, fed_name: &'static str| if fed { fed_name } else { net };
    if !fed {
        if let Some(step) = aid_afterwards(rng, aid, mine, now) {
            return Some(step);
        }
    }
    if let Some(a) = aid
        .agreements()
        .find(|a| a.offerer == mine && a.status == AgreementStatus::Pending)
    {
        return Some((
            name("aid countersign", "federation aid countersign"),
            Body::AidCountersign(pb::AidCountersign {
                acceptance: a.id.as_bytes().to_vec(),
            }),
        ));
    }
    if let Some(o) = aid.offers().find(|o| {
        aid.request(&o.request).is_some_and(|q| {
            q.practice == mine && q.agreements.is_empty() && aid.is_open_at(q, now)
        })
    }) {
        return Some((
            name("aid acceptance", "federation aid acceptance"),
            Body::AidAcceptance(pb::AidAcceptance {
                offer: o.id.as_bytes().to_vec(),
                sessions: o.sessions.iter().map(|x| x.to_pb()).collect(),
            }),
        ));
    }
    let session = pb::Session {
        date: crate::demo::date_after(now, 7),
        part: "AM".into(),
    };
    let others: Vec<EventId> = aid
        .requests()
        .filter(|q| q.practice != mine && q.offers.is_empty() && aid.is_open_at(q, now))
        .map(|q| q.id)
        .collect();
    if let Some(request) = others.choose(rng) {
        return Some((
            name("aid offer", "federation aid offer"),
            Body::AidOffer(pb::AidOffer {
                request: request.as_bytes().to_vec(),
                sessions: vec![session],
                role: "GP".into(),
                terms: "usual rates".into(),
            }),
        ));
    }
    let visibility = if fed {
        pb::Visibility::Federation
    } else {
        pb::Visibility::Network
    };
    Some((
        name("aid request", "federation aid request"),
        Body::AidRequest(pb::AidRequest {
            role: "GP".into(),
            sessions: vec![session],
            urgency: pb::Urgency::Soon as i32,
            expires_at_ms: now + 3 * 24 * 3_600_000,
            visibility: visibility as i32,
            ..Default::default()
        }),
    ))
}

/// In a network, now and then, what comes after: the practice that asked records a binding
/// agreement fulfilled, either party cancels an agreement with notice, or the practice
/// withdraws a request no one has taken up.
fn aid_afterwards(
    rng: &mut ChaCha8Rng,
    aid: &Aid,
    mine: &str,
    now: u64,
) -> Option<(&'static str, Body)> {
    if let Some(a) = aid
        .agreements()
        .find(|a| a.requester == mine && a.status == AgreementStatus::Binding)
        .filter(|_| rng.gen_bool(0.3))
    {
        return Some((
            "aid fulfil",
            Body::AidFulfil(pb::AidFulfil {
                acceptance: a.id.as_bytes().to_vec(),
            }),
        ));
    }
    if let Some(a) = aid
        .agreements()
        .find(|a| {
            (a.requester == mine || a.offerer == mine)
                && matches!(
                    a.status,
                    AgreementStatus::Pending | AgreementStatus::Binding
                )
        })
        .filter(|_| rng.gen_bool(0.1))
    {
        return Some((
            "aid cancel",
            Body::AidCancel(pb::AidCancel {
                acceptance: a.id.as_bytes().to_vec(),
                reason: "The locum is unwell".into(),
                notice_ms: 2 * 24 * 3_600_000,
            }),
        ));
    }
    let q = aid
        .requests()
        .find(|q| {
            q.practice == mine
                && q.agreements.is_empty()
                && q.withdrawn.is_none()
                && aid.is_open_at(q, now)
        })
        .filter(|_| rng.gen_bool(0.1))?;
    Some((
        "aid withdraw",
        Body::AidWithdraw(pb::AidWithdraw {
            request: q.id.as_bytes().to_vec(),
            reason: "Covered from within the practice".into(),
        }),
    ))
}
