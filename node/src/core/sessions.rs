//! Sync sessions with peers (docs/NETWORK.md §4): starting rounds on every log a peer
//! shares, carrying the requests the rounds ask for, answering peers' requests, and
//! learning from a completed round that a peer holds this node's own feed.

use super::io::{Action, LogId};
use super::peers::Offence;
use super::store::Store;
use super::sync::{self, Answer, Step};
use super::{Defect, NodeCore};
use mutual_proto::v1 as pb;
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::keys::PublicKey;
use pb::sync_request::Kind as Req;
use pb::sync_response::Kind as Resp;
use prost::Message;

impl<S: Store> NodeCore<S> {
    /// Starts a round with every connected peer.
    pub(super) fn sync_all(&mut self) {
        let peers: Vec<PublicKey> = self.connected.iter().copied().collect();
        for p in peers {
            self.start_round(p);
        }
    }

    /// Starts a round with `peer` on every log it may sync with this node: the network's
    /// if it is this network's, and each federation's it takes part in. A federation's
    /// peer is never sent anything about the network's own log.
    pub(super) fn start_round(&mut self, peer: PublicKey) {
        if self.own_peers.contains(&peer) {
            let mut out = Vec::new();
            self.net.rounds.start(peer, &self.net.replica, &mut out);
            self.act(None, out);
        }
        let feds: Vec<_> = self.feds.keys().copied().collect();
        for f in feds {
            self.start_fed_round(f, peer);
        }
    }

    /// Starts a round on federation `f`'s log with `peer`, if it takes part in it.
    pub(super) fn start_fed_round(
        &mut self,
        f: mutual_protocol::federation::FederationId,
        peer: PublicKey,
    ) {
        if !self.takes_part(&f, &peer) || self.defective(super::Defect::NoFederationSync) {
            return;
        }
        let mut out = Vec::new();
        if let Some(log) = self.feds.get_mut(&f) {
            log.rounds.start(peer, &log.replica, &mut out);
        }
        self.act(Some(f), out);
    }

    /// Fetches causes found missing outside a round (after gossip).
    pub(super) fn chase(&mut self, log: LogId, peer: PublicKey, missing: Vec<EventId>) {
        let mut out = Vec::new();
        match log {
            None => self.net.rounds.chase(peer, missing, &mut out),
            Some(f) => {
                if let Some(l) = self.feds.get_mut(&f) {
                    l.rounds.chase(peer, missing, &mut out);
                }
            }
        }
        self.act(log, out);
    }

    /// Carries out what the sync rounds of a log ask.
    fn act(&mut self, log: LogId, actions: Vec<sync::Action<PublicKey>>) {
        for a in actions {
            match a {
                sync::Action::Send(peer, step, mut kind) => {
                    if let Req::Frontier(f) = &mut kind {
                        self.planted_hide_own_feed(f);
                    }
                    let req = match log {
                        None => sync::request(&self.net.replica, kind),
                        Some(f) => match self.feds.get(&f) {
                            Some(l) => sync::request(&l.replica, kind),
                            None => continue,
                        },
                    };
                    self.next_request += 1;
                    let id = self.next_request;
                    self.requests.insert(id, (peer, step, log));
                    self.out.push(Action::Request { peer, id, req });
                }
                sync::Action::Ended {
                    peer,
                    complete,
                    frontier,
                } => self.round_ended(log, peer, complete, frontier.as_ref()),
                sync::Action::Punish(peer) => self.punish(peer, Offence::Malformed),
            }
        }
    }

    /// Reports an answer (or a failure) to a request on a log's rounds.
    fn answered(&mut self, log: LogId, peer: PublicKey, step: Step, answer: Answer<'_>) {
        let mut out = Vec::new();
        let connected = self.connected.contains(&peer);
        match log {
            None => {
                self.net
                    .rounds
                    .answered(peer, step, answer, connected, &self.net.replica, &mut out)
            }
            Some(f) => {
                if let Some(l) = self.feds.get_mut(&f) {
                    l.rounds
                        .answered(peer, step, answer, connected, &l.replica, &mut out);
                }
            }
        }
        self.act(log, out);
    }

