//! The derived state: what a network's events add up to, and the fold that computes it.
//!
//! [`State::apply`] takes one stored event, in the canonical fold order (see
//! [`crate::replica`]), and decides its [`Outcome`]: applied, rejected with a reason (kept
//! as evidence, no effect), or no effect (a body this version does not act on). Each
//! concern lives in its own module; this one only dispatches. The state is built from
//! persistent maps, so a checkpoint is a cheap clone.

use crate::aid::{Aid, AidError};
use crate::event::{Body, SignedEvent};
use crate::governance::{Governance, GovernanceError};
use crate::id::{EventId, NetworkId};
use crate::keys::PublicKey;
use crate::limits;
use crate::membership::{self, Membership, MembershipError};
use imbl::{OrdMap, Vector};
use mutual_proto::v1 as pb;
use prost::Message;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;

/// Domain prefix hashed before the canonical state encoding to give the state hash.
pub const STATE_DOMAIN: &[u8] = b"mutual/v1/state\0";
/// Domain prefix of each link in the outcome hash chain.
pub const OUTCOME_DOMAIN: &[u8] = b"mutual/v1/outcome\0";

/// What a stored event did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It took effect.
    Applied,
    /// It is well signed but not allowed; kept as evidence, with no effect.
    Rejected(Rejection),
    /// Its body type is not acted on by this version: kept and forwarded, no effect.
    NoEffect(NoEffect),
}

impl Outcome {
    /// A stable code for the outcome, hashed into the state (see docs/PROTOCOL.md).
    pub fn code(&self) -> u16 {
        match self {
            Outcome::Applied => 0,
            Outcome::NoEffect(n) => 100 + *n as u16,
            Outcome::Rejected(r) => 200 + r.code(),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Applied => f.write_str("applied"),
            Outcome::Rejected(r) => write!(f, "rejected: {r}"),
            Outcome::NoEffect(n) => write!(f, "no effect: {n}"),
        }
    }
}

/// Why a body has no effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoEffect {
    /// A body type from a newer version of the protocol.
    UnknownBody = 1,
}

impl fmt::Display for NoEffect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoEffect::UnknownBody => f.write_str("body type unknown to this version"),
        }
    }
}

/// Why a well-signed event is not allowed to take effect.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// The network's genesis has not taken effect (or was itself invalid).
    NotFounded,
    /// The genesis breaks a rule.
    InvalidGenesis(String),
    /// The author's key speaks for no member.
    NotAMember,
    /// The author's key was rotated away or revoked before this event (in fold order).
    KeyRetired,
    /// The author's member has left or been removed.
    NotActive,
    /// The author equivocated at `seq` and this event is at or after it.
    Forked {
        /// The first sequence number with two different events.
        seq: u64,
    },
    /// The author may not make this event.
    Unauthorised(String),
    /// The event conflicts with the state (e.g. a key already in use).
    Conflict(String),
    /// A mutual-aid event breaks an aid rule (docs/AID.md).
    Aid(AidError),
    /// A motion or ballot breaks a governance rule (docs/GOVERNANCE.md).
    Governance(GovernanceError),
    /// A federation event breaks a federation rule (docs/FEDERATION.md).
    Federation(crate::federation::FederationError),
}

impl Rejection {
    fn code(&self) -> u16 {
        match self {
            Rejection::NotFounded => 1,
            Rejection::InvalidGenesis(_) => 2,
            Rejection::NotAMember => 3,
            Rejection::KeyRetired => 4,
            Rejection::NotActive => 5,
            Rejection::Forked { .. } => 6,
            Rejection::Unauthorised(_) => 7,
            Rejection::Conflict(_) => 8,
            // Codes 9-29 are left for other concerns; aid's is 30.
            Rejection::Aid(_) => 30,
            Rejection::Governance(_) => 9,
            Rejection::Federation(_) => 40,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::NotFounded => f.write_str("the network is not founded"),
            Rejection::InvalidGenesis(s) => write!(f, "invalid genesis: {s}"),
            Rejection::NotAMember => f.write_str("the author is not a member"),
            Rejection::KeyRetired => f.write_str("the author's key was retired before this event"),
            Rejection::NotActive => f.write_str("the author is no longer an active member"),
            Rejection::Forked { seq } => write!(f, "the author equivocated at seq {seq}"),
            Rejection::Unauthorised(s) => write!(f, "not authorised: {s}"),
            Rejection::Conflict(s) => write!(f, "conflict: {s}"),
            Rejection::Aid(e) => write!(f, "mutual aid: {e}"),
            Rejection::Governance(e) => write!(f, "governance: {e}"),
            Rejection::Federation(e) => write!(f, "federation: {e}"),
        }
    }
}

