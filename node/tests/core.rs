//! The node's core (`node/src/core/`) on its own: no network, no disk, no clock. Each test
//! hands a `NodeCore` inputs and reads the actions it returns, over the simulator's
//! in-memory store, whose crash loses exactly what was not synced.

use mutual_node::core::intake::{
    MAX_QUARANTINE_PER_AUTHOR, MAX_QUARANTINE_PER_PEER, QUARANTINE_TTL_MS,
};
use mutual_node::core::store::Store;
use mutual_node::core::{Action, CoreConfig, Input, Local, NodeCore, Reply, Verdict};
use mutual_node::sim::{Disk, MemStore};
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, FeedWriter, SignedEvent};
use mutual_protocol::id::NetworkId;
use mutual_protocol::keys::{Keypair, PublicKey};
use std::path::Path;

use crate::common;
use common::net::{at, key, network, T0};

/// Node 1's core over `disk`, founding the network on its first start.
fn open(disk: &Disk, genesis: &SignedEvent, found: bool) -> NodeCore<MemStore> {
    let mut store = disk.open("network");
    store.set_network(NetworkId(genesis.id)).expect("bind");
    let (core, _) = NodeCore::open(
        key(1),
        NetworkId(genesis.id),
        store,
        found.then_some(genesis),
        CoreConfig::default(),
        at(0),
    )
    .expect("open");
    core
}

/// An event by a fresh key nobody knows, following the genesis.
fn stranger_event(genesis: &SignedEvent, n: u8, seq_ts: u64) -> Vec<u8> {
    let mut w = FeedWriter::resume(key(n), NetworkId(genesis.id), None);
    w.sign(
        T0 + seq_ts,
        vec![genesis.id],
        Body::PracticeUpdate(pb::PracticeUpdate {
            list_size: 1,
            ..Default::default()
        }),
    )
    .to_wire()
}

/// The id of the sync request among `actions`.
fn request(actions: &[Action]) -> u64 {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Request { id, .. } => Some(*id),
            _ => None,
        })
        .expect("a sync request")
}

/// Connects `peer` and runs the sync round that starts, in which it shows a frontier
/// holding `events` (each the first of its author's feed, or following the one before
/// it) and sends them if pulled. Returns the actions of the last step.
fn pull_round(core: &mut NodeCore<MemStore>, peer: PublicKey, events: &[Vec<u8>]) -> Vec<Action> {
    use pb::sync_response::Kind;
    let mut heads: std::collections::BTreeMap<Vec<u8>, (u64, Vec<u8>)> = Default::default();
    for w in events {
        let ev = SignedEvent::decode(w).expect("event");
        heads.insert(
            ev.event.author.as_bytes().to_vec(),
            (ev.event.seq, ev.id.as_bytes().to_vec()),
        );
    }
    let resp = |k| pb::SyncResponse { kind: Some(k) };
    // Connecting starts a round: its first request asks for the peer's summary.
    let acts = core.handle(at(2), Input::Connected(peer));
    let acts = core.handle(
        at(3),
        Input::Response {
            id: request(&acts),
            resp: resp(Kind::Summary(pb::Summary {
                state_hash: vec![9; 32],
                events: 99,
                heads: Vec::new(),
            })),
        },
    );
    // The peer answers the opening fingerprint with its whole list of entries.
    let entries = heads
        .into_iter()
        .map(|(author, (seq, head))| pb::FrontierEntry {
            author,
            seq,
            head,
            forked: 0,
        })
        .collect();
    let listed = pb::Reconcile {
        ranges: vec![pb::Range {
            mode: pb::RangeMode::Entries as i32,
            entries,
            ..Default::default()
        }],
    };
    let mut acts = core.handle(
        at(4),
        Input::Response {
            id: request(&acts),
            resp: resp(Kind::Reconcile(listed)),
        },
    );
    // The node answers with its side of the differences, which needs no answer but an
    // empty one.
    let differences = acts.iter().find_map(|a| match a {
        Action::Request { id, req, .. }
            if matches!(req.kind, Some(pb::sync_request::Kind::Reconcile(_))) =>
        {
            Some(*id)
        }
        _ => None,
    });
    if let Some(id) = differences {
        acts = core.handle(
            at(4),
            Input::Response {
                id,
                resp: resp(Kind::Reconcile(pb::Reconcile::default())),
            },
        );
    }
    // Nothing wanted: the round ended at the reconciliation.
    if !acts.iter().any(|a| matches!(a, Action::Request { .. })) {
        return acts;
    }
    core.handle(
        at(5),
        Input::Response {
            id: request(&acts),
            resp: resp(Kind::Events(pb::Events {
                events: events.to_vec(),
                more: false,
            })),
        },
    )
}

