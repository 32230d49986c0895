//! The logs a node keeps ([`Log`]): the network's own, and one for each federation its
//! network linked to (docs/FEDERATION.md), each with its own store, sync rounds and
//! head confirmation; and who takes part in each federation's log with this node.

use super::io::{Action, LogId};
use super::status::NodeError;
use super::store::{load_log, Store};
use super::sync;
use super::{NodeCore, LEAVE_LINGER_MS};
use mutual_proto::v1 as pb;
use mutual_protocol::federation::{
    federation_id, read_charter_event, roster_entry, FederationId, FederationState, Party,
};
use mutual_protocol::id::NetworkId;
use mutual_protocol::keys::PublicKey;
use mutual_protocol::membership::{Membership, Status};
use mutual_protocol::replica::{Fold, Replica};
use std::collections::BTreeSet;

/// One log as a node keeps it: its replica, its store, its sync rounds with peers, and
/// whether a peer has shown this node its own feed there.
pub struct Log<F: Fold, S> {
    /// The log.
    pub replica: Replica<F>,
    /// Its store.
    pub store: S,
    /// Sync rounds on this log.
    pub rounds: sync::Rounds<PublicKey>,
    /// Whether a node that could hold this node's own feed here has shown it to this
    /// node (or it founded the log in this run, or no other node could hold the feed);
    /// until then it signs nothing here (docs/NETWORK.md §7, docs/FEDERATION.md §5).
    pub head_confirmed: bool,
}

/// A federation's log.
pub type FedLog<S> = Log<FederationState, S>;

impl<F: Fold, S> Log<F, S> {
    /// A log over a loaded replica and its store.
    pub fn new(replica: Replica<F>, store: S, head_confirmed: bool) -> Self {
        Log {
            replica,
            store,
            rounds: sync::Rounds::default(),
            head_confirmed,
        }
    }
}

impl<S: Store> FedLog<S> {
    /// Opens (or creates) the log of the federation whose charter event is
    /// `charter_event`, in a store beside `own` (the network's), loading what it holds.
    pub fn open(own: &S, charter_event: &[u8], now_ms: u64) -> Result<Self, NodeError> {
        let (ev, _) =
            read_charter_event(charter_event).map_err(|e| NodeError::Refused(e.to_string()))?;
        let id = federation_id(&ev);
        let mut store = own.open_federation(&id)?;
        store.set_network(id)?;
        let mut replica = Replica::<FederationState>::empty(id);
        load_log(&mut store, &mut replica, now_ms)?;
        if !replica.contains(&ev.id) {
            replica
                .ingest(now_ms, charter_event)
                .map_err(|e| NodeError::Refused(format!("the charter event: {e}")))?;
            for stored in super::store::stored_events(&replica, &[ev.id])? {
                store.put_events(&[&stored])?;
            }
            store.sync()?;
        }
        Ok(Log::new(replica, store, false))
    }

    /// The federation's id.
    pub fn id(&self) -> FederationId {
        self.replica.network()
    }
}

impl<S: Store> NodeCore<S> {
    /// Opens the log of every federation this network linked to that is not open yet,
    /// and subscribes to its topic (docs/FEDERATION.md §5).
    pub(super) fn open_federations(&mut self) {
        let links: Vec<(FederationId, Vec<u8>)> = self
            .net
            .replica
            .state()
            .governance()
            .federation_links()
            .filter(|(id, _)| !self.feds.contains_key(id))
            .map(|(id, l)| (*id, l.charter_event.clone()))
            .collect();
        for (id, charter) in links {
            match FedLog::open(&self.net.store, &charter, self.now.wall_ms) {
                Ok(log) => {
                    // A party that had left before the log was opened (before a restart,
                    // say) does not linger again.
                    let own = self.net.replica.network();
                    for p in log.replica.state().parties() {
                        if p.network != own && p.left.is_some() {
                            self.party_left_seen.insert((id, p.network), None);
                        }
                    }
                    self.out.push(Action::Subscribe(Some(id)));
                    tracing::info!(federation = %id, events = log.replica.len(), "federation log open");
                    self.feds.insert(id, log);
                    // A round at once, so this node learns its own feed there.
                    let peers: Vec<PublicKey> = self.connected.iter().copied().collect();
                    for peer in peers {
                        self.start_fed_round(id, peer);
                    }
                }
                Err(NodeError::Store(e)) => self.note_store(&e),
                Err(e) => {
                    tracing::error!(federation = %id, error = %e, "cannot open a federation's log")
                }
            }
        }
    }

