//! The sync protocol's logic, free of I/O (docs/NETWORK.md §4): what to ask a peer for,
//! given what it showed, and what to answer, given a request. The node's event loop moves
//! the messages; everything here is a function of a [`Replica`] and a message.
//! Its tests are in `sync_tests.rs`.
//!
//! A round, started by either side:
//! 1. `Summary` both ways: the state hashes. Equal hashes end the round: a round between
//!    nodes in sync costs two small messages.
//! 2. `Reconcile` back and forth ([`reconcile`](super::reconcile)): each side learns the
//!    other's frontier entries (each author's highest seq, head id and first forked seq)
//!    where they differ, at a cost that grows with the difference, not the log.
//! 3. Each side `Pull`s the feeds where the other is ahead, in pages of at most
//!    [`MAX_PAGE_EVENTS`] events and [`MAX_PAGE_BYTES`] bytes, ordered causes first, and
//!    `Fetch`es any `prev`/`deps` still missing.

use super::reconcile::{self, Index, Seen, View};
use crate::limits::{
    MAX_FETCH_IDS, MAX_PAGES_PER_ROUND, MAX_PAGE_BYTES, MAX_PAGE_EVENTS, MAX_PULL_WANTS,
    MAX_RECONCILE_STEPS,
};
use mutual_proto::v1 as pb;
use mutual_protocol::id::EventId;
use mutual_protocol::keys::PublicKey;
use mutual_protocol::replica::{Fold, Replica};
use pb::sync_request::Kind as Req;
use pb::sync_response::Kind as Resp;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

/// This node's summary: its state hash and event count.
pub fn summary<S: Fold>(replica: &Replica<S>) -> pb::Summary {
    pb::Summary {
        state_hash: replica.state_hash().0.to_vec(),
        events: replica.len() as u64,
    }
}

/// One log of this node as its sync rounds see it.
pub struct Local<'a, S: Fold> {
    /// The log.
    pub replica: &'a Replica<S>,
    /// A feed this node leaves out of what it shows peers (a planted defect's), if any.
    pub hidden: Option<PublicKey>,
    /// This node's own key, whose feed's head a round may show it (none: not tracked).
    pub me: Option<PublicKey>,
    /// Whether to take a peer's feed of this author (bytes of its key) into account.
    pub takes: &'a dyn Fn(&[u8]) -> bool,
}

impl<'a, S: Fold> Local<'a, S> {
    /// A log that hides nothing and takes every feed.
    pub fn plain(replica: &'a Replica<S>) -> Self {
        Local {
            replica,
            hidden: None,
            me: None,
            takes: &|_| true,
        }
    }
}

/// What to pull from a peer whose frontier entries are `theirs`: each feed where the peer
/// has a later seq, a different head we do not know, or a fork we have not seen.
pub fn wants<'e, S: Fold>(
    replica: &Replica<S>,
    theirs: impl IntoIterator<Item = &'e pb::FrontierEntry>,
) -> Vec<pb::FeedWant> {
    let mut out = Vec::new();
    for e in theirs {
        let Ok(author) = PublicKey::from_slice(&e.author) else {
            continue;
        };
        let mine = replica.feed_head(&author);
        let from_seq = match mine {
            None => Some(0),
            Some((seq, _)) if e.seq > seq => Some(seq + 1),
            Some((seq, head)) if e.seq == seq => {
                let theirs_head = EventId::from_slice(&e.head);
                theirs_head
                    .filter(|h| *h != head && !replica.knows(h))
                    .map(|_| seq)
            }
            Some(_) => None,
        };
        // A fork the peer knows and we do not: read the feed again from the fork.
        let fork = (e.forked > 0)
            .then(|| e.forked - 1)
            .filter(|f| replica.forks().get(&author).is_none_or(|mine| mine > f));
        let from = match (from_seq, fork) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(from_seq) = from {
            out.push(pb::FeedWant {
                author: e.author.clone(),
                from_seq,
            });
        }
        if out.len() == MAX_PULL_WANTS {
            break;
        }
    }
    out
}