impl From<MembershipError> for Rejection {
    fn from(e: MembershipError) -> Self {
        match e {
            MembershipError::InvalidGenesis(s) => Rejection::InvalidGenesis(s),
            MembershipError::Unauthorised(s) => Rejection::Unauthorised(s),
            other => Rejection::Conflict(other.to_string()),
        }
    }
}

/// The next link of an outcome chain: SHA-256 over [`OUTCOME_DOMAIN`], the chain so far,
/// the event id and the outcome's code (big-endian u16).
pub fn chain_outcome(chain: [u8; 32], id: &EventId, outcome: &Outcome) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(OUTCOME_DOMAIN);
    h.update(chain);
    h.update(id.as_bytes());
    h.update(outcome.code().to_be_bytes());
    h.finalize().into()
}

/// What the fold needs to know beyond the state itself: facts about the whole event set.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The network.
    pub network: &'a NetworkId,
    /// For each author that equivocated, the first forked seq.
    pub forks: &'a HashMap<PublicKey, u64>,
}

/// The derived state of a network.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    name: Option<String>,
    deed: Option<pb::Deed>,
    membership: Membership,
    addresses: OrdMap<PublicKey, Vec<String>>,
    invitations: OrdMap<PublicKey, Invitation>,
    aid: Aid,
    governance: Governance,
    /// The applied events a federation takes as evidence of this network's membership
    /// (docs/FEDERATION.md §3), in fold order. Derived from the events and their outcomes,
    /// so not part of the state digest.
    evidence: Vector<EventId>,
    /// SHA-256 chain over (event id, outcome code) in fold order.
    outcomes: [u8; 32],
    events: u64,
}

impl Default for State {
    fn default() -> Self {
        State {
            name: None,
            deed: None,
            membership: Membership::default(),
            addresses: OrdMap::new(),
            invitations: OrdMap::new(),
            aid: Aid::default(),
            governance: Governance::default(),
            evidence: Vector::new(),
            outcomes: [0u8; 32],
            events: 0,
        }
    }
}

impl State {
    /// The network's name, once founded.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether the genesis has taken effect.
    pub fn is_founded(&self) -> bool {
        self.name.is_some()
    }

    /// The deed in force.
    pub fn deed(&self) -> Option<&pb::Deed> {
        self.deed.as_ref()
    }

    /// The membership.
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// The applied events of this log that a federation takes as evidence of its
    /// membership, in fold order (after the genesis, which is evidence too):
    /// practices' own key rotations, leaves and revocations of their own keys.
    pub fn evidence(&self) -> impl Iterator<Item = &EventId> {
        self.evidence.iter()
    }

    /// The latest addresses each practice node announced.
    pub fn addresses(&self) -> impl Iterator<Item = (&PublicKey, &Vec<String>)> {
        self.addresses.iter()
    }

    /// The invitation open for `node_key` at local time `now_ms`, if any
    /// (docs/PROTOCOL.md §8.10).
    pub fn invitation(&self, node_key: &PublicKey, now_ms: u64) -> Option<&Invitation> {
        self.invitations
            .get(node_key)
            .filter(|i| now_ms < i.expires_ms)
    }

    /// Every recorded invitation, open or lapsed, by invited node key.
    pub fn invitations(&self) -> impl Iterator<Item = (&PublicKey, &Invitation)> {
        self.invitations.iter()
    }

