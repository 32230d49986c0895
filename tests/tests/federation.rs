//! Federation over real libp2p on loopback (docs/FEDERATION.md): three partnerships, two
//! of which link by their own partners' votes while the third is refused at the door;
//! aid agreed across networks; joint motions decided by each network under its own deed;
//! a peer of the other network that asks for internal events gets nothing of them on the
//! wire; a node that can reach no other node does not sign, and one restored from an old
//! copy of its store does not fork its federation feed;
//! and one side leaves.

use futures::StreamExt;
use libp2p::request_response::{self, Message};
use libp2p::swarm::SwarmEvent;
use libp2p::{gossipsub, Multiaddr};
use mutual_node::federation::FedLog;
use mutual_node::keyfile::libp2p_keypair;
use mutual_node::net::{build_swarm, topic, BehaviourEvent};
use mutual_node::node::{NodeError, NodeHandle};
use mutual_node::store::{SledStore, Store, STORE_DIR};
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, FeedWriter, SignedEvent};
use mutual_protocol::federation::FederationId;
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::keys::Keypair;
use mutual_protocol::limits::MAX_CLOCK_SKEW_MS;
use mutual_protocol::replica::Replica;
use mutual_tests::{
    copy, copy_dir, node_key, partner_key, quick_deed, serve_api, update, wait_for, Cluster,
    Founding, Transport,
};
use pb::sync_request::Kind as Req;
use pb::sync_response::Kind as Resp;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(90);
/// Minutes a test motion stays open.
const VOTING_MS: u64 = 2 * 60_000;
/// How far the clocks move to let a vote and its grace period pass.
const PASS_MS: i64 = (VOTING_MS + MAX_CLOCK_SKEW_MS + 60_000) as i64;
const PARTNERS: usize = 3;

async fn cluster(name: &str, base: usize, practices: usize, running: usize, bp: u32) -> Cluster {
    Cluster::found_with(
        Founding {
            name: name.into(),
            base,
            practices,
            running,
            partners: PARTNERS,
            deed: quick_deed(bp),
            spread: false,
        },
        Transport::Tcp,
    )
    .await
}

/// Partner 0 proposes `motion`; the partners vote as `votes` says (true: for).
async fn decide(c: &Cluster, mut motion: pb::Motion, votes: [bool; PARTNERS]) -> EventId {
    let now = c.now_ms();
    motion.closes_at_ms = now + VOTING_MS;
    let id = c.sign_as(&partner_key(c.base), Body::Motion(motion)).await;
    for (j, v) in votes.iter().enumerate() {
        let choice = if *v {
            pb::Choice::For
        } else {
            pb::Choice::Against
        };
        let ballot = pb::Ballot {
            motion: id.as_bytes().to_vec(),
            choice: choice as i32,
            ..Default::default()
        };
        c.sign_as(&partner_key(c.base + j), Body::Ballot(ballot))
            .await;
    }
    id
}

/// Lets the votes close: once every running node holds every ballot witnessed by another
/// practice's node (which the nodes do by themselves within seconds, docs/GOVERNANCE.md
/// §5.5), the clocks move past the voting and grace periods, and a practice signs
/// something, which closes them in every node's fold.
async fn pass_time(c: &mut Cluster) {
    let running: Vec<&NodeHandle> = c.nodes.iter().flatten().collect();
    let witnessed = wait_for(LIMIT, || async {
        for n in &running {
            let done = n
                .query(|r| {
                    r.state()
                        .governance()
                        .motions()
                        .all(|m| m.closed.is_some() || m.unwitnessed.is_empty())
                })
                .await
                .expect("query");
            if !done {
                return false;
            }
        }
        true
    })
    .await;
    assert!(witnessed, "the nodes witness every ballot");
    c.advance(PASS_MS).await;
    c.node(0)
        .author(vec![update(7100)])
        .await
        .expect("authored");
}

fn general(title: &str) -> pb::Motion {
    pb::Motion {
        kind: pb::DecisionKind::General as i32,
        title: title.into(),
        ..Default::default()
    }
}