    /// A sync round on a log ended. One that completed with a node that could hold this
    /// node's own feed in that log, and that holds that feed at least as far as this
    /// node's own copy does, shows this node its latest event there and lets it sign in
    /// that log (docs/NETWORK.md §7, docs/FEDERATION.md §5).
    fn round_ended(
        &mut self,
        log: LogId,
        peer: PublicKey,
        complete: bool,
        frontier: Option<&pb::Frontier>,
    ) {
        if !complete || self.head_confirmed_in(log) {
            return;
        }
        // Only a member practice's node can show this node its own head: an invited
        // node is still empty. In a federation's log, so can a node on another party's
        // roster.
        let member = self
            .net
            .replica
            .state()
            .membership()
            .is_active_practice_node(&peer);
        let (may_hold, shown) = match log {
            None => (
                member,
                sync::shows_head(&self.net.replica, &self.me, frontier),
            ),
            Some(f) => (
                member || self.other_parties(&f).any(|p| p.roster.contains_key(&peer)),
                self.feds
                    .get(&f)
                    .is_some_and(|l| sync::shows_head(&l.replica, &self.me, frontier)),
            ),
        };
        if !may_hold || !shown {
            return;
        }
        match log {
            None => self.net.head_confirmed = true,
            Some(f) => {
                if let Some(l) = self.feds.get_mut(&f) {
                    l.head_confirmed = true;
                }
            }
        }
        tracing::info!(%peer, log = ?log, "own feed head confirmed by a peer; signing enabled");
        self.release_waiting(log);
    }

    /// The answer to one of this node's requests.
    pub(super) fn on_response(&mut self, id: u64, mut resp: pb::SyncResponse) {
        let Some((peer, step, log)) = self.requests.remove(&id) else {
            return;
        };
        self.metrics.sync_bytes_in += resp.encoded_len() as u64;
        if step == Step::Frontier && log.is_none() {
            let frontier = resp.kind.take_if(|k| matches!(k, Resp::Frontier(_)));
            if let Some(Resp::Frontier(f)) = frontier {
                let known = self.known_frontier(f);
                self.answered(log, peer, step, Answer::Frontier(&known));
                return;
            }
        }
        let answer = match &resp.kind {
            Some(Resp::Events(e)) if step != Step::Summary && step != Step::Frontier => {
                let progressed = self.take_page(log, peer, &e.events);
                Answer::Events {
                    more: e.more,
                    progressed,
                }
            }
            Some(Resp::Refused(r)) => {
                tracing::debug!(%peer, reason = %r.reason, "sync request refused");
                Answer::Refused
            }
            _ => Answer::of(step, &resp),
        };
        self.answered(log, peer, step, answer);
    }

    /// One of this node's requests failed; a `malformed` answer is the peer's fault.
    pub(super) fn on_request_failed(&mut self, id: u64, malformed: bool) {
        let Some((peer, step, log)) = self.requests.remove(&id) else {
            return;
        };
        self.answered(log, peer, step, Answer::Failed);
        if malformed {
            self.punish(peer, Offence::Malformed);
        }
    }

    /// A peer's sync request.
    pub(super) fn on_request(&mut self, peer: PublicKey, req: pb::SyncRequest, token: u64) {
        let resp = if self.store_failed() {
            // Events held in memory but not stored are not served.
            sync::refused(&sync::Refusal::Unavailable)
        } else if !self.allow_request(peer) {
            sync::refused(&sync::Refusal::Malformed("rate limit exceeded".into()))
        } else {
            self.answer(peer, req)
        };
        self.metrics.sync_bytes_out += resp.encoded_len() as u64;
        self.out.push(Action::Respond { token, resp });
    }

