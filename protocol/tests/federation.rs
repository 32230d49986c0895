//! The federation log's fold (docs/FEDERATION.md): joining by a majority of each
//! network's roster, each roster anchored in the network's own signed membership events,
//! scope, foreign authors, cross-network aid, joint motions under the charter's rule,
//! rosters and leaving.

use crate::common;

use common::{key, practice, rotation, update, T0};
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, EventError, FeedWriter, SignedEvent};
use mutual_protocol::federation::{
    charter_entry, roster_entry, FederationError, FederationState, MAX_OPEN_JOINT_MOTIONS,
};
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::replica::{IngestError, Ingested, Replica};
use mutual_protocol::state::{Outcome, Rejection, State};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

const NOW: u64 = T0 + 10_000_000;

/// Network `n`'s genesis: its practices are [`roster`]`(n)`, its first practice founds it.
fn genesis(n: u8) -> SignedEvent {
    let ps = roster(n);
    let g = pb::Genesis {
        name: format!("Network {n}"),
        practices: ps.iter().map(|&k| practice(k)).collect(),
        nonce: vec![n],
        ..Default::default()
    };
    FeedWriter::found(key(ps[0]), T0, g).1
}

/// Network `n`'s id: its genesis id.
fn net(n: u8) -> NetworkId {
    NetworkId(genesis(n).id)
}

/// An event of network `n`'s own log: the first of practice node `who`'s feed.
fn own_event(n: u8, who: u32, body: Body) -> SignedEvent {
    FeedWriter::resume(key(who), net(n), None).sign(T0 + 5000, vec![net(n).0], body)
}

/// Network `n`'s evidence: its own events, exactly as signed.
fn evidence(n: u8, events: &[&SignedEvent]) -> Body {
    Body::FederationEvidence(pb::FederationEvidence {
        network: net(n).as_bytes().to_vec(),
        events: events.iter().map(|e| e.to_wire()).collect(),
    })
}

/// Practice node keys: network 1 has 1..=3, network 2 has 11..=13, network 3 has 21..=22.
fn roster(n: u8) -> Vec<u32> {
    match n {
        1 => vec![1, 2, 3],
        2 => vec![11, 12, 13],
        _ => vec![21, 22],
    }
}

fn network_of(k: u32) -> u8 {
    match k {
        1..=9 => 1,
        11..=19 => 2,
        _ => 3,
    }
}

struct Fed {
    r: Replica<FederationState>,
    writers: HashMap<u32, FeedWriter>,
    id: NetworkId,
    ts: u64,
}

impl Fed {
    /// A federation of `networks`, each listed with its own practices, whose first
    /// practice has carried its genesis in, so each roster is anchored.
    fn new(networks: &[u8], requires_all: bool) -> Self {
        let rosters: Vec<(u8, Vec<u32>)> = networks.iter().map(|&n| (n, roster(n))).collect();
        let mut f = Fed::bare(&rosters, requires_all);
        for &n in networks {
            f.ok(roster(n)[0], evidence(n, &[&genesis(n)]));
        }
        f
    }

    /// A federation whose charter lists each network with the practices given, and
    /// nothing else in its log.
    fn bare(rosters: &[(u8, Vec<u32>)], requires_all: bool) -> Self {
        let mut members: Vec<pb::CharterNetwork> = rosters
            .iter()
            .map(|(n, keys)| {
                let ps: Vec<pb::Practice> = keys.iter().map(|&k| practice(k)).collect();
                charter_entry(net(*n), &format!("Network {n}"), &ps, &[])
            })
            .collect();
        members.sort_by(|a, b| a.network.cmp(&b.network));
        let charter = pb::FederationCharter {
            name: "Northern Alliance".into(),
            share_aid_requests: true,
            share_statements: true,
            share_joint_motions: true,
            joint_requires_all: requires_all,
            members,
        };
        let (w, ev) = FeedWriter::root(key(1), T0, Body::FederationCharter(charter));
        let id = NetworkId(ev.id);
        let mut r = Replica::<FederationState>::empty(id);
        assert!(matches!(
            r.ingest(NOW, &ev.to_wire()),
            Ok(Ingested::Stored { .. })
        ));
        let mut writers = HashMap::new();
        writers.insert(1, w);
        Fed {
            r,
            writers,
            id,
            ts: T0,
        }
    }

    fn sign(&mut self, who: u32, body: Body) -> SignedEvent {
        self.ts += 1000;
        let (id, ts, heads) = (self.id, self.ts, self.r.heads());
        self.writers
            .entry(who)
            .or_insert_with(|| FeedWriter::resume(key(who), id, None))
            .sign(ts, heads, body)
    }

    /// Signs and takes in; returns the id and outcome.
    fn put(&mut self, who: u32, body: Body) -> (EventId, Outcome) {
        let ev = self.sign(who, body);
        let r = self.r.ingest(NOW, &ev.to_wire());
        assert!(matches!(r, Ok(Ingested::Stored { .. })), "{r:?}");
        (ev.id, self.r.outcome(&ev.id).cloned().expect("stored"))
    }

