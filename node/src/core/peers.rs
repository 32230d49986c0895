//! Peers (docs/NETWORK.md §3, §5): how each has behaved (a score that misbehaviour lowers
//! and time restores, and a request budget), who may connect (the gate's policy, which
//! the driver enforces on every connection), bans, and which peers to dial. Time is the
//! monotonic clock passed in, so every rule is tested without waiting.

use super::federations::bootstrap_key;
use super::io::Action;
use super::store::Store;
use super::NodeCore;
use crate::limits::{
    BAN_DURATION, BAN_SCORE, MAX_ADDRESSES_PER_PEER, MAX_REQUESTS_PER_SEC, MAX_REQUEST_BURST,
    PENALTY_BAD_PAPER, PENALTY_INVALID_EVENT, PENALTY_MALFORMED, PENALTY_RATE,
    PENALTY_UNKNOWN_AUTHOR, REDIAL_INTERVAL, SCORE_RECOVERY_PER_MIN,
};
use mutual_protocol::keys::PublicKey;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Longest time the gate goes without being recomputed, ms: an invitation that lapsed
/// stops admitting its holder at most this late.
pub const GATE_REFRESH_MS: u64 = 10_000;

/// A ban long enough to mean "until lifted by hand", ms (a hundred years).
const FOREVER_MS: u64 = 100 * 365 * 24 * 3600 * 1000;

/// A kind of misbehaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offence {
    /// Sent an event that is invalid (bad signature, malformed, broken chain).
    InvalidEvent,
    /// Sent a message that does not decode or breaks a size or count limit.
    Malformed,
    /// Sent requests faster than the rate limit.
    RateLimited,
    /// Gossiped an event provably by a key the network does not know.
    UnknownAuthor,
    /// Sent bytes as a paper that are not the paper asked for (docs/NETWORK.md §10).
    BadPaper,
}

impl Offence {
    fn penalty(self) -> i32 {
        match self {
            Offence::InvalidEvent => PENALTY_INVALID_EVENT,
            Offence::Malformed => PENALTY_MALFORMED,
            Offence::RateLimited => PENALTY_RATE,
            Offence::UnknownAuthor => PENALTY_UNKNOWN_AUTHOR,
            Offence::BadPaper => PENALTY_BAD_PAPER,
        }
    }
}

#[derive(Debug, Clone)]
struct Standing {
    score: i32,
    scored_at: u64,
    tokens: f64,
    filled_at: u64,
}

/// Scores and request budgets, per peer.
#[derive(Debug, Default)]
pub struct PeerBook {
    peers: HashMap<PublicKey, Standing>,
}

impl PeerBook {
    fn standing(&mut self, peer: PublicKey, now_ms: u64) -> &mut Standing {
        self.peers.entry(peer).or_insert(Standing {
            score: 0,
            scored_at: now_ms,
            tokens: f64::from(MAX_REQUEST_BURST),
            filled_at: now_ms,
        })
    }

    /// The peer's score at `now_ms`, after recovery.
    pub fn score(&mut self, peer: PublicKey, now_ms: u64) -> i32 {
        let s = self.standing(peer, now_ms);
        let minutes = now_ms.saturating_sub(s.scored_at) / 60_000;
        if minutes > 0 {
            let gained = i32::try_from(minutes)
                .unwrap_or(i32::MAX)
                .saturating_mul(SCORE_RECOVERY_PER_MIN);
            s.score = s.score.saturating_add(gained).min(0);
            s.scored_at = now_ms;
        }
        s.score
    }

    /// Records an offence; returns true if the peer is now to be banned.
    pub fn punish(&mut self, peer: PublicKey, offence: Offence, now_ms: u64) -> bool {
        let score = self.score(peer, now_ms).saturating_sub(offence.penalty());
        self.standing(peer, now_ms).score = score;
        score <= BAN_SCORE
    }

    /// Takes one request from the peer's budget; false if it has none left.
    pub fn allow_request(&mut self, peer: PublicKey, now_ms: u64) -> bool {
        let s = self.standing(peer, now_ms);
        let secs = now_ms.saturating_sub(s.filled_at) as f64 / 1000.0;
        s.tokens =
            (s.tokens + secs * f64::from(MAX_REQUESTS_PER_SEC)).min(f64::from(MAX_REQUEST_BURST));
        s.filled_at = now_ms;
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Forgets a peer's standing after its ban, so it starts again from zero.
    pub fn forget(&mut self, peer: &PublicKey) {
        self.peers.remove(peer);
    }
}

/// Who may connect: member, invited and federated nodes, bootstrap peers while joining,
/// and no banned peer whatever it is.
#[derive(Debug, Default)]
pub struct GatePolicy {
    allowed: BTreeSet<PublicKey>,
    bootstrap: BTreeSet<PublicKey>,
    banned: BTreeMap<PublicKey, u64>,
}

impl GatePolicy {
    /// Whether `peer` may be connected at `now_ms`.
    pub fn admits(&self, peer: &PublicKey, now_ms: u64) -> bool {
        let banned = self.banned.get(peer).is_some_and(|until| *until > now_ms);
        !banned && (self.allowed.contains(peer) || self.bootstrap.contains(peer))
    }