    /// The answer to a request the rate limit let through.
    fn answer(&mut self, peer: PublicKey, req: pb::SyncRequest) -> pb::SyncResponse {
        // Which log the request is for: the network's (to its own peers only) or a
        // federation's (to the peers taking part in it). Anything else is refused.
        let log = NetworkId::from_slice(&req.network)
            .filter(|n| self.feds.contains_key(n))
            .filter(|n| *n != self.net.replica.network());
        if !self.shares(log, &peer) {
            self.metrics.out_of_scope_requests += 1;
            self.punish(peer, Offence::Malformed);
            return sync::refused(&sync::Refusal::Malformed(
                "that log is not shared with this peer".into(),
            ));
        }
        let answer = match log.and_then(|f| self.feds.get(&f)) {
            Some(l) => sync::respond(&l.replica, &req),
            None => sync::respond(&self.net.replica, &req),
        };
        match answer {
            Ok(mut r) => {
                if let Some(Resp::Frontier(f)) = &mut r.kind {
                    self.planted_hide_own_feed(f);
                }
                // A peer that sent its frontier may hold what this node lacks: pull it
                // too.
                if let Some(Req::Frontier(f)) = req.kind {
                    let known = match log {
                        None => self.known_frontier(f),
                        Some(_) => f,
                    };
                    let f = &known;
                    let mut out = Vec::new();
                    match log.and_then(|f| self.feds.get_mut(&f)) {
                        Some(l) => l.rounds.on_frontier_request(peer, f, &l.replica, &mut out),
                        None => self.net.rounds.on_frontier_request(
                            peer,
                            f,
                            &self.net.replica,
                            &mut out,
                        ),
                    }
                    self.act(log, out);
                }
                r
            }
            Err(refusal) => {
                if matches!(refusal, sync::Refusal::Malformed(_)) {
                    self.punish(peer, Offence::Malformed);
                }
                sync::refused(&refusal)
            }
        }
    }

    /// A peer's frontier of the network's log without the feeds of authors this node's
    /// log does not know (docs/NETWORK.md §6.1): a round neither pulls them nor counts
    /// them as wanted, so a peer holding such a feed (say, evidence stored by an older
    /// version) can still complete a round and show this node its own head.
    /// Until the log holds its genesis it knows no one, and takes every feed.
    fn known_frontier(&self, mut f: pb::Frontier) -> pb::Frontier {
        if self
            .net
            .replica
            .get(&self.net.replica.network().genesis())
            .is_some()
        {
            f.entries.retain(|e| {
                PublicKey::from_slice(&e.author)
                    .is_ok_and(|a| a == self.me || self.knows_author(&a))
            });
        }
        f
    }

    /// The planted defect [`Defect::HideOwnFeed`], if it is planted.
    fn planted_hide_own_feed(&self, f: &mut pb::Frontier) {
        if self.defective(Defect::HideOwnFeed) {
            let me = self.me.as_bytes().to_vec();
            f.entries.retain(|e| e.author != me);
        }
    }

    /// A peer subscribed to one of this node's topics. A peer that asks for a log it does
    /// not share (a federation's peer asking for this network's own gossip, or another
    /// federation's) is cut off before anything is sent on that topic.
    pub(super) fn on_subscribed(&mut self, peer: PublicKey, log: LogId) {
        // Every peer announces all its topics (a federation's peer its own network's
        // among them); what matters is whether it asks for one of this node's that it
        // does not share. A node of a network taking part in the federation but not (or
        // no longer) on its roster here is let be: its roster may not have reached this
        // node yet, or its network left and it has not left the topic yet.
        let shared =
            self.own_peers.contains(&peer) || log.is_some_and(|f| self.takes_part(&f, &peer));
        let of_a_party = log.is_some_and(|f| self.of_a_party(&f, &peer));
        if shared || of_a_party {
            return;
        }
        self.metrics.out_of_scope_subscriptions += 1;
        tracing::warn!(%peer, log = ?log, "subscription to a topic the peer does not share; banned");
        self.out.push(Action::Blacklist(peer));
        self.ban(
            peer,
            self.now.mono_ms + crate::limits::BAN_DURATION.as_millis() as u64,
        );
    }
}