    fn ok(&mut self, who: u32, body: Body) -> EventId {
        let (id, o) = self.put(who, body);
        assert_eq!(o, Outcome::Applied, "{who}");
        id
    }

    fn refused(&mut self, who: u32, body: Body) -> Rejection {
        match self.put(who, body) {
            (_, Outcome::Rejected(r)) => r,
            (_, o) => panic!("expected a rejection, got {o:?}"),
        }
    }

    fn join(&mut self, who: u32) -> Outcome {
        let n = net(network_of(who));
        self.put(
            who,
            Body::FederationJoin(pb::FederationJoin {
                network: n.as_bytes().to_vec(),
                motion: vec![5; 32],
            }),
        )
        .1
    }

    fn joined(&self, n: u8) -> bool {
        self.r
            .state()
            .party(&net(n))
            .is_some_and(|p| p.joined.is_some())
    }

    fn decide(&mut self, who: u32, joint: EventId, passed: bool) -> Outcome {
        let n = net(network_of(who));
        self.put(
            who,
            Body::JointDecision(pb::JointDecision {
                network: n.as_bytes().to_vec(),
                joint_motion: joint.as_bytes().to_vec(),
                motion: vec![6; 32],
                passed,
            }),
        )
        .1
    }

    fn live(networks: &[u8], requires_all: bool) -> Self {
        let mut f = Fed::new(networks, requires_all);
        for &n in networks {
            for k in roster(n).into_iter().take(roster(n).len() / 2 + 1) {
                assert_eq!(f.join(k), Outcome::Applied);
            }
        }
        assert!(f.r.state().is_live());
        f
    }

    fn joint(&mut self) -> EventId {
        self.ok(
            1,
            Body::JointMotion(pb::JointMotion {
                title: "A joint statement on winter pressures".into(),
                text: "We ask the ICB for funded extra sessions.".into(),
            }),
        )
    }

    fn result(&self, j: &EventId) -> Option<bool> {
        self.r
            .state()
            .joint_motion(j)
            .and_then(|r| r.result)
            .map(|(p, _)| p)
    }
}

fn fed_err(r: Rejection) -> FederationError {
    match r {
        Rejection::Federation(e) => e,
        other => panic!("expected a federation rejection, got {other:?}"),
    }
}

/// An offer of a GP for the morning asked for by `request`, on `terms`.
fn offer(request: EventId, terms: impl Into<String>) -> Body {
    Body::AidOffer(pb::AidOffer {
        request: request.as_bytes().to_vec(),
        sessions: vec![pb::Session {
            date: "2026-12-01".into(),
            part: "AM".into(),
        }],
        role: "GP".into(),
        terms: terms.into(),
    })
}

fn request(visibility: pb::Visibility) -> Body {
    Body::AidRequest(pb::AidRequest {
        role: "GP".into(),
        sessions: vec![pb::Session {
            date: "2026-12-01".into(),
            part: "AM".into(),
        }],
        urgency: pb::Urgency::Soon as i32,
        expires_at_ms: T0 + 30 * 86_400_000,
        visibility: visibility as i32,
        ..Default::default()
    })
}

#[test]
fn a_network_joins_when_more_than_half_its_roster_says_so() {
    let mut f = Fed::new(&[1, 3], true);
    // Network 3 has two practices: one of two is exactly half, not more.
    assert_eq!(f.join(21), Outcome::Applied);
    assert!(!f.joined(3));
    assert_eq!(f.join(22), Outcome::Applied);
    assert!(f.joined(3));
    // Network 1 has three: one is not enough, two are.
    f.join(1);
    assert!(!f.joined(1));
    assert!(
        !f.r.state().is_live(),
        "live only when every network has joined"
    );
    f.join(2);
    assert!(f.joined(1));
    assert!(f.r.state().is_live());
}

#[test]
fn nothing_but_joining_counts_before_the_federation_is_live() {
    let mut f = Fed::new(&[1, 2], true);
    for k in [1, 2] {
        f.join(k);
    }
    let r = f.refused(1, request(pb::Visibility::Federation));
    assert_eq!(fed_err(r), FederationError::NotLive);
    let r = f.refused(11, request(pb::Visibility::Federation));
    assert_eq!(fed_err(r), FederationError::NotJoined);
}

#[test]
fn a_foreign_author_who_is_not_on_a_roster_is_refused() {
    let mut f = Fed::live(&[1, 2], true);
    // Key 14 is no practice of any network's roster.
    let r = f.refused(14, request(pb::Visibility::Federation));
    assert_eq!(r, Rejection::NotAMember);
    // A member speaking for another network than its own is refused too.
    let r = f.refused(
        12,
        Body::FederationJoin(pb::FederationJoin {
            network: net(1).as_bytes().to_vec(),
            motion: vec![5; 32],
        }),
    );
    assert!(matches!(fed_err(r), FederationError::WrongNetwork { .. }));
}

