//! Members that misbehave are banned while honest nodes carry on (issue "The node, part
//! 1"). The hostile nodes are raw libp2p swarms with members' keys, built from the node's
//! own behaviour so that they pass the gate, then answering and asking with garbage.

use futures::StreamExt;
use libp2p::request_response::{self, Message};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, Swarm};
use mutual_node::keyfile::libp2p_keypair;
use mutual_node::limits::{MAX_FETCH_IDS, MAX_SYNC_REQUEST_BYTES};
use mutual_node::net::{build_swarm, Behaviour, BehaviourEvent};
use mutual_proto::v1 as pb;
use mutual_protocol::event::FeedWriter;
use mutual_tests::{node_key, update, wait_for, Cluster, Transport};
use pb::sync_request::Kind as Req;
use pb::sync_response::Kind as Resp;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

async fn hostile(key: usize, target: Multiaddr) -> Swarm<Behaviour> {
    let mut swarm = build_swarm(libp2p_keypair(&node_key(key)), false).expect("swarm");
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

/// Drives `swarm` for at most `limit`, answering every sync request with `answer` and
/// calling `on_connect` once per new connection.
async fn drive(
    mut swarm: Swarm<Behaviour>,
    limit: Duration,
    answer: impl Fn(&pb::SyncRequest) -> pb::SyncResponse,
    mut on_connect: impl FnMut(&mut Swarm<Behaviour>, libp2p::PeerId),
) {
    let deadline = tokio::time::Instant::now() + limit;
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, swarm.next()).await {
        match ev {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => on_connect(&mut swarm, peer_id),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            })) => {
                let _ = swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, answer(&request));
            }
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
    let answer = move |req: &pb::SyncRequest| pb::SyncResponse {
        kind: Some(match &req.kind {
            Some(Req::Summary(_)) => Resp::Summary(pb::Summary {
                state_hash: vec![0xee; 32],
                events: 1_000_000,
            }),
            Some(Req::Frontier(_)) => Resp::Frontier(pb::Frontier {
                entries: vec![pb::FrontierEntry {
                    author: me.clone(),
                    seq: 1_000,
                    head: vec![0xab; 32],
                    forked: 0,
                }],
            }),
            _ => Resp::Events(pb::Events {
                events: bad.clone(),
                more: true,
            }),
        }),
    };
    let task = tokio::spawn(drive(swarm, LIMIT, answer, |_, _| {}));
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
    let answer = |_: &pb::SyncRequest| pb::SyncResponse {
        kind: Some(Resp::Refused(pb::Refused {
            reason: "no".into(),
        })),
    };
    let task = tokio::spawn(drive(swarm, LIMIT, answer, on_connect));
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
