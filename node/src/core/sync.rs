//! The sync protocol's logic, free of I/O (docs/NETWORK.md §4): what to ask a peer for,
//! given its frontier, and what to answer, given a request. The node's event loop moves
//! the messages; everything here is a function of a [`Replica`] and a message.
//! (One concept in one file, past 600 lines because its tests live beside it.)
//!
//! A round, started by either side:
//! 1. `Summary` both ways: the state hashes. Equal hashes end the round: a round between
//!    nodes in sync costs two small messages.
//! 2. `Frontier` both ways: each author's highest seq, head id and first forked seq.
//! 3. Each side `Pull`s the feeds where the other is ahead, in pages of at most
//!    [`MAX_PAGE_EVENTS`] events and [`MAX_PAGE_BYTES`] bytes, ordered causes first, and
//!    `Fetch`es any `prev`/`deps` still missing.

use crate::limits::{
    MAX_FETCH_IDS, MAX_FRONTIER_ENTRIES, MAX_PAGES_PER_ROUND, MAX_PAGE_BYTES, MAX_PAGE_EVENTS,
    MAX_PULL_WANTS,
};
use mutual_proto::v1 as pb;
use mutual_protocol::id::EventId;
use mutual_protocol::keys::PublicKey;
use mutual_protocol::replica::{Fold, Replica};
use pb::sync_request::Kind as Req;
use pb::sync_response::Kind as Resp;
use std::collections::HashMap;
use std::hash::Hash;

/// This node's summary: its state hash and event count.
pub fn summary<S: Fold>(replica: &Replica<S>) -> pb::Summary {
    pb::Summary {
        state_hash: replica.state_hash().0.to_vec(),
        events: replica.len() as u64,
    }
}

/// This node's frontier.
pub fn frontier<S: Fold>(replica: &Replica<S>) -> pb::Frontier {
    let forks = replica.forks();
    pb::Frontier {
        entries: replica
            .frontier()
            .into_iter()
            .map(|(author, seq, head)| pb::FrontierEntry {
                author: author.as_bytes().to_vec(),
                seq,
                head: head.as_bytes().to_vec(),
                forked: forks.get(&author).map_or(0, |s| s + 1),
            })
            .collect(),
    }
}

