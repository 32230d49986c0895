//! Real nodes over loopback: convergence, catching up, restarts, partitions, strangers and
//! a rolled-back store (issue "The node, part 1"). Every wait is bounded.

use mutual_node::node::{self, Network};
use mutual_protocol::event::SignedEvent;
use mutual_protocol::limits::MAX_CLOCK_SKEW_MS;
use mutual_tests::{copy_dir, node_key, update, wait_for, Cluster, Transport};
use std::time::Duration;

const CONVERGE: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_converge_after_events_authored_on_every_node() {
    let c = Cluster::found(5, Transport::Tcp).await;
    let mut authored = Vec::new();
    for i in 0..5 {
        let bodies = (0..20).map(|k| update(1000 * i as u32 + k)).collect();
        authored.extend(c.node(i).author(bodies).await.expect("authored"));
    }
    assert!(
        c.converge(&[0, 1, 2, 3, 4], CONVERGE).await,
        "five nodes converge"
    );
    for i in 0..5 {
        let ids = authored.clone();
        let all = c
            .node(i)
            .query(move |r| ids.iter().all(|id| r.get(id).is_some()))
            .await
            .expect("query");
        assert!(all, "node {i} holds every authored event");
    }
    let s = c.statuses(&[0]).await.remove(0);
    assert!(s.events > 100, "{} events", s.events);
    // Each node finds the others by their announced addresses, not only the founder.
    let meshed = wait_for(CONVERGE, || async {
        c.statuses(&[0, 1, 2, 3, 4])
            .await
            .iter()
            .all(|s| s.peers.len() == 4)
    })
    .await;
    assert!(meshed, "every node connects to every other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_node_catches_up_receiving_about_the_bytes_it_missed() {
    let mut c = Cluster::found(3, Transport::Tcp).await;
    assert!(c.converge(&[0, 1, 2], CONVERGE).await);
    let before: Vec<_> = c
        .node(2)
        .query(|r| r.events_in_order().map(|e| e.id).collect())
        .await
        .expect("query");
    c.stop(2).await;
    for round in 0..10u32 {
        for i in 0..2 {
            let bodies = (0..50).map(|k| update(round * 100 + k)).collect();
            c.node(i).author(bodies).await.expect("authored");
        }
    }
    assert!(c.converge(&[0, 1], CONVERGE).await);
    let missing_bytes: usize = c
        .node(0)
        .query(move |r| {
            r.events_in_order()
                .filter(|e| !before.contains(&e.id))
                .map(|e| e.to_wire().len())
                .sum()
        })
        .await
        .expect("query");
    c.start(2).await;
    assert!(c.converge(&[0, 1, 2], CONVERGE).await, "node 2 caught up");
    let s = c.statuses(&[2]).await.remove(0);
    let received = s.metrics.sync_bytes_in + s.metrics.gossip_bytes_in;
    let ratio = received as f64 / missing_bytes as f64;
    println!(
        "caught up on 1,000 events: received {received} bytes for {missing_bytes} bytes of \
         missing events (ratio {ratio:.3})"
    );
    assert!(ratio >= 1.0, "it cannot receive less than it lacked");
    assert!(
        ratio < 1.25,
        "ratio {ratio:.3}: each missing event is fetched about once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_resumes_from_its_store_over_quic() {
    let mut c = Cluster::found(2, Transport::Quic).await;
    c.node(1)
        .author((0..200).map(update).collect())
        .await
        .expect("authored");
    assert!(c.converge(&[0, 1], CONVERGE).await);
    let before = c.statuses(&[1]).await.remove(0);
    let log_bytes: usize = c
        .node(1)
        .query(|r| r.events_in_order().map(|e| e.to_wire().len()).sum())
        .await
        .expect("query");
    c.stop(1).await;
    c.start(1).await;
    let after = c.statuses(&[1]).await.remove(0);
    assert_eq!(
        after.events, before.events,
        "every event came back from the store"
    );
    assert_eq!(after.state_hash, before.state_hash);
    assert!(c.converge(&[0, 1], CONVERGE).await);
    c.node(1)
        .author(vec![update(7)])
        .await
        .expect("signs again");
    assert!(c.converge(&[0, 1], CONVERGE).await);
    let s = c.statuses(&[1]).await.remove(0);
    let received = s.metrics.sync_bytes_in + s.metrics.gossip_bytes_in;
    println!("restart: received {received} bytes; the log is {log_bytes} bytes");
    assert!(
        (received as usize) < log_bytes / 10,
        "received {received} bytes of a {log_bytes}-byte log"
    );
}

/// Cuts (or restores) every connection between the groups `a` and `b`, on both sides.
async fn split(c: &Cluster, a: &[usize], b: &[usize], blocked: bool) {
    for &x in a {
        for &y in b {
            for (from, to) in [(x, y), (y, x)] {
                c.node(from)
                    .block(c.node(to).peer_id(), blocked)
                    .await
                    .expect("block or unblock");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_groups_split_apart_keep_working_and_converge_when_rejoined() {
    let c = Cluster::found(4, Transport::Tcp).await;
    assert!(c.converge(&[0, 1, 2, 3], CONVERGE).await);
    let (a, b) = ([0usize, 1], [2usize, 3]);
    split(&c, &a, &b, true).await;
    let disconnected = wait_for(CONVERGE, || async {
        c.statuses(&[0, 1, 2, 3])
            .await
            .iter()
            .all(|s| s.peers.len() == 1)
    })
    .await;
    assert!(disconnected, "each node sees only its own side");
    for &i in a.iter().chain(&b) {
        let bodies = (0..10).map(|k| update(i as u32 * 100 + k)).collect();
        c.node(i)
            .author(bodies)
            .await
            .expect("each side keeps working");
    }
    assert!(c.converge(&a, CONVERGE).await);
    assert!(c.converge(&b, CONVERGE).await);
    let ha = c.statuses(&[0]).await.remove(0).state_hash;
    let hb = c.statuses(&[2]).await.remove(0).state_hash;
    assert_ne!(ha, hb, "the sides diverged while split");
    split(&c, &a, &b, false).await;
    assert!(
        c.converge(&[0, 1, 2, 3], CONVERGE).await,
        "rejoined and converged"
    );
    let events = c.statuses(&[3]).await.remove(0).events;
    let all = c.statuses(&[0, 1, 2, 3]).await;
    assert!(all.iter().all(|s| s.events == events));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_node_is_refused_before_any_sync() {
    let c = Cluster::found(2, Transport::Tcp).await;
    assert!(c.converge(&[0, 1], CONVERGE).await);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = c.config(0);
    config.data_dir = dir.path().to_path_buf();
    config.bootstrap = c.addrs.iter().flatten().cloned().collect();
    // Key 99 is in no genesis and has no invitation.
    let stranger = node::start(node_key(99), Network::Join(c.network()), config)
        .await
        .expect("starts");
    let refused = wait_for(CONVERGE, || async {
        c.statuses(&[0, 1])
            .await
            .iter()
            .all(|s| s.metrics.connections_refused > 0)
    })
    .await;
    assert!(refused, "both members refused the stranger");
    // A refused connection may be seen established for a moment before it is closed.
    let closed = wait_for(CONVERGE, || async {
        stranger.status().await.is_ok_and(|s| s.peers.is_empty())
    })
    .await;
    let s = stranger.status().await.expect("status");
    assert!(closed, "no connection survived: {:?}", s.peers);
    assert_eq!(s.events, 0, "the stranger received nothing");
    assert_eq!(s.metrics.sync_bytes_in, 0);
    for m in c.statuses(&[0, 1]).await {
        assert!(!m.peers.contains(&stranger.peer_id().to_string()));
    }
    stranger.shutdown().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_store_was_rolled_back_does_not_fork_its_own_feed() {
    let mut c = Cluster::found(2, Transport::Tcp).await;
    c.node(1)
        .author((0..5).map(update).collect())
        .await
        .expect("authored");
    assert!(c.converge(&[0, 1], CONVERGE).await);
    c.stop(1).await;
    let old = tempfile::tempdir().expect("tempdir");
    copy_dir(c.dir(1), old.path()).expect("backup");
    c.start(1).await;
    c.node(1)
        .author((5..10).map(update).collect())
        .await
        .expect("authored after the backup");
    assert!(c.converge(&[0, 1], CONVERGE).await);
    c.stop(1).await;
    // Restore the old copy over the node's data directory.
    std::fs::remove_dir_all(c.dir(1)).expect("remove");
    copy_dir(old.path(), c.dir(1)).expect("restore");
    c.start(1).await;
    let head_before = c
        .node(1)
        .query(|r| r.feed_head(&node_key(1).public()).map(|h| h.0))
        .await
        .expect("query");
    let ids = c
        .node(1)
        .author(vec![update(42)])
        .await
        .expect("signs once it has learned its head");
    let seq = c
        .node(1)
        .query(move |r| r.get(&ids[0]).map(|e: SignedEvent| e.event.seq))
        .await
        .expect("query")
        .expect("stored");
    assert!(
        Some(seq) > head_before.map(|h| h + 5),
        "the new event (seq {seq}) follows the events signed after the backup (head was {head_before:?} in the old copy)"
    );
    assert!(c.converge(&[0, 1], CONVERGE).await);
    for i in 0..2 {
        let forks = c.node(i).query(|r| r.forks().len()).await.expect("query");
        assert_eq!(forks, 0, "node {i} saw no equivocation");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_clock_ran_ahead_keeps_its_own_events_when_set_right() {
    // Found by the simulator (node/tests/simulation.rs, seeds 8 and 28): the log was
    // loaded with the date check, so the node held its own signed events as future-dated
    // and would have signed their seqs again.
    let mut c = Cluster::found(2, Transport::Tcp).await;
    c.stop(1).await;
    let mut ahead = c.config(1);
    ahead.clock_offset_ms = (MAX_CLOCK_SKEW_MS + 60_000) as i64;
    c.start_with(1, ahead).await;
    let ids = c
        .node(1)
        .author(vec![update(1), update(2)])
        .await
        .expect("signs with its clock ahead");
    c.stop(1).await;
    c.start(1).await;
    let me = node_key(1).public();
    let (stored, head) = c
        .node(1)
        .query(move |r| (ids.iter().all(|id| r.get(id).is_some()), r.feed_head(&me)))
        .await
        .expect("query");
    assert!(stored, "its own events are in its state, not held");
    assert_eq!(c.statuses(&[1]).await[0].held, 0);
    // A new event may not be dated before its causes, so the node cannot sign until its
    // clock catches up with its last event; it says so, and reuses no seq.
    match c.node(1).author(vec![update(3)]).await {
        Err(node::NodeError::Refused(why)) => {
            assert!(why.contains("dated ahead of this node's clock"), "{why}")
        }
        other => panic!("signed before the clock caught up: {other:?}"),
    }
    let (after, forks, held) = c
        .node(1)
        .query(move |r| (r.feed_head(&me), r.forks().len(), r.held_len()))
        .await
        .expect("query");
    assert_eq!(after, head);
    assert_eq!(forks, 0);
    assert_eq!(
        held, 0,
        "the refused event is not kept to be released later"
    );
}
