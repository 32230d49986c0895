//! Papers in the node's core (docs/NETWORK.md §10), with no network or disk: a paper a
//! motion names is fetched from a peer of the network and checked against its hash;
//! bytes that do not match are not stored and their sender is penalised, then banned;
//! a node outside the network is refused; an upload no event names, or one past the
//! store's limit, is refused and nothing is stored.

use mutual_node::core::{Action, CoreConfig, Input, Local, NodeCore, Reply};
use mutual_node::sim::{Disk, MemStore};
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, FeedWriter};
use mutual_protocol::id::NetworkId;
use mutual_protocol::keys::PublicKey;

use crate::common;
use common::net::{at, key, network_of, practice, practice_keys, T0};
use sha2::{Digest, Sha256};

const DAY: u64 = 24 * 3_600_000;

/// Two practices (node keys 1 and 2), one partner each (11 and 12); node 1's core,
/// holding a motion by partner 11 that names `paper`.
fn core_with_paper(paper: &[u8], config: CoreConfig) -> (NodeCore<MemStore>, [u8; 32]) {
    let (core, hash, _) = core_on_disk(paper, paper.len() as u64, config);
    (core, hash)
}

/// As [`core_with_paper`], the motion signing `signed_size` as the paper's size; with the
/// node's disk.
fn core_on_disk(
    paper: &[u8],
    signed_size: u64,
    config: CoreConfig,
) -> (NodeCore<MemStore>, [u8; 32], Disk) {
    core_among(2, paper, signed_size, config)
}

/// As [`core_on_disk`], in a network of `practices` practices.
fn core_among(
    practices: u8,
    paper: &[u8],
    signed_size: u64,
    config: CoreConfig,
) -> (NodeCore<MemStore>, [u8; 32], Disk) {
    let (genesis, _) = network_of(practices);
    let network = NetworkId(genesis.id);
    let disk = Disk::default();
    let mut store = disk.open("network");
    mutual_node::core::store::Store::set_network(&mut store, network).expect("bind");
    let (mut core, _) =
        NodeCore::open(key(1), network, store, Some(&genesis), config, at(0)).expect("open");
    let hash: [u8; 32] = Sha256::digest(paper).into();
    let motion = FeedWriter::resume(key(11), network, None).sign(
        T0 + 10,
        vec![genesis.id],
        Body::Motion(pb::Motion {
            kind: pb::DecisionKind::AdmitPractice as i32,
            title: "Admit Hillside".into(),
            closes_at_ms: T0 + 10 + 2 * DAY,
            admit_practice: Some(practice(200)),
            papers: vec![pb::Paper {
                name: "due-diligence.pdf".into(),
                sha256: hash.to_vec(),
                size: signed_size,
                media_type: "application/pdf".into(),
            }],
            ..Default::default()
        }),
    );
    let acts = core.handle(
        at(20),
        Input::Local {
            ticket: 1,
            request: Local::Submit {
                log: None,
                wire: motion.to_wire(),
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
    (core, hash, disk)
}

/// The paper requests among `actions`: (peer, id).
fn paper_requests(actions: &[Action]) -> Vec<(PublicKey, u64)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::PaperRequest { peer, id, .. } => Some((*peer, *id)),
            _ => None,
        })
        .collect()
}

fn here(data: &[u8]) -> Option<pb::PaperResponse> {
    Some(pb::PaperResponse {
        status: pb::PaperStatus::Here as i32,
        data: data.to_vec(),
    })
}

fn put(core: &mut NodeCore<MemStore>, ms: u64, bytes: &[u8]) -> Reply {
    let acts = core.handle(
        at(ms),
        Input::Local {
            ticket: 7,
            request: Local::PutPaper(bytes.to_vec()),
        },
    );
    acts.into_iter()
        .find_map(|a| match a {
            Action::Reply { reply, .. } => Some(reply),
            _ => None,
        })
        .expect("a reply")
}

fn answer(
    core: &mut NodeCore<MemStore>,
    ms: u64,
    from: PublicKey,
    sha256: &[u8],
) -> pb::PaperResponse {
    core.handle(
        at(ms),
        Input::PaperRequest {
            from,
            req: pb::PaperRequest {
                sha256: sha256.to_vec(),
            },
            token: 9,
        },
    )
    .into_iter()
    .find_map(|a| match a {
        Action::PaperRespond { resp, .. } => Some(resp),
        _ => None,
    })
    .expect("an answer")
}