    /// Forgets bans that ended by `now_ms`; returns the peers unbanned.
    pub fn expire_bans(&mut self, now_ms: u64) -> Vec<PublicKey> {
        let done: Vec<PublicKey> = self
            .banned
            .iter()
            .filter(|(_, until)| **until <= now_ms)
            .map(|(p, _)| *p)
            .collect();
        for p in &done {
            self.banned.remove(p);
        }
        done
    }
}

impl<S: Store> NodeCore<S> {
    /// Records an offence by `peer`, and bans it when its score says so.
    pub(super) fn punish(&mut self, peer: PublicKey, offence: Offence) {
        match offence {
            Offence::Malformed => self.metrics.malformed_messages += 1,
            Offence::RateLimited => self.metrics.rate_limited += 1,
            Offence::InvalidEvent | Offence::UnknownAuthor | Offence::BadPaper => {}
        }
        if self.book.punish(peer, offence, self.now.mono_ms) {
            tracing::warn!(%peer, ?offence, "peer banned for {} s", BAN_DURATION.as_secs());
            self.ban(peer, self.now.mono_ms + BAN_DURATION.as_millis() as u64);
        }
    }

    /// Bans `peer` until `until_ms` and closes its connections.
    pub(super) fn ban(&mut self, peer: PublicKey, until_ms: u64) {
        self.metrics.bans += 1;
        self.gate.banned.insert(peer, until_ms);
        self.book.forget(&peer);
        self.out.push(Action::Ban { peer, until_ms });
        self.out.push(Action::Disconnect(peer));
    }

    /// Takes one of `peer`'s request budget; punishes it if it has none.
    pub(super) fn allow_request(&mut self, peer: PublicKey) -> bool {
        if self.book.allow_request(peer, self.now.mono_ms) {
            return true;
        }
        self.punish(peer, Offence::RateLimited);
        false
    }

    /// An operator refuses (`true`) or again allows (`false`) a peer.
    pub(super) fn block(&mut self, peer: PublicKey, blocked: bool) {
        if blocked {
            self.gate.banned.insert(peer, self.now.mono_ms + FOREVER_MS);
            self.out.push(Action::Ban {
                peer,
                until_ms: self.now.mono_ms + FOREVER_MS,
            });
            self.out.push(Action::Disconnect(peer));
        } else {
            self.gate.banned.remove(&peer);
            self.out.push(Action::Unban(peer));
            self.last_dial.remove(&peer);
            self.dial_known();
        }
    }

    /// Recomputes who may connect from the membership, invitations and federations, and
    /// drops connections that no longer qualify.
    pub(super) fn refresh_gate(&mut self) {
        // What the gate follows changes only with the logs, this node's head and time (an
        // invitation lapses): it is recomputed when one of the first two changed, and at
        // least every GATE_REFRESH_MS for the third.
        let seen = (
            self.net.replica.len(),
            self.feds.values().map(|l| l.replica.len()).sum::<usize>(),
            self.net.head_confirmed,
        );
        let now_mono = self.now.mono_ms;
        if let Some((last, at)) = self.gate_seen {
            if last == seen && now_mono.saturating_sub(at) < GATE_REFRESH_MS {
                return;
            }
        }
        self.gate_seen = Some((seen, now_mono));
        let state = self.net.replica.state();
        let now = self.now.wall_ms;
        let mut allowed: BTreeSet<PublicKey> = state.membership().active_practice_nodes().collect();
        // An invitation stops counting once its key is admitted (and so stays shut for a
        // node that was admitted and later left).
        allowed.extend(
            state
                .invitations()
                .filter(|(k, i)| now < i.expires_ms && !state.membership().is_known(k))
                .map(|(k, _)| *k),
        );
        let bootstrap: BTreeSet<PublicKey> = if state.is_founded() && self.net.head_confirmed {
            BTreeSet::new()
        } else {
            self.bootstrap.keys().copied().collect()
        };
        self.own_peers = allowed.iter().chain(&bootstrap).copied().collect();
        // The nodes of the networks this one is linked with, while both are in the
        // federation (docs/FEDERATION.md §5).
        let feds: Vec<_> = self.feds.keys().copied().collect();
        for f in feds {
            allowed.extend(self.fed_peers(&f));
        }
        if allowed != self.gate.allowed || bootstrap != self.gate.bootstrap {
            self.gate.allowed = allowed.clone();
            self.gate.bootstrap = bootstrap.clone();
            self.out.push(Action::Gate { allowed, bootstrap });
        }
        let gone: Vec<PublicKey> = self
            .connected
            .iter()
            .filter(|p| !self.gate.admits(p, self.now.mono_ms))
            .copied()
            .collect();
        for p in gone {
            tracing::info!(peer = %p, "disconnecting a peer that is no longer a member");
            self.out.push(Action::Disconnect(p));
        }
    }

