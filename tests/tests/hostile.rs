//! Members that misbehave are banned while honest nodes carry on. The hostile nodes are
//! raw libp2p swarms with members' keys, built from the node's own behaviour so that they
//! pass the gate, then answering and asking with garbage, another network's events,
//! floods of duplicates and requests, or nothing at all.

use futures::StreamExt;
use libp2p::request_response::{self, Message};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, Swarm};
use mutual_node::core::intake::MAX_QUARANTINE_PER_PEER;
use mutual_node::keyfile::libp2p_keypair;
use mutual_node::limits::{MAX_FETCH_IDS, MAX_REQUEST_BURST, MAX_SYNC_REQUEST_BYTES};
use mutual_node::net::{build_swarm, topic, Behaviour, BehaviourEvent};
use mutual_proto::v1 as pb;
use mutual_protocol::event::FeedWriter;
use mutual_tests::{node_key, practice, update, wait_for, Cluster, Transport};
use pb::sync_request::Kind as Req;
use pb::sync_response::Kind as Resp;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

async fn hostile(key: usize, target: Multiaddr) -> Swarm<Behaviour> {
    let mut swarm = build_swarm(libp2p_keypair(&node_key(key)), false)
        .expect("swarm")
        .0;
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().expect("addr"))
        .expect("listen");
    // Its own gate lets it reach the node it attacks.
    if let Some(libp2p::multiaddr::Protocol::P2p(peer)) = target.iter().last() {
        swarm.behaviour_mut().gate.set_allowed([peer].into());
    }
    swarm.dial(target).expect("dial");
    swarm
}

/// Drives `swarm` for at most `limit`, answering every sync request with `answer` (or
/// holding it unanswered when `answer` gives `None`), calling `on_connect` once per new
/// connection and `on_tick` every 100 ms.
async fn drive(
    mut swarm: Swarm<Behaviour>,
    limit: Duration,
    answer: impl Fn(&pb::SyncRequest) -> Option<pb::SyncResponse>,
    mut on_connect: impl FnMut(&mut Swarm<Behaviour>, libp2p::PeerId),
    mut on_tick: impl FnMut(&mut Swarm<Behaviour>),
) {
    let deadline = tokio::time::Instant::now() + limit;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut held = Vec::new();
    loop {
        let ev = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return,
            _ = tick.tick() => {
                on_tick(&mut swarm);
                continue;
            }
            ev = swarm.next() => match ev {
                Some(ev) => ev,
                None => return,
            },
        };
        match ev {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => on_connect(&mut swarm, peer_id),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            })) => match answer(&request) {
                Some(a) => {
                    let _ = swarm.behaviour_mut().sync.send_response(channel, a);
                }
                None => held.push(channel),
            },
            _ => {}
        }
    }
}