/// Runs `f` on a node's log of `fid` (None while the node has no such log).
async fn fed<R: Send + 'static>(
    node: &NodeHandle,
    fid: FederationId,
    f: impl FnOnce(&mutual_protocol::federation::FederationState, String) -> R + Send + 'static,
) -> Option<R> {
    node.query_federations(move |_, feds| {
        feds.get(&fid)
            .map(|l| f(l.replica.state(), l.replica.state_hash().to_string()))
    })
    .await
    .expect("query")
}

/// Waits until every node in `nodes` has `fid`'s log, `check` holds on each, and their
/// federation state hashes agree.
async fn all_agree(
    nodes: &[&NodeHandle],
    fid: FederationId,
    check: impl Fn(&mutual_protocol::federation::FederationState) -> bool + Clone + Send + 'static,
) -> bool {
    wait_for(LIMIT, || {
        let check = check.clone();
        async move {
            let mut hashes = Vec::new();
            for n in nodes {
                let c = check.clone();
                match fed(n, fid, move |st, h| (c(st), h)).await {
                    Some((true, h)) => hashes.push(h),
                    _ => return false,
                }
            }
            hashes.windows(2).all(|w| w[0] == w[1])
        }
    })
    .await
}

const TOKEN: &str = "federation-test-token";

/// One HTTP/1.1 request to a local API; returns the status and the JSON body.
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(LIMIT, s.read_to_end(&mut out))
        .await
        .expect("answered in time")
        .expect("read");
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// What a peer of network B saw on the wire from A's node.
#[derive(Default, Debug)]
struct Seen {
    gossip: Vec<(gossipsub::TopicHash, Vec<u8>)>,
    sync_events: Vec<Vec<u8>>,
    refused: usize,
    answered_fed: usize,
    /// Connections made and lost, and requests that failed (to explain a failure).
    log: Vec<String>,
}

