//! Sync sessions with peers (docs/NETWORK.md §4): starting rounds on every log a peer
//! shares, carrying the requests the rounds ask for, answering peers' requests, and
//! learning from a completed round that a peer holds this node's own feed.

use super::io::{Action, LogId};
use super::peers::Offence;
use super::reconcile::View;
use super::store::Store;
use super::sync::{self, Answer, Local, Step};
use super::{Defect, NodeCore};
use mutual_proto::v1 as pb;
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::keys::PublicKey;
use pb::sync_response::Kind as Resp;
use prost::Message;
use std::collections::HashSet;

/// Runs `$body` with `$rounds` and `$local` bound to the sync rounds of log `$log` of
/// core `$core` and that log as they see it (see [`takes`]); `None` if this node holds
/// no such log.
macro_rules! on_log {
    ($core:expr, $log:expr, |$rounds:ident, $local:ident| $body:expr) => {{
        let hidden = $core.defective(Defect::HideOwnFeed).then_some($core.me);
        let starts_federation_rounds = !$core.defective(Defect::NoFederationSync);
        match $log {
            None => {
                let takes = takes(&$core.net.replica, &$core.named, $core.me);
                let $local = Local {
                    replica: &$core.net.replica,
                    hidden,
                    me: Some($core.me),
                    takes: &takes,
                    starts: true,
                };
                let $rounds = &mut $core.net.rounds;
                Some($body)
            }
            Some(f) => match $core.feds.get_mut(&f) {
                Some(l) => {
                    let $local = Local {
                        replica: &l.replica,
                        hidden,
                        me: Some($core.me),
                        takes: &|_: &[u8]| true,
                        starts: starts_federation_rounds,
                    };
                    let $rounds = &mut l.rounds;
                    Some($body)
                }
                None => None,
            },
        }
    }};
}

/// Which feeds of a peer's frontier of the network's log a round takes into account:
/// only those of authors this node's log knows (docs/NETWORK.md §6.1), so a round neither
/// pulls the others nor counts them as wanted, and a peer holding such a feed (say,
/// evidence stored by an older version) can still complete a round and show this node
/// its own head. Until the log holds its genesis it knows no one, and takes every feed.
fn takes<'a, S: mutual_protocol::replica::Fold>(
    replica: &'a mutual_protocol::replica::Replica<S>,
    named: &'a HashSet<PublicKey>,
    me: PublicKey,
) -> impl Fn(&[u8]) -> bool + 'a {
    let open = !replica.contains(&replica.network().genesis());
    move |a: &[u8]| {
        open || a == me.as_bytes() || PublicKey::from_slice(a).is_ok_and(|k| named.contains(&k))
    }
}

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
            on_log!(self, None, |rounds, local| rounds
                .start(peer, &local, &mut out));
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
        on_log!(self, Some(f), |rounds, local| rounds
            .start(peer, &local, &mut out));
        self.act(Some(f), out);
    }

    /// Fetches causes found missing outside a round (after an event from `peer`, by
    /// gossip or in a sync answer), once [`CHASE_DELAY_MS`](super::CHASE_DELAY_MS) has
    /// passed and if they are still missing then.
    pub(super) fn chase(&mut self, log: LogId, peer: PublicKey, missing: Vec<EventId>) {
        if self.chases.len() < super::MAX_WAITING_CHASES {
            let due = self.now.mono_ms + super::CHASE_DELAY_MS;
            self.chases.push((due, log, peer, missing));
        }
    }

    /// Fetches the causes whose wait is over and that are still missing, from peers
    /// still connected and sharing the log. Chases run at housekeeping, once a second, so
    /// the wait comes to between one and two seconds.
    pub(super) fn run_chases(&mut self) {
        let now = self.now.mono_ms;
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.chases)
            .into_iter()
            .partition(|c| c.0 <= now);
        self.chases = waiting;
        for (_, log, peer, mut missing) in due {
            missing.retain(|id| match log {
                None => !self.net.replica.knows(id),
                Some(f) => self.feds.get(&f).is_some_and(|l| !l.replica.knows(id)),
            });
            if !missing.is_empty() && self.connected.contains(&peer) && self.shares(log, &peer) {
                self.fetch_causes(log, peer, missing);
            }
        }
    }

    /// Asks `peer` for the `missing` causes on `log`'s rounds.
    fn fetch_causes(&mut self, log: LogId, peer: PublicKey, missing: Vec<EventId>) {
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
                sync::Action::Send(peer, step, kind) => {
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
                    view,
                } => self.round_ended(log, peer, complete, view.as_ref()),
                sync::Action::Punish(peer) => self.punish(peer, Offence::Malformed),
            }
        }
    }

    /// Reports an answer (or a failure) to a request on a log's rounds.
    fn answered(&mut self, log: LogId, peer: PublicKey, step: Step, answer: Answer<'_>) {
        let mut out = Vec::new();
        let connected = self.connected.contains(&peer);
        on_log!(self, log, |rounds, local| rounds
            .answered(peer, step, answer, connected, &local, &mut out));
        self.act(log, out);
    }

    /// A sync round on a log ended. One that completed with a node that could hold this
    /// node's own feed in that log, and that holds that feed at least as far as this
    /// node's own copy does, shows this node its latest event there and lets it sign in
    /// that log (docs/NETWORK.md §7, docs/FEDERATION.md §5).
    fn round_ended(&mut self, log: LogId, peer: PublicKey, complete: bool, view: Option<&View>) {
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
        let may_hold = match log {
            None => member,
            Some(f) => member || self.other_parties(&f).any(|p| p.roster.contains_key(&peer)),
        };
        let me = self.me;
        let shown = on_log!(self, log, |_rounds, local| sync::shows_head(
            &local, &me, view
        ))
        .unwrap_or(false);
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
    pub(super) fn on_response(&mut self, id: u64, resp: pb::SyncResponse) {
        let Some((peer, step, log)) = self.requests.remove(&id) else {
            return;
        };
        self.metrics.sync_bytes_in += resp.encoded_len() as u64;
        let answer = match &resp.kind {
            Some(Resp::Events(e)) if step != Step::Reconcile => {
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
        let mut out = Vec::new();
        let answer = on_log!(self, log, |rounds, local| rounds
            .respond(peer, &local, &req, &mut out))
        .unwrap_or(Err(sync::Refusal::WrongNetwork));
        self.act(log, out);
        answer.unwrap_or_else(|refusal| {
            if matches!(refusal, sync::Refusal::Malformed(_)) {
                self.punish(peer, Offence::Malformed);
            }
            sync::refused(&refusal)
        })
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
