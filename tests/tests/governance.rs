//! Governance over real nodes: the practice nodes witness ballots and close motions by
//! themselves, and a ballot backdated by a partner after the close does not count
//! (docs/GOVERNANCE.md §5.2, §5.5).

use mutual_node::node::NodeHandle;
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, FeedWriter};
use mutual_protocol::governance::motion::MotionRecord;
use mutual_protocol::id::EventId;
use mutual_protocol::limits::MAX_CLOCK_SKEW_MS;
use mutual_tests::{copy, partner_key, quick_deed, wait_for, Cluster, Founding, Transport};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);
const VOTING_MS: u64 = 2 * 60_000;

fn ballot(motion: EventId, choice: pb::Choice) -> Body {
    Body::Ballot(pb::Ballot {
        motion: motion.as_bytes().to_vec(),
        choice: choice as i32,
        ..Default::default()
    })
}

/// Runs `f` on `node`'s record of `motion`.
async fn on_motion<R: Send + 'static>(
    node: &NodeHandle,
    motion: EventId,
    f: impl FnOnce(&MotionRecord, String) -> R + Send + 'static,
) -> R {
    node.query(move |r| {
        let rec = r.state().governance().motion(&motion).expect("motion");
        f(rec, r.state_hash().to_string())
    })
    .await
    .expect("query")
}

/// Waits until `check` holds of `motion` on both nodes and their state hashes agree.
async fn both(c: &Cluster, motion: EventId, check: fn(&MotionRecord) -> bool) -> bool {
    wait_for(LIMIT, || async move {
        let mut hashes = Vec::new();
        for i in 0..2 {
            let (ok, h) = on_motion(c.node(i), motion, move |m, h| (check(m), h)).await;
            if !ok {
                return false;
            }
            hashes.push(h);
        }
        hashes[0] == hashes[1]
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_witness_ballots_and_close_motions_and_a_backdated_ballot_does_not_count() {
    // Two practices; the three partners belong to practice 0, so only practice 1's
    // node can witness their ballots.
    let mut c = Cluster::found_with(
        Founding {
            name: "Witnessing Partnership".into(),
            base: 40,
            practices: 2,
            running: 2,
            partners: 3,
            deed: quick_deed(5000),
            spread: false,
        },
        Transport::Tcp,
    )
    .await;
    assert!(c.converge(&[0, 1], LIMIT).await, "the nodes meet");
    let motion = c
        .sign_as(
            &partner_key(40),
            Body::Motion(pb::Motion {
                kind: pb::DecisionKind::General as i32,
                title: "Adopt a shared locum rate card".into(),
                closes_at_ms: c.now_ms() + VOTING_MS,
                ..Default::default()
            }),
        )
        .await;
    let mut ballots = Vec::new();
    for j in 0..3 {
        ballots.push(
            c.sign_as(&partner_key(40 + j), ballot(motion, pb::Choice::For))
                .await,
        );
    }
    // No one asks: practice 1's node witnesses the ballots by itself.
    assert!(
        both(&c, motion, |m| m.unwitnessed.is_empty()
            && m.votes.ballots.len() == 3)
        .await,
        "the ballots are witnessed on both nodes"
    );

    // The vote and its grace period pass. Partner 42 has written nothing since; they
    // now sign a second ballot, against, dated inside the voting window and citing
    // only the motion and their own first ballot, as a ballot delayed in the network
    // would.
    c.advance((VOTING_MS + MAX_CLOCK_SKEW_MS + 60_000) as i64)
        .await;
    let kp = partner_key(42);
    let me = kp.public();
    let last = c
        .node(0)
        .query(move |r| r.feed_head(&me))
        .await
        .expect("query");
    let closes = on_motion(c.node(0), motion, |m, _| m.closes_at_ms).await;
    let backdated = FeedWriter::resume(copy(&kp), c.network(), last).sign(
        closes - 1_000,
        vec![motion],
        ballot(motion, pb::Choice::Against),
    );
    let s = c
        .node(0)
        .submit(backdated.to_wire())
        .await
        .expect("submitted");
    assert_eq!(s.outcome.as_deref(), Some("applied"), "{s:?}");

    // No one asks again: a node closes the motion with an event after the grace
    // period. The backdated ballot is stored and valid where it sits, but no other
    // practice witnessed it in time: the vote for stands on both nodes.
    assert!(
        both(&c, motion, |m| m.closed.as_ref().is_some_and(|cl| {
            let t = &cl.tally;
            t.passed && t.votes_for == 3 && t.votes_against == 0 && t.unwitnessed == 1
        }))
        .await,
        "closed by the nodes, with the backdated ballot left out, identically"
    );
    let stored = c
        .node(1)
        .query(move |r| r.get(&backdated.id).is_some())
        .await
        .expect("query");
    assert!(stored, "the backdated ballot reached the other node too");
}

/// A partner's second device (or a laptop restored from an old copy) signing at a seq
/// the node already holds for that key would fork the feed and silence the key for good:
/// the node refuses it before anything is stored, saying why (docs/PROTOCOL.md §5.10).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_would_fork_a_partners_feed_is_refused_and_not_stored() {
    let c = Cluster::found_with(
        Founding {
            name: "Second Device Partnership".into(),
            base: 60,
            practices: 2,
            running: 1,
            partners: 2,
            deed: quick_deed(5000),
            spread: false,
        },
        Transport::Tcp,
    )
    .await;
    let kp = partner_key(60);
    let me = kp.public();
    let statement = |title: &str| {
        Body::Motion(pb::Motion {
            kind: pb::DecisionKind::General as i32,
            title: title.into(),
            closes_at_ms: c.now_ms() + VOTING_MS,
            ..Default::default()
        })
    };
    c.sign_as(&kp, statement("From the laptop")).await;
    let head = c
        .node(0)
        .query(move |r| r.feed_head(&me))
        .await
        .expect("query")
        .expect("a feed");
    assert_eq!(head.0, 1);
    // The second device knows nothing of the first event: it signs seq 1 again.
    let heads = c.node(0).query(|r| r.heads()).await.expect("heads");
    let fork = FeedWriter::resume(copy(&kp), c.network(), None).sign(
        c.now_ms(),
        heads,
        statement("From the old copy"),
    );
    let e = c.node(0).submit(fork.to_wire()).await.expect_err("refused");
    assert!(
        e.to_string().contains("would fork the feed"),
        "the refusal says why: {e}"
    );
    let (stored, forked) = c
        .node(0)
        .query(move |r| (r.knows(&fork.id), r.forks().contains_key(&me)))
        .await
        .expect("query");
    assert!(!stored && !forked, "nothing kept; the key still signs");
    // An event that does not follow the feed as this node holds it (seq 3 after 1) is
    // refused too, untried: prepare it again from this node.
    let heads = c.node(0).query(|r| r.heads()).await.expect("heads");
    let gap = FeedWriter::resume(copy(&kp), c.network(), Some((2, head.1))).sign(
        c.now_ms(),
        heads,
        statement("After a gap"),
    );
    let e = c.node(0).submit(gap.to_wire()).await.expect_err("refused");
    assert!(e.to_string().contains("does not follow"), "{e}");
    c.sign_as(&kp, statement("Still signing")).await;
}