#[test]
fn internal_business_is_refused_at_ingest_in_both_directions() {
    let mut f = Fed::live(&[1, 2], true);
    for body in [
        Body::Motion(pb::Motion {
            kind: pb::DecisionKind::General as i32,
            title: "internal".into(),
            ..Default::default()
        }),
        Body::Ballot(pb::Ballot {
            motion: vec![1; 32],
            choice: pb::Choice::For as i32,
            ..Default::default()
        }),
        Body::PracticeUpdate(pb::PracticeUpdate::default()),
        Body::AddressAnnouncement(pb::AddressAnnouncement::default()),
    ] {
        let ev = f.sign(2, body);
        let before = f.r.len();
        let r = f.r.ingest(NOW, &ev.to_wire());
        assert!(
            matches!(r, Err(IngestError::Invalid(EventError::OutOfScope { .. }))),
            "{r:?}"
        );
        assert!(r.unwrap_err().is_peer_fault());
        assert_eq!(f.r.len(), before);
    }
    // And a network's log refuses the federation's business.
    let (fx, mut w) = common::Fixture::new(2);
    let mut own = fx.replica();
    let ev = w.sign(
        T0 + 1,
        vec![],
        Body::JointMotion(pb::JointMotion {
            title: "x".into(),
            text: String::new(),
        }),
    );
    let r = own.ingest(NOW, &ev.to_wire());
    assert!(matches!(
        r,
        Err(IngestError::Invalid(EventError::OutOfScope { .. }))
    ));
    let _: &State = own.state();
}

#[test]
fn an_aid_request_is_answered_and_countersigned_across_networks() {
    let mut f = Fed::live(&[1, 2], true);
    let r = f.refused(1, request(pb::Visibility::Network));
    assert!(matches!(fed_err(r), FederationError::NotShared(_)));
    let req = f.ok(1, request(pb::Visibility::Federation));
    let offer = f.ok(12, offer(req, "Locum rate"));
    let acc = f.ok(
        1,
        Body::AidAcceptance(pb::AidAcceptance {
            offer: offer.as_bytes().to_vec(),
            sessions: vec![pb::Session {
                date: "2026-12-01".into(),
                part: "AM".into(),
            }],
        }),
    );
    f.ok(
        12,
        Body::AidCountersign(pb::AidCountersign {
            acceptance: acc.as_bytes().to_vec(),
        }),
    );
    let ag = f.r.state().aid().agreement(&acc).expect("an agreement");
    assert_eq!(ag.status.name(), "binding");
    assert_eq!(ag.requester, practice(1).ods_code);
    assert_eq!(ag.offerer, practice(12).ods_code);
}

#[test]
fn a_joint_motion_that_needs_every_network_fails_on_one_no() {
    let mut f = Fed::live(&[1, 2, 3], true);
    let j = f.joint();
    f.decide(1, j, true);
    f.decide(2, j, true);
    assert_eq!(f.result(&j), None, "network 1 passed; 2 and 3 not yet");
    f.decide(11, j, false);
    assert_eq!(
        f.result(&j),
        None,
        "one of three of network 2 is not its decision"
    );
    f.decide(12, j, false);
    assert_eq!(f.result(&j), Some(false));
    // A decided motion takes no more decisions.
    let r = f.decide(21, j, true);
    assert!(matches!(
        r,
        Outcome::Rejected(Rejection::Federation(FederationError::AlreadyDecided))
    ));
}

#[test]
fn a_joint_motion_that_needs_every_network_passes_when_all_pass() {
    let mut f = Fed::live(&[1, 2, 3], true);
    let j = f.joint();
    for k in [1, 2, 11, 12] {
        f.decide(k, j, true);
    }
    assert_eq!(f.result(&j), None);
    // Network 3's two nodes disagree: one of two is no decision.
    f.decide(21, j, true);
    f.decide(22, j, false);
    assert_eq!(f.result(&j), None);
    // The node that said no says yes: its latest word counts.
    f.decide(22, j, true);
    assert_eq!(f.result(&j), Some(true));
}

#[test]
fn a_majority_joint_motion_passes_with_two_networks_of_three() {
    let mut f = Fed::live(&[1, 2, 3], false);
    let j = f.joint();
    for k in [21, 22] {
        f.decide(k, j, false);
    }
    assert_eq!(f.result(&j), None);
    for k in [1, 2, 11] {
        f.decide(k, j, true);
    }
    assert_eq!(f.result(&j), None, "only network 1 has decided yes");
    f.decide(12, j, true);
    assert_eq!(f.result(&j), Some(true));
}