#[test]
fn a_paper_is_fetched_checked_and_a_peer_sending_other_bytes_is_penalised() {
    let paper = b"%PDF-1.4 due diligence: accounts, CQC reports, list size".repeat(50);
    let (mut core, hash) = core_with_paper(&paper, CoreConfig::default());
    let peer = key(2).public();
    assert_eq!(core.status().papers_named, 1);
    assert_eq!(core.status().papers_held, 0);
    core.handle(at(30), Input::Connected(peer));
    // Housekeeping asks the connected member node for the paper.
    let acts = core.handle(at(2_000), Input::Timer);
    let [(to, id)] = paper_requests(&acts)[..] else {
        panic!("one paper request: {acts:?}");
    };
    assert_eq!(to, peer);
    // Other bytes: not stored, the sender penalised; asked again only after a while.
    let mut forged = paper.clone();
    forged[0] ^= 1;
    let acts = core.handle(
        at(2_100),
        Input::PaperResponse {
            id,
            resp: here(&forged),
        },
    );
    assert!(
        !acts.iter().any(|a| matches!(a, Action::Ban { .. })),
        "one offence is not a ban"
    );
    assert!(core.papers().held().is_empty(), "nothing stored");
    assert_eq!(core.status().metrics.papers_rejected, 1);
    let acts = core.handle(at(4_000), Input::Timer);
    assert!(
        paper_requests(&acts).is_empty(),
        "the peer is not asked again at once"
    );
    // After the retry interval it is asked again; a second forgery bans it.
    let later = 4_000 + mutual_node::core::papers::PAPER_RETRY_MS;
    let acts = core.handle(at(later), Input::Timer);
    let [(_, id)] = paper_requests(&acts)[..] else {
        panic!("asked again: {acts:?}");
    };
    let acts = core.handle(
        at(later + 10),
        Input::PaperResponse {
            id,
            resp: here(&forged),
        },
    );
    assert!(
        acts.iter()
            .any(|a| matches!(a, Action::Ban { peer: p, .. } if *p == peer)),
        "{acts:?}"
    );
    assert!(core.papers().held().is_empty());
    // An honest answer is stored and then served to the network's nodes.
    core.handle(at(later + 20), Input::Connected(peer));
    // Every peer (the one) has been asked: the next round starts a retry interval on.
    let asked_all = later + 2_000;
    assert!(paper_requests(&core.handle(at(asked_all), Input::Timer)).is_empty());
    let again = asked_all + mutual_node::core::papers::PAPER_RETRY_MS;
    let acts = core.handle(at(again), Input::Timer);
    let [(_, id)] = paper_requests(&acts)[..] else {
        panic!("asked a third time: {acts:?}");
    };
    core.handle(
        at(again + 10),
        Input::PaperResponse {
            id,
            resp: here(&paper),
        },
    );
    assert_eq!(core.papers().held().get(&hash), Some(&(paper.len() as u64)));
    assert_eq!(core.status().papers_held, 1);
    assert_eq!(core.status().metrics.papers_fetched, 1);
    let served = answer(&mut core, again + 20, peer, &hash);
    assert_eq!(served.status, pb::PaperStatus::Here as i32);
    assert_eq!(served.data, paper);
}

#[test]
fn every_peer_is_asked_in_turn_however_many_there_are() {
    // Forty member nodes besides this one; only the last asked holds the paper.
    let paper = b"minutes of the partnership's meeting".to_vec();
    let (mut core, hash, _) = core_among(41, &paper, paper.len() as u64, CoreConfig::default());
    for n in practice_keys(41).into_iter().skip(1) {
        core.handle(at(30), Input::Connected(key(n).public()));
    }
    let mut asked = std::collections::BTreeSet::new();
    let mut t = 1_000;
    // Bounded: a request a second, forty peers, with room for the retry interval.
    for _ in 0..200 {
        t += 1_000;
        for (peer, id) in paper_requests(&core.handle(at(t), Input::Timer)) {
            asked.insert(peer);
            let resp = if asked.len() == 40 {
                here(&paper)
            } else {
                Some(pb::PaperResponse {
                    status: pb::PaperStatus::NotHeld as i32,
                    data: Vec::new(),
                })
            };
            core.handle(at(t + 10), Input::PaperResponse { id, resp });
        }
        if core.papers().held().contains_key(&hash) {
            break;
        }
    }
    assert_eq!(asked.len(), 40, "every peer was asked");
    assert!(
        core.papers().held().contains_key(&hash),
        "fetched from the last"
    );
}

#[test]
fn a_node_outside_the_network_is_refused_a_paper() {
    let paper = b"the partnership agreement, v3".to_vec();
    let (mut core, hash) = core_with_paper(&paper, CoreConfig::default());
    assert!(matches!(
        put(&mut core, 30, &paper),
        Reply::PaperStored(Ok(_))
    ));
    let stranger = key(9).public();
    let refused = answer(&mut core, 40, stranger, &hash);
    assert_eq!(refused.status, pb::PaperStatus::Refused as i32);
    assert!(refused.data.is_empty());
    assert_eq!(core.status().metrics.papers_refused, 1);
    // A member asking for a paper not held is told so.
    let none = answer(&mut core, 50, key(2).public(), &[7; 32]);
    assert_eq!(none.status, pb::PaperStatus::NotHeld as i32);
}

