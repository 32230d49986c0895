//! Who may connect (docs/NETWORK.md §3): a libp2p behaviour that denies a connection,
//! once the peer's key is known from the encrypted handshake and before any protocol runs
//! on it, unless the peer is a member practice's node, holds an open invitation, or is a
//! bootstrap peer the operator named (needed to join). A banned peer is denied whatever
//! it is.

use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::swarm::{
    dummy, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};
use std::collections::{HashMap, HashSet};
use std::task::{Context, Poll};
use std::time::Instant;

/// Why a connection was denied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// Neither a member's node, an invited node nor a named bootstrap peer.
    #[error("peer {0} is not a member of this network")]
    NotAMember(PeerId),
    /// Banned for misbehaving.
    #[error("peer {0} is banned")]
    Banned(PeerId),
}

/// The connection gate: the libp2p side of the core's gate policy, which the driver keeps
/// up to date from the core's `Gate`, `Ban` and `Unban` actions.
#[derive(Debug, Default)]
pub struct Gate {
    allowed: HashSet<PeerId>,
    bootstrap: HashSet<PeerId>,
    banned: HashMap<PeerId, Instant>,
    refused: u64,
}

impl Gate {
    /// Replaces the set of member and invited nodes.
    pub fn set_allowed(&mut self, allowed: HashSet<PeerId>) {
        self.allowed = allowed;
    }

    /// Peers named by the operator (from an invite or the config) and trusted to serve the
    /// log while this node joins.
    pub fn set_bootstrap(&mut self, peers: HashSet<PeerId>) {
        self.bootstrap = peers;
    }

    /// Bans `peer` until `until`.
    pub fn ban(&mut self, peer: PeerId, until: Instant) {
        self.banned.insert(peer, until);
    }

    /// Lifts a ban.
    pub fn unban(&mut self, peer: &PeerId) {
        self.banned.remove(peer);
    }

    /// Whether `peer` is banned now.
    pub fn is_banned(&self, peer: &PeerId) -> bool {
        self.banned
            .get(peer)
            .is_some_and(|until| *until > Instant::now())
    }

    /// Whether `peer` may be connected.
    pub fn check(&self, peer: &PeerId) -> Result<(), Denied> {
        if self.is_banned(peer) {
            return Err(Denied::Banned(*peer));
        }
        if self.allowed.contains(peer) || self.bootstrap.contains(peer) {
            Ok(())
        } else {
            Err(Denied::NotAMember(*peer))
        }
    }

    /// How many connections were refused so far.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    fn enforce(&mut self, peer: &PeerId) -> Result<THandler<Self>, ConnectionDenied> {
        match self.check(peer) {
            Ok(()) => Ok(dummy::ConnectionHandler),
            Err(d) => {
                self.refused += 1;
                tracing::info!(%peer, reason = %d, "connection refused");
                Err(ConnectionDenied::new(d))
            }
        }
    }
}

impl NetworkBehaviour for Gate {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = std::convert::Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.enforce(&peer)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.enforce(&peer)
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_allowed_or_bootstrap_peers_pass_and_bans_override_both() {
        let (member, boot, stranger) = (PeerId::random(), PeerId::random(), PeerId::random());
        let mut g = Gate::default();
        g.set_allowed([member].into());
        g.set_bootstrap([boot].into());
        assert!(g.check(&member).is_ok());
        assert!(g.check(&boot).is_ok());
        assert_eq!(g.check(&stranger), Err(Denied::NotAMember(stranger)));
        let until = Instant::now() + Duration::from_secs(60);
        g.ban(member, until);
        assert_eq!(g.check(&member), Err(Denied::Banned(member)));
        // The core lifts a ban when it ends (an `Unban` action); so does an operator.
        g.unban(&member);
        assert!(g.check(&member).is_ok());
        // A ban that ended admits the peer even before it is lifted.
        g.ban(boot, Instant::now());
        assert!(g.check(&boot).is_ok());
    }
}
