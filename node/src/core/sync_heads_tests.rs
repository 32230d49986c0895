//! Tests of summaries that show the sender's heads, the pages that answer them, and what
//! peers say they hold (docs/NETWORK.md §4.3); the shared fixtures are in
//! `sync_tests.rs`.

use super::*;

/// `b` holding the first `keep` of `a`'s events after the genesis, in fold order.
fn first_of(n: &Net, a: &Replica, keep: usize) -> Replica {
    let mut b = replica(n);
    let wires: Vec<Vec<u8>> = a
        .events_in_order()
        .skip(1)
        .take(keep)
        .map(|e| e.to_wire())
        .collect();
    for r in b.ingest_batch(2_000, &wires) {
        r.expect("valid");
    }
    b
}

/// `peer`'s answer to `req` from node 0, as a real peer (over `local`) makes it; and what
/// its rounds asked for.
fn ask(local: &Local<'_, mutual_protocol::state::State>, req: Req) -> (Resp, Vec<Action<u8>>) {
    let mut peer = Rounds::default();
    let mut out = Vec::new();
    let resp = peer
        .respond(0u8, local, &request(local.replica, req), &mut out)
        .expect("answered");
    (resp.kind.expect("a kind"), out)
}

/// A node behind a peer that holds all its heads is sent what it lacks in answer to its
/// summary, in fold order, and its round ends complete with nothing reconciled: a sync
/// costs the missing events and two summaries.
#[test]
fn a_node_behind_is_sent_what_it_lacks_in_answer_to_its_heads() {
    let mut n = net(3);
    let mut a = replica(&n);
    for who in [0, 1, 2, 1, 0, 2] {
        author(&mut n, &mut a, who, 5);
    }
    let mut b = first_of(&n, &a, 12);
    let mut rounds = Rounds::default();
    let mut out = Vec::new();
    rounds.start(1u8, &Local::plain(&b), &mut out);
    let Some(Action::Send(_, Step::Summary, Req::Summary(mine))) = out.pop() else {
        panic!("a summary: {out:?}");
    };
    assert_eq!(mine.heads.len(), 1, "a chain of events has one head");
    let (resp, asked) = ask(&Local::plain(&a), Req::Summary(mine));
    assert!(asked.is_empty(), "the peer lacks nothing: {asked:?}");
    let Resp::Events(page) = resp else {
        panic!("a page, not {resp:?}");
    };
    assert!(!page.more);
    let lacked: Vec<Vec<u8>> = a.events_in_order().skip(13).map(|e| e.to_wire()).collect();
    assert_eq!(page.events, lacked, "exactly what b lacks, causes first");
    take_page(&mut b, &page, Step::Summary, &mut rounds, &mut out);
    // One more summary, showing the heads the page made, finds the two in sync: only
    // that ends the round complete.
    in_sync_at_the_next_summary(&a, &b, &mut rounds, &mut out);
}

/// Carries the summary `out` ends with from `b` to `a` and back, and checks that it finds
/// the two in sync and ends `b`'s round with peer 1 complete.
fn in_sync_at_the_next_summary(
    a: &Replica,
    b: &Replica,
    rounds: &mut Rounds<u8>,
    out: &mut Vec<Action<u8>>,
) {
    assert_eq!(a.state_hash(), b.state_hash());
    let Some(Action::Send(_, Step::Summary, Req::Summary(mine))) = out.pop() else {
        panic!("a summary: {out:?}");
    };
    let (Resp::Summary(theirs), _) = ask(&Local::plain(a), Req::Summary(mine)) else {
        panic!("a summary back");
    };
    let answer = Answer::Summary(&theirs);
    rounds.answered(1u8, Step::Summary, answer, true, &Local::plain(b), out);
    assert!(
        matches!(
            out.pop(),
            Some(Action::Ended {
                complete: true,
                view: None,
                ..
            })
        ),
        "{out:?}"
    );
}