/// Whether a peer whose sync round ended with `view` of its frontier (none: its state
/// equalled this node's) holds `author`'s feed at least as far as `local` does. A peer
/// that lacks it, or holds less of it, cannot show a node its own latest event there,
/// however complete the round (docs/NETWORK.md §7).
pub fn shows_head<S: Fold>(local: &Local<'_, S>, author: &PublicKey, view: Option<&View>) -> bool {
    let (Some((seq, _)), Some(v)) = (local.replica.feed_head(author), view) else {
        return true;
    };
    match v.seen(author.as_bytes()) {
        // The entry this node showed at the opening (none for a hidden feed): its own
        // feed may have grown since, from a third node, and the peer not with it.
        Seen::Same(shown) => shown.is_some_and(|s| s >= seq),
        Seen::Entry(e) => e.seq >= seq,
        Seen::Nothing => false,
    }
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The request names another network.
    #[error("wrong network")]
    WrongNetwork,
    /// The request has no kind, or a list over its limit.
    #[error("{0}")]
    Malformed(String),
    /// This node cannot serve events now (its store failed).
    #[error("this node is not serving events")]
    Unavailable,
}

fn over(what: &str, n: usize, max: usize) -> Refusal {
    Refusal::Malformed(format!("{n} {what}, over the limit of {max}"))
}

/// The refusal sent back for a request that fails [`respond`].
pub fn refused(r: &Refusal) -> pb::SyncResponse {
    pb::SyncResponse {
        kind: Some(Resp::Refused(pb::Refused {
            reason: r.to_string(),
        })),
    }
}

/// The next page of the wanted feeds, merged in fold order so that each event's causes
/// come before it (or are already held by the asker).
pub fn page<S: Fold>(replica: &Replica<S>, wants: &[pb::FeedWant]) -> pb::Events {
    let mut feeds: Vec<_> = wants
        .iter()
        .filter_map(|w| {
            let author = PublicKey::from_slice(&w.author).ok()?;
            Some(replica.feed_from(&author, w.from_seq).peekable())
        })
        .collect();
    let mut events = Vec::new();
    let mut bytes = 0;
    loop {
        let next = feeds
            .iter_mut()
            .enumerate()
            .filter_map(|(i, f)| f.peek().map(|(k, _)| (*k, i)))
            .min();
        let Some((_, i)) = next else {
            return pb::Events {
                events,
                more: false,
            };
        };
        if events.len() == MAX_PAGE_EVENTS || bytes >= MAX_PAGE_BYTES {
            return pb::Events { events, more: true };
        }
        let (_, ev) = feeds[i].next().expect("peeked");
        let wire = ev.to_wire();
        bytes += wire.len();
        events.push(wire);
    }
}

/// The stored events among `ids`, sorted by id (the asker parks any whose causes come
/// later, `PROTOCOL.md` §5.8).
pub fn fetch<S: Fold>(replica: &Replica<S>, ids: &[Vec<u8>]) -> pb::Events {
    let mut found: Vec<_> = ids
        .iter()
        .filter_map(|b| EventId::from_slice(b))
        .filter_map(|id| replica.get(&id))
        .collect();
    found.sort_by_key(|e| e.id);
    found.dedup_by_key(|e| e.id);
    pb::Events {
        events: found.iter().map(|e| e.to_wire()).collect(),
        more: false,
    }
}

/// A request of the given kind for `replica`'s network.
pub fn request<S: Fold>(replica: &Replica<S>, kind: Req) -> pb::SyncRequest {
    pb::SyncRequest {
        network: replica.network().as_bytes().to_vec(),
        kind: Some(kind),
    }
}

/// A step of a sync round: what an outgoing request was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Comparing state hashes.
    Summary,
    /// Reconciling frontiers.
    Reconcile,
    /// Pulling pages of feeds.
    Pull,
    /// Fetching missing causes within a round.
    Fetch,
    /// A fetch of missing causes outside any round (after gossip).
    Chase,
}