/// A practice node of network B (a real B practice's key, its node not otherwise
/// running) connects to `target` in network A, takes part in the federation's gossip and
/// sync, then asks for A's own log and subscribes to A's own topic. Returns what it
/// received.
async fn wire_peer(
    key: Keypair,
    target: Multiaddr,
    fid: FederationId,
    a_net: NetworkId,
    limit: Duration,
) -> Seen {
    let mut swarm = build_swarm(libp2p_keypair(&key), false).expect("swarm").0;
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().expect("addr"))
        .expect("listen");
    let Some(libp2p::multiaddr::Protocol::P2p(a0)) = target.iter().last() else {
        panic!("no peer id in {target}");
    };
    swarm.behaviour_mut().gate.set_allowed([a0].into());
    swarm.dial(target).expect("dial");
    let fed_topic = topic(&fid);
    swarm
        .behaviour_mut()
        .gossip
        .subscribe(&fed_topic)
        .expect("subscribe");
    let mut seen = Seen::default();
    let deadline = tokio::time::Instant::now() + limit;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut ticks = 0u32;
    let mut pending: Vec<(request_response::OutboundRequestId, bool)> = Vec::new();
    loop {
        let ev = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            _ = tick.tick() => {
                ticks += 1;
                let ask = |network: &NetworkId| pb::SyncRequest {
                    network: network.as_bytes().to_vec(),
                    kind: Some(Req::Pull(pb::Pull {
                        wants: vec![pb::FeedWant {
                            author: node_key(0).public().as_bytes().to_vec(),
                            from_seq: 1,
                        }],
                    })),
                };
                if ticks == 4 {
                    // The federation's log: answered.
                    let id = swarm.behaviour_mut().sync.send_request(&a0, ask(&fid));
                    pending.push((id, true));
                }
                if ticks == 8 {
                    // A's own log: refused (and counted against the peer).
                    let id = swarm.behaviour_mut().sync.send_request(&a0, ask(&a_net));
                    pending.push((id, false));
                }
                if ticks == 12 {
                    // A's own gossip: the node cuts this peer off.
                    let _ = swarm.behaviour_mut().gossip.subscribe(&topic(&a_net));
                }
                continue;
            }
            ev = swarm.next() => match ev { Some(ev) => ev, None => break },
        };
        match ev {
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::Message {
                message,
                ..
            })) => seen.gossip.push((message.topic, message.data)),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            })) => {
                let fed_req = pending
                    .iter()
                    .find(|(id, _)| *id == request_id)
                    .map(|(_, f)| *f);
                match response.kind {
                    Some(Resp::Events(e)) => {
                        if fed_req == Some(true) {
                            seen.answered_fed += 1;
                        }
                        seen.sync_events.extend(e.events);
                    }
                    Some(Resp::Refused(_)) => seen.refused += 1,
                    _ => {}
                }
            }
            SwarmEvent::ConnectionEstablished { .. }
            | SwarmEvent::ConnectionClosed { .. }
            | SwarmEvent::OutgoingConnectionError { .. }
            | SwarmEvent::Behaviour(BehaviourEvent::Sync(
                request_response::Event::OutboundFailure { .. },
            )) => seen.log.push(format!("{ev:?}")),
            _ => {}
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_networks_link_share_aid_decide_jointly_and_one_leaves() {
    // A: 2 practices, ordinary resolutions by majority. B: 3 practices (2 running; the
    // third's key plays a peer on the wire), ordinary resolutions need 75%. C: unlinked.
    let mut a = cluster("Riverside Partnership", 0, 2, 2, 5_000).await;
    let mut b = cluster("Hilltop Partnership", 10, 3, 2, 7_500).await;
    let c = cluster("Moorland Partnership", 20, 1, 1, 5_000).await;
    assert!(a.converge(&[0, 1], LIMIT).await);
    assert!(b.converge(&[0, 1], LIMIT).await);

    // The charter, from each network's card, signed by one of A's nodes: over the API.
    let (api_a, api_b) = (serve_api(&a, 0, TOKEN).await, serve_api(&b, 0, TOKEN).await);
    let mut cards = Vec::new();
    for api in [api_a, api_b] {
        let (status, card) = http(api, "GET", "/federations/card", None).await;
        assert_eq!(status, 200, "{card}");
        cards.push(card);
    }
    assert_eq!(cards[0]["network"], a.network().to_string());
    let (status, signed) = http(
        api_a,
        "POST",
        "/federations/charter",
        Some(serde_json::json!({
            "name": "Northern Alliance",
            "cards": cards,
            "share_aid_requests": true,
            "share_statements": true,
            "share_joint_motions": true,
            "joint_requires_all": true,
        })),
    )
    .await;
    assert_eq!(status, 200, "{signed}");
    let wire = hex::decode(signed["charter_event"].as_str().expect("hex")).expect("hex");
    let charter_event = SignedEvent::decode(&wire).expect("a signed charter");
    let fid = NetworkId(charter_event.id);
    assert_eq!(signed["federation"], fid.to_string());
    // A charter that does not name the signing node's network is refused.
    let (status, _) = http(
        api_a,
        "POST",
        "/federations/charter",
        Some(serde_json::json!({ "name": "Not ours", "cards": [cards[1].clone(), cards[1].clone()] })),
    )
    .await;
    assert_eq!(
        status, 422,
        "a charter that does not name the signer's network"
    );

    // Each network links by its own partners' vote under its own deed.
    for x in [&a, &b] {
        let link = pb::Motion {
            kind: pb::DecisionKind::LinkFederation as i32,
            title: "Join the Northern Alliance".into(),
            charter_event: charter_event.to_wire(),
            ..Default::default()
        };
        decide(x, link, [true; PARTNERS]).await;
    }
    pass_time(&mut a).await;
    pass_time(&mut b).await;
    let (a0, a1, b0, b1) = (a.node(0), a.node(1), b.node(0), b.node(1));
    let nodes = [a0, a1, b0, b1];
    let live = all_agree(&nodes, fid, |st| st.is_live()).await;
    if !live {
        for n in &nodes {
            let v = n
                .query_federations(move |own, feds| {
                    let links: Vec<String> = own
                        .state()
                        .governance()
                        .motions()
                        .map(|m| {
                            format!(
                                "{:?} closed={:?}",
                                m.kind,
                                m.closed.as_ref().map(|c| (&c.effect, c.tally.passed))
                            )
                        })
                        .collect();
                    let f = feds.get(&fid).map(|l| {
                        format!(
                            "events {} parties {:?}",
                            l.replica.len(),
                            l.replica
                                .state()
                                .parties()
                                .map(|p| (p.joined.is_some(), p.roster.len()))
                                .collect::<Vec<_>>()
                        )
                    });
                    (links, f)
                })
                .await;
            eprintln!("DIAG {:?} {:?}", n.status().await.map(|s| s.peers), v);
        }
    }
    assert!(live, "both networks joined, on every node of both");

    // The third network's node is refused at A's door (its own gate set to let it try).
    let refused_before = a0
        .status()
        .await
        .expect("status")
        .metrics
        .connections_refused;
    let mut stranger = build_swarm(libp2p_keypair(&node_key(20)), false)
        .expect("swarm")
        .0;
    let target = a.addrs[0].clone().expect("addr");
    stranger
        .behaviour_mut()
        .gate
        .set_allowed([a0.peer_id()].into());
    stranger.dial(target).expect("dial");
    let c_peer = c.node(0).peer_id().to_string();
    let knocking = tokio::spawn(async move {
        let until = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::time::timeout_at(until, stranger.next())
            .await
            .is_ok()
        {}
    });
    assert!(
        wait_for(LIMIT, || async {
            a0.status()
                .await
                .expect("status")
                .metrics
                .connections_refused
                > refused_before
        })
        .await,
        "the unlinked network's node is refused by the gate"
    );
    assert!(!a0.status().await.expect("status").peers.contains(&c_peer));
    knocking.abort();

    // The API shows the federation live, both networks joined.
    let api_a = serve_api(&a, 0, TOKEN).await;
    let (status, list) = http(api_a, "GET", "/federations", None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list[0]["id"], fid.to_string());
    assert_eq!(list[0]["live"], true);
    assert_eq!(list[0]["link"], "linked");
    assert!(list[0]["networks"]
        .as_array()
        .is_some_and(|n| n.len() == 2 && n.iter().all(|p| p["state"] == "joined")));
    // Each network's roster is anchored in its own genesis, which its nodes carried in.
    assert!(
        list[0]["networks"].as_array().is_some_and(|n| n
            .iter()
            .all(|p| p["anchored"] == true && p["evidence"].as_u64() >= Some(1))),
        "{list}"
    );

    // Aid: A asks (over the API), B offers, A accepts, B countersigns.
    let (status, made) = http(
        api_a,
        "POST",
        &format!("/federations/{fid}/aid"),
        Some(serde_json::json!({
            "action": "request", "role": "GP", "sessions": [format!("{} AM", session_pb().date)],
            "urgency": "soon", "days": 14,
        })),
    )
    .await;
    assert_eq!(
        (status, &made["outcome"]),
        (200, &serde_json::json!("applied")),
        "{made}"
    );
    let req: EventId = made["id"].as_str().expect("id").parse().expect("id");
    assert!(all_agree(&[b1], fid, move |st| st.aid().request(&req).is_some()).await);
    let offer = b1
        .author_in(
            fid,
            vec![Body::AidOffer(pb::AidOffer {
                request: req.as_bytes().to_vec(),
                sessions: vec![session_pb()],
                role: "GP".into(),
                terms: "sessional rate".into(),
            })],
        )
        .await
        .expect("offer")[0];
    assert!(all_agree(&[a0], fid, move |st| st.aid().offer(&offer).is_some()).await);
    let acc = a0
        .author_in(
            fid,
            vec![Body::AidAcceptance(pb::AidAcceptance {
                offer: offer.as_bytes().to_vec(),
                sessions: vec![session_pb()],
            })],
        )
        .await
        .expect("accept")[0];
    assert!(all_agree(&[b1], fid, move |st| st.aid().agreement(&acc).is_some()).await);
    b1.author_in(
        fid,
        vec![Body::AidCountersign(pb::AidCountersign {
            acceptance: acc.as_bytes().to_vec(),
        })],
    )
    .await
    .expect("countersign");
    let binding = move |st: &mutual_protocol::federation::FederationState| {
        st.aid()
            .agreement(&acc)
            .is_some_and(|g| g.status.name() == "binding")
    };
    assert!(
        all_agree(&nodes, fid, binding).await,
        "the countersigned agreement is identical on every node of both networks"
    );

    // A node whose store was rolled back does not fork its feed in the federation's log:
    // it signs there only once a node taking part has shown it its own latest event.
    // A node that can reach no other node of its network or the federation does not
    // sign in either log; it gives up in time and says why.
    alone_node_does_not_sign(&mut a, &mut b, fid).await;
    rolled_back_node_signs_after_its_head(&mut a, &[b.node(0), b.node(1)], fid).await;
    let (a0, a1, b0, b1) = (a.node(0), a.node(1), b.node(0), b.node(1));
    let nodes = [a0, a1, b0, b1];
    assert!(
        all_agree(&nodes, fid, |st| st.statements().count() == 2).await,
        "both statements reach every node"
    );
    for n in nodes {
        let forks = n
            .query_federations(move |_, feds| feds[&fid].replica.forks().len())
            .await
            .expect("query");
        assert_eq!(
            forks, 0,
            "no node saw an equivocation in the federation's log"
        );
    }

    // On the wire: a node of B gets the federation's events and nothing of A's own.
    let wire = tokio::spawn(wire_peer(
        copy(&node_key(12)),
        a.addrs[0].clone().expect("addr"),
        fid,
        a.network(),
        Duration::from_secs(10),
    ));
    tokio::time::sleep(Duration::from_secs(3)).await;
    a0.author((0..5).map(|i| update(8000 + i)).collect())
        .await
        .expect("internal events");
    a0.author_in(
        fid,
        vec![Body::JointStatement(pb::JointStatement {
            title: "Winter pressures".into(),
            text: "We share cover across our networks.".into(),
        })],
    )
    .await
    .expect("statement");
    let seen = wire.await.expect("wire peer");
    let a_net = a.network();
    let mut fed_events = 0;
    for data in seen
        .gossip
        .iter()
        .map(|(_, d)| d)
        .chain(seen.sync_events.iter())
    {
        let ev = SignedEvent::decode(data).expect("a signed event");
        assert_ne!(
            ev.event.network,
            Some(a_net),
            "an internal event of A crossed"
        );
        // A's membership evidence carries only its genesis and its practices' own
        // rotations, revocations and leaves, never its internal business.
        if let Some(Body::FederationEvidence(x)) = &ev.event.body {
            for inner in &x.events {
                let inner = SignedEvent::decode(inner).expect("a signed event");
                assert!(
                    inner.id == a_net.0
                        || matches!(
                            inner.event.body,
                            Some(
                                Body::KeyRotation(_)
                                    | Body::KeyRevocation(_)
                                    | Body::PracticeLeave(_)
                            )
                        ),
                    "A's evidence carried {:?}",
                    inner.event.body
                );
            }
        }
        assert!(ev.event.network == Some(fid) || ev.id == fid.genesis());
        fed_events += 1;
    }
    assert!(
        fed_events >= 1,
        "the federation's events did cross: {seen:?}"
    );
    assert!(
        seen.gossip.iter().all(|(t, _)| *t == topic(&fid).hash()),
        "gossip came only on the federation's topic"
    );
    assert_eq!(
        seen.answered_fed, 1,
        "the federation's log was served: {seen:?}"
    );
    assert_eq!(seen.refused, 1, "A's own log was refused: {seen:?}");
    let m = a0.status().await.expect("status").metrics;
    assert!(m.out_of_scope_requests >= 1, "{m:?}");
    assert!(
        m.out_of_scope_subscriptions >= 1,
        "subscribing to A's own topic got the peer cut off: {m:?}"
    );

    // Joint motions: each network votes under its own deed.
    let joint = |title: &str| {
        Body::JointMotion(pb::JointMotion {
            title: title.into(),
            text: "Put to every network of the alliance.".into(),
        })
    };
    let j = a0
        .author_in(
            fid,
            vec![
                joint("Ask the ICB for winter funding"),
                joint("Shared locum rates"),
            ],
        )
        .await
        .expect("joint motions");
    let (j1, j2) = (j[0], j[1]);
    assert!(all_agree(&[b0], fid, move |st| st.joint_motion(&j2).is_some()).await);
    let on = |x: &Cluster, jm: EventId| pb::Motion {
        federation: fid.as_bytes().to_vec(),
        joint_motion: jm.as_bytes().to_vec(),
        ..general(&format!("Our vote on joint motion {}", x.network()))
    };
    // Two of three for: a majority in A, short of B's 75%.
    decide(&a, on(&a, j1), [true, true, false]).await;
    decide(&b, on(&b, j1), [true, true, false]).await;
    decide(&a, on(&a, j2), [true; PARTNERS]).await;
    decide(&b, on(&b, j2), [true; PARTNERS]).await;
    pass_time(&mut a).await;
    pass_time(&mut b).await;
    let (a0, a1, b0, b1) = (a.node(0), a.node(1), b.node(0), b.node(1));
    let nodes = [a0, a1, b0, b1];
    let (an, bn) = (a.network(), b.network());
    assert!(
        all_agree(&nodes, fid, move |st| {
            let j1 = st.joint_motion(&j1);
            let j2 = st.joint_motion(&j2);
            j1.is_some_and(|r| {
                r.result.map(|x| x.0) == Some(false)
                    && r.decisions.get(&an) == Some(&true)
                    && r.decisions.get(&bn) == Some(&false)
            }) && j2.is_some_and(|r| r.result.map(|x| x.0) == Some(true))
        })
        .await,
        "the first joint motion fails on B's deed, the second passes in both"
    );
    // The partners' page of A's node shows the federation, its networks and each joint
    // motion with each network's decision.
    let page = serve_api(&a, 0, TOKEN).await;
    let browser = crate::web::Browser::start().await;
    browser.goto(page, "federations").await;
    browser.wait_text("Northern Alliance").await;
    let rows = browser.table("Joint motions").await;
    let row = |title: &str| {
        rows.iter()
            .find(|r| r[0] == title)
            .unwrap_or_else(|| panic!("{title} in {rows:?}"))
            .clone()
    };
    let first = row("Ask the ICB for winter funding");
    assert!(first[2].contains("Riverside Partnership: for"), "{first:?}");
    assert!(
        first[2].contains("Hilltop Partnership: against"),
        "{first:?}"
    );
    assert_eq!(first[3], "failed", "{first:?}");
    assert_eq!(row("Shared locum rates")[3], "passed", "{rows:?}");
    let networks = browser.table("Networks").await;
    assert!(
        networks.iter().any(|r| r[0] == "Hilltop Partnership"),
        "{networks:?}"
    );
    browser.screenshot("joint-motions").await;
    browser.asked_only(&[page]).await;
    browser.close().await;

    // Refused in the federation's log: an author on no roster, and internal business.
    let stranger = Keypair::from_seed(&[0x77; 32]).expect("key");
    let heads = a0
        .query_federations(move |_, feds| feds[&fid].replica.heads())
        .await
        .expect("heads");
    let mut w = FeedWriter::resume(stranger, fid, None);
    let by_stranger = w.sign(
        mutual_node::now_ms() + a.clock_offset_ms as u64,
        heads.clone(),
        statement("Not a member"),
    );
    // A user's event the rules refuse is refused at the door, before it is stored.
    let stranger_id = by_stranger.id;
    let e = a0
        .submit_in(fid, by_stranger.to_wire())
        .await
        .expect_err("refused");
    assert!(e.to_string().contains("not a member"), "{e}");
    assert!(
        !a0.query_federations(move |_, feds| feds[&fid].replica.knows(&stranger_id))
            .await
            .expect("query"),
        "nothing of the refused event is kept"
    );
    let mut w = FeedWriter::resume(copy(&node_key(0)), fid, None);
    let internal = w.sign(
        mutual_node::now_ms() + a.clock_offset_ms as u64,
        heads,
        Body::Motion(general("An internal motion")),
    );
    let e = a0
        .submit_in(fid, internal.to_wire())
        .await
        .expect_err("out of scope");
    assert!(e.to_string().contains("does not belong"), "{e}");

    // B leaves by its own vote; nothing new of B's is accepted; history remains.
    let leave = pb::Motion {
        kind: pb::DecisionKind::LeaveFederation as i32,
        title: "Leave the Northern Alliance".into(),
        federation: fid.as_bytes().to_vec(),
        ..Default::default()
    };
    decide(&b, leave, [true, true, false]).await;
    // Both networks' clocks move on together (else B's events would be ahead of A's).
    a.advance(PASS_MS).await;
    pass_time(&mut b).await;
    let bn = b.network();
    assert!(
        all_agree(&[a.node(0), a.node(1)], fid, move |st| st
            .party(&bn)
            .is_some_and(|p| p.left.is_some()))
        .await,
        "A's nodes see that B left"
    );
    // A B node's federation event signed after leaving is refused on A's nodes.
    let b0 = b.node(0);
    let me = node_key(10).public();
    let (last, heads) = b0
        .query_federations(move |_, feds| {
            let r = &feds[&fid].replica;
            (r.feed_head(&me), r.heads())
        })
        .await
        .expect("b's view");
    let mut w = FeedWriter::resume(copy(&node_key(10)), fid, last);
    let late = w.sign(
        mutual_node::now_ms() + b.clock_offset_ms as u64,
        heads,
        statement("After leaving"),
    );
    let a0 = a.node(0);
    // Handed to A's node directly, it is refused before anything is stored.
    let e = a0
        .submit_in(fid, late.to_wire())
        .await
        .expect_err("refused");
    assert!(e.to_string().contains("left"), "{e}");
    assert!(
        fed(a0, fid, move |st, _| binding(st)).await == Some(true),
        "the agreement made before leaving remains"
    );
}