    /// The governance state: motions, tallies, the board and the chair.
    pub fn governance(&self) -> &Governance {
        &self.governance
    }

    /// Takes the ballot lists of the motions closed since the last call (see
    /// [`Governance::take_archived`]).
    pub fn take_archived(&mut self) -> Vec<(EventId, Vec<u8>)> {
        self.governance.take_archived()
    }

    /// The mutual-aid state (see [`crate::aid::Board`] for the board view).
    pub fn aid(&self) -> &Aid {
        &self.aid
    }

    /// How many events have been folded.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Applies one event, returning what it did. Events must come in fold order.
    pub fn apply(&mut self, ctx: &Context<'_>, ev: &SignedEvent) -> Outcome {
        let outcome = self.decide(ctx, ev);
        self.outcomes = chain_outcome(self.outcomes, &ev.id, &outcome);
        self.events += 1;
        outcome
    }

    fn decide(&mut self, ctx: &Context<'_>, ev: &SignedEvent) -> Outcome {
        let e = &ev.event;
        if self.is_founded() {
            let forked = ctx.forks.get(&e.author).is_some_and(|&seq| e.seq >= seq);
            // An event by an active practice node closes the motions whose grace period
            // ended before its timestamp, before it is itself judged (docs/GOVERNANCE.md
            // §5.2). A partner's key never closes: it could cite only old events, sort
            // early and cut off ballots that sort later.
            if !forked && self.membership.is_active_practice_node(&e.author) {
                let (membership, deed) = (&mut self.membership, &mut self.deed);
                if self
                    .governance
                    .close_due(ev.id, e.timestamp_ms, membership, deed)
                {
                    // A removed practice or a replaced node key leaves stale addresses
                    // (docs/PROTOCOL.md §8.9, docs/GOVERNANCE.md §8).
                    self.prune_addresses();
                }
            }
            // Every event carries the unwitnessed ballots in its past; one by an active
            // member witnesses those of other practices (docs/GOVERNANCE.md §5.5).
            let speaks = !forked && self.membership.is_active(&e.author);
            self.governance.trace(&self.membership, ev, speaks);
        }
        let Some(body) = &e.body else {
            return Outcome::NoEffect(NoEffect::UnknownBody);
        };
        if let Body::Genesis(g) = body {
            return match membership::validate_genesis(g, &e.author) {
                Ok(()) => {
                    self.name = Some(g.name.clone());
                    self.deed = g.deed.clone();
                    self.membership = Membership::from_genesis(g);
                    Outcome::Applied
                }
                Err(err) => Outcome::Rejected(err.into()),
            };
        }
        if !self.is_founded() {
            return Outcome::Rejected(Rejection::NotFounded);
        }
        if let Some(&seq) = ctx.forks.get(&e.author) {
            if e.seq >= seq {
                return Outcome::Rejected(Rejection::Forked { seq });
            }
        }
        if self.membership.is_retired(&e.author) {
            return Outcome::Rejected(Rejection::KeyRetired);
        }
        if self.membership.holder(&e.author).is_none() {
            return Outcome::Rejected(Rejection::NotAMember);
        }
        // A partner still pending may resign (and so leave the partnership they never
        // acceded to), as well as accede.
        if let (Body::PartnerResign(_), true) = (body, self.membership.is_pending(&e.author)) {
            return match self.membership.partner_resigns(&e.author) {
                Ok(()) => Outcome::Applied,
                Err(err) => Outcome::Rejected(err.into()),
            };
        }
        if let Body::Accession(a) = body {
            let hash = self
                .deed
                .as_ref()
                .map_or(&[][..], |d| &d.agreement_hash[..]);
            return match self.membership.accede(&e.author, a, hash) {
                Ok(()) => Outcome::Applied,
                Err(err) => Outcome::Rejected(err.into()),
            };
        }
        if !self.membership.is_active(&e.author) {
            return Outcome::Rejected(Rejection::NotActive);
        }
        // Told before the event applies: a rotation moves the practice off its old key.
        let evidence = crate::federation::is_evidence_kind(ev)
            && self.membership.practice_of_node(&e.author).is_some();
        let result = match body {
            Body::Genesis(_) => unreachable_genesis(),
            Body::PracticeUpdate(u) => self.membership.update_practice(&e.author, u),
            Body::PracticeLeave(_) => self.membership.practice_leaves(&e.author),
            Body::PartnerResign(_) => self.membership.partner_resigns(&e.author),
            Body::KeyRotation(r) => self.membership.rotate(ctx.network, &e.author, r),
            Body::KeyRevocation(r) => self.membership.revoke(&e.author, r),
            Body::AddressAnnouncement(a) => self.announce(&e.author, a),
            Body::Invitation(i) => self.invite(e.author, e.timestamp_ms, i),
            Body::Witness(_) => Ok(()),
            _ if crate::federation::is_aid(body) => {
                let signers = self
                    .deed
                    .as_ref()
                    .and_then(|d| pb::AidSigners::try_from(d.aid_signers).ok())
                    .unwrap_or_default();
                return match self.aid.apply(&self.membership, signers, ev) {
                    Ok(()) => Outcome::Applied,
                    Err(err) => Outcome::Rejected(Rejection::Aid(err)),
                };
            }
            Body::Motion(mo) => {
                return match self
                    .governance
                    .propose(&self.membership, self.deed.as_ref(), ev, mo)
                {
                    Ok(()) => Outcome::Applied,
                    Err(err) => Outcome::Rejected(err.into()),
                }
            }
            Body::Ballot(b) => {
                return match self.governance.cast(&self.membership, ev, b, self.events) {
                    Ok(()) => Outcome::Applied,
                    Err(err) => Outcome::Rejected(err.into()),
                }
            }
            _ => {
                // Federation business: refused at ingest (Fold::admits); a direct caller
                // gets a rejection.
                return Outcome::Rejected(Rejection::Unauthorised(
                    "federation business belongs in a federation's log".into(),
                ));
            }
        };
        match result {
            Ok(()) => {
                if evidence {
                    self.evidence.push_back(ev.id);
                }
                if matches!(
                    body,
                    Body::KeyRotation(_) | Body::KeyRevocation(_) | Body::PracticeLeave(_)
                ) {
                    self.prune_addresses();
                }
                if matches!(body, Body::PartnerResign(_) | Body::PracticeLeave(_)) {
                    // A partner who leaves gives up their board seat and the chair.
                    self.governance.vacate_offices(&self.membership);
                }
                Outcome::Applied
            }
            Err(err) => Outcome::Rejected(err.into()),
        }
    }