fn verdicts(actions: &[Action]) -> Vec<Verdict> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Validate { verdict, .. } => Some(*verdict),
            _ => None,
        })
        .collect()
}

fn banned(actions: &[Action], peer: &PublicKey) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::Ban { peer: p, .. } if p == peer))
}

/// Bug: events signed by keys of no member were stored as evidence, forwarded and never
/// penalised. Now they are kept apart within caps, never forwarded, and the peer that
/// gossips them is banned after four.
#[test]
fn events_by_unknown_keys_are_not_stored_or_forwarded_and_their_sender_is_banned() {
    let (g, _) = network();
    let mut core = open(&Disk::default(), &g, true);
    let peer = key(2).public();
    core.handle(at(1), Input::Connected(peer));
    let mut all = Vec::new();
    for i in 0..4u8 {
        let data = stranger_event(&g, 100 + i, 10);
        let acts = core.handle(
            at(2),
            Input::Gossip {
                from: peer,
                log: None,
                data,
                token: u64::from(i),
            },
        );
        assert_eq!(verdicts(&acts), vec![Verdict::Ignore], "never forwarded");
        all.extend(acts);
    }
    assert_eq!(core.replica().len(), 1, "only the genesis is stored");
    assert!(banned(&all, &peer), "four unknown authors ban the sender");
    assert_eq!(core.status().metrics.bans, 1);
}

/// An event by a fresh key following `deps` (none in the log: a lagging node could not
/// tell it from an honest author it does not know yet).
fn lagging_event(
    genesis: &SignedEvent,
    key: Keypair,
    prev: Option<(u64, mutual_protocol::id::EventId)>,
    ts: u64,
) -> SignedEvent {
    let mut w = FeedWriter::resume(key, NetworkId(genesis.id), prev);
    let deps = if prev.is_some() {
        vec![]
    } else {
        vec![mutual_protocol::id::EventId([7; 32])]
    };
    w.sign(T0 + ts, deps, Body::Witness(pb::Witness {}))
}

fn gossip(
    core: &mut NodeCore<MemStore>,
    from: PublicKey,
    data: Vec<u8>,
    token: u64,
) -> Vec<Action> {
    core.handle(
        at(2),
        Input::Gossip {
            from,
            log: None,
            data,
            token,
        },
    )
}

