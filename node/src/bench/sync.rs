//! Two nodes' cores syncing over an in-memory link, with every sync message's bytes
//! counted: the node's own rounds (docs/NETWORK.md §6), as its driver would carry them.

use super::workload::Workload;
use crate::core::store::Store;
use crate::core::{Action, CoreConfig, Input, NodeCore, Now};
use crate::sim::{Disk, MemStore};
use mutual_protocol::keys::{Keypair, PublicKey};
use prost::Message;
use std::collections::{BTreeMap, VecDeque};

/// Most messages one exchange may carry before it is called stuck.
pub const MAX_MESSAGES: usize = 1_000_000;
/// Most sync rounds one exchange may start (each on a timer tick) before it is called
/// stuck.
pub const MAX_ROUNDS: usize = 64;
/// Simulated time between two messages, ms (within the peers' request rate limit).
const STEP_MS: u64 = 100;

/// Bytes of sync messages as protobuf encodes them (what each request and answer puts on
/// a stream, without the transport's framing), by the node whose round they belong to.
#[derive(Debug, Default, Clone, Copy)]
pub struct Traffic {
    /// Each node's rounds: its requests and the answers to them.
    pub by_round_of: [u64; 2],
    /// Rounds started.
    pub rounds: usize,
}

impl Traffic {
    /// Every byte both ways.
    pub fn total(&self) -> u64 {
        self.by_round_of[0] + self.by_round_of[1]
    }
}

/// Two cores, each over its own in-memory store.
pub struct Pair {
    cores: [NodeCore<MemStore>; 2],
    keys: [PublicKey; 2],
    _disks: [Disk; 2],
    t: u64,
}

enum Msg {
    Request {
        from: usize,
        id: u64,
        req: mutual_proto::v1::SyncRequest,
    },
    Response {
        id: u64,
        resp: mutual_proto::v1::SyncResponse,
    },
}

fn open(w: &Workload, key: &Keypair, held: &[bool]) -> Result<(NodeCore<MemStore>, Disk), String> {
    let disk = Disk::default();
    let mut store = disk.open("network");
    let events: Vec<_> = std::iter::once(&w.genesis)
        .chain(
            w.events
                .iter()
                .zip(held)
                .filter(|(_, h)| **h)
                .map(|(e, _)| e),
        )
        .collect();
    store
        .set_network(w.network)
        .and_then(|()| store.put_events(&events))
        .and_then(|()| store.sync())
        .map_err(|e| e.to_string())?;
    let key = Keypair::from_seed(&key.seed()).ok_or("a key that cannot be copied")?;
    let now = Now {
        wall_ms: super::workload::T0 + 10_000_000,
        mono_ms: 0,
    };
    let (core, _) = NodeCore::open(key, w.network, store, None, CoreConfig::default(), now)
        .map_err(|e| e.to_string())?;
    Ok((core, disk))
}

impl Pair {
    /// Node 0 holds every event of `w`; node 1 those `held` says (by index into
    /// `w.events`). The nodes are practices 0 and 1's.
    pub fn new(w: &Workload, held: &[bool]) -> Result<Pair, String> {
        let all = vec![true; w.events.len()];
        let (a, da) = open(w, &w.keys[0], &all)?;
        let (b, db) = open(w, &w.keys[1], held)?;
        Ok(Pair {
            keys: [a.key(), b.key()],
            cores: [a, b],
            _disks: [da, db],
            t: 0,
        })
    }

    /// Node `n`'s core.
    pub fn core(&self, n: usize) -> &NodeCore<MemStore> {
        &self.cores[n]
    }

    fn now(&self) -> Now {
        Now {
            wall_ms: super::workload::T0 + 10_000_000 + self.t,
            mono_ms: self.t,
        }
    }

    /// Connects the two nodes (each starts a round) and carries their messages until
    /// both are idle; while node 1 still lacks events, a timer tick starts further
    /// rounds. Returns the bytes carried.
    pub fn connect_and_sync(&mut self) -> Result<Traffic, String> {
        let mut traffic = Traffic::default();
        let mut queue: VecDeque<(usize, Msg)> = VecDeque::new();
        // The answering node's token to the asker and the asker's request id.
        let mut tokens: BTreeMap<u64, (usize, u64)> = BTreeMap::new();
        let mut next_token = 0u64;
        let mut carried = 0usize;
        let mut first = true;
        for _ in 0..MAX_ROUNDS {
            for n in 0..2 {
                let input = if first {
                    Input::Connected(self.keys[1 - n])
                } else {
                    Input::Timer
                };
                let now = self.now();
                let actions = self.cores[n].handle(now, input);
                self.route(n, actions, &mut queue, &mut tokens, &mut traffic);
            }
            first = false;
            while let Some((to, msg)) = queue.pop_front() {
                carried += 1;
                if carried > MAX_MESSAGES {
                    return Err(format!("sync still busy after {MAX_MESSAGES} messages"));
                }
                self.t += STEP_MS;
                let now = self.now();
                let input = match msg {
                    Msg::Request { from, id, req } => {
                        next_token += 1;
                        tokens.insert(next_token, (from, id));
                        Input::Request {
                            from: self.keys[from],
                            req,
                            token: next_token,
                        }
                    }
                    Msg::Response { id, resp } => Input::Response { id, resp },
                };
                let actions = self.cores[to].handle(now, input);
                self.route(to, actions, &mut queue, &mut tokens, &mut traffic);
            }
            if self.cores[1].replica().len() == self.cores[0].replica().len() {
                return Ok(traffic);
            }
            // The next rounds start at the sync interval.
            self.t += CoreConfig::default().sync_interval_ms;
        }
        Err(format!(
            "node 1 holds {} of {} events after {MAX_ROUNDS} rounds",
            self.cores[1].replica().len(),
            self.cores[0].replica().len()
        ))
    }

    fn route(
        &mut self,
        from: usize,
        actions: Vec<Action>,
        queue: &mut VecDeque<(usize, Msg)>,
        tokens: &mut BTreeMap<u64, (usize, u64)>,
        traffic: &mut Traffic,
    ) {
        for a in actions {
            match a {
                Action::Request { id, req, .. } => {
                    if matches!(
                        req.kind,
                        Some(mutual_proto::v1::sync_request::Kind::Summary(_))
                    ) {
                        traffic.rounds += 1;
                    }
                    traffic.by_round_of[from] += req.encoded_len() as u64;
                    queue.push_back((1 - from, Msg::Request { from, id, req }));
                }
                Action::Respond { token, resp } => {
                    if let Some((asker, id)) = tokens.remove(&token) {
                        traffic.by_round_of[asker] += resp.encoded_len() as u64;
                        queue.push_back((asker, Msg::Response { id, resp }));
                    }
                }
                _ => {}
            }
        }
    }
}
