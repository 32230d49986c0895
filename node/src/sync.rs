//! The sync protocol's logic, free of I/O (docs/NETWORK.md §4): what to ask a peer for,
//! given its frontier, and what to answer, given a request. The node's event loop moves
//! the messages; everything here is a function of a [`Replica`] and a message.
//!
//! A round, started by either side:
//! 1. `Summary` both ways: the state hashes. Equal hashes end the round: a round between
//!    nodes in sync costs two small messages.
//! 2. `Frontier` both ways: each author's highest seq, head id and first forked seq.
//! 3. Each side `Pull`s the feeds where the other is ahead, in pages of at most
//!    [`MAX_PAGE_EVENTS`] events and [`MAX_PAGE_BYTES`] bytes, ordered causes first, and
//!    `Fetch`es any `prev`/`deps` still missing.

use crate::limits::{
    MAX_FETCH_IDS, MAX_FRONTIER_ENTRIES, MAX_PAGE_BYTES, MAX_PAGE_EVENTS, MAX_PULL_WANTS,
};
use mutual_proto::v1 as pb;
use mutual_protocol::id::EventId;
use mutual_protocol::keys::PublicKey;
use mutual_protocol::replica::Replica;
use pb::sync_request::Kind as Req;
use pb::sync_response::Kind as Resp;

/// This node's summary: its state hash and event count.
pub fn summary(replica: &Replica) -> pb::Summary {
    pb::Summary {
        state_hash: replica.state_hash().0.to_vec(),
        events: replica.len() as u64,
    }
}

/// This node's frontier.
pub fn frontier(replica: &Replica) -> pb::Frontier {
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
pub fn wants(replica: &Replica, theirs: &pb::Frontier) -> Vec<pb::FeedWant> {
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

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The request names another network.
    #[error("wrong network")]
    WrongNetwork,
    /// The request has no kind, or a list over its limit.
    #[error("{0}")]
    Malformed(String),
}

/// The answer to one request. `Err` means the request itself was malformed (the peer is at
/// fault); the caller both answers `Refused` and penalises the peer.
pub fn respond(replica: &Replica, req: &pb::SyncRequest) -> Result<pb::SyncResponse, Refusal> {
    if req.network != replica.network().as_bytes().as_slice() {
        return Err(Refusal::WrongNetwork);
    }
    let kind = match &req.kind {
        None => return Err(Refusal::Malformed("empty request".into())),
        Some(Req::Summary(_)) => Resp::Summary(summary(replica)),
        Some(Req::Frontier(f)) => {
            if f.entries.len() > MAX_FRONTIER_ENTRIES {
                return Err(over(
                    "frontier entries",
                    f.entries.len(),
                    MAX_FRONTIER_ENTRIES,
                ));
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
pub fn page(replica: &Replica, wants: &[pb::FeedWant]) -> pb::Events {
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
pub fn fetch(replica: &Replica, ids: &[Vec<u8>]) -> pb::Events {
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
pub fn request(replica: &Replica, kind: Req) -> pb::SyncRequest {
    pb::SyncRequest {
        network: replica.network().as_bytes().to_vec(),
        kind: Some(kind),
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