/// More than a page is sent a page at a time, the asker showing its new heads for each.
#[test]
fn a_node_far_behind_is_sent_a_page_per_summary() {
    let mut n = net(2);
    let mut a = replica(&n);
    author(&mut n, &mut a, 1, (MAX_PAGE_EVENTS + 10) as u32);
    let mut b = replica(&n);
    let mut rounds = Rounds::default();
    let mut out = Vec::new();
    rounds.start(1u8, &Local::plain(&b), &mut out);
    for expected in [(MAX_PAGE_EVENTS, true), (10, false)] {
        let Some(Action::Send(_, Step::Summary, Req::Summary(mine))) = out.pop() else {
            panic!("a summary: {out:?}");
        };
        let (Resp::Events(page), _) = ask(&Local::plain(&a), Req::Summary(mine)) else {
            panic!("a page");
        };
        assert_eq!((page.events.len(), page.more), expected);
        take_page(&mut b, &page, Step::Summary, &mut rounds, &mut out);
    }
    in_sync_at_the_next_summary(&a, &b, &mut rounds, &mut out);
}

/// A round fed pages in answer to its heads never ends complete on a page: not when a
/// page brings nothing new (events this node would not store, say), after which the peer
/// is shown no heads until a round finds both in sync; nor at the round's most pages.
#[test]
fn a_round_of_pages_ends_incomplete_when_they_stop_bringing_anything() {
    let n = net(1);
    let r = replica(&n);
    let local = Local::plain(&r);
    let page = |progressed| Answer::Events {
        more: true,
        progressed,
    };
    let shows = |out: &[Action<u8>]| match out.last() {
        Some(Action::Send(_, Step::Summary, Req::Summary(s))) => s.heads.len(),
        other => panic!("a summary: {other:?}"),
    };
    let mut rounds = Rounds::default();
    let mut out = Vec::new();
    rounds.start(1u8, &local, &mut out);
    assert_eq!(shows(&out), 1);
    rounds.answered(1u8, Step::Summary, page(false), true, &local, &mut out);
    assert_ended_incomplete(&out);
    rounds.start(1u8, &local, &mut out);
    assert_eq!(
        shows(&out),
        0,
        "a peer whose page brought nothing is shown no heads"
    );
    // Until it disconnects...
    rounds.disconnected(1u8);
    rounds.start(1u8, &local, &mut out);
    assert_eq!(
        shows(&out),
        1,
        "after a disconnection, it is shown heads again"
    );
    rounds.answered(1u8, Step::Summary, page(false), true, &local, &mut out);
    assert_ended_incomplete(&out);
    rounds.start(1u8, &local, &mut out);
    assert_eq!(shows(&out), 0);
    // ...or a round with it finds both in sync.
    let same = summary(&r, false);
    rounds.answered(
        1u8,
        Step::Summary,
        Answer::Summary(&same),
        true,
        &local,
        &mut out,
    );
    rounds.start(1u8, &local, &mut out);
    assert_eq!(shows(&out), 1, "once in sync, it is shown heads again");
    for _ in 1..MAX_PAGES_PER_ROUND {
        rounds.answered(1u8, Step::Summary, page(true), true, &local, &mut out);
        assert_eq!(shows(&out), 1);
    }
    rounds.answered(1u8, Step::Summary, page(true), true, &local, &mut out);
    assert_ended_incomplete(&out);
}

/// A node hiding a feed (a planted defect's) neither shows heads nor answers them with a
/// page: either would show the hidden feed.
#[test]
fn a_node_hiding_a_feed_shows_no_heads_and_sends_no_page() {
    let mut n = net(2);
    let mut a = replica(&n);
    author(&mut n, &mut a, 1, 3);
    let b = replica(&n);
    let hiding = Local {
        hidden: Some(me()),
        me: Some(me()),
        ..Local::plain(&a)
    };
    let mut out = Vec::new();
    Rounds::default().start(1u8, &hiding, &mut out);
    assert!(
        matches!(&out[..], [Action::Send(_, Step::Summary, Req::Summary(s))] if s.heads.is_empty()),
        "{out:?}"
    );
    let (resp, _) = ask(&hiding, Req::Summary(summary(&b, true)));
    assert!(
        matches!(&resp, Resp::Summary(s) if s.heads.is_empty()),
        "{resp:?}"
    );
    let (resp, _) = ask(&Local::plain(&a), Req::Summary(summary(&b, true)));
    assert!(matches!(resp, Resp::Events(_)), "not hiding: a page");
}