/// Waits until node 0 has banned someone and `peer` is no longer connected to it.
async fn banned_by_node_0(c: &Cluster, peer: libp2p::PeerId) -> bool {
    wait_for(LIMIT, || async {
        let s = c.statuses(&[0]).await.remove(0);
        s.metrics.bans >= 1 && !s.peers.contains(&peer.to_string())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_sending_bad_signatures_and_garbage_is_banned_while_others_continue() {
    let c = Cluster::found_running(3, 2, Transport::Tcp).await;
    assert!(c.converge(&[0, 1], LIMIT).await);
    let target = c.addrs[0].clone().expect("address");
    // Events signed by the hostile member's key, with their signatures broken.
    let mut w = FeedWriter::resume(node_key(2), c.network(), None);
    let bad: Vec<Vec<u8>> = (0..8)
        .map(|i| {
            let ev = w.sign(mutual_node::now_ms(), vec![c.genesis.id], update(i));
            let mut raw = pb::SignedEvent {
                event: ev.event_bytes.clone(),
                signature: ev.signature.to_vec(),
            };
            raw.signature[5] ^= 0x40;
            prost::Message::encode_to_vec(&raw)
        })
        .chain([b"not an event at all".to_vec()])
        .collect();
    let me = node_key(2).public().as_bytes().to_vec();
    let swarm = hostile(2, target).await;
    let hostile_peer = *swarm.local_peer_id();
    let answer = claiming(me, 1_000, bad, true);
    let task = tokio::spawn(drive(swarm, LIMIT, answer, |_, _| {}, |_| {}));
    // Honest work goes on meanwhile.
    c.node(1)
        .author((0..20).map(update).collect())
        .await
        .expect("authored");
    let banned = banned_by_node_0(&c, hostile_peer).await;
    assert!(banned, "node 0 banned the hostile member");
    let s = c.statuses(&[0]).await.remove(0);
    assert!(s.metrics.invalid_events >= 4, "{:?}", s.metrics);
    assert!(
        c.converge(&[0, 1], LIMIT).await,
        "honest nodes still converge"
    );
    let forged = c
        .node(0)
        .query(|r| r.feed_head(&node_key(2).public()))
        .await
        .expect("query");
    assert_eq!(forged, None, "nothing with a broken signature was stored");
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_sending_oversized_and_overlong_requests_is_banned() {
    let c = Cluster::found_running(3, 2, Transport::Tcp).await;
    assert!(c.converge(&[0, 1], LIMIT).await);
    let target = c.addrs[0].clone().expect("address");
    let swarm = hostile(2, target).await;
    let hostile_peer = *swarm.local_peer_id();
    let network = c.network().as_bytes().to_vec();
    let on_connect = move |s: &mut Swarm<Behaviour>, peer| {
        // A request over the byte limit: refused before it is read.
        let oversized = pb::SyncRequest {
            network: network.clone(),
            kind: Some(Req::Pull(pb::Pull {
                wants: vec![pb::FeedWant {
                    author: vec![1; MAX_SYNC_REQUEST_BYTES],
                    from_seq: 0,
                }],
            })),
        };
        // A request over a count limit: read, refused and penalised.
        let overlong = pb::SyncRequest {
            network: network.clone(),
            kind: Some(Req::Fetch(pb::Fetch {
                ids: vec![vec![0; 32]; MAX_FETCH_IDS + 1],
            })),
        };
        for _ in 0..2 {
            s.behaviour_mut()
                .sync
                .send_request(&peer, oversized.clone());
            s.behaviour_mut().sync.send_request(&peer, overlong.clone());
        }
    };
    let answer = |_: &pb::SyncRequest| Some(refused());
    let task = tokio::spawn(drive(swarm, LIMIT, answer, on_connect, |_| {}));
    let banned = banned_by_node_0(&c, hostile_peer).await;
    assert!(banned, "node 0 banned the member that broke the limits");
    let s = c.statuses(&[0]).await.remove(0);
    assert!(s.metrics.malformed_messages >= 2, "{:?}", s.metrics);
    c.node(1).author(vec![update(1)]).await.expect("authored");
    assert!(
        c.converge(&[0, 1], LIMIT).await,
        "honest nodes still served"
    );
    task.abort();
}

/// Answers as a peer whose state differs and whose frontier entry shows `author`'s feed at
/// `seq`, serving `events` to every pull and fetch.
fn claiming(
    author: Vec<u8>,
    seq: u64,
    events: Vec<Vec<u8>>,
    more: bool,
) -> impl Fn(&pb::SyncRequest) -> Option<pb::SyncResponse> {
    move |req| {
        Some(pb::SyncResponse {
            kind: Some(match &req.kind {
                Some(Req::Summary(_)) => Resp::Summary(pb::Summary {
                    state_hash: vec![0xee; 32],
                    events: 1_000,
                    heads: Vec::new(),
                }),
                // The opening fingerprint is answered with the whole list (one entry);
                // the node's side of the differences, with nothing.
                Some(Req::Reconcile(r)) if r.ranges.iter().any(|r| !r.fingerprint.is_empty()) => {
                    Resp::Reconcile(pb::Reconcile {
                        ranges: vec![pb::Range {
                            mode: pb::RangeMode::Entries as i32,
                            entries: vec![pb::FrontierEntry {
                                author: author.clone(),
                                seq,
                                head: vec![0xab; 32],
                                forked: 0,
                            }],
                            ..Default::default()
                        }],
                    })
                }
                Some(Req::Reconcile(_)) => Resp::Reconcile(pb::Reconcile::default()),
                _ => Resp::Events(pb::Events {
                    events: events.clone(),
                    more,
                }),
            }),
        })
    }
}

/// A member's node makes events by 10,000 fresh keys that no member holds, gossips them
/// and serves them in sync pages. Honest nodes store none of them, keep at most the
/// quarantine's cap apart, ban the sender, and keep syncing each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_injecting_events_by_unknown_keys_is_capped_and_banned() {
    const INJECTED: usize = 10_000;
    let c = Cluster::found_running(3, 2, Transport::Tcp).await;
    assert!(c.converge(&[0, 1], LIMIT).await);
    let target = c.addrs[0].clone().expect("address");
    let now = mutual_node::now_ms();
    let junk: Vec<Vec<u8>> = (0..INJECTED)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            seed[31] = 0x5a;
            let key = mutual_protocol::keys::Keypair::from_seed(&seed).expect("key");
            let mut w = FeedWriter::resume(key, c.network(), None);
            w.sign(now, vec![c.genesis.id], update(i as u32)).to_wire()
        })
        .collect();
    let swarm = hostile(2, target).await;
    let hostile_peer = *swarm.local_peer_id();
    let own_topic = topic(&c.network());
    let gossiped = junk.clone();
    let mut next = 0;
    let on_tick = move |s: &mut Swarm<Behaviour>| {
        let _ = s.behaviour_mut().gossip.subscribe(&own_topic);
        for _ in 0..200 {
            if next >= gossiped.len() {
                return;
            }
            if s.behaviour_mut()
                .gossip
                .publish(own_topic.clone(), gossiped[next].clone())
                .is_err()
            {
                return;
            }
            next += 1;
        }
    };
    let page: Vec<Vec<u8>> = junk.iter().take(1_000).cloned().collect();
    let answer = claiming(vec![0x11; 32], 1, page, true);
    let task = tokio::spawn(drive(swarm, LIMIT, answer, |_, _| {}, on_tick));
    c.node(1)
        .author((0..20).map(update).collect())
        .await
        .expect("authored");
    assert!(
        banned_by_node_0(&c, hostile_peer).await,
        "node 0 banned the member injecting unknown authors"
    );
    assert!(
        c.converge(&[0, 1], LIMIT).await,
        "honest nodes keep syncing"
    );
    for n in [0, 1] {
        let strangers = c
            .node(n)
            .query(|r| {
                let m = r.state().membership();
                r.events_in_order()
                    .filter(|e| !m.is_known(&e.event.author))
                    .count()
            })
            .await
            .expect("query");
        assert_eq!(strangers, 0, "node {n} stored an event by an unknown key");
    }
    for s in c.statuses(&[0, 1]).await {
        assert!(
            s.quarantined <= MAX_QUARANTINE_PER_PEER,
            "{} kept apart, over the per-peer cap",
            s.quarantined
        );
    }
    task.abort();
}

fn refused() -> pb::SyncResponse {
    pb::SyncResponse {
        kind: Some(Resp::Refused(pb::Refused {
            reason: "no".into(),
        })),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_networks_events_replayed_are_refused_and_the_member_banned() {
    let c = Cluster::found_running(3, 2, Transport::Tcp).await;
    assert!(c.converge(&[0, 1], LIMIT).await);
    let target = c.addrs[0].clone().expect("address");
    // A second network in which the hostile member's key is a practice's: its events are
    // well signed by a member of this network, but belong to the other one.
    let other = pb::Genesis {
        name: "Another partnership".into(),
        practices: vec![practice(2)],
        nonce: b"other".to_vec(),
        ..Default::default()
    };
    let (mut w, genesis) = FeedWriter::found(node_key(2), mutual_node::now_ms(), other);
    let replayed: Vec<Vec<u8>> = std::iter::once(genesis.to_wire())
        .chain((0..6).map(|i| {
            w.sign(mutual_node::now_ms(), vec![genesis.id], update(i))
                .to_wire()
        }))
        .collect();
    let swarm = hostile(2, target).await;
    let hostile_peer = *swarm.local_peer_id();
    let own_topic = topic(&c.network());
    let gossiped = replayed.clone();
    let mut next = 0;
    let on_tick = move |s: &mut Swarm<Behaviour>| {
        // Replayed on this network's gossip topic, one a tick, until someone listens.
        let _ = s.behaviour_mut().gossip.subscribe(&own_topic);
        if s.behaviour_mut()
            .gossip
            .publish(own_topic.clone(), gossiped[next % gossiped.len()].clone())
            .is_ok()
        {
            next += 1;
        }
    };
    let answer = claiming(node_key(2).public().as_bytes().to_vec(), 6, replayed, false);
    let task = tokio::spawn(drive(swarm, LIMIT, answer, |_, _| {}, on_tick));
    c.node(1)
        .author((0..10).map(update).collect())
        .await
        .expect("authored");
    assert!(
        banned_by_node_0(&c, hostile_peer).await,
        "node 0 banned the member replaying another network's events"
    );
    assert!(c.converge(&[0, 1], LIMIT).await, "honest nodes converge");
    let (foreign, from_2) = c
        .node(0)
        .query(move |r| (r.knows(&genesis.id), r.feed_head(&node_key(2).public())))
        .await
        .expect("query");
    assert!(!foreign, "the other network's genesis is not kept");
    assert_eq!(from_2, None, "no replayed event was stored");
    let s = c.statuses(&[0]).await.remove(0);
    assert!(s.metrics.invalid_events >= 4, "{:?}", s.metrics);
    assert_eq!((s.pending, s.held), (0, 0));
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_floods_and_sync_request_spam_get_the_member_banned() {
    let c = Cluster::found_running(3, 2, Transport::Tcp).await;
    c.node(1)
        .author((0..10).map(update).collect())
        .await
        .expect("authored");
    assert!(c.converge(&[0, 1], LIMIT).await);
    let known: Vec<Vec<u8>> = c
        .node(0)
        .query(|r| r.events_in_order().map(|e| e.to_wire()).collect())
        .await
        .expect("query");
    let stored_before = c.statuses(&[0]).await[0].events;
    let target = c.addrs[0].clone().expect("address");
    let swarm = hostile(2, target).await;
    let hostile_peer = *swarm.local_peer_id();
    let network = c.network().as_bytes().to_vec();
    let summary = pb::SyncRequest {
        network,
        kind: Some(Req::Summary(pb::Summary {
            state_hash: vec![0xee; 32],
            events: 0,
            heads: Vec::new(),
        })),
    };
    // Hundreds of requests at once, far over the per-peer budget.
    let on_connect = move |s: &mut Swarm<Behaviour>, peer| {
        for _ in 0..(MAX_REQUEST_BURST as usize * 5) {
            s.behaviour_mut().sync.send_request(&peer, summary.clone());
        }
    };
    // Every pull and fetch answered with the same page of events the node already has.
    let answer = claiming(node_key(1).public().as_bytes().to_vec(), 1_000, known, true);
    let task = tokio::spawn(drive(swarm, LIMIT, answer, on_connect, |_| {}));
    assert!(
        banned_by_node_0(&c, hostile_peer).await,
        "node 0 banned the member spamming requests"
    );
    let s = c.statuses(&[0]).await.remove(0);
    assert!(
        s.metrics.rate_limited >= 10,
        "requests over the budget were refused: {:?}",
        s.metrics
    );
    assert_eq!(s.events, stored_before, "duplicates added nothing");
    c.node(1).author(vec![update(99)]).await.expect("authored");
    assert!(
        c.converge(&[0, 1], LIMIT).await,
        "honest nodes still served"
    );
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_forwarding_and_answering_does_not_stall_the_others() {
    let c = Cluster::found_running(3, 2, Transport::Tcp).await;
    assert!(c.converge(&[0, 1], LIMIT).await);
    let target = c.addrs[0].clone().expect("address");
    let swarm = hostile(2, target).await;
    let hostile_peer = *swarm.local_peer_id();
    let own_topic = topic(&c.network());
    // It subscribes (so it is in the gossip mesh), forwards nothing (it validates nothing)
    // and holds every sync request unanswered until the node gives up on it.
    let on_tick = move |s: &mut Swarm<Behaviour>| {
        let _ = s.behaviour_mut().gossip.subscribe(&own_topic);
    };
    let task = tokio::spawn(drive(swarm, LIMIT, |_| None, |_, _| {}, on_tick));
    assert!(
        wait_for(LIMIT, || async {
            let s = c.statuses(&[0]).await.remove(0);
            s.peers.contains(&hostile_peer.to_string())
        })
        .await,
        "the silent member is connected"
    );
    for round in 0..5 {
        c.node(1)
            .author((0..5).map(|i| update(round * 10 + i)).collect())
            .await
            .expect("authored");
        c.node(0)
            .author(vec![update(500 + round)])
            .await
            .expect("authored");
    }
    assert!(
        c.converge(&[0, 1], LIMIT).await,
        "honest nodes converge beside a silent member"
    );
    task.abort();
}
