//! How each peer has behaved (docs/NETWORK.md §5): a score that misbehaviour lowers and
//! time restores, and a request budget (a token bucket). The node bans a peer whose score
//! reaches [`BAN_SCORE`]. Time is passed in, so the rules are tested without waiting.

use crate::limits::{
    BAN_SCORE, MAX_REQUESTS_PER_SEC, MAX_REQUEST_BURST, PENALTY_INVALID_EVENT, PENALTY_MALFORMED,
    PENALTY_RATE, SCORE_RECOVERY_PER_MIN,
};
use libp2p::PeerId;
use std::collections::HashMap;
use std::time::Instant;

/// A kind of misbehaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offence {
    /// Sent an event that is invalid (bad signature, malformed, broken chain).
    InvalidEvent,
    /// Sent a message that does not decode or breaks a size or count limit.
    Malformed,
    /// Sent requests faster than the rate limit.
    RateLimited,
}

impl Offence {
    fn penalty(self) -> i32 {
        match self {
            Offence::InvalidEvent => PENALTY_INVALID_EVENT,
            Offence::Malformed => PENALTY_MALFORMED,
            Offence::RateLimited => PENALTY_RATE,
        }
    }
}

#[derive(Debug, Clone)]
struct Standing {
    score: i32,
    scored_at: Instant,
    tokens: f64,
    filled_at: Instant,
}

/// Scores and request budgets, per peer.
#[derive(Debug, Default)]
pub struct PeerBook {
    peers: HashMap<PeerId, Standing>,
}

impl PeerBook {
    fn standing(&mut self, peer: PeerId, now: Instant) -> &mut Standing {
        self.peers.entry(peer).or_insert(Standing {
            score: 0,
            scored_at: now,
            tokens: f64::from(MAX_REQUEST_BURST),
            filled_at: now,
        })
    }

    /// The peer's score now, after recovery.
    pub fn score(&mut self, peer: PeerId, now: Instant) -> i32 {
        let s = self.standing(peer, now);
        let minutes = now.saturating_duration_since(s.scored_at).as_secs() / 60;
        if minutes > 0 {
            let gained = i32::try_from(minutes)
                .unwrap_or(i32::MAX)
                .saturating_mul(SCORE_RECOVERY_PER_MIN);
            s.score = s.score.saturating_add(gained).min(0);
            s.scored_at = now;
        }
        s.score
    }

    /// Records an offence; returns true if the peer is now to be banned.
    pub fn punish(&mut self, peer: PeerId, offence: Offence, now: Instant) -> bool {
        let score = self.score(peer, now).saturating_sub(offence.penalty());
        self.standing(peer, now).score = score;
        score <= BAN_SCORE
    }

    /// Takes one request from the peer's budget; false if it has none left.
    pub fn allow_request(&mut self, peer: PeerId, now: Instant) -> bool {
        let s = self.standing(peer, now);
        let secs = now.saturating_duration_since(s.filled_at).as_secs_f64();
        s.tokens =
            (s.tokens + secs * f64::from(MAX_REQUESTS_PER_SEC)).min(f64::from(MAX_REQUEST_BURST));
        s.filled_at = now;
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Forgets a peer's standing after its ban, so it starts again from zero.
    pub fn forget(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn repeated_offences_lead_to_a_ban_and_time_heals_small_ones() {
        let mut b = PeerBook::default();
        let p = PeerId::random();
        let t = Instant::now();
        // Three invalid events (75) do not ban; the fourth (100) does.
        for _ in 0..3 {
            assert!(!b.punish(p, Offence::InvalidEvent, t));
        }
        assert!(b.punish(p, Offence::InvalidEvent, t));
        // Another peer: one offence, then recovery to zero over time.
        let q = PeerId::random();
        b.punish(q, Offence::Malformed, t);
        assert_eq!(b.score(q, t), -PENALTY_MALFORMED);
        assert_eq!(b.score(q, t + Duration::from_secs(60 * 10)), 0);
    }

    #[test]
    fn the_request_budget_allows_the_burst_and_then_the_sustained_rate() {
        let mut b = PeerBook::default();
        let p = PeerId::random();
        let t = Instant::now();
        for i in 0..MAX_REQUEST_BURST {
            assert!(b.allow_request(p, t), "request {i} within the burst");
        }
        assert!(!b.allow_request(p, t), "burst + 1 is refused");
        let later = t + Duration::from_secs(1);
        for _ in 0..MAX_REQUESTS_PER_SEC {
            assert!(b.allow_request(p, later));
        }
        assert!(!b.allow_request(p, later));
    }
}
