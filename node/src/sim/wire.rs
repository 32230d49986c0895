//! Driving the simulated nodes' cores and carrying their messages: what the node's
//! driver does with libp2p (gossip with a mesh's fan-out, request and response, dialing
//! through each side's gate), over a network that loses, duplicates, corrupts and delays.

use super::world::{Asked, Ev, Msg, Sim};
use super::GOSSIP_FANOUT;
use crate::core::{Action, Input, Local, LogId, Reply, Verdict};
use crate::limits::REQUEST_TIMEOUT;
use mutual_proto::v1 as pb;
use mutual_protocol::event::SignedEvent;
use mutual_protocol::id::{EventId, NetworkId};
use prost::Message;
use rand::seq::SliceRandom;
use rand::Rng;

impl Sim {
    // ---------------------------------------------------------------- driving a core

    /// Hands node `n`'s core an input and carries out its actions.
    pub(super) fn feed(&mut self, n: usize, input: Input) {
        let now = self.now(n);
        let Some(core) = self.nodes[n].core.as_mut() else {
            return;
        };
        let actions = core.handle(now, input);
        self.perform(n, actions);
    }

    /// Asks node `n` for something on behalf of a local user.
    pub(super) fn ask(&mut self, n: usize, request: Local, why: Asked) {
        if !self.up(n) {
            return;
        }
        let node = &mut self.nodes[n];
        node.next_token += 1;
        let ticket = node.next_token;
        node.asked.insert(ticket, why);
        self.feed(n, Input::Local { ticket, request });
    }