/// The caps are per sending peer and per unknown author, each tested at limit + 1; events
/// whose causes this node lacks cost their sender nothing but the cap (it may only lag),
/// and a kept event is taken in once a stored event names its author.
#[test]
fn the_quarantine_is_capped_and_releases_an_author_once_named() {
    let (g, mut founder) = network();
    let mut core = open(&Disk::default(), &g, true);
    let peer = key(2).public();
    core.handle(at(1), Input::Connected(peer));
    // One unknown author, MAX + 1 events.
    let stranger = key(200);
    let mut prev = None;
    let mut all = Vec::new();
    for i in 0..=MAX_QUARANTINE_PER_AUTHOR {
        let k = Keypair::from_seed(&stranger.seed()).expect("key");
        let ev = lagging_event(&g, k, prev, 10 + i as u64);
        prev = Some((ev.event.seq, ev.id));
        all.extend(gossip(&mut core, peer, ev.to_wire(), i as u64));
    }
    assert_eq!(core.replica().len(), 1, "nothing by the stranger is stored");
    let s = core.status();
    assert_eq!(s.quarantined, MAX_QUARANTINE_PER_AUTHOR);
    assert_eq!(
        s.metrics.evidence_refused, 1,
        "the author's cap keeps all but the last"
    );
    assert!(!banned(&all, &peer), "a lagging node's doubt bans no one");
    // The founder invites the stranger's key: the kept events are taken in (waiting for
    // the cause they name, which nobody has).
    let invite = founder.sign(
        T0 + 5,
        vec![g.id],
        Body::Invitation(pb::Invitation {
            node_key: stranger.public().as_bytes().to_vec(),
            expires_ms: T0 + 86_400_000,
            practice_name: "Stranger".into(),
            ods_code: "S1".into(),
            bootstrap: vec![],
        }),
    );
    let _ = gossip(&mut core, peer, invite.to_wire(), 99);
    assert_eq!(core.status().quarantined, 0);
    assert_eq!(core.replica().pending_len(), MAX_QUARANTINE_PER_AUTHOR);
    // Per peer: MAX + 1 events from one peer by distinct unknown authors.
    let mut core = open(&Disk::default(), &g, true);
    core.handle(at(1), Input::Connected(peer));
    for i in 0..=MAX_QUARANTINE_PER_PEER {
        let ev = lagging_event(&g, key(30 + i as u8), None, 1 + i as u64);
        gossip(&mut core, peer, ev.to_wire(), i as u64);
    }
    let s = core.status();
    assert_eq!(s.quarantined, MAX_QUARANTINE_PER_PEER);
    assert_eq!(s.metrics.evidence_refused, 1, "the peer's cap");
    assert_eq!(s.metrics.bans, 0);
    // A forged copy is not kept: it goes to the log, which refuses it as invalid.
    let mut forged = pb::SignedEvent {
        event: lagging_event(&g, key(250), None, 3).event_bytes.clone(),
        signature: vec![1; 64],
    };
    forged.signature[0] ^= 1;
    let acts = gossip(
        &mut core,
        key(2).public(),
        prost::Message::encode_to_vec(&forged),
        500,
    );
    assert_eq!(verdicts(&acts), vec![Verdict::Reject]);
    assert_eq!(core.status().quarantined, MAX_QUARANTINE_PER_PEER);
    // Kept events are forgotten after the time limit.
    for t in [QUARANTINE_TTL_MS + 1_000, QUARANTINE_TTL_MS + 2_000] {
        core.handle(at(t), Input::Timer);
    }
    assert_eq!(
        core.status().quarantined,
        0,
        "kept for at most the time limit"
    );
}

/// A key named by a stored event is known whatever that event's outcome in the fold, so
/// two nodes holding the same events always agree on whom they know.
#[test]
fn a_key_named_by_a_rejected_event_is_known() {
    let (g, _) = network();
    let mut core = open(&Disk::default(), &g, true);
    let peer = key(2).public();
    core.handle(at(1), Input::Connected(peer));
    // Practice 2's node invites a key with an invitation that expires before it is
    // signed: the fold rejects it, but the key is named.
    let named = key(201);
    let mut w2 = FeedWriter::resume(key(2), NetworkId(g.id), None);
    let invite = w2.sign(
        T0 + 10,
        vec![g.id],
        Body::Invitation(pb::Invitation {
            node_key: named.public().as_bytes().to_vec(),
            expires_ms: T0 + 5,
            practice_name: "Late".into(),
            ods_code: "L1".into(),
            bootstrap: vec![],
        }),
    );
    gossip(&mut core, peer, invite.to_wire(), 1);
    assert!(matches!(
        core.replica().outcome(&invite.id),
        Some(mutual_protocol::state::Outcome::Rejected(_))
    ));
    let mut w = FeedWriter::resume(
        Keypair::from_seed(&named.seed()).expect("k"),
        NetworkId(g.id),
        None,
    );
    let ev = w.sign(
        T0 + 20,
        vec![g.id, invite.id],
        Body::Witness(pb::Witness {}),
    );
    gossip(&mut core, peer, ev.to_wire(), 2);
    assert!(
        core.replica().get(&ev.id).is_some(),
        "stored as evidence, not kept apart"
    );
}

