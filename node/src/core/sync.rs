//! The sync protocol's logic, free of I/O (docs/NETWORK.md §4): what to ask a peer for,
//! given what it showed, and what to answer, given a request. The node's event loop moves
//! the messages; everything here is a function of a [`Replica`] and a message.
//! Its tests are in `sync_tests.rs` and `sync_heads_tests.rs`.
//!
//! A round, started by either side:
//! 1. `Summary` both ways: the state hashes, and each side's heads when it has few. Equal
//!    hashes end the round: a round between nodes in sync costs two small messages. A
//!    responder that holds every head of the asker holds everything the asker holds, and
//!    answers with the first page of what the asker lacks, found by walking back from its
//!    own heads ([`Replica::beyond`]); an asker that holds every head of the responder has
//!    nothing to pull, and ends the round.
//! 2. Otherwise, `Reconcile` back and forth ([`reconcile`](super::reconcile)): each side
//!    learns the other's frontier entries (each author's highest seq, head id and first
//!    forked seq) where they differ, at a cost that grows with the difference, not the log.
//! 3. Each side `Pull`s the feeds where the other is ahead, in pages of at most
//!    [`MAX_PAGE_EVENTS`] events and [`MAX_PAGE_BYTES`] bytes, ordered causes first, and
//!    `Fetch`es any `prev`/`deps` still missing.

use super::reconcile::{self, Index, Seen, View};
use crate::limits::{
    MAX_FETCH_IDS, MAX_HEADS_WALK, MAX_PAGES_PER_ROUND, MAX_PAGE_BYTES, MAX_PAGE_EVENTS,
    MAX_PULL_WANTS, MAX_RECONCILE_STEPS, MAX_SUMMARY_HEADS,
};
use mutual_proto::v1 as pb;
use mutual_protocol::id::EventId;
use mutual_protocol::keys::PublicKey;
use mutual_protocol::replica::{Beyond, BodyError, Fold, Replica};
use pb::sync_request::Kind as Req;
use pb::sync_response::Kind as Resp;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

/// This node's summary: its state hash and event count, and with `heads` its heads when
/// it has at most [`MAX_SUMMARY_HEADS`].
pub fn summary<S: Fold>(replica: &Replica<S>, heads: bool) -> pb::Summary {
    let heads = heads
        .then(|| replica.all_heads(MAX_SUMMARY_HEADS))
        .flatten()
        .unwrap_or_default();
    pb::Summary {
        state_hash: replica.state_hash().0.to_vec(),
        events: replica.len() as u64,
        heads: heads.iter().map(|h| h.as_bytes().to_vec()).collect(),
    }
}

/// The heads a summary shows: at most [`MAX_SUMMARY_HEADS`], each an event id.
fn heads_of(s: &pb::Summary) -> Result<Vec<EventId>, Refusal> {
    if s.heads.len() > MAX_SUMMARY_HEADS {
        return Err(over("summary heads", s.heads.len(), MAX_SUMMARY_HEADS));
    }
    s.heads
        .iter()
        .map(|h| {
            EventId::from_slice(h).ok_or_else(|| {
                Refusal::Malformed(format!("a head of {} bytes, not an event id", h.len()))
            })
        })
        .collect()
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
    /// Whether this node starts rounds of its own on this log when a peer's request shows
    /// it holds what this node lacks (a planted defect's node does not, on a federation's).
    pub starts: bool,
}

