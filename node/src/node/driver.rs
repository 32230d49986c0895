//! The node's task: the core, its sled store and the libp2p swarm, and the I/O between
//! them (see the parent module).

use crate::clock_ms;
use crate::core::{self, Action, CoreConfig, Input, Local, LogId, NodeCore, Now, Reply};
use crate::keyfile::{libp2p_keypair, peer_of, public_key_of_peer};
use crate::net::{build_swarm, topic, Bandwidth, Behaviour, BehaviourEvent};
use crate::store::{SledStore, Store};
use futures::StreamExt;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::SwarmEvent;
use libp2p::{gossipsub, identify, mdns, Multiaddr, PeerId, Swarm};
use mutual_proto::v1 as pb;
use mutual_protocol::event::SignedEvent;
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::keys::Keypair;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

use crate::core::{NodeError, Submitted};

use super::handle::{Change, Command, NodeHandle};
use super::{Config, Network, COMMAND_QUEUE};

/// A caller waiting for the core's reply.
enum Waiter {
    Authored(oneshot::Sender<Result<Vec<EventId>, NodeError>>),
    Submitted(oneshot::Sender<Result<Submitted, NodeError>>),
    Charter(oneshot::Sender<Result<SignedEvent, NodeError>>),
    PaperStored(oneshot::Sender<Result<core::PaperStored, NodeError>>),
    Paper(oneshot::Sender<Result<Option<Vec<u8>>, NodeError>>),
}

/// The driver: the core and the I/O around it.
pub(super) struct Driver {
    swarm: Swarm<Behaviour>,
    /// The transports' byte counters.
    bandwidth: Bandwidth,
    core: NodeCore<SledStore>,
    /// When the driver started: the origin of the core's monotonic clock.
    started: Instant,
    clock_offset_ms: i64,
    /// Each subscribed topic's log.
    topics: HashMap<gossipsub::TopicHash, LogId>,
    next_ticket: u64,
    waiters: HashMap<u64, Waiter>,
    gossip: HashMap<u64, (gossipsub::MessageId, PeerId)>,
    channels: HashMap<u64, ResponseChannel<pb::SyncResponse>>,
    outbound: HashMap<OutboundRequestId, u64>,
    /// Peers' paper requests waiting for the core's answer, by token.
    pub(super) paper_channels: HashMap<u64, ResponseChannel<pb::PaperResponse>>,
    /// This node's paper requests, by the core's request id.
    pub(super) paper_outbound: HashMap<OutboundRequestId, u64>,
    listen: Vec<Multiaddr>,
    /// What the node holds, as last told to watchers (the web page's live updates).
    changes: watch::Sender<Change>,
}

