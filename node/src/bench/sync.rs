//! Two nodes' cores syncing over an in-memory link, with every sync message's bytes
//! counted: the node's own rounds (docs/NETWORK.md §4.3), as its driver would carry them.

use super::workload::Workload;
use crate::core::store::Store;
use crate::core::{Action, CoreConfig, Input, NodeCore, Now};
use crate::sim::{Disk, MemStore};
use mutual_protocol::keys::{Keypair, PublicKey};
use prost::Message;
use std::collections::{BTreeMap, VecDeque};

/// Most messages one call ([`Pair::gossip`] or [`Pair::connect_and_sync`]) may carry
/// before it is called stuck.
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

/// Two cores, each over its own in-memory store, and the messages between them.
pub struct Pair {
    cores: [NodeCore<MemStore>; 2],
    keys: [PublicKey; 2],
    _disks: [Disk; 2],
    t: u64,
    queue: VecDeque<(usize, Msg)>,
    /// The answering node's token to the asker and the asker's request id.
    tokens: BTreeMap<u64, (usize, u64)>,
    next_token: u64,
    carried: usize,
    traffic: Traffic,
    connected: bool,
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

fn open(
    w: &Workload,
    key: &Keypair,
    held: &[bool],
    config: CoreConfig,
) -> Result<(NodeCore<MemStore>, Disk), String> {
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
    let (core, _) =
        NodeCore::open(key, w.network, store, None, config, now).map_err(|e| e.to_string())?;
    Ok((core, disk))
}

impl Pair {
    /// Node 0 holds every event of `w`; node 1 those `held` says (by index into
    /// `w.events`). The nodes are practices 0 and 1's.
    pub fn new(w: &Workload, held: &[bool]) -> Result<Pair, String> {
        Pair::with_config(w, held, CoreConfig::default())
    }

    /// As [`Pair::new`], node 1 with `config`.
    pub fn with_config(w: &Workload, held: &[bool], config: CoreConfig) -> Result<Pair, String> {
        let all = vec![true; w.events.len()];
        let (a, da) = open(w, &w.keys[0], &all, CoreConfig::default())?;
        let (b, db) = open(w, &w.keys[1], held, config)?;
        Ok(Pair {
            keys: [a.key(), b.key()],
            cores: [a, b],
            _disks: [da, db],
            t: 0,
            queue: VecDeque::new(),
            tokens: BTreeMap::new(),
            next_token: 0,
            carried: 0,
            traffic: Traffic::default(),
            connected: false,
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

    /// Hands node `to` an event by gossip from the other node, and carries the messages
    /// that follow (a fetch of missing causes, say) until both are idle.
    pub fn gossip(&mut self, to: usize, wire: Vec<u8>) -> Result<(), String> {
        self.next_token += 1;
        let input = Input::Gossip {
            from: self.keys[1 - to],
            log: None,
            data: wire,
            token: self.next_token,
        };
        self.feed(to, input);
        self.drain()
    }

    /// Connects the two nodes (each starts a round) and carries their messages until
    /// both are idle; while node 1 still lacks events, a timer tick starts further
    /// rounds. Returns the bytes carried since the pair was made.
    pub fn connect_and_sync(&mut self) -> Result<Traffic, String> {
        for _ in 0..MAX_ROUNDS {
            for n in 0..2 {
                let input = if self.connected {
                    Input::Timer
                } else {
                    Input::Connected(self.keys[1 - n])
                };
                self.feed(n, input);
            }
            self.connected = true;
            self.drain()?;
            if self.cores[1].replica().len() == self.cores[0].replica().len() {
                return Ok(self.traffic);
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

    fn feed(&mut self, n: usize, input: Input) {
        let now = self.now();
        let actions = self.cores[n].handle(now, input);
        self.route(n, actions);
    }

    /// Carries messages until none is left.
    fn drain(&mut self) -> Result<(), String> {
        self.carried = 0;
        while let Some((to, msg)) = self.queue.pop_front() {
            self.carried += 1;
            if self.carried > MAX_MESSAGES {
                return Err(format!("sync still busy after {MAX_MESSAGES} messages"));
            }
            self.t += STEP_MS;
            let input = match msg {
                Msg::Request { from, id, req } => {
                    self.next_token += 1;
                    self.tokens.insert(self.next_token, (from, id));
                    Input::Request {
                        from: self.keys[from],
                        req,
                        token: self.next_token,
                    }
                }
                Msg::Response { id, resp } => Input::Response { id, resp },
            };
            self.feed(to, input);
        }
        Ok(())
    }

    fn route(&mut self, from: usize, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Request { id, req, .. } => {
                    if matches!(
                        req.kind,
                        Some(mutual_proto::v1::sync_request::Kind::Summary(_))
                    ) {
                        self.traffic.rounds += 1;
                    }
                    self.traffic.by_round_of[from] += req.encoded_len() as u64;
                    self.queue
                        .push_back((1 - from, Msg::Request { from, id, req }));
                }
                Action::Respond { token, resp } => {
                    if let Some((asker, id)) = self.tokens.remove(&token) {
                        self.traffic.by_round_of[asker] += resp.encoded_len() as u64;
                        self.queue.push_back((asker, Msg::Response { id, resp }));
                    }
                }
                _ => {}
            }
        }
    }
}