#[test]
fn a_paper_damaged_on_disk_is_never_served_and_is_fetched_again() {
    let paper = b"accounts to March, audited".to_vec();
    let (mut core, hash, disk) = core_on_disk(&paper, paper.len() as u64, CoreConfig::default());
    assert!(matches!(
        put(&mut core, 30, &paper),
        Reply::PaperStored(Ok(_))
    ));
    disk.damage_paper(&hash);
    let peer = key(2).public();
    let answer = answer(&mut core, 40, peer, &hash);
    assert_eq!(answer.status, pb::PaperStatus::NotHeld as i32);
    assert!(answer.data.is_empty());
    assert!(core.papers().held().is_empty(), "forgotten");
    core.handle(at(50), Input::Connected(peer));
    let acts = core.handle(at(2_000), Input::Timer);
    assert_eq!(paper_requests(&acts).len(), 1, "asked for again: {acts:?}");
}

#[test]
fn a_member_is_sent_at_most_its_byte_budget_and_then_told_to_wait() {
    use mutual_node::core::papers::{PAPER_SERVE_BURST_BYTES, PAPER_SERVE_BYTES_PER_SEC};
    use mutual_protocol::limits::MAX_PAPER_BYTES;
    let paper = vec![7u8; MAX_PAPER_BYTES as usize];
    let (mut core, hash) = core_with_paper(&paper, CoreConfig::default());
    assert!(matches!(
        put(&mut core, 30, &paper),
        Reply::PaperStored(Ok(_))
    ));
    let peer = key(2).public();
    let sent = PAPER_SERVE_BURST_BYTES / MAX_PAPER_BYTES;
    for i in 0..sent {
        let a = answer(&mut core, 40 + i, peer, &hash);
        assert_eq!(a.status, pb::PaperStatus::Here as i32, "paper {i}");
    }
    let a = answer(&mut core, 50, peer, &hash);
    assert_eq!(a.status, pb::PaperStatus::Busy as i32, "one past the burst");
    assert!(a.data.is_empty());
    // Once the budget has refilled by a paper's worth, it is sent again.
    let later = 50 + MAX_PAPER_BYTES * 1000 / PAPER_SERVE_BYTES_PER_SEC + 1;
    let a = answer(&mut core, later, peer, &hash);
    assert_eq!(a.status, pb::PaperStatus::Here as i32);
}

#[test]
fn a_wrong_size_signed_for_a_paper_does_not_keep_its_true_bytes_out() {
    let paper = b"the real accounts".to_vec();
    let (mut core, hash, _) = core_on_disk(&paper, 999, CoreConfig::default());
    let peer = key(2).public();
    core.handle(at(30), Input::Connected(peer));
    let acts = core.handle(at(2_000), Input::Timer);
    let [(_, id)] = paper_requests(&acts)[..] else {
        panic!("a paper request: {acts:?}");
    };
    let acts = core.handle(
        at(2_010),
        Input::PaperResponse {
            id,
            resp: here(&paper),
        },
    );
    assert!(!acts.iter().any(|a| matches!(a, Action::Ban { .. })));
    assert_eq!(core.status().metrics.papers_rejected, 0, "the hash decides");
    assert_eq!(core.papers().held().get(&hash), Some(&(paper.len() as u64)));
}

#[test]
fn an_upload_no_event_names_is_refused_and_nothing_is_stored() {
    let paper = b"minutes of the board".to_vec();
    let (mut core, hash) = core_with_paper(&paper, CoreConfig::default());
    match put(&mut core, 30, b"a file no motion names") {
        Reply::PaperStored(Err(e)) => {
            assert!(
                e.to_string().contains("no event of this partnership names"),
                "{e}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(core.papers().held().is_empty());
    match put(&mut core, 40, &paper) {
        Reply::PaperStored(Ok(s)) => assert!(!s.already && s.sha256 == hex::encode(hash)),
        other => panic!("{other:?}"),
    }
    match put(&mut core, 50, &paper) {
        Reply::PaperStored(Ok(s)) => assert!(s.already),
        other => panic!("{other:?}"),
    }
    let read = core.handle(
        at(60),
        Input::Local {
            ticket: 8,
            request: Local::ReadPaper(hash),
        },
    );
    assert!(read.iter().any(|a| matches!(
        a,
        Action::Reply { reply: Reply::Paper(Ok(Some(b))), .. } if *b == paper
    )));
}

#[test]
fn the_paper_store_holds_up_to_its_limit_and_not_a_byte_more() {
    let paper = vec![42u8; 1_000];
    for (limit, fits) in [(1_000, true), (999, false)] {
        let config = CoreConfig {
            paper_store_bytes: limit,
            ..CoreConfig::default()
        };
        let (mut core, _) = core_with_paper(&paper, config);
        match put(&mut core, 30, &paper) {
            Reply::PaperStored(Ok(_)) => assert!(fits, "stored past the limit"),
            Reply::PaperStored(Err(e)) => {
                assert!(!fits, "refused at the limit: {e}");
                assert!(e.to_string().contains("paper store is full"), "{e}");
                assert!(core.papers().held().is_empty());
            }
            other => panic!("{other:?}"),
        }
        // Nor does it fetch what would not fit.
        if !fits {
            core.handle(at(40), Input::Connected(key(2).public()));
            let acts = core.handle(at(2_000), Input::Timer);
            assert!(paper_requests(&acts).is_empty(), "{acts:?}");
        }
    }
}