    /// Keeps addresses a peer was seen at, at most [`MAX_ADDRESSES_PER_PEER`].
    pub(super) fn learn_addresses(&mut self, peer: PublicKey, addrs: Vec<String>) {
        let known = self.addresses.entry(peer).or_default();
        for a in addrs {
            if known.len() >= MAX_ADDRESSES_PER_PEER {
                break;
            }
            known.insert(a);
        }
    }

    /// A peer's last connection closed.
    pub(super) fn disconnected(&mut self, peer: PublicKey) {
        self.connected.remove(&peer);
        self.net.rounds.disconnected(peer);
        for l in self.feds.values_mut() {
            l.rounds.disconnected(peer);
        }
        // Requests to it fail (libp2p reports them too; whichever comes first counts).
        let open: Vec<u64> = self
            .requests
            .iter()
            .filter(|(_, (p, _, _))| *p == peer)
            .map(|(id, _)| *id)
            .collect();
        for id in open {
            self.on_request_failed(id, false);
        }
    }

    /// Dials members' and bootstrap nodes not connected, at most once per
    /// [`REDIAL_INTERVAL`] each.
    pub(super) fn dial_known(&mut self) {
        let now = self.now.mono_ms;
        let mut targets: BTreeMap<PublicKey, BTreeSet<String>> = BTreeMap::new();
        for (k, addrs) in self.net.replica.state().addresses() {
            targets.entry(*k).or_default().extend(addrs.iter().cloned());
        }
        for (p, a) in &self.bootstrap {
            targets.entry(*p).or_default().insert(a.clone());
        }
        let own = self.net.replica.network();
        for (f, log) in &self.feds {
            if !self.in_federation(f) {
                continue;
            }
            for party in log.replica.state().parties() {
                if party.network == own || party.left.is_some() {
                    continue;
                }
                for a in &party.bootstrap {
                    if let Some(p) = bootstrap_key(a) {
                        targets.entry(p).or_default().insert(a.clone());
                    }
                }
            }
        }
        for (p, addrs) in &self.addresses {
            targets.entry(*p).or_default().extend(addrs.iter().cloned());
        }
        let redial = REDIAL_INTERVAL.as_millis() as u64;
        for (peer, addrs) in targets {
            if peer == self.me
                || self.connected.contains(&peer)
                || addrs.is_empty()
                || !self.gate.admits(&peer, now)
                || self
                    .last_dial
                    .get(&peer)
                    .is_some_and(|t| now.saturating_sub(*t) < redial)
            {
                continue;
            }
            self.last_dial.insert(peer, now);
            self.out.push(Action::Dial {
                peer,
                addrs: addrs.into_iter().collect(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutual_protocol::keys::Keypair;

    fn peer(n: u8) -> PublicKey {
        Keypair::from_seed(&[n; 32]).expect("key").public()
    }

    #[test]
    fn repeated_offences_lead_to_a_ban_and_time_heals_small_ones() {
        let mut b = PeerBook::default();
        let p = peer(1);
        let t = 1_000;
        // Three invalid events (75) do not ban; the fourth (100) does.
        for _ in 0..3 {
            assert!(!b.punish(p, Offence::InvalidEvent, t));
        }
        assert!(b.punish(p, Offence::InvalidEvent, t));
        // Another peer: one offence, then recovery to zero over time.
        let q = peer(2);
        b.punish(q, Offence::Malformed, t);
        assert_eq!(b.score(q, t), -PENALTY_MALFORMED);
        assert_eq!(b.score(q, t + 10 * 60_000), 0);
    }

    #[test]
    fn four_events_by_unknown_authors_ban_the_sender() {
        let mut b = PeerBook::default();
        let p = peer(3);
        for _ in 0..3 {
            assert!(!b.punish(p, Offence::UnknownAuthor, 0));
        }
        assert!(b.punish(p, Offence::UnknownAuthor, 0));
    }

    #[test]
    fn the_request_budget_allows_the_burst_and_then_the_sustained_rate() {
        let mut b = PeerBook::default();
        let p = peer(4);
        let t = 5_000;
        for i in 0..MAX_REQUEST_BURST {
            assert!(b.allow_request(p, t), "request {i} within the burst");
        }
        assert!(!b.allow_request(p, t), "burst + 1 is refused");
        let later = t + 1_000;
        for _ in 0..MAX_REQUESTS_PER_SEC {
            assert!(b.allow_request(p, later));
        }
        assert!(!b.allow_request(p, later));
    }

    #[test]
    fn the_gate_admits_members_and_bootstrap_peers_and_no_banned_peer() {
        let mut g = GatePolicy::default();
        g.allowed.insert(peer(1));
        g.bootstrap.insert(peer(2));
        assert!(g.admits(&peer(1), 0) && g.admits(&peer(2), 0));
        assert!(!g.admits(&peer(3), 0), "a stranger");
        g.banned.insert(peer(1), 1_000);
        assert!(!g.admits(&peer(1), 999), "banned");
        assert!(g.admits(&peer(1), 1_000), "the ban ended");
        assert_eq!(g.expire_bans(1_000), vec![peer(1)]);
    }
}