fn statement(title: &str) -> Body {
    Body::JointStatement(pb::JointStatement {
        title: title.into(),
        text: String::new(),
    })
}

/// Every other running node of `a` and `b` is stopped and node 1 of `a` started again
/// with a short head timeout. It cannot learn its own latest event in either log, so a
/// statement in `fid`'s log fails with `FederationHeadUnconfirmed` and an update in its
/// network's log with `HeadUnconfirmed`, each after waiting out that timeout (and not the
/// harness's usual one), and neither is signed. Every node is then started again where
/// it listened before, so the charter's addresses still reach it.
async fn alone_node_does_not_sign(a: &mut Cluster, b: &mut Cluster, fid: FederationId) {
    const SHORT: Duration = Duration::from_secs(2);
    let (in_a, in_b) = (a.running(), b.running());
    assert!(in_a.contains(&1), "node 1 of the first network is running");
    for &i in &in_a {
        a.stop(i).await;
    }
    for &i in &in_b {
        b.stop(i).await;
    }
    let mut short = a.config_in_place(1);
    short.head_timeout = SHORT;
    let usual = a.config(1).head_timeout;
    a.start_with(1, short).await;
    let me = node_key(a.base + 1).public();
    let heads = move |r: &Replica, feds: &BTreeMap<FederationId, FedLog>| {
        (
            r.feed_head(&me).map(|h| h.0),
            feds.get(&fid)
                .and_then(|l| l.replica.feed_head(&me))
                .map(|h| h.0),
        )
    };
    let before = a.node(1).query_federations(heads).await.expect("query");
    let asked = Instant::now();
    let fed_err = a
        .node(1)
        .author_in(fid, vec![statement("Signed alone")])
        .await
        .expect_err("no node showed it its federation feed");
    let waited = asked.elapsed();
    assert!(
        matches!(fed_err, NodeError::FederationHeadUnconfirmed(f) if f == fid),
        "{fed_err}"
    );
    assert!(
        waited >= SHORT && waited < usual,
        "gave up after its own head timeout: {waited:?}"
    );
    let asked = Instant::now();
    let own_err = a
        .node(1)
        .author(vec![update(99)])
        .await
        .expect_err("no node showed it its own feed");
    let waited = asked.elapsed();
    assert!(matches!(own_err, NodeError::HeadUnconfirmed), "{own_err}");
    assert!(
        waited >= SHORT && waited < usual,
        "gave up after its own head timeout: {waited:?}"
    );
    assert_eq!(
        a.node(1).query_federations(heads).await.expect("query"),
        before,
        "nothing was signed in either log"
    );
    a.stop(1).await;
    for &i in &in_a {
        a.start_with(i, a.config_in_place(i)).await;
    }
    for &i in &in_b {
        b.start_with(i, b.config_in_place(i)).await;
    }
}