/// What to pull from a peer whose frontier is `theirs`: each feed where the peer has a
/// later seq, a different head we do not know, or a fork we have not seen.
pub fn wants<S: Fold>(replica: &Replica<S>, theirs: &pb::Frontier) -> Vec<pb::FeedWant> {
    let mut out = Vec::new();
    for e in &theirs.entries {
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

/// Whether a peer whose sync round ended showing `frontier` (none: its state equalled
/// this node's) holds `author`'s feed at least as far as `replica` does. A peer that lacks
/// it, or holds less of it, cannot show a node its own latest event there, however
/// complete the round (docs/NETWORK.md §7).
pub fn shows_head<S: Fold>(
    replica: &Replica<S>,
    author: &PublicKey,
    frontier: Option<&pb::Frontier>,
) -> bool {
    let (Some((seq, _)), Some(f)) = (replica.feed_head(author), frontier) else {
        return true;
    };
    f.entries
        .iter()
        .any(|e| e.author == author.as_bytes() && e.seq >= seq)
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
    /// A frontier over [`MAX_FRONTIER_ENTRIES`]: more authors than this node serves in
    /// one exchange, which an honest log may reach, so the sender is not penalised.
    #[error("{0}")]
    TooLarge(String),
}

/// The answer to one request. `Err` means the request itself was malformed (the peer is at
/// fault); the caller both answers `Refused` and penalises the peer.
pub fn respond<S: Fold>(
    replica: &Replica<S>,
    req: &pb::SyncRequest,
) -> Result<pb::SyncResponse, Refusal> {
    if req.network != replica.network().as_bytes().as_slice() {
        return Err(Refusal::WrongNetwork);
    }
    let kind = match &req.kind {
        None => return Err(Refusal::Malformed("empty request".into())),
        Some(Req::Summary(_)) => Resp::Summary(summary(replica)),
        Some(Req::Frontier(f)) => {
            if f.entries.len() > MAX_FRONTIER_ENTRIES {
                return Err(Refusal::TooLarge(format!(
                    "{} frontier entries, over the limit of {MAX_FRONTIER_ENTRIES}",
                    f.entries.len()
                )));
            }
            Resp::Frontier(frontier(replica))
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
    /// Exchanging frontiers.
    Frontier,
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
    /// The peer's frontier.
    Frontier(&'a pb::Frontier),
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
            Some(Resp::Frontier(f)) if step == Step::Frontier => Answer::Frontier(f),
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
    /// The round with the peer ended; `complete` when nothing more is wanted from the
    /// frontier the peer showed.
    Ended {
        /// The peer.
        peer: P,
        /// Nothing more was wanted from the peer.
        complete: bool,
        /// The frontier the peer showed; none when the round ended at the summaries,
        /// the peer holding exactly what this node holds.
        frontier: Option<pb::Frontier>,
    },
    /// The peer broke the protocol.
    Punish(P),
}

struct Round {
    frontier: Option<pb::Frontier>,
    pages: usize,
}

/// The sync rounds of one node with its peers, free of I/O (docs/NETWORK.md §4): the
/// node's event loop and the simulator drive the same rounds, moving the requests it
/// asks for and reporting each answer. `P` names a peer.
pub struct Rounds<P> {
    rounds: HashMap<P, Round>,
    in_flight: Vec<(P, Step)>,
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
            started: 0,
            in_sync: 0,
        }
    }
}

impl<P: Copy + Eq + Hash> Rounds<P> {
    /// Starts a round with `peer` unless one is running.
    pub fn start<S: Fold>(&mut self, peer: P, replica: &Replica<S>, out: &mut Vec<Action<P>>) {
        if self.rounds.contains_key(&peer) {
            return;
        }
        self.started += 1;
        self.rounds.insert(
            peer,
            Round {
                frontier: None,
                pages: 0,
            },
        );
        self.send(peer, Step::Summary, Req::Summary(summary(replica)), out);
    }

    /// After answering a peer's frontier request: the peer may hold what this node lacks,
    /// so pull it too.
    pub fn on_frontier_request<S: Fold>(
        &mut self,
        peer: P,
        theirs: &pb::Frontier,
        replica: &Replica<S>,
        out: &mut Vec<Action<P>>,
    ) {
        if theirs.entries.len() <= MAX_FRONTIER_ENTRIES
            && !self.rounds.contains_key(&peer)
            && !wants(replica, theirs).is_empty()
        {
            self.started += 1;
            self.rounds.insert(
                peer,
                Round {
                    frontier: Some(theirs.clone()),
                    pages: 0,
                },
            );
            self.continue_pull(peer, replica, out);
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
        replica: &Replica<S>,
        out: &mut Vec<Action<P>>,
    ) {
        if let Some(i) = self.in_flight.iter().position(|f| *f == (peer, step)) {
            self.in_flight.swap_remove(i);
        }
        match answer {
            Answer::Summary(s) => {
                if s.state_hash == replica.state_hash().0 {
                    self.in_sync += 1;
                    self.end(peer, replica, out);
                } else {
                    self.send(peer, Step::Frontier, Req::Frontier(frontier(replica)), out);
                }
            }
            Answer::Frontier(f) => {
                // More authors than one exchange carries: the round ends, and the peer,
                // which may simply serve a larger log, is not penalised.
                if f.entries.len() > MAX_FRONTIER_ENTRIES {
                    self.rounds.remove(&peer);
                    return;
                }
                if let Some(r) = self.rounds.get_mut(&peer) {
                    r.frontier = Some(f.clone());
                }
                self.continue_pull(peer, replica, out);
            }
            Answer::Events { .. } if step == Step::Chase => {}
            Answer::Events { more, progressed } => {
                if let Some(r) = self.rounds.get_mut(&peer) {
                    r.pages += 1;
                }
                if !connected {
                    self.rounds.remove(&peer);
                } else if !progressed {
                    self.end(peer, replica, out);
                } else if step == Step::Pull && more {
                    self.continue_pull(peer, replica, out);
                } else {
                    self.fetch_missing(peer, replica, out);
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
    fn continue_pull<S: Fold>(&mut self, peer: P, replica: &Replica<S>, out: &mut Vec<Action<P>>) {
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
        let wants = match &round.frontier {
            Some(f) if round.pages < MAX_PAGES_PER_ROUND => wants(replica, f),
            _ => Vec::new(),
        };
        if wants.is_empty() {
            self.fetch_missing(peer, replica, out);
        } else {
            self.send(peer, Step::Pull, Req::Pull(pb::Pull { wants }), out);
        }
    }

    fn fetch_missing<S: Fold>(&mut self, peer: P, replica: &Replica<S>, out: &mut Vec<Action<P>>) {
        let missing = replica.missing();
        if missing.is_empty() {
            self.end(peer, replica, out);
        } else {
            self.fetch(peer, Step::Fetch, missing, out);
        }
    }

    fn fetch(&mut self, peer: P, step: Step, mut ids: Vec<EventId>, out: &mut Vec<Action<P>>) {
        ids.truncate(MAX_FETCH_IDS);
        let ids = ids.iter().map(|i| i.as_bytes().to_vec()).collect();
        self.send(peer, step, Req::Fetch(pb::Fetch { ids }), out);
    }

    fn end<S: Fold>(&mut self, peer: P, replica: &Replica<S>, out: &mut Vec<Action<P>>) {
        let Some(round) = self.rounds.remove(&peer) else {
            return;
        };
        let complete = round
            .frontier
            .as_ref()
            .is_none_or(|f| wants(replica, f).is_empty());
        out.push(Action::Ended {
            peer,
            complete,
            frontier: round.frontier,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutual_protocol::event::{Body, FeedWriter, SignedEvent};
    use mutual_protocol::id::NetworkId;
    use mutual_protocol::keys::Keypair;
    use prost::Message;

    struct Net {
        genesis: SignedEvent,
        writers: Vec<FeedWriter>,
    }

    fn net(practices: u8) -> Net {
        let keys: Vec<Keypair> = (1..=practices)
            .map(|i| Keypair::from_seed(&[i; 32]).expect("key"))
            .collect();
        let g = pb::Genesis {
            name: "Sync test".into(),
            practices: keys
                .iter()
                .enumerate()
                .map(|(i, k)| pb::Practice {
                    name: format!("P{i}"),
                    ods_code: format!("M{i}"),
                    node_key: k.public().as_bytes().to_vec(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let mut keys = keys.into_iter();
        let (w, genesis) = FeedWriter::found(keys.next().expect("one"), 1_000, g);
        let network = NetworkId(genesis.id);
        let mut writers = vec![w];
        writers.extend(keys.map(|k| FeedWriter::resume(k, network, None)));
        Net { genesis, writers }
    }

    fn replica(n: &Net) -> Replica {
        let mut r = Replica::new(NetworkId(n.genesis.id));
        r.ingest(2_000, &n.genesis.to_wire()).expect("genesis");
        r
    }

    fn author(n: &mut Net, r: &mut Replica, who: usize, count: u32) {
        for i in 0..count {
            let ev = n.writers[who].sign(
                1_500,
                r.heads(),
                Body::PracticeUpdate(pb::PracticeUpdate {
                    list_size: i,
                    ..Default::default()
                }),
            );
            r.ingest(2_000, &ev.to_wire()).expect("valid");
        }
    }

    /// Runs pull rounds from `from` into `to` until nothing is wanted; returns pages.
    fn pull_all(from: &Replica, to: &mut Replica) -> usize {
        let mut pages = 0;
        loop {
            let w = wants(to, &frontier(from));
            if w.is_empty() {
                return pages;
            }
            let p = page(from, &w);
            pages += 1;
            for r in to.ingest_batch(2_000, &p.events) {
                r.expect("valid");
            }
            assert!(pages < 100, "pulls must make progress");
        }
    }

    #[test]
    fn a_peer_shows_a_node_its_head_only_if_it_holds_the_feed_as_far() {
        let mut n = net(2);
        let mut a = replica(&n);
        let me = Keypair::from_seed(&[2; 32]).expect("key").public();
        // A node with no feed of its own: any complete round will do.
        assert!(shows_head(&a, &me, Some(&frontier(&a))));
        author(&mut n, &mut a, 1, 3);
        let fresh = replica(&n);
        assert!(
            !shows_head(&a, &me, Some(&frontier(&fresh))),
            "a peer without the feed"
        );
        let mut behind = replica(&n);
        pull_all(&a, &mut behind);
        author(&mut n, &mut a, 1, 1);
        assert!(
            !shows_head(&a, &me, Some(&frontier(&behind))),
            "a peer holding less of it"
        );
        let mut level = replica(&n);
        pull_all(&a, &mut level);
        assert!(shows_head(&a, &me, Some(&frontier(&level))));
        assert!(shows_head(&a, &me, None), "states equal at the summaries");
    }

    #[test]
    fn nodes_in_sync_want_nothing_and_summaries_match() {
        let mut n = net(2);
        let mut a = replica(&n);
        author(&mut n, &mut a, 0, 5);
        let mut b = replica(&n);
        pull_all(&a, &mut b);
        assert_eq!(summary(&a), summary(&b));
        assert!(wants(&b, &frontier(&a)).is_empty());
        assert!(wants(&a, &frontier(&b)).is_empty());
        // What an in-sync round costs: two summaries, each well under 100 bytes.
        let req = request(&a, Req::Summary(summary(&a))).encode_to_vec();
        assert!(req.len() < 100, "{} bytes", req.len());
    }

    #[test]
    fn pages_are_bounded_and_ordered_so_every_event_is_stored_on_arrival() {
        let mut n = net(3);
        let mut a = replica(&n);
        for round in 0..3 {
            for who in 0..3 {
                author(&mut n, &mut a, who, 500 + round);
            }
        }
        let mut b = replica(&n);
        let w = wants(&b, &frontier(&a));
        assert_eq!(w.len(), 3);
        let first = page(&a, &w);
        assert_eq!(first.events.len(), MAX_PAGE_EVENTS);
        assert!(first.more);
        let pages = pull_all(&a, &mut b);
        assert_eq!(b.pending_len(), 0, "causes always came first");
        assert_eq!(a.state_hash(), b.state_hash());
        assert!(pages >= a.len().div_ceil(MAX_PAGE_EVENTS));
    }

    #[test]
    fn requests_over_their_limits_are_refused() {
        let n = net(1);
        let r = replica(&n);
        let pull = |k| {
            request(
                &r,
                Req::Pull(pb::Pull {
                    wants: vec![pb::FeedWant::default(); k],
                }),
            )
        };
        assert!(respond(&r, &pull(MAX_PULL_WANTS)).is_ok());
        assert!(matches!(
            respond(&r, &pull(MAX_PULL_WANTS + 1)),
            Err(Refusal::Malformed(_))
        ));
        let fetch = |k| {
            request(
                &r,
                Req::Fetch(pb::Fetch {
                    ids: vec![vec![0; 32]; k],
                }),
            )
        };
        assert!(respond(&r, &fetch(MAX_FETCH_IDS)).is_ok());
        assert!(respond(&r, &fetch(MAX_FETCH_IDS + 1)).is_err());
        let mut other = pull(1);
        other.network = vec![9; 32];
        assert_eq!(respond(&r, &other), Err(Refusal::WrongNetwork));
    }

    /// Honest growth is never punished: a frontier of more authors than the old limit of
    /// 4,096 is answered, and one over today's limit ends the round without penalty.
    #[test]
    fn a_large_frontier_is_never_a_reason_to_punish() {
        let n = net(1);
        let r = replica(&n);
        let entries = |k: usize| pb::Frontier {
            entries: (0..k)
                .map(|i| pb::FrontierEntry {
                    author: (i as u64).to_be_bytes().repeat(4),
                    seq: 1,
                    head: vec![7; 32],
                    forked: 0,
                })
                .collect(),
        };
        let grown = entries(5_000);
        assert!(
            respond(&r, &request(&r, Req::Frontier(grown.clone()))).is_ok(),
            "5,000 authors are answered"
        );
        let huge = entries(MAX_FRONTIER_ENTRIES + 1);
        let encoded = request(&r, Req::Frontier(huge.clone())).encoded_len();
        assert!(encoded <= crate::limits::MAX_SYNC_REQUEST_BYTES);
        assert!(matches!(
            respond(&r, &request(&r, Req::Frontier(huge.clone()))),
            Err(Refusal::TooLarge(_))
        ));
        // As an answer in a round: no punishment either way.
        for f in [&grown, &huge] {
            let mut rounds = Rounds::default();
            let mut out = Vec::new();
            rounds.start(1u8, &r, &mut out);
            out.clear();
            let them = pb::Summary {
                state_hash: vec![1; 32],
                events: 9,
            };
            rounds.answered(
                1u8,
                Step::Summary,
                Answer::Summary(&them),
                true,
                &r,
                &mut out,
            );
            rounds.answered(1u8, Step::Frontier, Answer::Frontier(f), true, &r, &mut out);
            assert!(
                !out.iter().any(|a| matches!(a, Action::Punish(_))),
                "{} entries punished: {out:?}",
                f.entries.len()
            );
        }
    }

    #[test]
    fn a_fork_the_asker_has_not_seen_is_pulled_from_the_forked_seq() {
        let mut n = net(2);
        let mut a = replica(&n);
        author(&mut n, &mut a, 1, 3);
        let mut b = replica(&n);
        pull_all(&a, &mut b);
        // Practice 2 signs a second event at seq 2 (a twin writer resumed from seq 1).
        let head1 = a
            .feed_from(&n.writers[1].author(), 1)
            .next()
            .expect("seq 1")
            .1
            .id;
        let key = Keypair::from_seed(&[2; 32]).expect("key");
        let mut twin = FeedWriter::resume(key, NetworkId(n.genesis.id), Some((1, head1)));
        let forked = twin.sign(
            1_600,
            vec![],
            Body::PracticeLeave(pb::PracticeLeave::default()),
        );
        a.ingest(2_000, &forked.to_wire()).expect("valid");
        assert!(a.forks().contains_key(&n.writers[1].author()));
        let w = wants(&b, &frontier(&a));
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].from_seq, 2);
        pull_all(&a, &mut b);
        assert_eq!(a.state_hash(), b.state_hash());
    }
}