/// A node ahead of a peer (it holds all the peer's heads) has nothing to pull, and ends
/// its round at the summaries; the peer, shown a head it lacks, starts its own round. The
/// round shows the node its own head only if the peer holds it.
#[test]
fn a_node_ahead_ends_its_round_at_the_summaries() {
    let mut n = net(2);
    let mut a = replica(&n);
    author(&mut n, &mut a, 1, 3);
    author(&mut n, &mut a, 0, 3);
    let me = n.writers[1].author();
    for (keep, shown) in [(3, true), (2, false)] {
        let b = first_of(&n, &a, keep);
        let local = Local {
            me: Some(me),
            ..Local::plain(&a)
        };
        let mut rounds = Rounds::default();
        let mut out = Vec::new();
        rounds.start(1u8, &local, &mut out);
        let Some(Action::Send(_, Step::Summary, Req::Summary(mine))) = out.pop() else {
            panic!("a summary");
        };
        let (resp, asked) = ask(&Local::plain(&b), Req::Summary(mine));
        assert!(
            matches!(asked.as_slice(), [Action::Send(0, Step::Summary, _)]),
            "the peer starts a round of its own: {asked:?}"
        );
        let Resp::Summary(theirs) = resp else {
            panic!("a summary, not {resp:?}");
        };
        assert_eq!(theirs.heads.len(), 1);
        rounds.answered(
            1u8,
            Step::Summary,
            Answer::Summary(&theirs),
            true,
            &local,
            &mut out,
        );
        match out.pop() {
            Some(Action::Ended {
                complete,
                view: None,
                ..
            }) => assert_eq!(complete, shown, "b holds {keep} of my events"),
            other => panic!("the round ends at the summaries: {other:?}"),
        }
    }
}

/// A node with more heads than a summary carries shows none, and a round with it
/// reconciles as before.
#[test]
fn a_node_with_many_heads_shows_none_and_reconciles() {
    let mut n = net(MAX_SUMMARY_HEADS as u8 + 1);
    let mut a = replica(&n);
    let genesis = n.genesis.id;
    for w in n.writers.iter_mut() {
        let ev = w.sign(
            1_500,
            vec![genesis],
            Body::PracticeUpdate(pb::PracticeUpdate::default()),
        );
        a.ingest(2_000, &ev.to_wire()).expect("valid");
    }
    assert_eq!(
        a.all_heads(usize::MAX).map(|h| h.len()),
        Some(MAX_SUMMARY_HEADS + 1)
    );
    assert!(summary(&a, true).heads.is_empty());
    // Its round with a node behind it reconciles: the peer shows its one head, which `a`
    // holds, but `a` showed none, so the peer learns what it lacks only by reconciling.
    let b = replica(&n);
    let mut rounds = Rounds::default();
    let mut out = Vec::new();
    rounds.start(1u8, &Local::plain(&a), &mut out);
    let Some(Action::Send(_, Step::Summary, Req::Summary(mine))) = out.pop() else {
        panic!("a summary");
    };
    let (Resp::Summary(theirs), _) = ask(&Local::plain(&b), Req::Summary(mine)) else {
        panic!("a summary back");
    };
    assert_eq!(theirs.heads.len(), 1);
    let answer = Answer::Summary(&theirs);
    rounds.answered(
        1u8,
        Step::Summary,
        answer,
        true,
        &Local::plain(&a),
        &mut out,
    );
    assert!(
        matches!(out.last(), Some(Action::Send(_, Step::Reconcile, _))),
        "{out:?}"
    );
}