/// Node 1 of `c` signs a statement in `fid`'s log after a backup of its data directory is
/// taken, and its network's node 0 and the federation's `others` nodes get it; the backup is restored; the node,
/// started again, signs another statement, which must follow the first in its feed rather
/// than reuse its seq.
async fn rolled_back_node_signs_after_its_head(
    c: &mut Cluster,
    others: &[&NodeHandle],
    fid: FederationId,
) {
    c.stop(1).await;
    let old = tempfile::tempdir().expect("tempdir");
    copy_dir(c.dir(1), old.path()).expect("backup");
    c.start(1).await;
    let me = node_key(c.base + 1).public();
    let head = move |_: &Replica, feds: &BTreeMap<FederationId, FedLog>| {
        feds.get(&fid)
            .and_then(|l| l.replica.feed_head(&me))
            .map(|h| h.0)
    };
    let before = c.node(1).query_federations(head).await.expect("query");
    assert!(
        before.is_some(),
        "the node has signed in the federation before"
    );
    let first = c
        .node(1)
        .author_in(fid, vec![statement("Signed after the backup")])
        .await
        .expect("statement")[0];
    let seq_of = move |id: EventId| {
        move |_: &Replica, feds: &BTreeMap<FederationId, FedLog>| {
            feds[&fid].replica.get(&id).map(|e| e.event.seq)
        }
    };
    let first_seq = c
        .node(1)
        .query_federations(seq_of(first))
        .await
        .expect("query")
        .expect("stored");
    let mut holders = vec![c.node(0)];
    holders.extend_from_slice(others);
    assert!(
        all_agree(&holders, fid, move |st| st
            .statements()
            .any(|s| s.id == first))
        .await,
        "every other node of the federation holds the statement"
    );
    c.stop(1).await;
    std::fs::remove_dir_all(c.dir(1)).expect("remove");
    copy_dir(old.path(), c.dir(1)).expect("restore");
    {
        // Read before the node starts: once started, a peer may bring the statement back
        // before it could be asked.
        let store = SledStore::open(&c.dir(1).join(STORE_DIR))
            .and_then(|s| s.open_federation(&fid))
            .expect("the restored store");
        assert_eq!(
            store.event(&first).expect("read"),
            None,
            "the restored store lacks the statement"
        );
    }
    c.start(1).await;
    let second = c
        .node(1)
        .author_in(fid, vec![statement("Signed after the restore")])
        .await
        .expect("signs once it has learned its head")[0];
    let seq = c
        .node(1)
        .query_federations(seq_of(second))
        .await
        .expect("query")
        .expect("stored");
    assert_eq!(
        seq,
        first_seq + 1,
        "the new event follows the one signed after the backup"
    );
}

fn session_pb() -> pb::Session {
    pb::Session {
        date: mutual_node::demo::date_after(mutual_node::now_ms(), 20),
        part: "AM".into(),
    }
}