/// Opens the store, loads it, starts listening and runs the node on the current tokio
/// runtime. Returns once the node is listening.
pub async fn start(
    keypair: Keypair,
    network: Network,
    config: Config,
) -> Result<NodeHandle, NodeError> {
    let mut store = SledStore::open(&config.data_dir)?;
    let me = keypair.public();
    let net_id = match (&network, store.network()) {
        (Network::Stored, Some(n)) => n,
        (Network::Stored, None) => {
            return Err(NodeError::Start(format!(
                "the store at {} belongs to no network yet: found one or join one first",
                config.data_dir.display()
            )))
        }
        (Network::Found(g), stored) => {
            let n = NetworkId(g.id);
            if g.event.author != me {
                return Err(NodeError::Start(
                    "the genesis must be signed by this node's key".into(),
                ));
            }
            if stored.is_some_and(|s| s != n) {
                return Err(NodeError::Start(format!(
                    "the store belongs to network {}, not to the genesis being founded",
                    stored.map(|s| s.to_string()).unwrap_or_default()
                )));
            }
            n
        }
        (Network::Join(n), _) => *n,
    };
    store.set_network(net_id)?;
    let bootstrap = config
        .bootstrap
        .iter()
        .filter_map(|a| match a.iter().last() {
            Some(Protocol::P2p(p)) => match public_key_of_peer(&p) {
                Some(k) => Some((k, a.to_string())),
                None => {
                    tracing::warn!(%a, "a bootstrap peer without an ed25519 key is ignored");
                    None
                }
            },
            _ => None,
        })
        .collect();
    let core_config = CoreConfig {
        sync_interval_ms: config.sync_interval.as_millis() as u64,
        head_timeout_ms: config.head_timeout.as_millis() as u64,
        bootstrap,
        defect: None,
        paper_store_bytes: config.paper_store_bytes,
        ..CoreConfig::default()
    };
    let started = Instant::now();
    let now = Now {
        wall_ms: clock_ms(config.clock_offset_ms),
        mono_ms: 0,
    };
    let genesis = match &network {
        Network::Found(g) => Some(g.as_ref()),
        _ => None,
    };
    let kp = Keypair::from_seed(&keypair.seed()).expect("a valid seed");
    let (core, actions) = NodeCore::open(kp, net_id, store, genesis, core_config, now)?;
    let (mut swarm, bandwidth) = build_swarm(libp2p_keypair(&keypair), config.mdns)
        .map_err(|e| NodeError::Start(e.to_string()))?;
    for addr in &config.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NodeError::Start(format!("cannot listen on {addr}: {e}")))?;
    }
    let peer_id = *swarm.local_peer_id();
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
    let (changes, watch_rx) = watch::channel(Change::default());
    let mut d = Driver {
        swarm,
        bandwidth,
        core,
        started,
        clock_offset_ms: config.clock_offset_ms,
        topics: HashMap::new(),
        next_ticket: 0,
        waiters: HashMap::new(),
        gossip: HashMap::new(),
        channels: HashMap::new(),
        outbound: HashMap::new(),
        paper_channels: HashMap::new(),
        paper_outbound: HashMap::new(),
        listen: Vec::new(),
        changes,
    };
    d.perform(actions);
    // Wait until every listener is up, so the caller can read the addresses.
    let want = config.listen.len();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while d.listen.len() < want {
        match tokio::time::timeout_at(deadline, d.swarm.select_next_some()).await {
            Ok(ev) => d.on_swarm(ev),
            Err(_) => break,
        }
    }
    d.tell_changes();
    tokio::spawn(d.run(rx));
    Ok(NodeHandle {
        tx,
        peer_id,
        network: net_id,
        changes: watch_rx,
    })
}

impl Driver {
    /// The core's clocks now.
    fn now(&self) -> Now {
        Now {
            wall_ms: clock_ms(self.clock_offset_ms),
            mono_ms: self.started.elapsed().as_millis() as u64,
        }
    }

    /// Hands the core an input and carries out what it asks.
    pub(super) fn feed(&mut self, input: Input) {
        let actions = self.core.handle(self.now(), input);
        self.perform(actions);
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let done = loop {
            let wake = self.started + Duration::from_millis(self.core.next_timeout());
            tokio::select! {
                ev = self.swarm.select_next_some() => self.on_swarm(ev),
                cmd = rx.recv() => match cmd {
                    Some(Command::Shutdown(done)) => break Some(done),
                    Some(c) => self.on_command(c),
                    None => break None,
                },
                _ = tokio::time::sleep_until(wake.into()) => self.feed(Input::Timer),
            }
            self.tell_changes();
        };
        let actions = self.core.shutdown(self.now());
        self.perform(actions);
        // Close the store (releasing its lock) and the connections before reporting done.
        drop(self);
        tracing::info!("node stopped");
        if let Some(done) = done {
            let _ = done.send(());
        }
    }

    /// Tells watchers what the node holds, if it changed.
    fn tell_changes(&self) {
        let r = self.core.replica();
        let now = Change {
            events: r.len(),
            pending: r.pending_len(),
            federation_events: self
                .core
                .federations()
                .values()
                .map(|f| f.replica.len())
                .sum(),
            peers_hold: self.core.peers_hold(),
        };
        self.changes.send_if_modified(|was| {
            let changed = *was != now;
            *was = now;
            changed
        });
    }

    pub(super) fn swarm_mut(&mut self) -> &mut Swarm<Behaviour> {
        &mut self.swarm
    }

    pub(super) fn next_token(&mut self) -> u64 {
        self.next_ticket += 1;
        self.next_ticket
    }