/// What a peer's answer to a request came to, for [`Rounds::answered`].
#[derive(Debug, Clone, Copy)]
pub enum Answer<'a> {
    /// The peer's summary.
    Summary(&'a pb::Summary),
    /// The peer's reconciliation message.
    Reconcile(&'a pb::Reconcile),
    /// A page of events, already taken in by the caller: whether the peer has more, and
    /// whether the store or the pending set grew.
    Events {
        /// The page said more follows.
        more: bool,
        /// Taking the page in stored or parked something new.
        progressed: bool,
    },
    /// The peer refused the request.
    Refused,
    /// The request failed or timed out.
    Failed,
    /// An answer of the wrong kind for the request: the peer broke the protocol.
    Unexpected,
}

impl<'a> Answer<'a> {
    /// Classifies every answer but events, which the caller takes in first.
    pub fn of(step: Step, resp: &'a pb::SyncResponse) -> Answer<'a> {
        match &resp.kind {
            Some(Resp::Summary(s)) if step == Step::Summary => Answer::Summary(s),
            Some(Resp::Reconcile(r)) if step == Step::Reconcile => Answer::Reconcile(r),
            Some(Resp::Refused(_)) => Answer::Refused,
            _ => Answer::Unexpected,
        }
    }
}

/// What [`Rounds`] asks its caller to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action<P> {
    /// Send this request to the peer and report its answer with the same step.
    Send(P, Step, Req),
    /// The round with the peer ended; `complete` when the whole frontiers were compared
    /// and nothing more is wanted from what the peer showed.
    Ended {
        /// The peer.
        peer: P,
        /// The frontiers were compared in full and nothing more was wanted from the peer.
        complete: bool,
        /// What the round learned of the peer's frontier; none when the round ended at
        /// the summaries, the peer holding exactly what this node holds.
        view: Option<View>,
    },
    /// The peer broke the protocol.
    Punish(P),
}

struct Round {
    /// The peer's frontier where it differs from this node's.
    view: View,
    /// The reconciliation covered the whole key space.
    reconciled: bool,
    /// Reconciliation messages sent.
    steps: usize,
    pages: usize,
}

impl Round {
    fn new(view: View) -> Self {
        Round {
            view,
            reconciled: false,
            steps: 0,
            pages: 0,
        }
    }
}

/// The sync rounds of one log of a node with its peers, free of I/O (docs/NETWORK.md
/// §4): the node's event loop and the simulator drive the same rounds, moving the
/// requests it asks for and reporting each answer. `P` names a peer.
pub struct Rounds<P> {
    rounds: HashMap<P, Round>,
    in_flight: Vec<(P, Step)>,
    /// The index of this node's frontier, for the log length and hidden feed it was built
    /// for: every reconciliation message of every peer reads it.
    index: Option<(usize, Option<PublicKey>, Arc<Index>)>,
    /// Rounds started.
    pub started: u64,
    /// Rounds that ended at the first step with both sides in sync.
    pub in_sync: u64,
}

impl<P: Copy + Eq + Hash> Default for Rounds<P> {
    fn default() -> Self {
        Rounds {
            rounds: HashMap::new(),
            in_flight: Vec::new(),
            index: None,
            started: 0,
            in_sync: 0,
        }
    }
}

impl<P: Copy + Eq + Hash> Rounds<P> {
    /// Starts a round with `peer` unless one is running.
    pub fn start<S: Fold>(&mut self, peer: P, local: &Local<'_, S>, out: &mut Vec<Action<P>>) {
        if self.rounds.contains_key(&peer) {
            return;
        }
        self.started += 1;
        self.rounds.insert(peer, Round::new(View::default()));
        self.send(
            peer,
            Step::Summary,
            Req::Summary(summary(local.replica)),
            out,
        );
    }

    /// The answer to a peer's request. A reconciliation message that shows the peer
    /// holds what this node lacks starts a pull from it too. `Err` means the request
    /// itself was refused: the caller answers `Refused`, and penalises the peer for a
    /// malformed one.
    pub fn respond<S: Fold>(
        &mut self,
        peer: P,
        local: &Local<'_, S>,
        req: &pb::SyncRequest,
        out: &mut Vec<Action<P>>,
    ) -> Result<pb::SyncResponse, Refusal> {
        let replica = local.replica;
        if req.network != replica.network().as_bytes().as_slice() {
            return Err(Refusal::WrongNetwork);
        }
        let kind = match &req.kind {
            None => return Err(Refusal::Malformed("empty request".into())),
            Some(Req::Summary(_)) => Resp::Summary(summary(replica)),
            Some(Req::Reconcile(r)) => {
                reconcile::check(r).map_err(Refusal::Malformed)?;
                let answered = reconcile::answer(&self.index(local), r);
                self.pull_learned(peer, answered.learned, local, out);
                Resp::Reconcile(answered.reply)
            }
            Some(Req::Pull(p)) => {
                if p.wants.len() > MAX_PULL_WANTS {
                    return Err(over("pull wants", p.wants.len(), MAX_PULL_WANTS));
                }
                Resp::Events(page(replica, &p.wants))
            }
            Some(Req::Fetch(f)) => {
                if f.ids.len() > MAX_FETCH_IDS {
                    return Err(over("fetch ids", f.ids.len(), MAX_FETCH_IDS));
                }
                Resp::Events(fetch(replica, &f.ids))
            }
        };
        Ok(pb::SyncResponse { kind: Some(kind) })
    }

    /// The index of this node's frontier as `local` now shows it.
    fn index<S: Fold>(&mut self, local: &Local<'_, S>) -> Arc<Index> {
        let len = local.replica.len();
        match &self.index {
            Some((n, hidden, index)) if *n == len && *hidden == local.hidden => index.clone(),
            _ => {
                let index = Arc::new(Index::of(local.replica, local.hidden.as_ref()));
                self.index = Some((len, local.hidden, index.clone()));
                index
            }
        }
    }

    /// What a peer's message taught of its frontier: pull what it holds that this node
    /// lacks, within the round running with it or in a round of its own.
    fn pull_learned<S: Fold>(
        &mut self,
        peer: P,
        mut learned: View,
        local: &Local<'_, S>,
        out: &mut Vec<Action<P>>,
    ) {
        learned.retain(local.takes);
        if learned.is_empty() {
            return;
        }
        if let Some(round) = self.rounds.get_mut(&peer) {
            round.view.merge(learned);
        } else if !wants(local.replica, learned.entries()).is_empty() {
            self.started += 1;
            self.rounds.insert(peer, Round::new(learned));
            self.continue_pull(peer, local, out);
        }
    }

    /// Fetches causes found missing outside a round (after gossip).
    pub fn chase(&mut self, peer: P, missing: Vec<EventId>, out: &mut Vec<Action<P>>) {
        self.fetch(peer, Step::Chase, missing, out);
    }

    /// Reports the answer to a request sent for `step`. `connected` says whether the
    /// peer is still connected.
    pub fn answered<S: Fold>(
        &mut self,
        peer: P,
        step: Step,
        answer: Answer<'_>,
        connected: bool,
        local: &Local<'_, S>,
        out: &mut Vec<Action<P>>,
    ) {
        if let Some(i) = self.in_flight.iter().position(|f| *f == (peer, step)) {
            self.in_flight.swap_remove(i);
        }
        match answer {
            Answer::Summary(s) => {
                if s.state_hash == local.replica.state_hash().0 {
                    self.in_sync += 1;
                    self.end(peer, local, out);
                } else if self.rounds.contains_key(&peer) {
                    let index = self.index(local);
                    let opening = index.opening();
                    if let Some(r) = self.rounds.get_mut(&peer) {
                        r.steps = 1;
                        let me = local.me.as_ref().map(|k| k.as_bytes().as_slice());
                        r.view.merge(View::showing(&index, me));
                    }
                    self.send(peer, Step::Reconcile, Req::Reconcile(opening), out);
                }
            }
            Answer::Reconcile(msg) => self.reconciled(peer, msg, local, out),
            Answer::Events { .. } if step == Step::Chase => {}
            Answer::Events { more, progressed } => {
                if let Some(r) = self.rounds.get_mut(&peer) {
                    r.pages += 1;
                }
                if !connected {
                    self.rounds.remove(&peer);
                } else if !progressed {
                    self.end(peer, local, out);
                } else if step == Step::Pull && more {
                    self.continue_pull(peer, local, out);
                } else {
                    self.fetch_missing(peer, local, out);
                }
            }
            Answer::Refused | Answer::Failed => {
                if step != Step::Chase {
                    self.rounds.remove(&peer);
                }
            }
            Answer::Unexpected => {
                self.rounds.remove(&peer);
                out.push(Action::Punish(peer));
            }
        }
    }

    /// The peer's answer to a reconciliation message: learn from it, and answer it in
    /// turn until nothing is left to compare; then pull.
    fn reconciled<S: Fold>(
        &mut self,
        peer: P,
        msg: &pb::Reconcile,
        local: &Local<'_, S>,
        out: &mut Vec<Action<P>>,
    ) {
        if reconcile::check(msg).is_err() {
            self.rounds.remove(&peer);
            out.push(Action::Punish(peer));
            return;
        }
        let index = self.index(local);
        let Some(round) = self.rounds.get_mut(&peer) else {
            return;
        };
        let mut answered = reconcile::answer(&index, msg);
        answered.learned.retain(local.takes);
        round.view.merge(answered.learned);
        round.reconciled = reconcile::settled(&answered.reply);
        if answered.reply.ranges.is_empty() || round.steps >= MAX_RECONCILE_STEPS {
            self.continue_pull(peer, local, out);
        } else {
            round.steps += 1;
            let reply = Req::Reconcile(answered.reply);
            self.send(peer, Step::Reconcile, reply, out);
        }
    }

    /// Forgets a disconnected peer's round.
    pub fn disconnected(&mut self, peer: P) {
        self.rounds.remove(&peer);
    }

    /// Whether a round with `peer` is running.
    pub fn running(&self, peer: &P) -> bool {
        self.rounds.contains_key(peer)
    }

    fn send(&mut self, peer: P, step: Step, req: Req, out: &mut Vec<Action<P>>) {
        self.in_flight.push((peer, step));
        out.push(Action::Send(peer, step, req));
    }

    /// Pulls the next page from `peer`, or fetches what is missing, or ends the round.
    fn continue_pull<S: Fold>(&mut self, peer: P, local: &Local<'_, S>, out: &mut Vec<Action<P>>) {
        let Some(round) = self.rounds.get(&peer) else {
            return;
        };
        // One peer at a time sends pages, so a node catching up does not download the
        // same events from every peer at once; the others' rounds end and retry later.
        let busy = self
            .in_flight
            .iter()
            .any(|(p, step)| *p != peer && matches!(step, Step::Pull | Step::Fetch | Step::Chase));
        if busy {
            self.rounds.remove(&peer);
            return;
        }
        let wants = if round.pages < MAX_PAGES_PER_ROUND {
            wants(local.replica, round.view.entries())
        } else {
            Vec::new()
        };
        if wants.is_empty() {
            self.fetch_missing(peer, local, out);
        } else {
            self.send(peer, Step::Pull, Req::Pull(pb::Pull { wants }), out);
        }
    }

    fn fetch_missing<S: Fold>(&mut self, peer: P, local: &Local<'_, S>, out: &mut Vec<Action<P>>) {
        let missing = local.replica.missing();
        if missing.is_empty() {
            self.end(peer, local, out);
        } else {
            self.fetch(peer, Step::Fetch, missing, out);
        }
    }

    fn fetch(&mut self, peer: P, step: Step, mut ids: Vec<EventId>, out: &mut Vec<Action<P>>) {
        ids.truncate(MAX_FETCH_IDS);
        let ids = ids.iter().map(|i| i.as_bytes().to_vec()).collect();
        self.send(peer, step, Req::Fetch(pb::Fetch { ids }), out);
    }

    fn end<S: Fold>(&mut self, peer: P, local: &Local<'_, S>, out: &mut Vec<Action<P>>) {
        let Some(round) = self.rounds.remove(&peer) else {
            return;
        };
        // A round that never got past the summaries found both sides equal.
        let view = (round.steps > 0 || !round.view.is_empty()).then_some(round.view);
        let complete = match &view {
            None => true,
            Some(v) => round.reconciled && wants(local.replica, v.entries()).is_empty(),
        };
        out.push(Action::Ended {
            peer,
            complete,
            view,
        });
    }
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