/// A summary over the heads limit, or with a head that is no event id, is refused as
/// malformed; in an answer, it ends the round with a penalty.
#[test]
fn a_summary_with_too_many_or_malformed_heads_is_refused() {
    let n = net(1);
    let r = replica(&n);
    let local = Local::plain(&r);
    // Checked whatever the state hash: another's, or this node's own.
    let heads = |count: usize, len: usize, hash: Vec<u8>| pb::Summary {
        state_hash: hash,
        events: 9,
        heads: vec![vec![3; len]; count],
    };
    let own = r.state_hash().0.to_vec();
    let mut rounds = Rounds::default();
    for (s, ok) in [
        (heads(MAX_SUMMARY_HEADS, 32, vec![1; 32]), true),
        (heads(MAX_SUMMARY_HEADS + 1, 32, vec![1; 32]), false),
        (heads(1, 31, vec![1; 32]), false),
        (heads(MAX_SUMMARY_HEADS, 32, own.clone()), true),
        (heads(MAX_SUMMARY_HEADS + 1, 32, own.clone()), false),
        (heads(1, 31, own), false),
    ] {
        let req = request(&r, Req::Summary(s.clone()));
        let answered = rounds.respond(1u8, &local, &req, &mut Vec::new());
        assert_eq!(answered.is_ok(), ok, "{answered:?}");
        if !ok {
            assert!(matches!(answered, Err(Refusal::Malformed(_))));
            let mut mine = Rounds::default();
            mine.start(1u8, &local, &mut Vec::new());
            assert_punished(&mut mine, 1u8, Step::Summary, Answer::Summary(&s), &local);
        }
    }
}