#[test]
fn open_joint_motions_are_capped() {
    let mut f = Fed::live(&[1, 2], true);
    for _ in 0..MAX_OPEN_JOINT_MOTIONS {
        f.joint();
    }
    let r = f.refused(
        2,
        Body::JointMotion(pb::JointMotion {
            title: "one too many".into(),
            text: String::new(),
        }),
    );
    assert_eq!(fed_err(r), FederationError::TooManyOpenJointMotions);
}

#[test]
fn statements_are_capped_per_practice() {
    use mutual_protocol::federation::MAX_STATEMENTS_PER_PRACTICE;
    let mut f = Fed::live(&[1, 2], true);
    let statement = |i: usize| {
        Body::JointStatement(pb::JointStatement {
            title: format!("Statement {i}"),
            text: String::new(),
        })
    };
    for i in 0..MAX_STATEMENTS_PER_PRACTICE {
        f.ok(2, statement(i));
    }
    let r = f.refused(2, statement(MAX_STATEMENTS_PER_PRACTICE));
    assert_eq!(fed_err(r), FederationError::TooManyStatements);
    f.ok(11, statement(0));
}

fn roster_body(n: u8, number: u64, keys: &[u32]) -> Body {
    let mut practices: Vec<pb::Practice> =
        keys.iter().map(|&k| roster_entry(&practice(k))).collect();
    practices.sort_by(|a, b| a.ods_code.cmp(&b.ods_code));
    Body::FederationRoster(pb::FederationRoster {
        network: net(n).as_bytes().to_vec(),
        number,
        practices,
    })
}

#[test]
fn a_roster_changes_when_more_than_half_the_current_roster_says_the_same() {
    let mut f = Fed::live(&[1, 2], true);
    // Practice 14 joins network 2; until the roster says so it is no one here.
    assert_eq!(
        f.refused(14, request(pb::Visibility::Federation)),
        Rejection::NotAMember
    );
    let next = [11, 12, 13, 14];
    f.ok(11, roster_body(2, 1, &next));
    // A different roster from another node does not add to the first.
    f.ok(12, roster_body(2, 1, &[11, 12, 14]));
    assert_eq!(f.r.state().party(&net(2)).map(|p| p.roster_number), Some(0));
    f.ok(13, roster_body(2, 1, &next));
    assert_eq!(f.r.state().party(&net(2)).map(|p| p.roster_number), Some(1));
    f.ok(14, request(pb::Visibility::Federation));
    // Wrong numbers and codes that clash with another network's are refused.
    assert!(matches!(
        fed_err(f.refused(11, roster_body(2, 1, &next))),
        FederationError::InvalidRoster(_)
    ));
    assert!(matches!(
        fed_err(f.refused(11, roster_body(2, 2, &[11, 2]))),
        FederationError::InvalidRoster(_)
    ));
}

#[test]
fn after_a_network_leaves_nothing_new_of_its_is_accepted_and_history_stays() {
    let mut f = Fed::live(&[1, 2, 3], true);
    let req = f.ok(11, request(pb::Visibility::Federation));
    let j = f.joint();
    f.decide(1, j, true);
    f.decide(2, j, true);
    f.decide(21, j, true);
    f.decide(22, j, true);
    let leave = |n: u8| {
        Body::FederationLeave(pb::FederationLeave {
            network: net(n).as_bytes().to_vec(),
            motion: vec![8; 32],
        })
    };
    f.ok(11, leave(2));
    assert!(f.r.state().party(&net(2)).is_some_and(|p| p.left.is_none()));
    f.ok(12, leave(2));
    assert!(f.r.state().party(&net(2)).is_some_and(|p| p.left.is_some()));
    // The open joint motion is settled by the networks that remain.
    assert_eq!(f.result(&j), Some(true));
    assert_eq!(
        fed_err(f.refused(13, request(pb::Visibility::Federation))),
        FederationError::Left
    );
    assert!(f.r.state().aid().request(&req).is_some(), "history remains");
    assert!(f.r.state().is_live(), "two networks remain");
    f.ok(21, leave(3));
    f.ok(22, leave(3));
    assert!(!f.r.state().is_live());
    assert_eq!(
        fed_err(f.refused(1, request(pb::Visibility::Federation))),
        FederationError::NotLive
    );
}

#[test]
fn the_state_is_the_same_whatever_order_events_arrive_in() {
    let mut f = Fed::live(&[1, 2, 3], false);
    let req = f.ok(1, request(pb::Visibility::Federation));
    f.ok(21, offer(req, ""));
    let j = f.joint();
    for (k, v) in [(1, true), (11, false), (2, true), (12, true), (13, true)] {
        f.decide(k, j, v);
    }
    f.ok(11, roster_body(2, 1, &[11, 12, 13, 14]));
    f.ok(12, roster_body(2, 1, &[11, 12, 13, 14]));
    let wires: Vec<Vec<u8>> = f.r.events_in_order().map(|e| e.to_wire()).collect();
    let want = f.r.state_hash();
    for seed in 0..20 {
        let mut shuffled = wires.clone();
        shuffled.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let mut r = Replica::<FederationState>::empty(f.id);
        for w in &shuffled {
            let _ = r.ingest(NOW, w);
        }
        assert_eq!(r.len(), wires.len(), "seed {seed}");
        assert_eq!(r.state_hash(), want, "seed {seed}");
        assert_eq!(r.state(), f.r.state(), "seed {seed}");
    }
}