    pub(super) fn perform(&mut self, n: usize, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Reply { ticket, reply } => self.replied(n, ticket, reply),
                Action::Publish { log, wire } => {
                    if let Ok(ev) = SignedEvent::decode(&wire) {
                        self.signed.insert(ev.id);
                    }
                    let topic = self.topic(n, log);
                    self.gossip(n, topic, &wire, None);
                }
                Action::Validate { token, verdict } => {
                    let Some((from, topic, wire)) = self.nodes[n].gossip.remove(&token) else {
                        continue;
                    };
                    if verdict == Verdict::Accept && Some(n) != self.silent {
                        self.gossip(n, topic, &wire, Some(from));
                    }
                }
                Action::Request { peer, id, req } => {
                    let Some(to) = self.index_of(&peer) else {
                        continue;
                    };
                    self.next_message += 1;
                    let mid = self.next_message;
                    self.nodes[n].requests.insert(mid, id);
                    let timeout = REQUEST_TIMEOUT.as_millis() as u64;
                    self.at(timeout, Ev::Timeout { node: n, id: mid });
                    let bytes = req.encode_to_vec();
                    self.send(n, to, Msg::Request { id: mid, bytes });
                }
                Action::Respond { token, resp } => {
                    let Some(to) = self.nodes[n].inbound.remove(&token) else {
                        continue;
                    };
                    let bytes = resp.encode_to_vec();
                    self.send(n, to, Msg::Answer { id: token, bytes });
                }
                Action::PaperRequest { peer, id, req } => {
                    let Some(to) = self.index_of(&peer) else {
                        continue;
                    };
                    self.next_message += 1;
                    let mid = self.next_message;
                    self.nodes[n].paper_requests.insert(mid, id);
                    let timeout = crate::limits::PAPER_TIMEOUT.as_millis() as u64;
                    self.at(timeout, Ev::PaperTimeout { node: n, id: mid });
                    let bytes = req.encode_to_vec();
                    self.send(n, to, Msg::PaperRequest { id: mid, bytes });
                }
                Action::PaperRespond { token, resp } => {
                    let Some(to) = self.nodes[n].paper_inbound.remove(&token) else {
                        continue;
                    };
                    let bytes = resp.encode_to_vec();
                    self.send(n, to, Msg::PaperAnswer { id: token, bytes });
                }
                Action::Ban { .. } => self.report.bans += 1,
                Action::Disconnect(peer) => {
                    if let Some(p) = self.index_of(&peer) {
                        self.unlink(n, p);
                    }
                }
                Action::Subscribe(log) => {
                    let topic = self.topic(n, log);
                    if self.nodes[n].topics.insert(topic) {
                        // Gossip tells every connected peer; each driver passes on the
                        // topics its own node has.
                        for p in self.peers(n) {
                            // Telling one may have closed the connection to another.
                            if self.connected(n, p) {
                                self.tell_subscribed(n, p, topic);
                            }
                        }
                    }
                }
                Action::Unsubscribe(log) => {
                    let topic = self.topic(n, log);
                    self.nodes[n].topics.remove(&topic);
                }
                // The gate is read from the core itself (`NodeCore::admits`); the
                // simulator dials every reachable pair.
                Action::Gate { .. }
                | Action::Unban(_)
                | Action::Blacklist(_)
                | Action::Dial { .. } => {}
            }
        }
    }

    pub(super) fn replied(&mut self, n: usize, ticket: u64, reply: Reply) {
        let what = match self.nodes[n].asked.remove(&ticket) {
            Some(Asked::Business(what)) => what,
            Some(Asked::Charter) => return self.chartered(reply),
            None => return,
        };
        match reply {
            Reply::Authored(Ok(ids)) => {
                self.report.acknowledged += ids.len() as u64;
                self.signed.extend(ids.iter().copied());
                // Events signed in a federation's log are checked there.
                let core = self.nodes[n].core.as_ref();
                let (own, fed): (Vec<EventId>, Vec<EventId>) = ids
                    .into_iter()
                    .partition(|id| core.is_none_or(|c| c.replica().contains(id)));
                self.nodes[n].acked.extend(own);
                self.nodes[n].fed_acked.extend(fed);
                *self.report.business.entry(what.into()).or_default() += 1;
            }
            Reply::Submitted(Ok(s)) => {
                if let Ok(id) = s.id.parse::<EventId>() {
                    self.nodes[n].acked.push(id);
                    self.report.acknowledged += 1;
                }
                *self.report.business.entry(what.into()).or_default() += 1;
            }
            Reply::PaperStored(Ok(_)) => {
                *self.report.business.entry(what.into()).or_default() += 1;
            }
            // A file sent before its event was stored, or again: refused, nothing kept.
            Reply::PaperStored(Err(_)) | Reply::Paper(_) => {}
            Reply::Authored(Err(_)) | Reply::Submitted(Err(_)) | Reply::Charter(_) => {
                self.report.signing_refused += 1;
            }
        }
    }

    /// The topic of log `log` as node `n` names it.
    pub(super) fn topic(&self, n: usize, log: LogId) -> NetworkId {
        log.unwrap_or(self.nets[self.nodes[n].net].id)
    }

    /// The log node `n` names by `topic`, if it subscribes to it.
    fn log_of(&self, n: usize, topic: NetworkId) -> Option<LogId> {
        let node = &self.nodes[n];
        if !node.topics.contains(&topic) {
            None
        } else if topic == self.nets[node.net].id {
            Some(None)
        } else {
            Some(Some(topic))
        }
    }

    /// Node `to` learns that `from` subscribes to `topic`, if it has the topic itself
    /// (a driver passes on only its own topics).
    fn tell_subscribed(&mut self, from: usize, to: usize, topic: NetworkId) {
        if let Some(log) = self.log_of(to, topic) {
            let peer = self.nodes[from].key.public();
            self.feed(to, Input::Subscribed { peer, log });
        }
    }

    /// Connects every pair that can be connected and is not (as the driver's dialing
    /// does, and each side's gate allows).
    pub(super) fn dial(&mut self, n: usize) {
        for p in 0..self.nodes.len() {
            if p == n
                || self.connected(n, p)
                || !self.up(p)
                || self.nodes[n].group != self.nodes[p].group
            {
                continue;
            }
            if !self.reachable(n, p) {
                self.report.refused_connections += 1;
                continue;
            }
            self.links.insert((n.min(p), n.max(p)));
            let (kn, kp) = (self.nodes[n].key.public(), self.nodes[p].key.public());
            self.feed(n, Input::Connected(kp));
            self.feed(p, Input::Connected(kn));
            // Each side's gossip learns the other's topics.
            for (a, b) in [(n, p), (p, n)] {
                let topics: Vec<NetworkId> = self.nodes[a].topics.iter().copied().collect();
                for topic in topics {
                    if self.connected(a, b) {
                        self.tell_subscribed(a, b, topic);
                    }
                }
            }
        }
    }

    /// Closes the connection between `a` and `b`, if open: both sides are told, and
    /// requests between them fail (the core fails its own on the disconnect).
    pub(super) fn unlink(&mut self, a: usize, b: usize) {
        if !self.links.remove(&(a.min(b), a.max(b))) {
            return;
        }
        for (x, y) in [(a, b), (b, a)] {
            let ky = self.nodes[y].key.public();
            self.feed(x, Input::Disconnected(ky));
        }
    }

    // ---------------------------------------------------------------- the network

    pub(super) fn send(&mut self, from: usize, to: usize, msg: Msg) {
        self.report.messages += 1;
        if !self.connected(from, to) {
            self.report.cut += 1;
            return;
        }
        let f = &self.plan.faults;
        let (drop, duplicate, corrupt, max_delay) =
            (f.drop, f.duplicate, f.corrupt, f.max_delay_ms.max(1));
        if self.faulty && drop > 0.0 && self.rng.gen_bool(drop) {
            self.report.dropped += 1;
            return;
        }
        let copies = if duplicate > 0.0 && self.rng.gen_bool(duplicate) {
            self.report.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut msg = msg.clone();
            if self.faulty && corrupt > 0.0 && self.rng.gen_bool(corrupt) {
                let bytes = match &mut msg {
                    Msg::Gossip { wire: b, .. }
                    | Msg::Request { bytes: b, .. }
                    | Msg::Answer { bytes: b, .. }
                    | Msg::PaperRequest { bytes: b, .. }
                    | Msg::PaperAnswer { bytes: b, .. } => b,
                };
                if !bytes.is_empty() {
                    self.report.corrupted += 1;
                    let i = self.rng.gen_range(0..bytes.len());
                    bytes[i] ^= self.rng.gen_range(1..=255u8);
                }
            }
            let delay = self.rng.gen_range(1..=max_delay);
            self.at(delay, Ev::Deliver { from, to, msg });
        }
    }

    pub(super) fn deliver(&mut self, from: usize, to: usize, msg: Msg) {
        if !self.connected(from, to) {
            self.report.cut += 1;
            return;
        }
        let kf = self.nodes[from].key.public();
        match msg {
            Msg::Gossip { topic, wire } => {
                // Gossip delivers only on a topic the receiver subscribes to.
                let Some(log) = self.log_of(to, topic) else {
                    self.report.off_topic += 1;
                    return;
                };
                let node = &mut self.nodes[to];
                node.next_token += 1;
                let token = node.next_token;
                node.gossip.insert(token, (from, topic, wire.clone()));
                self.feed(
                    to,
                    Input::Gossip {
                        from: kf,
                        log,
                        data: wire,
                        token,
                    },
                );
            }
            Msg::Request { id, bytes } => {
                if Some(to) == self.silent {
                    return;
                }
                match pb::SyncRequest::decode(bytes.as_slice()) {
                    Ok(req) => {
                        self.nodes[to].inbound.insert(id, from);
                        self.feed(
                            to,
                            Input::Request {
                                from: kf,
                                req,
                                token: id,
                            },
                        );
                    }
                    Err(_) => self.feed(to, Input::MalformedRequest(kf)),
                }
            }
            Msg::PaperRequest { id, bytes } => {
                if Some(to) == self.silent {
                    return;
                }
                match pb::PaperRequest::decode(bytes.as_slice()) {
                    Ok(req) => {
                        self.nodes[to].paper_inbound.insert(id, from);
                        self.feed(
                            to,
                            Input::PaperRequest {
                                from: kf,
                                req,
                                token: id,
                            },
                        );
                    }
                    Err(_) => self.feed(to, Input::MalformedRequest(kf)),
                }
            }
            Msg::PaperAnswer { id, bytes } => {
                let Some(core_id) = self.nodes[to].paper_requests.remove(&id) else {
                    return;
                };
                // An answer that does not decode is a failed request; one whose bytes
                // were changed on the way is the core's to catch by the hash.
                let resp = pb::PaperResponse::decode(bytes.as_slice()).ok();
                self.feed(to, Input::PaperResponse { id: core_id, resp });
            }
            Msg::Answer { id, bytes } => {
                let Some(core_id) = self.nodes[to].requests.remove(&id) else {
                    return;
                };
                let input = match pb::SyncResponse::decode(bytes.as_slice()) {
                    Ok(resp) => Input::Response { id: core_id, resp },
                    Err(_) => Input::RequestFailed {
                        id: core_id,
                        malformed: true,
                    },
                };
                self.feed(to, input);
            }
        }
    }

    /// Sends an event to up to [`GOSSIP_FANOUT`] connected peers subscribed to `topic`,
    /// except `except`.
    pub(super) fn gossip(
        &mut self,
        from: usize,
        topic: NetworkId,
        wire: &[u8],
        except: Option<usize>,
    ) {
        if Some(from) == self.silent {
            return;
        }
        let mut peers: Vec<usize> = self
            .peers(from)
            .into_iter()
            .filter(|p| Some(*p) != except && self.nodes[*p].topics.contains(&topic))
            .collect();
        peers.shuffle(&mut self.rng);
        for p in peers.into_iter().take(GOSSIP_FANOUT) {
            self.send(
                from,
                p,
                Msg::Gossip {
                    topic,
                    wire: wire.to_vec(),
                },
            );
        }
    }
}