    /// Forgets the addresses of node keys that no longer speak for an active practice.
    fn prune_addresses(&mut self) {
        let stale: Vec<PublicKey> = self
            .addresses
            .keys()
            .filter(|k| !self.membership.is_active(k))
            .copied()
            .collect();
        for k in stale {
            self.addresses.remove(&k);
        }
    }

    fn announce(
        &mut self,
        author: &PublicKey,
        a: &pb::AddressAnnouncement,
    ) -> Result<(), MembershipError> {
        if self.membership.practice_of_node(author).is_none() {
            return Err(MembershipError::Unauthorised(
                "only a practice node announces addresses".into(),
            ));
        }
        self.addresses.insert(*author, a.addresses.clone());
        Ok(())
    }

    /// Records an invitation (docs/PROTOCOL.md §8.10). Invitations that lapsed by this
    /// event's timestamp do not count toward the author's cap, and are forgotten when (and
    /// only when) this invitation applies: a rejected event changes nothing (§8.1).
    fn invite(
        &mut self,
        author: PublicKey,
        timestamp_ms: u64,
        i: &pb::Invitation,
    ) -> Result<(), MembershipError> {
        let key = PublicKey::from_slice(&i.node_key)
            .map_err(|_| MembershipError::Unauthorised("invalid node key".into()))?;
        if self.membership.is_known(&key) {
            return Err(MembershipError::KeyInUse(key));
        }
        if i.expires_ms <= timestamp_ms || i.expires_ms - timestamp_ms > limits::MAX_INVITATION_MS {
            return Err(MembershipError::Unauthorised(format!(
                "an invitation must expire after its event and within {} days of it",
                limits::MAX_INVITATION_MS / 86_400_000
            )));
        }
        let open = self
            .invitations
            .iter()
            .filter(|(k, v)| v.inviter == author && **k != key && v.expires_ms > timestamp_ms)
            .count();
        if open >= limits::MAX_OPEN_INVITATIONS {
            return Err(MembershipError::Unauthorised(format!(
                "the author already has {} open invitations",
                limits::MAX_OPEN_INVITATIONS
            )));
        }
        let lapsed: Vec<PublicKey> = self
            .invitations
            .iter()
            .filter(|(_, v)| v.expires_ms <= timestamp_ms)
            .map(|(k, _)| *k)
            .collect();
        for k in lapsed {
            self.invitations.remove(&k);
        }
        self.invitations.insert(
            key,
            Invitation {
                expires_ms: i.expires_ms,
                inviter: author,
            },
        );
        Ok(())
    }