#[test]
fn a_charter_must_name_two_to_eight_sorted_networks_with_distinct_practices() {
    use mutual_protocol::federation::{validate_charter, MAX_FEDERATION_NETWORKS};
    // Stand-in ids: a charter is checked on its own, and these sort as numbered.
    let net = |n: u8| NetworkId(EventId([n; 32]));
    let entry = |n: u8, k: u32| charter_entry(net(n), "N", &[practice(k)], &[]);
    let charter = |members| pb::FederationCharter {
        name: "C".into(),
        members,
        ..Default::default()
    };
    assert!(validate_charter(&charter(vec![entry(1, 1)])).is_err());
    assert!(validate_charter(&charter(vec![entry(1, 1), entry(2, 11)])).is_ok());
    assert!(validate_charter(&charter(vec![entry(2, 11), entry(1, 1)])).is_err());
    assert!(validate_charter(&charter(vec![entry(1, 1), entry(2, 1)])).is_err());
    let max: Vec<_> = (1..=MAX_FEDERATION_NETWORKS as u8)
        .map(|n| entry(n, 30 + n as u32))
        .collect();
    assert!(validate_charter(&charter(max.clone())).is_ok());
    let mut over = max;
    over.push(entry(MAX_FEDERATION_NETWORKS as u8 + 1, 99));
    assert!(validate_charter(&charter(over)).is_err());
}

// ------------------------------------------------------------------ the network's side

use crate::governance_common;

use governance_common::{motion, Net, AFTER_GRACE, DURING, PROPOSED};
use mutual_protocol::governance::GovernanceError;
use pb::{Choice, DecisionKind};

/// A charter naming `net`'s network with `practices` (by fixture number) and network 9.
fn charter_for(net: &Net, practices: &[pb::Practice]) -> Vec<u8> {
    let mut members = vec![
        charter_entry(net.fx.network, "Test Partnership", practices, &[]),
        charter_entry(
            NetworkId(EventId([9; 32])),
            "Elsewhere",
            &[practice(70)],
            &[],
        ),
    ];
    members.sort_by(|a, b| a.network.cmp(&b.network));
    let c = pb::FederationCharter {
        name: "Alliance".into(),
        members,
        ..Default::default()
    };
    FeedWriter::root(key(1), T0, Body::FederationCharter(c))
        .1
        .to_wire()
}

fn invalid_motion(net: &mut Net, mo: pb::Motion) -> String {
    let id = net.event(102, PROPOSED, Body::Motion(mo));
    match net.outcome(&id) {
        Outcome::Rejected(Rejection::Governance(GovernanceError::InvalidMotion(s))) => s,
        o => panic!("expected an invalid motion, got {o:?}"),
    }
}

fn pass(net: &mut Net, mo: pb::Motion) -> EventId {
    let id = net.propose(102, PROPOSED, mo);
    for p in net.partners() {
        net.vote(p, DURING, id, Choice::For);
    }
    id
}

#[test]
fn a_link_motion_must_carry_a_valid_charter_naming_this_network_as_it_is() {
    let mut net = Net::new(3, None);
    let ours: Vec<pb::Practice> = [1, 2, 3].into_iter().map(practice).collect();
    // Not naming this network.
    let other = Fed::new(&[1, 2], true);
    let not_ours = other.r.get(&other.id.genesis()).expect("charter").to_wire();
    let s = invalid_motion(
        &mut net,
        pb::Motion {
            charter_event: not_ours,
            ..motion(DecisionKind::LinkFederation)
        },
    );
    assert!(s.contains("does not name this network"), "{s}");
    // Naming a practice of ours with another node key.
    let mut wrong = practice(2);
    wrong.node_key = key(55).public().as_bytes().to_vec();
    let charter_event = charter_for(&net, &[practice(1), wrong]);
    let s = invalid_motion(
        &mut net,
        pb::Motion {
            charter_event,
            ..motion(DecisionKind::LinkFederation)
        },
    );
    assert!(s.contains("node key"), "{s}");
    // A charter whose signature does not verify.
    let mut forged = charter_for(&net, &ours);
    let n = forged.len();
    forged[n - 1] ^= 1;
    let s = invalid_motion(
        &mut net,
        pb::Motion {
            charter_event: forged,
            ..motion(DecisionKind::LinkFederation)
        },
    );
    assert!(s.contains("charter"), "{s}");
    // Leaving, or voting on a joint motion of, a federation not linked.
    let fid = EventId::of(&charter_for(&net, &ours));
    let s = invalid_motion(
        &mut net,
        pb::Motion {
            federation: fid.as_bytes().to_vec(),
            ..motion(DecisionKind::LeaveFederation)
        },
    );
    assert!(s.contains("linked"), "{s}");
    let s = invalid_motion(
        &mut net,
        pb::Motion {
            federation: fid.as_bytes().to_vec(),
            joint_motion: vec![3; 32],
            ..motion(DecisionKind::General)
        },
    );
    assert!(s.contains("linked"), "{s}");
}