    fn ticket(&mut self, w: Waiter) -> u64 {
        self.next_ticket += 1;
        self.waiters.insert(self.next_ticket, w);
        self.next_ticket
    }

    fn local(&mut self, waiter: Waiter, request: Local) {
        let ticket = self.ticket(waiter);
        self.feed(Input::Local { ticket, request });
    }

    fn on_command(&mut self, c: Command) {
        match c {
            Command::Author { bodies, reply } => {
                self.local(Waiter::Authored(reply), Local::Author { log: None, bodies })
            }
            Command::AuthorIn {
                federation,
                bodies,
                reply,
            } => self.local(
                Waiter::Authored(reply),
                Local::Author {
                    log: Some(federation),
                    bodies,
                },
            ),
            Command::Submit { wire, reply } => {
                self.local(Waiter::Submitted(reply), Local::Submit { log: None, wire })
            }
            Command::SubmitIn {
                federation,
                wire,
                reply,
            } => self.local(
                Waiter::Submitted(reply),
                Local::Submit {
                    log: Some(federation),
                    wire,
                },
            ),
            Command::SignCharter { charter, reply } => {
                self.local(Waiter::Charter(reply), Local::SignCharter(charter))
            }
            Command::Status(reply) => {
                let mut s = self.core.status();
                s.peer_id = self.swarm.local_peer_id().to_string();
                let mut peers: Vec<String> = self
                    .core
                    .connected()
                    .map(|k| peer_of(k).to_string())
                    .collect();
                peers.sort();
                s.peers = peers;
                s.metrics.connections_refused = self.swarm.behaviour().gate.refused();
                (s.metrics.transport_bytes_in, s.metrics.transport_bytes_out) =
                    self.bandwidth.bytes();
                let _ = reply.send(s);
            }
            Command::Query(f) => f(self.core.replica()),
            Command::PaperQuery(f) => f(self.core.replica(), self.core.papers()),
            Command::PutPaper { bytes, reply } => {
                self.local(Waiter::PaperStored(reply), Local::PutPaper(bytes))
            }
            Command::ReadPaper { sha256, reply } => {
                self.local(Waiter::Paper(reply), Local::ReadPaper(sha256))
            }
            Command::FedQuery(f) => f(self.core.replica(), self.core.federations()),
            Command::Block(peer, blocked) => match public_key_of_peer(&peer) {
                Some(peer) => self.feed(Input::Local {
                    ticket: 0,
                    request: Local::Block { peer, blocked },
                }),
                None => {
                    if blocked {
                        self.swarm.behaviour_mut().gate.ban(peer, far_future());
                        let _ = self.swarm.disconnect_peer_id(peer);
                    } else {
                        self.swarm.behaviour_mut().gate.unban(&peer);
                    }
                }
            },
            Command::Dial(addr) => {
                if let Err(e) = self.swarm.dial(addr.clone()) {
                    tracing::warn!(%addr, error = %e, "dial failed");
                }
            }
            Command::SyncNow => self.feed(Input::Local {
                ticket: 0,
                request: Local::SyncNow,
            }),
            Command::Shutdown(_) => unreachable!("handled in run"),
        }
    }