/// A page is an answer to a summary only when it showed this node's heads: while another
/// peer may be sending pages, a summary shows none, and a page in answer is punished.
#[test]
fn a_page_answers_a_summary_only_when_it_showed_heads() {
    let mut n = net(2);
    let mut a = replica(&n);
    author(&mut n, &mut a, 1, 2);
    let local = Local::plain(&a);
    let mut rounds = Rounds::default();
    let mut out = Vec::new();
    rounds.start(1u8, &local, &mut out);
    rounds.start(2u8, &local, &mut out);
    let shown: Vec<usize> = out
        .iter()
        .map(|a| match a {
            Action::Send(_, Step::Summary, Req::Summary(s)) => s.heads.len(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(shown, vec![1, 0], "the second peer is not shown heads");
    out.clear();
    let page = Answer::Events {
        more: false,
        progressed: true,
    };
    assert_punished(&mut rounds, 2u8, Step::Summary, page, &local);
}

/// A responder does not send feeds its network's log does not know (docs/NETWORK.md
/// §6.1): the asker would not store them. With nothing else to send, it answers with its
/// summary.
#[test]
fn a_page_leaves_out_feeds_the_responders_log_does_not_take() {
    let mut n = net(3);
    let mut a = replica(&n);
    author(&mut n, &mut a, 1, 2);
    author(&mut n, &mut a, 2, 2);
    let b = replica(&n);
    let stranger = n.writers[2].author();
    let not_stranger = |k: &[u8]| k != stranger.as_bytes();
    let local = Local {
        takes: &not_stranger,
        ..Local::plain(&a)
    };
    let (Resp::Events(page), _) = ask(&local, Req::Summary(summary(&b, true))) else {
        panic!("a page");
    };
    let authors: Vec<PublicKey> = page
        .events
        .iter()
        .map(|w| SignedEvent::decode(w).expect("valid").event.author)
        .collect();
    assert_eq!(authors, vec![n.writers[1].author(); 2]);
    let only_theirs = first_of(&n, &a, 2);
    let (resp, _) = ask(&local, Req::Summary(summary(&only_theirs, true)));
    assert!(
        matches!(&resp, Resp::Summary(s) if s.heads.len() == 1),
        "nothing left to send: {resp:?}"
    );
}

/// What peers say they hold, in the summaries they send and answer with, is what a
/// catch-up indicator reads: the most of any connected peer, forgotten once it goes.
#[test]
fn the_most_events_a_connected_peer_says_it_holds_is_kept_until_it_goes() {
    let mut n = net(2);
    let mut a = replica(&n);
    author(&mut n, &mut a, 1, 6);
    let b = first_of(&n, &a, 2);
    let mut rounds: Rounds<u8> = Rounds::default();
    assert_eq!(rounds.most_reported(), 0, "before any summary");
    // Peer 1 answers b's summary with a's: it holds all of a's events.
    let mut out = Vec::new();
    rounds.start(1u8, &Local::plain(&b), &mut out);
    let theirs = summary(&a, false);
    let answer = Answer::Summary(&theirs);
    rounds.answered(
        1u8,
        Step::Summary,
        answer,
        true,
        &Local::plain(&b),
        &mut out,
    );
    assert_eq!(rounds.most_reported(), a.len() as u64);
    // Peer 2 starts a round of its own, showing fewer: the most is still peer 1's.
    let mut req = request(&b, Req::Summary(summary(&b, false)));
    rounds
        .respond(2u8, &Local::plain(&b), &req, &mut out)
        .expect("answered");
    assert_eq!(rounds.most_reported(), a.len() as u64);
    // Peer 1 goes: peer 2's count is what is left.
    rounds.disconnected(1u8);
    assert_eq!(rounds.most_reported(), b.len() as u64);
    // A peer's later summary replaces its earlier word.
    if let Some(Req::Summary(s)) = req.kind.as_mut() {
        s.events = 1;
    }
    rounds
        .respond(2u8, &Local::plain(&b), &req, &mut out)
        .expect("answered");
    assert_eq!(rounds.most_reported(), 1);
    rounds.disconnected(2u8);
    assert_eq!(rounds.most_reported(), 0);
}

/// A store that has lost every event it wrote.
#[derive(Debug)]
struct Lost;

impl mutual_protocol::replica::Bodies for Lost {
    fn holds(&self, _: &EventId) -> bool {
        true
    }

    fn read(&self, id: &EventId) -> Result<Vec<u8>, BodyError> {
        Err(BodyError {
            id: *id,
            detail: "the disk failed".into(),
        })
    }
}

/// A node that cannot read back what a peer lacks serves nothing rather than a page with
/// a gap in it, whichever way it is asked: by summary, by pull or by fetch.
#[test]
fn a_node_that_cannot_read_back_its_events_serves_none() {
    let mut n = net(3);
    let mut a = replica(&n);
    for who in [0, 1, 2] {
        author(&mut n, &mut a, who, 5);
    }
    let b = first_of(&n, &a, 6);
    let mut out = Vec::new();
    Rounds::default().start(1u8, &Local::plain(&b), &mut out);
    let Some(Action::Send(_, Step::Summary, Req::Summary(mine))) = out.pop() else {
        panic!("a summary: {out:?}");
    };
    let author = n.writers[1].author().as_bytes().to_vec();
    let want = pb::FeedWant {
        author,
        from_seq: 1,
    };
    let head = a.heads()[0];
    assert!(page(&a, std::slice::from_ref(&want)).is_ok());
    assert!(fetch(&a, &[head.as_bytes().to_vec()]).is_ok());

    a.set_bodies(Arc::new(Lost));
    assert_eq!(a.kept_len(), 0);
    let asked = request(&a, Req::Summary(mine));
    let answer = Rounds::default().respond(0u8, &Local::plain(&a), &asked, &mut Vec::new());
    assert_eq!(answer, Err(Refusal::Unavailable));
    assert_eq!(page(&a, &[want]), Err(Refusal::Unavailable));
    assert_eq!(
        fetch(&a, &[head.as_bytes().to_vec()]),
        Err(Refusal::Unavailable)
    );
}