#[test]
fn a_network_links_and_leaves_by_its_own_motions() {
    let mut net = Net::new(3, None);
    let ours: Vec<pb::Practice> = [1, 2, 3].into_iter().map(practice).collect();
    let charter = charter_for(&net, &ours);
    let fid = NetworkId(
        mutual_protocol::event::SignedEvent::decode(&charter)
            .expect("ev")
            .id,
    );
    let link = pass(
        &mut net,
        pb::Motion {
            charter_event: charter.clone(),
            ..motion(DecisionKind::LinkFederation)
        },
    );
    net.tick(AFTER_GRACE);
    let l = net
        .r
        .state()
        .governance()
        .link(&fid)
        .expect("linked")
        .clone();
    assert_eq!((l.motion, l.left_by), (link, None));
    assert_eq!(l.charter_event, charter);
    // Linked now: a second link to it is refused; a vote on its joint motion is allowed.
    let again = pb::Motion {
        charter_event: l.charter_event.clone(),
        opens_at_ms: AFTER_GRACE + 1,
        closes_at_ms: AFTER_GRACE + 3 * governance_common::DAY,
        ..motion(DecisionKind::LinkFederation)
    };
    let id = net.event(102, AFTER_GRACE + 1, Body::Motion(again));
    assert!(matches!(net.outcome(&id), Outcome::Rejected(_)));
    let t = AFTER_GRACE + 2;
    let close = t + 3 * governance_common::DAY;
    let joint = net.propose(
        102,
        t,
        pb::Motion {
            federation: fid.as_bytes().to_vec(),
            joint_motion: vec![3; 32],
            opens_at_ms: t,
            closes_at_ms: close,
            ..motion(DecisionKind::General)
        },
    );
    let twice = pb::Motion {
        federation: fid.as_bytes().to_vec(),
        joint_motion: vec![3; 32],
        opens_at_ms: t,
        closes_at_ms: close,
        ..motion(DecisionKind::General)
    };
    let id = net.event(104, t, Body::Motion(twice));
    assert!(
        matches!(net.outcome(&id), Outcome::Rejected(Rejection::Governance(GovernanceError::InvalidMotion(ref s))) if s.contains("already")),
        "one motion per joint motion"
    );
    let leave = net.propose(
        102,
        t,
        pb::Motion {
            federation: fid.as_bytes().to_vec(),
            opens_at_ms: t,
            closes_at_ms: close,
            ..motion(DecisionKind::LeaveFederation)
        },
    );
    for p in net.partners() {
        net.vote(p, t + 1, leave, Choice::For);
    }
    net.tick(close + 2 * governance_common::DAY);
    let l = net.r.state().governance().link(&fid).expect("kept");
    assert_eq!(
        l.left_by,
        Some(leave),
        "left, and the link is kept as history"
    );
    assert!(net.closed(&joint));
    // Leaving is final for a charter: linking to it again is refused.
    let t = close + 3 * governance_common::DAY;
    let again = pb::Motion {
        charter_event: l.charter_event.clone(),
        opens_at_ms: t,
        closes_at_ms: t + 3 * governance_common::DAY,
        ..motion(DecisionKind::LinkFederation)
    };
    let id = net.event(102, t, Body::Motion(again));
    assert!(matches!(
        net.outcome(&id),
        Outcome::Rejected(Rejection::Governance(GovernanceError::InvalidMotion(ref s))) if s.contains("was")
    ));
}

// ------------------------------------------------------------------ evidence