impl<'a, S: Fold> Local<'a, S> {
    /// A log that hides nothing and takes every feed.
    pub fn plain(replica: &'a Replica<S>) -> Self {
        Local {
            replica,
            hidden: None,
            me: None,
            takes: &|_| true,
            starts: true,
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
pub fn page<S: Fold>(replica: &Replica<S>, wants: &[pb::FeedWant]) -> Result<pb::Events, Refusal> {
    let mut feeds: Vec<_> = wants
        .iter()
        .filter_map(|w| {
            let author = PublicKey::from_slice(&w.author).ok()?;
            Some(replica.feed_keys_from(&author, w.from_seq).peekable())
        })
        .collect();
    // Merged by place; the events read back are those that go in the page and the one
    // after, which says there is more, and those a feed reads back along `prev` to find
    // its first events (fewer than FEED_MARK_EVERY for each want).
    fill(std::iter::from_fn(|| {
        // A feed that could not be read on sorts first (`None`), and is answered so.
        let (_, i) = feeds
            .iter_mut()
            .enumerate()
            .filter_map(|(i, f)| f.peek().map(|k| (k.as_ref().ok().copied(), i)))
            .min()?;
        let id = match feeds[i].next()? {
            Ok((_, id)) => id,
            Err(e) => return Some(Err(e)),
        };
        // A feed lists only stored events; were one not, the page would say so rather
        // than end there and tell the asker it has everything.
        Some(replica.read_wire(&id).and_then(|w| {
            w.ok_or_else(|| BodyError {
                id,
                detail: "listed in its feed but not stored".into(),
            })
        }))
    }))
}

/// A page of `events` (in fold order): at most [`MAX_PAGE_EVENTS`] events, and no more
/// once it holds [`MAX_PAGE_BYTES`]; `more` says whether any were left out.
fn fill(wires: impl Iterator<Item = Result<Vec<u8>, BodyError>>) -> Result<pb::Events, Refusal> {
    let mut wires = wires.peekable();
    let mut page = Vec::new();
    let mut bytes = 0;
    while wires.peek().is_some() {
        if page.len() == MAX_PAGE_EVENTS || bytes >= MAX_PAGE_BYTES {
            return Ok(pb::Events {
                events: page,
                more: true,
            });
        }
        let wire = wires.next().expect("peeked").map_err(unreadable)?;
        bytes += wire.len();
        page.push(wire);
    }
    Ok(pb::Events {
        events: page,
        more: false,
    })
}

/// A stored event that cannot be read back: the node serves no events rather than a log
/// with a gap in it (a peer would wait for what follows the gap for ever).
fn unreadable(e: BodyError) -> Refusal {
    tracing::error!(error = %e, "a stored event cannot be read back from the store; not serving events");
    Refusal::Unavailable
}

/// The answer to a peer's summary: equal states, or the first page of what the peer
/// lacks when this node holds all its heads and finds that within [`MAX_HEADS_WALK`], or
/// this node's own summary with its heads. `unknown` is set when the peer showed a head
/// this node does not hold: the peer holds something this node lacks.
fn answer_summary<S: Fold>(
    local: &Local<'_, S>,
    theirs: &pb::Summary,
    unknown: &mut bool,
) -> Result<Resp, Refusal> {
    let replica = local.replica;
    let heads = heads_of(theirs)?;
    if theirs.state_hash == replica.state_hash().0 {
        return Ok(Resp::Summary(summary(replica, false)));
    }
    // A node hiding a feed (a planted defect's) shows and pushes nothing by heads: they
    // would show the feed.
    let shows = local.hidden.is_none();
    if shows && !heads.is_empty() {
        match replica.beyond(&heads, MAX_HEADS_WALK) {
            Beyond::Events(lacked) => {
                // Feeds this node's log does not know (evidence an older version stored)
                // are not sent: the asker would not store them (§6.1).
                // Read back one at a time, as the page fills.
                let mut sent = lacked
                    .iter()
                    .filter_map(|id| match replica.load(id) {
                        Ok(Some(e)) => {
                            (local.takes)(e.event.author.as_bytes()).then(|| Ok(e.to_wire()))
                        }
                        Ok(None) => None,
                        Err(e) => Some(Err(e)),
                    })
                    .peekable();
                if sent.peek().is_some() {
                    return fill(sent).map(Resp::Events);
                }
            }
            Beyond::Unknown => *unknown = true,
            Beyond::TooFar => {}
            Beyond::Unreadable(e) => return Err(unreadable(e)),
        }
    }
    Ok(Resp::Summary(summary(replica, shows)))
}

/// The stored events among `ids`, sorted by id (the asker parks any whose causes come
/// later, `PROTOCOL.md` §5.8).
pub fn fetch<S: Fold>(replica: &Replica<S>, ids: &[Vec<u8>]) -> Result<pb::Events, Refusal> {
    let mut found: Vec<EventId> = ids
        .iter()
        .filter_map(|b| EventId::from_slice(b))
        .filter(|id| replica.contains(id))
        .collect();
    found.sort_unstable();
    found.dedup();
    let events = found
        .iter()
        .filter_map(|id| replica.read_wire(id).transpose())
        .collect::<Result<_, _>>()
        .map_err(unreadable)?;
    Ok(pb::Events {
        events,
        more: false,
    })
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
    /// Classifies every answer but events (to any request but `Reconcile`), which the
    /// caller takes in first.
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
    /// A summary showing this node's heads is awaiting its answer, which may be a page.
    showed_heads: bool,
}

impl Round {
    fn new(view: View) -> Self {
        Round {
            view,
            reconciled: false,
            steps: 0,
            pages: 0,
            showed_heads: false,
        }
    }
}

/// The sync rounds of one log of a node with its peers, free of I/O (docs/NETWORK.md
/// §4): the node's event loop and the simulator drive the same rounds, moving the
/// requests it asks for and reporting each answer. `P` names a peer.
pub struct Rounds<P> {
    rounds: HashMap<P, Round>,
    in_flight: Vec<(P, Step)>,
    /// Peers whose page in answer to this node's heads brought nothing new (events it
    /// would not store, say): shown no heads again until a round with them finds both in
    /// sync or they disconnect, so they are not sent the same page every round.
    unheeded: HashSet<P>,
    /// The index of this node's frontier, for the log length and hidden feed it was built
    /// for: every reconciliation message of every peer reads it.
    index: Option<(usize, Option<PublicKey>, Arc<Index>)>,
    /// How many events each connected peer said it held in its last summary: what a
    /// catch-up indicator reads, never what the protocol relies on (a peer may say
    /// anything there).
    reported: HashMap<P, u64>,
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
            unheeded: HashSet::new(),
            index: None,
            reported: HashMap::new(),
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
        self.send_summary(peer, local, out);
    }

    /// Sends the peer this node's summary, with its heads unless another peer may be
    /// sending it pages (one peer at a time does), or it hides a feed.
    fn send_summary<S: Fold>(&mut self, peer: P, local: &Local<'_, S>, out: &mut Vec<Action<P>>) {
        let heads = local.hidden.is_none()
            && !self.unheeded.contains(&peer)
            && !self.paging_elsewhere(peer);
        let mine = summary(local.replica, heads);
        if let Some(r) = self.rounds.get_mut(&peer) {
            r.showed_heads = !mine.heads.is_empty();
        }
        self.send(peer, Step::Summary, Req::Summary(mine), out);
    }

    /// Whether a peer other than `peer` may be sending this node events: a pull or
    /// fetch in flight, or a summary showing heads awaiting its answer.
    fn paging_elsewhere(&self, peer: P) -> bool {
        self.in_flight
            .iter()
            .any(|(p, step)| *p != peer && matches!(step, Step::Pull | Step::Fetch | Step::Chase))
            || self
                .rounds
                .iter()
                .any(|(p, r)| *p != peer && r.showed_heads)
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
            Some(Req::Summary(theirs)) => {
                let mut unknown = false;
                let resp = answer_summary(local, theirs, &mut unknown)?;
                self.reported.insert(peer, theirs.events);
                // The peer holds what this node lacks: a round of this node's own brings
                // it (by the peer's answer to its summary, or by reconciling).
                if unknown && local.starts {
                    self.start(peer, local, out);
                }
                resp
            }
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
                Resp::Events(page(replica, &p.wants)?)
            }
            Some(Req::Fetch(f)) => {
                if f.ids.len() > MAX_FETCH_IDS {
                    return Err(over("fetch ids", f.ids.len(), MAX_FETCH_IDS));
                }
                Resp::Events(fetch(replica, &f.ids)?)
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
        let showed_heads = step == Step::Summary
            && self
                .rounds
                .get_mut(&peer)
                .is_some_and(|r| std::mem::take(&mut r.showed_heads));
        let answer = match answer {
            // Pages answer a summary only when it showed this node's heads.
            Answer::Events { .. } if step == Step::Summary && !showed_heads => Answer::Unexpected,
            a => a,
        };
        match answer {
            Answer::Summary(s) => {
                let Ok(heads) = heads_of(s) else {
                    self.rounds.remove(&peer);
                    out.push(Action::Punish(peer));
                    return;
                };
                if connected {
                    self.reported.insert(peer, s.events);
                }
                if s.state_hash == local.replica.state_hash().0 {
                    // The peer holds exactly what this node holds, whatever the round
                    // learned before (a peer's reconciliation may have added to it).
                    self.in_sync += 1;
                    self.unheeded.remove(&peer);
                    self.finish(peer, true, None, out);
                } else if let Some(lacked) = self.lacked_by(peer, showed_heads, &heads, local) {
                    // Nothing to pull. The peer holds this node's own feed as far as this
                    // node does unless an event at that feed's head is among what it
                    // lacks.
                    let shown = local.me.is_none_or(|me| {
                        let top = local.replica.feed_head(&me).map(|(seq, _)| seq);
                        top.is_none_or(|seq| {
                            local
                                .replica
                                .feed_keys_from(&me, seq)
                                .all(|k| k.is_ok_and(|(_, id)| !lacked.contains(&id)))
                        })
                    });
                    self.finish(peer, shown, None, out);
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
                let mut pages = 0;
                if let Some(r) = self.rounds.get_mut(&peer) {
                    r.pages += 1;
                    pages = r.pages;
                }
                if !connected {
                    self.rounds.remove(&peer);
                } else if step == Step::Summary {
                    // A page in answer to this node's heads: show the peer the heads it
                    // made, for the next page or to find both in sync. Such a round shows
                    // this node nothing of the peer's frontier, so it ends complete only
                    // at a summary (in sync, or this node holding all the peer's heads).
                    if !progressed {
                        self.unheeded.insert(peer);
                    }
                    if progressed && pages < MAX_PAGES_PER_ROUND {
                        self.send_summary(peer, local, out);
                    } else {
                        self.finish(peer, false, None, out);
                    }
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

    /// What a peer whose summary showed `heads` lacks of this node, if this node holds
    /// everything it holds: found by walking back from this node's heads. Only in a
    /// round whose summary showed this node's heads too: else the peer was not shown that
    /// it lacks something, and reconciling shows it.
    fn lacked_by<S: Fold>(
        &self,
        peer: P,
        showed_heads: bool,
        heads: &[EventId],
        local: &Local<'_, S>,
    ) -> Option<Vec<EventId>> {
        if !showed_heads || heads.is_empty() || !self.rounds.contains_key(&peer) {
            return None;
        }
        match local.replica.beyond(heads, MAX_HEADS_WALK) {
            Beyond::Events(lacked) => Some(lacked),
            Beyond::Unknown | Beyond::TooFar | Beyond::Unreadable(_) => None,
        }
    }

    /// Forgets a disconnected peer's round.
    pub fn disconnected(&mut self, peer: P) {
        self.rounds.remove(&peer);
        self.unheeded.remove(&peer);
        self.reported.remove(&peer);
    }

    /// The most events a connected peer said it held, in the last summary it sent or
    /// answered with (0 before any).
    pub fn most_reported(&self) -> u64 {
        self.reported.values().copied().max().unwrap_or(0)
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
        if self.paging_elsewhere(peer) {
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

    /// Ends the round with `peer` as found complete or not, with what it learned.
    fn finish(&mut self, peer: P, complete: bool, view: Option<View>, out: &mut Vec<Action<P>>) {
        if self.rounds.remove(&peer).is_some() {
            out.push(Action::Ended {
                peer,
                complete,
                view,
            });
        }
    }
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