    /// Whether this network is linked to `federation` now (it passed the link and has not
    /// passed a leave).
    pub(super) fn linked(&self, federation: &FederationId) -> bool {
        self.net
            .replica
            .state()
            .governance()
            .link(federation)
            .is_some_and(|l| l.left_by.is_none())
    }

    /// Whether this node still takes part in `federation`'s log with the other networks:
    /// while this network is linked, and after it passed a leave motion until
    /// [`LEAVE_LINGER_MS`] after this node saw the federation's log record it leaving, so
    /// that its nodes' word that it left reaches the others.
    pub(super) fn in_federation(&self, federation: &FederationId) -> bool {
        let Some(log) = self.feds.get(federation) else {
            return false;
        };
        let own = self.net.replica.network();
        let left = log
            .replica
            .state()
            .party(&own)
            .is_some_and(|p| p.left.is_some());
        if !left {
            return self
                .net
                .replica
                .state()
                .governance()
                .link(federation)
                .is_some();
        }
        // By this node's clock from when it saw the leave, not the leave's claimed time.
        self.left_seen
            .get(federation)
            .is_none_or(|t| self.now.mono_ms.saturating_sub(*t) < LEAVE_LINGER_MS)
    }

    /// Notes when each federation's log first shows this network, or another, left, and
    /// leaves the topics of federations this node no longer takes part in.
    pub(super) fn track_leaving(&mut self) {
        let own = self.net.replica.network();
        let now = self.now.mono_ms;
        let others_left: Vec<(FederationId, NetworkId)> = self
            .feds
            .iter()
            .flat_map(|(f, l)| {
                l.replica
                    .state()
                    .parties()
                    .filter(|p| p.network != own && p.left.is_some())
                    .map(|p| (*f, p.network))
                    .collect::<Vec<_>>()
            })
            .collect();
        for key in others_left {
            self.party_left_seen.entry(key).or_insert(Some(now));
        }
        let newly: Vec<FederationId> = self
            .feds
            .iter()
            .filter(|(f, l)| {
                !self.left_seen.contains_key(*f)
                    && l.replica
                        .state()
                        .party(&own)
                        .is_some_and(|p| p.left.is_some())
            })
            .map(|(f, _)| *f)
            .collect();
        for f in newly {
            self.left_seen.insert(f, self.now.mono_ms);
        }
        let done: Vec<FederationId> = self
            .feds
            .keys()
            .filter(|f| !self.unsubscribed.contains(f) && !self.in_federation(f))
            .copied()
            .collect();
        for f in done {
            self.unsubscribed.insert(f);
            self.out.push(Action::Unsubscribe(Some(f)));
        }
    }

    /// The peers that may take part in `federation`'s log with this node: this network's
    /// own, and, while this network is linked, the practice nodes on the roster of every
    /// other network that has not left or left less than [`LEAVE_LINGER_MS`] ago (and the
    /// charter's bootstrap nodes).
    pub(super) fn fed_peers(&self, federation: &FederationId) -> BTreeSet<PublicKey> {
        let mut peers = self.own_peers.clone();
        for p in self.other_parties(federation) {
            peers.extend(p.roster.keys().copied());
            peers.extend(p.bootstrap.iter().filter_map(|a| bootstrap_key(a)));
        }
        peers
    }

    /// Whether `peer` is among [`NodeCore::fed_peers`], without building the set (asked
    /// for every gossip message and sync request).
    pub(super) fn takes_part(&self, federation: &FederationId, peer: &PublicKey) -> bool {
        if self.own_peers.contains(peer) {
            return true;
        }
        self.other_parties(federation).any(|p| {
            p.roster.contains_key(peer)
                || p.bootstrap
                    .iter()
                    .any(|a| bootstrap_key(a).is_some_and(|q| q == *peer))
        })
    }