#[test]
fn a_charter_that_misstates_a_network_never_lets_others_speak_for_it() {
    // The charter lists keys 15..=17 for network 2, whose genesis has 11..=13.
    let mut f = Fed::bare(&[(1, roster(1)), (2, vec![15, 16, 17])], true);
    f.ok(1, evidence(1, &[&genesis(1)]));
    // A forged genesis naming the impostors is not network 2's: its id differs.
    let forged = pb::Genesis {
        name: "Network 2".into(),
        practices: [15, 16, 17].into_iter().map(practice).collect(),
        nonce: vec![2],
        ..Default::default()
    };
    let forged = FeedWriter::found(key(15), T0, forged).1;
    let r = f.refused(15, evidence(2, &[&forged]));
    assert!(matches!(fed_err(r), FederationError::InvalidEvidence(_)));
    // The real genesis is taken, whoever carries it; it shows other practices.
    f.ok(15, evidence(2, &[&genesis(2)]));
    for k in [1, 2, 15, 16, 17] {
        assert_eq!(f.join(k), Outcome::Applied);
    }
    // All three impostors name themselves as the roster: none of them is a practice of
    // network 2's own membership, so their word counts for nothing.
    for k in [15, 16, 17] {
        f.ok(k, roster_body(2, 1, &[15, 16, 17]));
    }
    let p = f.r.state().party(&net(2)).cloned().expect("a party");
    assert!(!p.anchored);
    assert_eq!(p.roster_number, 0);
    assert!(p.joined.is_none());
    assert!(f.joined(1));
    assert!(!f.r.state().is_live());
    let r = f.refused(15, request(pb::Visibility::Federation));
    assert_eq!(fed_err(r), FederationError::NotJoined);
}

#[test]
fn a_roster_naming_practices_admitted_after_the_genesis_is_anchored_by_the_founders() {
    // Practices 14 and 15 joined network 2 after its genesis (by the partners' ballots,
    // which never cross); the charter lists them.
    let all = [11, 12, 13, 14, 15];
    let mut f = Fed::bare(&[(1, roster(1)), (2, all.to_vec())], true);
    f.ok(1, evidence(1, &[&genesis(1)]));
    f.ok(11, evidence(2, &[&genesis(2)]));
    assert!(f.r.state().party(&net(1)).is_some_and(|p| p.anchored));
    assert!(f.r.state().party(&net(2)).is_some_and(|p| !p.anchored));
    for k in [1, 2, 11, 12, 13, 14, 15] {
        assert_eq!(f.join(k), Outcome::Applied);
    }
    assert!(
        !f.joined(2),
        "a roster the genesis does not show counts for nothing yet"
    );
    // The admitted practices cannot vouch for themselves: with one founder they are three
    // of the five on the roster, but one founder of three is not a majority of those the
    // network's own events show.
    f.ok(14, roster_body(2, 1, &all));
    f.ok(15, roster_body(2, 1, &all));
    f.ok(11, roster_body(2, 1, &all));
    assert!(!f.joined(2));
    assert_eq!(f.r.state().party(&net(2)).map(|p| p.roster_number), Some(0));
    f.ok(12, roster_body(2, 1, &all));
    let p = f.r.state().party(&net(2)).cloned().expect("a party");
    assert!(p.anchored);
    assert_eq!(p.roster_number, 1);
    assert!(
        f.joined(2),
        "the joins said before count against the anchored roster"
    );
    assert!(f.r.state().is_live());
    f.ok(14, request(pb::Visibility::Federation));
}

#[test]
fn a_charter_naming_a_minority_of_a_networks_practices_does_not_anchor_it() {
    // Network 2's genesis has three practices; the charter names only practice 11.
    let mut f = Fed::bare(&[(1, roster(1)), (2, vec![11])], true);
    f.ok(11, evidence(2, &[&genesis(2)]));
    assert_eq!(f.join(11), Outcome::Applied);
    let p = f.r.state().party(&net(2)).cloned().expect("a party");
    assert!(!p.anchored, "one of three cannot speak for the network");
    assert!(p.joined.is_none());
}

#[test]
fn roster_proposals_made_before_the_genesis_arrives_count_once_it_does() {
    let all = [11, 12, 13, 14];
    let mut f = Fed::bare(&[(1, roster(1)), (2, all.to_vec())], true);
    for k in [11, 12, 13, 14] {
        assert_eq!(f.join(k), Outcome::Applied);
        f.ok(k, roster_body(2, 1, &all));
    }
    assert!(
        !f.joined(2),
        "no one speaks for a network before its genesis"
    );
    f.ok(13, evidence(2, &[&genesis(2)]));
    let p = f.r.state().party(&net(2)).cloned().expect("a party");
    assert!(p.anchored);
    assert_eq!(p.roster_number, 1);
    assert!(p.joined.is_some());
}

#[test]
fn a_network_whose_roster_keys_all_rotated_carries_its_evidence_with_a_new_key() {
    let mut f = Fed::live(&[1, 3], true);
    // Both practices of network 3 rotated their node keys (21 to 23, 22 to 24); neither
    // new key is on the roster. Key 24 carries both rotations: the evidence shows it is a
    // practice of network 3, so it may.
    let r1 = own_event(3, 21, rotation(&net(3), &key(21).public(), &key(23)));
    let r2 = own_event(3, 22, rotation(&net(3), &key(22).public(), &key(24)));
    assert_eq!(
        f.refused(25, evidence(3, &[&r1, &r2])),
        Rejection::NotAMember,
        "a key the evidence does not show may not carry it"
    );
    assert_eq!(
        f.refused(24, evidence(3, &[&r1])),
        Rejection::NotAMember,
        "nor may a key the evidence it carries does not show"
    );
    f.ok(24, evidence(3, &[&r1, &r2]));
    let p = f.r.state().party(&net(3)).cloned().expect("a party");
    assert!(p.roster.contains_key(&key(23).public()));
    assert!(p.roster.contains_key(&key(24).public()));
    f.ok(23, request(pb::Visibility::Federation));
}