/// A peer whose log holds a feed this node does not know (evidence an older version
/// stored) still completes a round with it and shows it its own head: the round neither
/// pulls nor wants that feed.
#[test]
fn a_peer_holding_an_unknown_feed_still_shows_a_node_its_head() {
    let (g, _) = network();
    // Node 1 restarts from a store holding the genesis: it may sign only once a member
    // has shown it its head.
    let disk = Disk::default();
    drop(open(&disk, &g, true));
    let mut core = open(&disk, &g, false);
    let acts = core.handle(
        at(1),
        Input::Local {
            ticket: 1,
            request: Local::Author {
                log: None,
                bodies: vec![Body::Witness(pb::Witness {})],
            },
        },
    );
    assert!(
        !acts.iter().any(|a| matches!(a, Action::Reply { .. })),
        "it waits"
    );
    let stranger = lagging_event(&g, key(202), None, 5);
    let acts = pull_round(
        &mut core,
        key(2).public(),
        &[g.to_wire(), stranger.to_wire()],
    );
    let signed = acts.iter().any(|a| {
        matches!(
            a,
            Action::Reply {
                ticket: 1,
                reply: Reply::Authored(Ok(_))
            }
        )
    });
    assert!(signed, "the round completed and the node signed: {acts:?}");
    assert!(core.replica().get(&stranger.id).is_none());
}

/// A local user's event by a key the network does not know is refused with a message,
/// and nothing is stored or published.
#[test]
fn a_local_submission_by_an_unknown_key_is_refused_and_nothing_is_kept() {
    let (g, _) = network();
    let mut core = open(&Disk::default(), &g, true);
    let acts = core.handle(
        at(1),
        Input::Local {
            ticket: 7,
            request: Local::Submit {
                log: None,
                wire: stranger_event(&g, 99, 1),
            },
        },
    );
    let reply = acts.iter().find_map(|a| match a {
        Action::Reply {
            ticket: 7,
            reply: Reply::Submitted(r),
        } => Some(r),
        _ => None,
    });
    match reply {
        Some(Err(e)) => assert!(e.to_string().contains("not a member's"), "{e}"),
        other => panic!("not refused: {other:?}"),
    }
    assert!(!acts.iter().any(|a| matches!(a, Action::Publish { .. })));
    assert_eq!(core.replica().len(), 1);
}

/// Bug found by the simulator: a pending event that loading the store took into the log
/// stayed only in the store's pending table, and the next flush dropped it while a later
/// event that follows it was in the log; after the next crash the later (acknowledged)
/// event could not be stored.
#[test]
fn a_pending_event_taken_in_at_load_survives_the_next_flush_and_crash() {
    let (g, mut founder) = network();
    let disk = Disk::default();
    // The store holds the genesis in its log and, in its pending table, an event whose
    // cause is that genesis (as after a crash that kept the table but not the release).
    let pending = founder.sign(
        T0 + 1,
        vec![g.id],
        Body::PracticeUpdate(pb::PracticeUpdate {
            list_size: 2,
            ..Default::default()
        }),
    );
    {
        let mut s = disk.open("network");
        s.set_network(NetworkId(g.id)).expect("bind");
        s.put_events(&[&g]).expect("put");
        s.put_pending(&[&pending]).expect("put");
        s.sync().expect("sync");
    }
    let mut core = open(&disk, &g, false);
    assert!(
        core.replica().get(&pending.id).is_some(),
        "taken in at load"
    );
    // The node signs an event following it (its own head) and housekeeping flushes.
    let node = founder.sign(
        T0 + 2,
        vec![pending.id],
        Body::AddressAnnouncement(pb::AddressAnnouncement {
            addresses: vec!["/ip4/127.0.0.1/tcp/1".into()],
        }),
    );
    let _ = core.handle(
        at(2),
        Input::Local {
            ticket: 1,
            request: Local::Submit {
                log: None,
                wire: node.to_wire(),
            },
        },
    );
    let _ = core.handle(at(5_000), Input::Timer);
    drop(core);
    disk.crash();
    let core = open(&disk, &g, false);
    assert!(
        core.replica().get(&node.id).is_some(),
        "the acknowledged event is stored after the crash"
    );
}