    /// The canonical encoding of the state (an encoded `StateDigest`, see
    /// docs/PROTOCOL.md), given the network and the set of forks.
    pub fn canonical_bytes(&self, network: &NetworkId, forks: &HashMap<PublicKey, u64>) -> Vec<u8> {
        let mut d = pb::StateDigest {
            network: network.as_bytes().to_vec(),
            name: self.name.clone().unwrap_or_default(),
            deed: self.deed.clone(),
            outcomes: self.outcomes.to_vec(),
            events: self.events,
            ..Default::default()
        };
        self.membership.digest_into(&mut d);
        self.aid.digest_into(&mut d);
        self.governance.digest_into(&mut d);
        let mut fork_list: Vec<_> = forks.iter().collect();
        fork_list.sort();
        d.forks = fork_list
            .into_iter()
            .map(|(k, s)| pb::ForkEntry {
                author: k.as_bytes().to_vec(),
                seq: *s,
            })
            .collect();
        d.addresses = self
            .addresses
            .iter()
            .map(|(k, a)| pb::AddressEntry {
                node_key: k.as_bytes().to_vec(),
                addresses: a.clone(),
            })
            .collect();
        d.invitations = self
            .invitations
            .iter()
            .map(|(k, i)| pb::InvitationEntry {
                node_key: k.as_bytes().to_vec(),
                expires_ms: i.expires_ms,
                inviter: i.inviter.as_bytes().to_vec(),
            })
            .collect();
        d.encode_to_vec()
    }

    /// SHA-256 of [`STATE_DOMAIN`] || [`State::canonical_bytes`].
    pub fn hash(&self, network: &NetworkId, forks: &HashMap<PublicKey, u64>) -> StateHash {
        let mut h = Sha256::new();
        h.update(STATE_DOMAIN);
        h.update(self.canonical_bytes(network, forks));
        StateHash(h.finalize().into())
    }
}

fn unreachable_genesis() -> Result<(), MembershipError> {
    // Handled before the membership checks above; a second genesis cannot exist in one
    // network because its id would differ from the network id and be refused on receipt.
    Err(MembershipError::Unauthorised(
        "a network has one genesis".into(),
    ))
}

/// An open invitation: who may connect while joining, until when, and who invited them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invitation {
    /// The invitation lapses at this time, ms since the epoch.
    pub expires_ms: u64,
    /// The key that signed the invitation.
    pub inviter: PublicKey,
}

/// The hash of a node's derived state: equal on two nodes iff they derived the same state.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateHash(pub [u8; 32]);

impl fmt::Display for StateHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for StateHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateHash({})", &hex::encode(self.0)[..12])
    }
}

/// An event's id with its outcome, for reports.
pub type EventOutcome = (EventId, Outcome);