    /// Whether `peer` may exchange `log` with this node: the network's own log with its
    /// own peers, a federation's with the peers taking part in it.
    pub(super) fn shares(&self, log: LogId, peer: &PublicKey) -> bool {
        match log {
            None => self.own_peers.contains(peer),
            Some(f) => self.takes_part(&f, peer),
        }
    }

    /// The other networks of `federation` that have not left (or left less than
    /// [`LEAVE_LINGER_MS`] ago), while this node takes part in it (none otherwise).
    pub(super) fn other_parties(&self, federation: &FederationId) -> impl Iterator<Item = &Party> {
        let own = self.net.replica.network();
        let fid = *federation;
        self.feds
            .get(federation)
            .filter(|_| self.in_federation(federation))
            .into_iter()
            .flat_map(|l| l.replica.state().parties())
            .filter(move |p| p.network != own && self.lingers(&fid, p))
    }

    /// Whether party `p` of `federation` still takes part with this node: it has not left,
    /// or this node saw it leave less than [`LEAVE_LINGER_MS`] ago (by its own clock; not
    /// one that had left when this node opened the log).
    fn lingers(&self, federation: &FederationId, p: &Party) -> bool {
        if p.left.is_none() {
            return true;
        }
        match self.party_left_seen.get(&(*federation, p.network)) {
            // Left in the last step, not yet noted: it lingers.
            None => true,
            Some(None) => false,
            Some(Some(t)) => self.now.mono_ms.saturating_sub(*t) < LEAVE_LINGER_MS,
        }
    }

    /// Whether `peer` is a node of a network that is a party of `federation`, on any roster
    /// this node knows in any federation's log (its network's standing aside).
    pub(super) fn of_a_party(&self, federation: &FederationId, peer: &PublicKey) -> bool {
        let Some(log) = self.feds.get(federation) else {
            return false;
        };
        self.feds.values().any(|l| {
            l.replica
                .state()
                .network_of(peer)
                .is_some_and(|p| log.replica.state().party(&p.network).is_some())
        })
    }

    /// Whether this node may sign `bodies` in `federation`'s log: its network is linked to
    /// it, or has left and the bodies only say so.
    pub(super) fn may_author_fed(
        &self,
        federation: &FederationId,
        bodies: &[mutual_protocol::event::Body],
    ) -> Result<(), NodeError> {
        let leaving = bodies
            .iter()
            .all(|b| matches!(b, mutual_protocol::event::Body::FederationLeave(_)));
        if !self.linked(federation) && !leaving {
            return Err(NodeError::Refused(format!(
                "this network is not linked to federation {federation}"
            )));
        }
        if !self.feds.contains_key(federation) {
            return Err(NodeError::Refused(format!(
                "no federation {federation} here"
            )));
        }
        Ok(())
    }
}

/// A network's active practices that have a node key, as roster entries, sorted by ODS
/// code: what its nodes say its roster is (docs/FEDERATION.md §5). A practice whose key
/// was revoked cannot speak until the partners give it a new one.
pub fn roster_of(m: &Membership) -> Vec<pb::Practice> {
    let mut v: Vec<pb::Practice> = m
        .practices()
        .filter(|p| p.status == Status::Active && p.practice.node_key.len() == 32)
        .map(|p| roster_entry(&p.practice))
        .collect();
    v.sort_by(|a, b| a.ods_code.cmp(&b.ods_code));
    v
}

/// The node key a bootstrap address names: its last component, `/p2p/<PeerId>`, whose
/// multihash is the identity hash of the protobuf-encoded ed25519 public key
/// (`0x00 0x24 0x08 0x01 0x12 0x20` then the 32 key bytes, in base58). Read here without
/// libp2p so the core stays free of it; the driver checks the whole address when it
/// dials.
pub fn bootstrap_key(addr: &str) -> Option<PublicKey> {
    let (before, last) = addr.rsplit_once('/')?;
    if !before.ends_with("/p2p") {
        return None;
    }
    peer_id_key(last)
}

/// The ed25519 key a textual PeerId (base58 identity multihash) carries, if it carries one.
pub fn peer_id_key(text: &str) -> Option<PublicKey> {
    const PREFIX: [u8; 6] = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
    let bytes = bs58::decode(text).into_vec().ok()?;
    let key = bytes.strip_prefix(&PREFIX[..])?;
    PublicKey::from_slice(key).ok()
}