/// Bug: a network's decision on a joint motion was said in the federation's log from the
/// provisional tally, once this node's clock had passed the grace period, before a
/// witness had closed the motion; a ballot witnessed in time could still arrive and change
/// the answer after it was sent. The answer is now the fold's close alone.
#[test]
fn a_network_answers_a_motion_only_once_the_fold_has_closed_it() {
    use mutual_node::core::attest::network_answer;
    use mutual_protocol::governance::Finality;
    const MIN: u64 = 60_000;
    let mut deed = mutual_protocol::governance::deed::default_deed();
    deed.grace_period_ms = 5 * MIN;
    for r in &mut deed.rules {
        r.min_voting_period_ms = 2 * MIN;
    }
    let (g, _) = {
        let (base, _) = network();
        let mut genesis = match base.event.body.clone() {
            Some(Body::Genesis(gen)) => gen,
            _ => unreachable!("a genesis"),
        };
        genesis.deed = Some(deed);
        let (w, g) = FeedWriter::found(key(1), T0, genesis);
        (g, w)
    };
    let mut core = open(&Disk::default(), &g, true);
    let submit = |core: &mut NodeCore<MemStore>, ms: u64, who: u8, body: Body| {
        let ev =
            mutual_node::core::sign_next(core.replica(), key(who), T0 + ms, body).expect("signs");
        let acts = core.handle(
            at(ms),
            Input::Local {
                ticket: 1,
                request: Local::Submit {
                    log: None,
                    wire: ev.to_wire(),
                },
            },
        );
        assert!(
            acts.iter().any(|a| matches!(
                a,
                Action::Reply {
                    reply: Reply::Submitted(Ok(_)),
                    ..
                }
            )),
            "{acts:?}"
        );
        ev.id
    };
    let motion = submit(
        &mut core,
        1_000,
        11,
        Body::Motion(pb::Motion {
            kind: pb::DecisionKind::General as i32,
            title: "Open on Saturdays".into(),
            opens_at_ms: T0 + 1_000,
            closes_at_ms: T0 + 1_000 + 2 * MIN,
            ..Default::default()
        }),
    );
    // A partner of the other practice votes for it; this node witnesses the ballot.
    submit(
        &mut core,
        2_000,
        12,
        Body::Ballot(pb::Ballot {
            motion: motion.as_bytes().to_vec(),
            choice: pb::Choice::For as i32,
            ..Default::default()
        }),
    );
    for t in (3_000..8_000).step_by(1_000) {
        core.handle(at(t), Input::Timer);
    }
    let seen = core
        .replica()
        .state()
        .governance()
        .motion(&motion)
        .expect("motion");
    assert!(
        seen.unwitnessed.is_empty(),
        "the ballot was witnessed in time"
    );
    // Past the close and the grace period by the clock, with no event after it: the
    // report reads final, but the motion is not closed, and there is no answer yet.
    let late = 1_000 + 2 * MIN + 5 * MIN + 1;
    let report = |core: &NodeCore<MemStore>, ms| {
        core.replica()
            .state()
            .governance()
            .report(&motion, T0 + ms)
            .expect("a motion")
    };
    let r = report(&core, late);
    assert_eq!(r.finality, Finality::Final);
    assert!(!r.closed);
    assert_eq!(network_answer(&r), None, "no answer before the close");
    // The node's own witness, written by itself, closes the motion: now it answers.
    for t in (late..late + 10_000).step_by(1_000) {
        core.handle(at(t), Input::Timer);
    }
    let r = report(&core, late + 10_000);
    assert!(r.closed, "the node's witness closed the motion");
    assert_eq!(network_answer(&r), Some(r.tally.passed));
    assert!(r.tally.passed, "the witnessed ballot carried it");
}

/// The core does no I/O: none of its files names tokio, libp2p or sled, the node's
/// driver, the clock or a source of randomness.
#[test]
fn the_core_imports_no_io() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let forbidden = [
        "tokio",
        "libp2p",
        "sled",
        "crate::node",
        "crate::net",
        "crate::gate",
        "crate::keyfile",
        "crate::daemon",
        "crate::api",
        "SledStore",
        "Instant",
        "SystemTime",
        "rand::",
        "OsRng",
        "std::fs",
        "std::net",
        "clock_ms(",
        "crate::now_ms",
    ];
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("src/core") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        files += 1;
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for f in forbidden {
                assert!(
                    !code.contains(f),
                    "{}:{}: the core names {f}: {line}",
                    path.display(),
                    n + 1
                );
            }
        }
    }
    assert!(files >= 8, "the core's files were read");
}