    /// Carries out the core's actions, in order.
    fn perform(&mut self, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Reply { ticket, reply } => self.reply(ticket, reply),
                Action::Publish { log, wire } => {
                    let t = log_topic(self.core.replica().network(), log);
                    match self.swarm.behaviour_mut().gossip.publish(t, wire) {
                        Ok(_) | Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
                        Err(e) => {
                            tracing::debug!(error = %e, "gossip publish failed; sync will carry it")
                        }
                    }
                }
                Action::Validate { token, verdict } => {
                    if let Some((id, source)) = self.gossip.remove(&token) {
                        let acceptance = match verdict {
                            core::Verdict::Accept => gossipsub::MessageAcceptance::Accept,
                            core::Verdict::Ignore => gossipsub::MessageAcceptance::Ignore,
                            core::Verdict::Reject => gossipsub::MessageAcceptance::Reject,
                        };
                        self.swarm
                            .behaviour_mut()
                            .gossip
                            .report_message_validation_result(&id, &source, acceptance);
                    }
                }
                Action::Request { peer, id, req } => {
                    let rid = self
                        .swarm
                        .behaviour_mut()
                        .sync
                        .send_request(&peer_of(&peer), req);
                    self.outbound.insert(rid, id);
                }
                Action::Respond { token, resp } => {
                    if let Some(ch) = self.channels.remove(&token) {
                        let _ = self.swarm.behaviour_mut().sync.send_response(ch, resp);
                    }
                }
                Action::Subscribe(log) => {
                    let t = log_topic(self.core.replica().network(), log);
                    if let Err(e) = self.swarm.behaviour_mut().gossip.subscribe(&t) {
                        tracing::warn!(log = ?log, error = %e, "cannot subscribe");
                    }
                    self.topics.insert(t.hash(), log);
                }
                Action::Unsubscribe(log) => {
                    let t = log_topic(self.core.replica().network(), log);
                    if self.swarm.behaviour_mut().gossip.unsubscribe(&t) {
                        tracing::info!(log = ?log, "no longer in the federation; its topic is left");
                    }
                    self.topics.remove(&t.hash());
                }
                Action::Gate { allowed, bootstrap } => {
                    let gate = &mut self.swarm.behaviour_mut().gate;
                    gate.set_allowed(allowed.iter().map(peer_of).collect());
                    gate.set_bootstrap(bootstrap.iter().map(peer_of).collect());
                }
                Action::Ban { peer, until_ms } => {
                    let until = self.started + Duration::from_millis(until_ms);
                    self.swarm.behaviour_mut().gate.ban(peer_of(&peer), until);
                }
                Action::Unban(peer) => {
                    let peer = peer_of(&peer);
                    self.swarm.behaviour_mut().gate.unban(&peer);
                    self.swarm
                        .behaviour_mut()
                        .gossip
                        .remove_blacklisted_peer(&peer);
                }
                Action::Blacklist(peer) => self
                    .swarm
                    .behaviour_mut()
                    .gossip
                    .blacklist_peer(&peer_of(&peer)),
                Action::Disconnect(peer) => {
                    let _ = self.swarm.disconnect_peer_id(peer_of(&peer));
                }
                Action::PaperRequest { .. } | Action::PaperRespond { .. } => self.paper_action(a),
                Action::Dial { peer, addrs } => {
                    let addrs: Vec<Multiaddr> =
                        addrs.iter().filter_map(|a| a.parse().ok()).collect();
                    if addrs.is_empty() {
                        continue;
                    }
                    let opts = DialOpts::peer_id(peer_of(&peer)).addresses(addrs).build();
                    if let Err(e) = self.swarm.dial(opts) {
                        tracing::debug!(%peer, error = %e, "dial failed");
                    }
                }
            }
        }
    }

    fn reply(&mut self, ticket: u64, reply: Reply) {
        let Some(w) = self.waiters.remove(&ticket) else {
            return;
        };
        match (w, reply) {
            (Waiter::Authored(tx), Reply::Authored(r)) => {
                let _ = tx.send(r);
            }
            (Waiter::Submitted(tx), Reply::Submitted(r)) => {
                let _ = tx.send(r);
            }
            (Waiter::Charter(tx), Reply::Charter(r)) => {
                let _ = tx.send(*r);
            }
            (Waiter::PaperStored(tx), Reply::PaperStored(r)) => {
                let _ = tx.send(r);
            }
            (Waiter::Paper(tx), Reply::Paper(r)) => {
                let _ = tx.send(r);
            }
            (_, other) => tracing::error!(?other, "a reply of the wrong kind"),
        }
    }

    fn on_swarm(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                self.listen.push(address);
                self.feed(Input::Listening(
                    self.listen.iter().map(|a| a.to_string()).collect(),
                ));
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen.retain(|a| *a != address);
                self.feed(Input::Listening(
                    self.listen.iter().map(|a| a.to_string()).collect(),
                ));
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                tracing::debug!(peer = %peer_id, "connected");
                if let Some(k) = public_key_of_peer(&peer_id) {
                    self.feed(Input::Connected(k));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                tracing::debug!(peer = %peer_id, "disconnected");
                if let Some(k) = public_key_of_peer(&peer_id) {
                    self.feed(Input::Disconnected(k));
                }
            }
            SwarmEvent::Behaviour(b) => self.on_behaviour(b),
            _ => {}
        }
    }

    fn on_behaviour(&mut self, ev: BehaviourEvent) {
        match ev {
            BehaviourEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                let log = self.topics.get(&message.topic).copied();
                match (public_key_of_peer(&propagation_source), log) {
                    (Some(from), Some(log)) => {
                        self.next_ticket += 1;
                        let token = self.next_ticket;
                        self.gossip.insert(token, (message_id, propagation_source));
                        self.feed(Input::Gossip {
                            from,
                            log,
                            data: message.data,
                            token,
                        });
                    }
                    _ => {
                        let _ = self
                            .swarm
                            .behaviour_mut()
                            .gossip
                            .report_message_validation_result(
                                &message_id,
                                &propagation_source,
                                gossipsub::MessageAcceptance::Reject,
                            );
                    }
                }
            }
            BehaviourEvent::Gossip(gossipsub::Event::Subscribed { peer_id, topic }) => {
                if let (Some(peer), Some(log)) = (
                    public_key_of_peer(&peer_id),
                    self.topics.get(&topic).copied(),
                ) {
                    self.feed(Input::Subscribed { peer, log });
                }
            }
            BehaviourEvent::Sync(request_response::Event::Message { peer, message, .. }) => {
                match message {
                    request_response::Message::Request {
                        request, channel, ..
                    } => {
                        let Some(from) = public_key_of_peer(&peer) else {
                            return;
                        };
                        self.next_ticket += 1;
                        let token = self.next_ticket;
                        self.channels.insert(token, channel);
                        self.feed(Input::Request {
                            from,
                            req: request,
                            token,
                        });
                    }
                    request_response::Message::Response {
                        request_id,
                        response,
                    } => {
                        if let Some(id) = self.outbound.remove(&request_id) {
                            self.feed(Input::Response { id, resp: response });
                        }
                    }
                }
            }
            BehaviourEvent::Sync(request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            }) => {
                tracing::debug!(%peer, %error, "sync request failed");
                let malformed = matches!(&error, request_response::OutboundFailure::Io(e)
                    if e.kind() == std::io::ErrorKind::InvalidData);
                if let Some(id) = self.outbound.remove(&request_id) {
                    self.feed(Input::RequestFailed { id, malformed });
                }
            }
            BehaviourEvent::Sync(request_response::Event::InboundFailure {
                peer,
                error: request_response::InboundFailure::Io(e),
                ..
            }) if e.kind() == std::io::ErrorKind::InvalidData => {
                if let Some(k) = public_key_of_peer(&peer) {
                    self.feed(Input::MalformedRequest(k));
                }
            }
            BehaviourEvent::Papers(e) => self.on_papers(e),
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                if let Some(peer) = public_key_of_peer(&peer_id) {
                    let addrs = info
                        .listen_addrs
                        .iter()
                        .filter(|a| !is_unspecified(a))
                        .map(|a| a.to_string())
                        .collect();
                    self.feed(Input::Addresses {
                        peer,
                        addrs,
                        dial: false,
                    });
                }
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                let mut by_peer: BTreeMap<PeerId, Vec<String>> = BTreeMap::new();
                for (peer, addr) in found {
                    by_peer.entry(peer).or_default().push(addr.to_string());
                }
                for (peer, addrs) in by_peer {
                    if let Some(peer) = public_key_of_peer(&peer) {
                        self.feed(Input::Addresses {
                            peer,
                            addrs,
                            dial: true,
                        });
                    }
                }
            }
            _ => {}
        }
    }
}

/// A log's gossip topic: the network's, or a federation's.
fn log_topic(network: NetworkId, log: LogId) -> gossipsub::IdentTopic {
    match log {
        None => topic(&network),
        Some(f) => topic(&f),
    }
}

fn is_unspecified(a: &Multiaddr) -> bool {
    a.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_unspecified(),
        Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}