#[test]
fn a_practice_that_rotates_its_key_or_leaves_its_network_is_followed_by_its_own_events() {
    let mut f = Fed::live(&[1, 3], true);
    // Network 3 has two practices, so any word of its needs both. Practice 21 rotates
    // its node key to key 23 in network 3's own log.
    let rotate = own_event(3, 21, rotation(&net(3), &key(21).public(), &key(23)));
    f.ok(22, evidence(3, &[&rotate]));
    let p = f.r.state().party(&net(3)).cloned().expect("a party");
    assert!(p.roster.contains_key(&key(23).public()));
    assert!(!p.roster.contains_key(&key(21).public()));
    assert_eq!(p.roster_number, 0, "no roster vote was needed");
    assert_eq!(
        f.refused(21, request(pb::Visibility::Federation)),
        Rejection::NotAMember
    );
    f.ok(23, request(pb::Visibility::Federation));
    // No roster may name the retired key again.
    let r = f.refused(22, roster_body(3, 1, &[21, 22]));
    assert!(matches!(fed_err(r), FederationError::InvalidRoster(_)));
    // Practice 22 leaves network 3: its own signed leave takes it off the roster, and the
    // practice that remains decides alone.
    let leave = own_event(
        3,
        22,
        Body::PracticeLeave(pb::PracticeLeave {
            reason: "merged".into(),
        }),
    );
    f.ok(23, evidence(3, &[&leave]));
    assert_eq!(
        f.refused(22, request(pb::Visibility::Federation)),
        Rejection::NotAMember
    );
    let j = f.joint();
    f.decide(1, j, true);
    f.decide(2, j, true);
    assert_eq!(f.result(&j), None);
    assert_eq!(f.decide(23, j, true), Outcome::Applied);
    assert_eq!(f.result(&j), Some(true));
    // The same evidence again changes nothing and is no error.
    f.ok(23, evidence(3, &[&rotate, &leave]));
    assert_eq!(
        f.r.state().party(&net(3)).map(|p| p.evidence_taken()),
        Some(3)
    );
}

#[test]
fn evidence_must_be_the_networks_own_signed_membership_events_and_is_taken_whole() {
    let mut f = Fed::new(&[1, 2], true);
    let invalid = |f: &mut Fed, who: u32, body: Body| match fed_err(f.refused(who, body)) {
        FederationError::InvalidEvidence(s) => s,
        other => panic!("expected invalid evidence, got {other:?}"),
    };
    let rotate = own_event(2, 11, rotation(&net(2), &key(11).public(), &key(18)));
    let mut forged = rotate.clone();
    forged.signature[0] ^= 1;
    assert!(invalid(&mut f, 12, evidence(2, &[&forged])).contains("signature"));
    // Internal business is no evidence, even from the network's own log.
    let internal = own_event(2, 12, update(9000));
    assert!(invalid(&mut f, 12, evidence(2, &[&internal])).contains("practice_update"));
    // Another network's event is not this network's evidence.
    let theirs = own_event(1, 1, Body::PracticeLeave(pb::PracticeLeave::default()));
    assert!(invalid(&mut f, 12, evidence(2, &[&theirs])).contains("not of this network"));
    // A practice node speaks only for its own network's evidence.
    let r = f.refused(12, evidence(1, &[&theirs]));
    assert!(matches!(fed_err(r), FederationError::WrongNetwork { .. }));
    // All or nothing: a good rotation followed by a bad event changes nothing.
    invalid(&mut f, 12, evidence(2, &[&rotate, &internal]));
    let p = f.r.state().party(&net(2)).cloned().expect("a party");
    assert!(p.roster.contains_key(&key(11).public()));
    assert_eq!(p.evidence_taken(), 1, "only the genesis");
    f.ok(12, evidence(2, &[&rotate]));
    assert!(f
        .r
        .state()
        .party(&net(2))
        .is_some_and(|p| p.roster.contains_key(&key(18).public())));
}

#[test]
fn evidence_carries_at_most_max_evidence_events() {
    use mutual_protocol::limits::MAX_EVIDENCE_EVENTS;
    let mut f = Fed::new(&[1, 2], true);
    let g = genesis(2);
    f.ok(11, evidence(2, &vec![&g; MAX_EVIDENCE_EVENTS]));
    let over = f.sign(11, evidence(2, &vec![&g; MAX_EVIDENCE_EVENTS + 1]));
    assert!(matches!(
        f.r.ingest(NOW, &over.to_wire()),
        Err(IngestError::Invalid(EventError::Field { .. }))
    ));
}
