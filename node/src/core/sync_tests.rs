//! Tests of the sync protocol's rounds, pages and frontier views (`sync.rs`): range
//! reconciliation and pulls here; summaries that show heads and the pages that answer
//! them in `sync_heads_tests.rs`.

use super::*;
use mutual_protocol::event::{Body, FeedWriter, SignedEvent};
use mutual_protocol::id::NetworkId;
use mutual_protocol::keys::Keypair;
use prost::Message;

struct Net {
    genesis: SignedEvent,
    writers: Vec<FeedWriter>,
}

fn net(practices: u8) -> Net {
    let keys: Vec<Keypair> = (1..=practices)
        .map(|i| Keypair::from_seed(&[i; 32]).expect("key"))
        .collect();
    let g = pb::Genesis {
        name: "Sync test".into(),
        practices: keys
            .iter()
            .enumerate()
            .map(|(i, k)| pb::Practice {
                name: format!("P{i}"),
                ods_code: format!("M{i}"),
                node_key: k.public().as_bytes().to_vec(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let mut keys = keys.into_iter();
    let (w, genesis) = FeedWriter::found(keys.next().expect("one"), 1_000, g);
    let network = NetworkId(genesis.id);
    let mut writers = vec![w];
    writers.extend(keys.map(|k| FeedWriter::resume(k, network, None)));
    Net { genesis, writers }
}

fn replica(n: &Net) -> Replica {
    let mut r = Replica::new(NetworkId(n.genesis.id));
    r.ingest(2_000, &n.genesis.to_wire()).expect("genesis");
    r
}

fn author(n: &mut Net, r: &mut Replica, who: usize, count: u32) {
    for i in 0..count {
        let ev = n.writers[who].sign(
            1_500,
            r.heads(),
            Body::PracticeUpdate(pb::PracticeUpdate {
                list_size: i,
                ..Default::default()
            }),
        );
        r.ingest(2_000, &ev.to_wire()).expect("valid");
    }
}

/// The key of practice 2, whose own feed the tests of a shown head follow.
fn me() -> PublicKey {
    Keypair::from_seed(&[2; 32]).expect("key").public()
}

/// What `to` learns of `from`'s frontier by reconciling with it.
fn learn(from: &Replica, to: &Replica) -> View {
    let (mine, theirs) = (Index::of(to, None), Index::of(from, None));
    let mut view = View::showing(&mine, Some(me().as_bytes()));
    let mut msg = mine.opening();
    for turn in 0..64 {
        if msg.ranges.is_empty() {
            return view;
        }
        let from_side = turn % 2 == 0;
        let ans = reconcile::answer(if from_side { &theirs } else { &mine }, &msg);
        if !from_side {
            view.merge(ans.learned);
        }
        msg = ans.reply;
    }
    panic!("reconciliation must end");
}

/// Runs pull rounds from `from` into `to` until nothing is wanted; returns pages.
fn pull_all(from: &Replica, to: &mut Replica) -> usize {
    let mut pages = 0;
    loop {
        let w = wants(to, learn(from, to).entries());
        if w.is_empty() {
            return pages;
        }
        let p = page(from, &w).expect("readable");
        pages += 1;
        for r in to.ingest_batch(2_000, &p.events) {
            r.expect("valid");
        }
        assert!(pages < 100, "pulls must make progress");
    }
}

#[test]
fn a_peer_shows_a_node_its_head_only_if_it_holds_the_feed_as_far() {
    let mut n = net(2);
    let mut a = replica(&n);
    let me = Keypair::from_seed(&[2; 32]).expect("key").public();
    let shows =
        |a: &Replica, peer: &Replica| shows_head(&Local::plain(a), &me, Some(&learn(peer, a)));
    // A node with no feed of its own: any complete round will do.
    assert!(shows(&a, &a));
    author(&mut n, &mut a, 1, 3);
    let fresh = replica(&n);
    assert!(!shows(&a, &fresh), "a peer without the feed");
    let mut behind = replica(&n);
    pull_all(&a, &mut behind);
    author(&mut n, &mut a, 1, 1);
    assert!(!shows(&a, &behind), "a peer holding less of it");
    let mut level = replica(&n);
    pull_all(&a, &mut level);
    assert!(shows(&a, &level));
    assert!(
        shows_head(&Local::plain(&a), &me, None),
        "states equal at the summaries"
    );
    // A node hiding its own feed (the planted defect) is never shown it by a peer
    // that lacks it, though the two show the same frontier.
    let hiding = Local {
        hidden: Some(me),
        me: Some(me),
        ..Local::plain(&a)
    };
    let shown = View::showing(&Index::of(&a, Some(&me)), Some(me.as_bytes()));
    assert!(!shows_head(&hiding, &me, Some(&shown)));
    // A peer that matched what this node showed at the opening does not show it a
    // head its feed reached since (its own events, come from a third node).
    let opened = View::showing(&Index::of(&a, None), Some(me.as_bytes()));
    assert!(shows_head(&Local::plain(&a), &me, Some(&opened)));
    author(&mut n, &mut a, 1, 1);
    assert!(!shows_head(&Local::plain(&a), &me, Some(&opened)));
}

/// Rounds with peer 1 past the summaries (the peer's state differs), the opening
/// sent.
fn reconciling(local: &Local<'_, mutual_protocol::state::State>) -> Rounds<u8> {
    let mut rounds = Rounds::default();
    let mut out = Vec::new();
    rounds.start(1u8, local, &mut out);
    let them = pb::Summary {
        state_hash: vec![1; 32],
        events: 9,
        heads: Vec::new(),
    };
    rounds.answered(
        1u8,
        Step::Summary,
        Answer::Summary(&them),
        true,
        local,
        &mut out,
    );
    assert!(matches!(
        out.last(),
        Some(Action::Send(_, Step::Reconcile, _))
    ));
    rounds
}

/// A round whose reconciliation runs out of steps pulls what it learned but never
/// ends complete: the frontiers were not compared in full.
#[test]
fn a_round_out_of_reconciliation_steps_is_not_complete() {
    let n = net(1);
    let r = replica(&n);
    let local = Local::plain(&r);
    let mut rounds = reconciling(&local);
    let mut out = Vec::new();
    // A peer that always answers with a fingerprint this node cannot match.
    let never = pb::Reconcile {
        ranges: vec![pb::Range {
            fingerprint: vec![7; reconcile::FINGERPRINT_LEN],
            ..Default::default()
        }],
    };
    for _ in 0..=MAX_RECONCILE_STEPS {
        out.clear();
        rounds.answered(
            1u8,
            Step::Reconcile,
            Answer::Reconcile(&never),
            true,
            &local,
            &mut out,
        );
        if !rounds.running(&1u8) {
            break;
        }
    }
    assert_ended_incomplete(&out);
}

/// `b` takes in a page from peer 1 (every event valid, its causes before it) and its
/// round is told the page, which answered `step`, brought something.
fn take_page(
    b: &mut Replica,
    page: &pb::Events,
    step: Step,
    rounds: &mut Rounds<u8>,
    out: &mut Vec<Action<u8>>,
) {
    for r in b.ingest_batch(2_000, &page.events) {
        r.expect("each event's causes came before it");
    }
    let answer = Answer::Events {
        more: page.more,
        progressed: true,
    };
    rounds.answered(1u8, step, answer, true, &Local::plain(b), out);
}

/// Checks that the last action ends a round, not complete.
fn assert_ended_incomplete(out: &[Action<u8>]) {
    assert!(
        matches!(
            out.last(),
            Some(Action::Ended {
                complete: false,
                ..
            })
        ),
        "{out:?}"
    );
}

#[test]
fn nodes_in_sync_want_nothing_and_summaries_match() {
    let mut n = net(2);
    let mut a = replica(&n);
    author(&mut n, &mut a, 0, 5);
    let mut b = replica(&n);
    pull_all(&a, &mut b);
    assert_eq!(summary(&a, true), summary(&b, true));
    assert!(learn(&a, &b).is_empty());
    assert!(learn(&b, &a).is_empty());
    // What an in-sync round costs: two summaries, the asker's with its one head under
    // 150 bytes, the answer (no heads) under 100.
    let req = request(&a, Req::Summary(summary(&a, true)));
    assert_eq!(summary(&a, true).heads.len(), 1);
    assert!(req.encoded_len() < 150, "{} bytes", req.encoded_len());
    let resp = Rounds::default()
        .respond(1u8, &Local::plain(&b), &req, &mut Vec::new())
        .expect("answered");
    assert!(matches!(&resp.kind, Some(Resp::Summary(s)) if s.heads.is_empty()));
    assert!(resp.encoded_len() < 100, "{} bytes", resp.encoded_len());
}

#[test]
fn pages_are_bounded_and_ordered_so_every_event_is_stored_on_arrival() {
    let mut n = net(3);
    let mut a = replica(&n);
    for round in 0..3 {
        for who in 0..3 {
            author(&mut n, &mut a, who, 500 + round);
        }
    }
    let mut b = replica(&n);
    let w = wants(&b, learn(&a, &b).entries());
    assert_eq!(w.len(), 3);
    let first = page(&a, &w).expect("readable");
    assert_eq!(first.events.len(), MAX_PAGE_EVENTS);
    assert!(first.more);
    let pages = pull_all(&a, &mut b);
    assert_eq!(b.pending_len(), 0, "causes always came first");
    assert_eq!(a.state_hash(), b.state_hash());
    assert!(pages >= a.len().div_ceil(MAX_PAGE_EVENTS));
}

fn respond(r: &Replica, req: &pb::SyncRequest) -> Result<pb::SyncResponse, Refusal> {
    Rounds::default().respond(0u8, &Local::plain(r), req, &mut Vec::new())
}

#[test]
fn requests_over_their_limits_are_refused() {
    let n = net(1);
    let r = replica(&n);
    let pull = |k| {
        request(
            &r,
            Req::Pull(pb::Pull {
                wants: vec![pb::FeedWant::default(); k],
            }),
        )
    };
    assert!(respond(&r, &pull(MAX_PULL_WANTS)).is_ok());
    assert!(matches!(
        respond(&r, &pull(MAX_PULL_WANTS + 1)),
        Err(Refusal::Malformed(_))
    ));
    let fetch = |k| {
        request(
            &r,
            Req::Fetch(pb::Fetch {
                ids: vec![vec![0; 32]; k],
            }),
        )
    };
    assert!(respond(&r, &fetch(MAX_FETCH_IDS)).is_ok());
    assert!(respond(&r, &fetch(MAX_FETCH_IDS + 1)).is_err());
    let mut other = pull(1);
    other.network = vec![9; 32];
    assert_eq!(respond(&r, &other), Err(Refusal::WrongNetwork));
}

/// Honest growth is never punished: a log of more authors than one message carries
/// is reconciled in pieces, each within the limits, the largest request fitting the
/// byte limit; a message over a limit is the sender's fault.
#[test]
fn any_number_of_authors_reconciles_within_the_limits() {
    use crate::limits::{MAX_RECONCILE_ENTRIES, MAX_SYNC_REQUEST_BYTES};
    let n = net(1);
    let r = replica(&n);
    let entries = |k: usize| {
        (0..k)
            .map(|i| pb::FrontierEntry {
                author: (i as u64).to_be_bytes().repeat(4),
                seq: u64::MAX,
                head: vec![7; 32],
                forked: u64::MAX,
            })
            .collect::<Vec<_>>()
    };
    let list = |k| pb::Reconcile {
        ranges: vec![pb::Range {
            mode: pb::RangeMode::Entries as i32,
            entries: entries(k),
            ..Default::default()
        }],
    };
    let full = request(&r, Req::Reconcile(list(MAX_RECONCILE_ENTRIES)));
    assert!(full.encoded_len() <= MAX_SYNC_REQUEST_BYTES);
    let answer = respond(&r, &full).expect("answered");
    assert!(matches!(answer.kind, Some(Resp::Reconcile(_))));
    let over = request(&r, Req::Reconcile(list(MAX_RECONCILE_ENTRIES + 1)));
    assert!(matches!(respond(&r, &over), Err(Refusal::Malformed(_))));
}

/// A round against a peer that answers the opening with its whole list: this node
/// sends its side of the differences, then pulls, and the round ends complete.
#[test]
fn a_round_reconciles_then_pulls_then_ends_complete() {
    let mut n = net(2);
    let mut a = replica(&n);
    author(&mut n, &mut a, 1, 4);
    let mut b = replica(&n);
    let mut rounds = Rounds::default();
    let mut out = Vec::new();
    let local = Local::plain(&b);
    rounds.start(1u8, &local, &mut out);
    let theirs = summary(&a, true);
    rounds.answered(
        1u8,
        Step::Summary,
        Answer::Summary(&theirs),
        true,
        &local,
        &mut out,
    );
    let Some(Action::Send(_, Step::Reconcile, Req::Reconcile(opening))) = out.pop() else {
        panic!("an opening fingerprint: {out:?}");
    };
    // The peer answers as a real one would.
    let mut peer = Rounds::default();
    let req = request(&b, Req::Reconcile(opening));
    let resp = peer
        .respond(1u8, &Local::plain(&a), &req, &mut Vec::new())
        .expect("answered");
    let Some(Resp::Reconcile(msg)) = resp.kind else {
        panic!("a reconciliation answer");
    };
    rounds.answered(
        1u8,
        Step::Reconcile,
        Answer::Reconcile(&msg),
        true,
        &local,
        &mut out,
    );
    // The peer's frontier was small enough to list at once; this node answers with
    // its side of the differences, which the peer answers with nothing.
    let Some(Action::Send(_, Step::Reconcile, Req::Reconcile(diff))) = out.pop() else {
        panic!("differences: {out:?}");
    };
    assert!(reconcile::settled(&diff));
    let empty = pb::Reconcile::default();
    rounds.answered(
        1u8,
        Step::Reconcile,
        Answer::Reconcile(&empty),
        true,
        &local,
        &mut out,
    );
    let Some(Action::Send(_, Step::Pull, Req::Pull(p))) = out.pop() else {
        panic!("a pull: {out:?}");
    };
    let got = page(&a, &p.wants).expect("readable");
    assert!(!got.more);
    take_page(&mut b, &got, Step::Pull, &mut rounds, &mut out);
    assert!(
        matches!(out.pop(), Some(Action::Ended { complete: true, .. })),
        "{out:?}"
    );
    assert_eq!(a.state_hash(), b.state_hash());
}

/// A peer's reconciliation message that breaks a rule is the peer's fault.
#[test]
fn a_malformed_reconciliation_answer_is_punished() {
    let n = net(1);
    let r = replica(&n);
    let local = Local::plain(&r);
    let mut rounds = reconciling(&local);
    let bad = pb::Reconcile {
        ranges: vec![pb::Range {
            mode: pb::RangeMode::Fingerprint as i32,
            fingerprint: vec![1; 3],
            ..Default::default()
        }],
    };
    assert_punished(
        &mut rounds,
        1u8,
        Step::Reconcile,
        Answer::Reconcile(&bad),
        &local,
    );
}

/// Reports `answer` to a request for `step` of the round with `peer`, and checks that the
/// peer is punished and the round ended, with nothing else done.
fn assert_punished(
    rounds: &mut Rounds<u8>,
    peer: u8,
    step: Step,
    answer: Answer<'_>,
    local: &Local<'_, mutual_protocol::state::State>,
) {
    let mut out = Vec::new();
    rounds.answered(peer, step, answer, true, local, &mut out);
    assert_eq!(out, vec![Action::Punish(peer)]);
    assert!(!rounds.running(&peer));
}

#[test]
fn a_fork_the_asker_has_not_seen_is_pulled_from_the_forked_seq() {
    let mut n = net(2);
    let mut a = replica(&n);
    author(&mut n, &mut a, 1, 3);
    let mut b = replica(&n);
    pull_all(&a, &mut b);
    // Practice 2 signs a second event at seq 2 (a twin writer resumed from seq 1).
    let head1 = a
        .feed_keys_from(&n.writers[1].author(), 1)
        .next()
        .expect("seq 1")
        .expect("read")
        .1;
    let key = Keypair::from_seed(&[2; 32]).expect("key");
    let mut twin = FeedWriter::resume(key, NetworkId(n.genesis.id), Some((1, head1)));
    let forked = twin.sign(
        1_600,
        vec![],
        Body::PracticeLeave(pb::PracticeLeave::default()),
    );
    a.ingest(2_000, &forked.to_wire()).expect("valid");
    assert!(a.forks().contains_key(&n.writers[1].author()));
    let w = wants(&b, learn(&a, &b).entries());
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].from_seq, 2);
    pull_all(&a, &mut b);
    assert_eq!(a.state_hash(), b.state_hash());
}

#[path = "sync_heads_tests.rs"]
mod heads;
