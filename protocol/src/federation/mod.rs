//! Federations: networks linking without any of them owning the link (docs/FEDERATION.md).
//!
//! A federation has its own log, separate from every network's. Its first event is a
//! signed [`pb::FederationCharter`] with an empty network field; that event's id is the
//! federation's id, and every later event in the log carries it. The log holds only the
//! federation's business (the bodies [`FederationState::admits`] lists), so a network's
//! internal events cannot enter it: they carry their own network's id and are refused.
//!
//! Each network speaks in the federation through its practice nodes. The charter names
//! each network's practices at the time it was written (its first *roster*); after that,
//! a network's roster, its joining, its leaving and its decision on a joint motion each
//! take effect once more than half of the practices on its current roster have said the
//! same thing in the log. So no single foreign node's word is enough, and every node that
//! folds the log reaches the same result.
//!
//! A roster is not taken on the charter's word. Each network's nodes carry its genesis
//! and its practices' own key rotations, revocations and leaves into the log
//! ([`pb::FederationEvidence`]), exactly as signed, and the fold keeps from them a replica
//! of that network's membership under its own rules ([`take_evidence`]). A network's
//! words count only once its roster is *anchored* in that replica: every practice on it
//! is one the network's own events show, or more than half of the practices they show
//! have named it (an admission is decided by ballots, which never cross).
//!
//! The fold is a pure function of the log's events in the canonical order, like a
//! network's ([`crate::replica`]).

use crate::aid::{Aid, AidError};
use crate::event::{Body, SignedEvent};
use crate::id::{EventId, NetworkId};
use crate::keys::PublicKey;
use crate::limits::{MAX_EVENT_BYTES, MAX_EVIDENCE_EVENTS};
use crate::membership::{validate_genesis, Holder, Membership, Status};
use crate::replica::Fold;
use crate::state::{chain_outcome, Context, NoEffect, Outcome, Rejection, StateHash};
use imbl::{OrdMap, OrdSet};
use mutual_proto::v1 as pb;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

/// Domain prefix of a federation's state hash.
pub const FEDERATION_STATE_DOMAIN: &[u8] = b"mutual/v1/federation-state\0";
/// Most networks a charter may name.
pub const MAX_FEDERATION_NETWORKS: usize = 8;
/// Most joint motions a federation may have open (undecided) at once.
pub const MAX_OPEN_JOINT_MOTIONS: usize = 64;
/// Most statements one practice node may publish to a federation.
pub const MAX_STATEMENTS_PER_PRACTICE: usize = 256;

/// A federation's id: the id of its charter event.
pub type FederationId = NetworkId;

/// Why a federation event has no effect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FederationError {
    /// The charter breaks a rule.
    #[error("invalid charter: {0}")]
    InvalidCharter(String),
    /// The event speaks for a network other than its author's.
    #[error("the author speaks for network {author}, not {claimed}")]
    WrongNetwork {
        /// The author's network.
        author: String,
        /// The network the event names.
        claimed: String,
    },
    /// The author's network has not joined yet; only joining and rosters are allowed.
    #[error("the author's network has not joined the federation")]
    NotJoined,
    /// The author's network has left the federation.
    #[error("the author's network has left the federation")]
    Left,
    /// Not every named network has joined, or fewer than two remain.
    #[error("the federation is not live")]
    NotLive,
    /// The charter does not share this kind of business.
    #[error("the charter does not share {0}")]
    NotShared(&'static str),
    /// A roster breaks a rule.
    #[error("invalid roster: {0}")]
    InvalidRoster(String),
    /// A joint decision names no joint motion of this federation.
    #[error("no such joint motion")]
    UnknownJointMotion,
    /// The joint motion is already decided, or the network already decided it.
    #[error("already decided")]
    AlreadyDecided,
    /// Too many joint motions are open.
    #[error("{MAX_OPEN_JOINT_MOTIONS} joint motions are already open")]
    TooManyOpenJointMotions,
    /// The author has published as many statements as it may.
    #[error("a practice may publish {MAX_STATEMENTS_PER_PRACTICE} statements")]
    TooManyStatements,
    /// A network's evidence is not its own signed membership events, or does not apply.
    #[error("invalid evidence: {0}")]
    InvalidEvidence(String),
    /// An aid event breaks an aid rule (docs/AID.md).
    #[error("mutual aid: {0}")]
    Aid(AidError),
}

impl From<FederationError> for Rejection {
    fn from(e: FederationError) -> Self {
        Rejection::Federation(e)
    }
}

mod charter;
pub use charter::*;
use charter::{
    fits_replica, into_replica, majority, read_signed, replica_sayers, roster_entries, roster_map,
};

/// One network of a federation as the federation's log shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Party {
    /// The network's id.
    pub network: NetworkId,
    /// Its name, from the charter.
    pub name: String,
    /// Where its nodes can be reached, from the charter.
    pub bootstrap: Vec<String>,
    /// The number of its current roster (0: the charter's).
    pub roster_number: u64,
    /// Its current roster: practice node key to ODS code.
    pub roster: OrdMap<PublicKey, String>,
    /// The current roster's entries, sorted by ODS code.
    pub practices: Vec<pb::Practice>,
    /// The event at which it joined.
    pub joined: Option<EventId>,
    /// The event at which it left.
    pub left: Option<EventId>,
    /// Its membership as its own signed events show it (docs/FEDERATION.md §3): from its
    /// genesis and its practices' own rotations, revocations and leaves, with the practices
    /// of every roster set since it was anchored. `None` until its genesis arrives.
    pub replica: Option<Membership>,
    /// Whether its roster is anchored in `replica`; its words count only once it is.
    pub anchored: bool,
    /// Ids of its events taken in as evidence.
    taken: OrdSet<EventId>,
    join_said: OrdSet<PublicKey>,
    leave_said: OrdSet<PublicKey>,
    /// Next roster proposals: node key to the practices it says.
    roster_said: OrdMap<PublicKey, Vec<pb::Practice>>,
}

impl Party {
    /// Whether the network has joined and not left.
    pub fn is_active(&self) -> bool {
        self.joined.is_some() && self.left.is_none()
    }

    /// Whether the federation has taken in this event of the network as evidence.
    pub fn has_taken(&self, id: &EventId) -> bool {
        self.taken.contains(id)
    }

    /// How many of its events the federation has taken in as evidence.
    pub fn evidence_taken(&self) -> usize {
        self.taken.len()
    }

    /// Whose word counts for it: its current roster once anchored; before that, the
    /// active practices its replica shows (none before its genesis arrives).
    fn sayers(&self) -> OrdMap<PublicKey, String> {
        if self.anchored {
            return self.roster.clone();
        }
        self.replica
            .as_ref()
            .map(replica_sayers)
            .unwrap_or_default()
    }

    /// The events among `candidates` (the network's genesis and membership evidence, in
    /// its fold order) that the federation has not taken in and would take, in order: what
    /// a practice node of the network sends next in one `FederationEvidence`, at most
    /// [`MAX_EVIDENCE_EVENTS`] of them and small enough to fit in one event.
    ///
    /// Also returns the replica as it would be once they are taken.
    pub fn evidence_due<E: std::borrow::Borrow<SignedEvent>>(
        &self,
        candidates: impl IntoIterator<Item = E>,
    ) -> (Vec<E>, Option<Membership>) {
        // Room left in one event for its header: ids, a key, up to MAX_DEPS deps.
        const BUDGET: usize = MAX_EVENT_BYTES - 2048;
        let mut replica = self.replica.clone();
        let mut due = Vec::new();
        let mut bytes = 0;
        for candidate in candidates {
            let ev = candidate.borrow();
            if due.len() == MAX_EVIDENCE_EVENTS {
                break;
            }
            if self.taken.contains(&ev.id) {
                continue;
            }
            let size = ev.to_wire().len() + 8;
            if bytes + size > BUDGET {
                break;
            }
            if take_evidence(&mut replica, &self.network, ev).is_ok() {
                bytes += size;
                due.push(candidate);
            }
        }
        (due, replica)
    }
}

/// A joint motion and how each network decided it.
#[derive(Clone, Debug, PartialEq)]
pub struct JointRecord {
    /// The joint motion's event id.
    pub id: EventId,
    /// The motion.
    pub motion: pb::JointMotion,
    /// The practice node that proposed it.
    pub proposer: PublicKey,
    /// Its proposer's network.
    pub network: NetworkId,
    /// Each network's decision, once more than half of its roster said it.
    pub decisions: OrdMap<NetworkId, bool>,
    /// What each practice node said, by network: node key to (passed, its network's motion).
    said: OrdMap<NetworkId, OrdMap<PublicKey, bool>>,
    /// The result once decided: whether it passed, and the event that decided it.
    pub result: Option<(bool, EventId)>,
}

/// A statement published to the federation.
#[derive(Clone, Debug, PartialEq)]
pub struct StatementRecord {
    /// Its event id.
    pub id: EventId,
    /// The statement.
    pub statement: pb::JointStatement,
    /// The practice node that published it, and its network.
    pub author: PublicKey,
    /// The author's network.
    pub network: NetworkId,
}

/// The derived state of a federation's log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FederationState {
    charter: Option<pb::FederationCharter>,
    parties: OrdMap<NetworkId, Party>,
    /// Every practice of every network, for the aid rules; a practice leaves it when it
    /// leaves its network's roster or its network leaves.
    members: Membership,
    aid: Aid,
    joint: OrdMap<EventId, JointRecord>,
    statements: OrdMap<EventId, StatementRecord>,
    outcomes: [u8; 32],
    events: u64,
}

impl FederationState {
    /// The charter, once the log's first event is folded.
    pub fn charter(&self) -> Option<&pb::FederationCharter> {
        self.charter.as_ref()
    }

    /// The networks, by id.
    pub fn parties(&self) -> impl Iterator<Item = &Party> {
        self.parties.values()
    }

    /// One network.
    pub fn party(&self, network: &NetworkId) -> Option<&Party> {
        self.parties.get(network)
    }

    /// Whether every named network has joined and at least two have not left.
    pub fn is_live(&self) -> bool {
        !self.parties.is_empty()
            && self.parties.values().all(|p| p.joined.is_some())
            && self.parties.values().filter(|p| p.is_active()).count() >= 2
    }

    /// The network whose current roster holds `node_key`.
    pub fn network_of(&self, node_key: &PublicKey) -> Option<&Party> {
        self.parties
            .values()
            .find(|p| p.roster.contains_key(node_key))
    }

    /// The shared aid: requests, offers and agreements across networks.
    pub fn aid(&self) -> &Aid {
        &self.aid
    }

    /// Every practice of the federation's networks (for the aid board).
    pub fn members(&self) -> &Membership {
        &self.members
    }

    /// The joint motions, by id.
    pub fn joint_motions(&self) -> impl Iterator<Item = &JointRecord> {
        self.joint.values()
    }

    /// One joint motion.
    pub fn joint_motion(&self, id: &EventId) -> Option<&JointRecord> {
        self.joint.get(id)
    }

    /// The statements, by id.
    pub fn statements(&self) -> impl Iterator<Item = &StatementRecord> {
        self.statements.values()
    }

    /// Whether `node` already said `network` joined.
    pub fn said_join(&self, network: &NetworkId, node: &PublicKey) -> bool {
        self.parties
            .get(network)
            .is_some_and(|p| p.join_said.contains(node))
    }

    /// Whether `node` already said `network` left.
    pub fn said_leave(&self, network: &NetworkId, node: &PublicKey) -> bool {
        self.parties
            .get(network)
            .is_some_and(|p| p.leave_said.contains(node))
    }

    /// The next roster `node` proposed for `network`, if any.
    pub fn said_roster(&self, network: &NetworkId, node: &PublicKey) -> Option<&[pb::Practice]> {
        self.parties
            .get(network)
            .and_then(|p| p.roster_said.get(node))
            .map(Vec::as_slice)
    }

    /// Whether `node` already said how `network` decided joint motion `joint`.
    pub fn said_decision(&self, joint: &EventId, network: &NetworkId, node: &PublicKey) -> bool {
        self.joint
            .get(joint)
            .and_then(|j| j.said.get(network))
            .is_some_and(|s| s.contains_key(node))
    }

    /// How many events have been folded.
    pub fn events(&self) -> u64 {
        self.events
    }

    fn found(&mut self, c: &pb::FederationCharter) -> Result<(), FederationError> {
        validate_charter(c)?;
        for n in &c.members {
            let network = NetworkId::from_slice(&n.network).expect("validated");
            let roster = roster_map(&n.practices);
            self.parties.insert(
                network,
                Party {
                    network,
                    name: n.name.clone(),
                    bootstrap: n.bootstrap.clone(),
                    roster_number: 0,
                    roster,
                    practices: n.practices.clone(),
                    joined: None,
                    left: None,
                    replica: None,
                    anchored: false,
                    taken: OrdSet::new(),
                    join_said: OrdSet::new(),
                    leave_said: OrdSet::new(),
                    roster_said: OrdMap::new(),
                },
            );
        }
        self.charter = Some(c.clone());
        Ok(())
    }

    fn decide(&mut self, ctx: &Context<'_>, ev: &SignedEvent) -> Result<(), Rejection> {
        let e = &ev.event;
        let Some(body) = &e.body else {
            return Ok(());
        };
        if let Body::FederationCharter(c) = body {
            return self
                .found(c)
                .map_err(|e| Rejection::InvalidGenesis(e.to_string()));
        }
        let Some(charter) = self.charter.clone() else {
            return Err(Rejection::NotFounded);
        };
        if let Some(&seq) = ctx.forks.get(&e.author) {
            if e.seq >= seq {
                return Err(Rejection::Forked { seq });
            }
        }
        // A practice whose key is on no roster yet (it rotated, say) may still carry its
        // network's evidence if that evidence shows it is one of its practices.
        let (network, outsider) = match (self.network_of(&e.author), body) {
            (Some(party), _) => (party.network, None),
            (None, Body::FederationEvidence(x)) => (
                NetworkId::from_slice(&x.network)
                    .filter(|n| self.parties.contains_key(n))
                    .ok_or(Rejection::NotAMember)?,
                Some(e.author),
            ),
            (None, _) => return Err(Rejection::NotAMember),
        };
        if self.parties[&network].left.is_some() {
            return Err(FederationError::Left.into());
        }
        let claims = |bytes: &[u8]| -> Result<(), FederationError> {
            match NetworkId::from_slice(bytes) {
                Some(n) if n == network => Ok(()),
                _ => Err(FederationError::WrongNetwork {
                    author: network.to_string(),
                    claimed: NetworkId::from_slice(bytes)
                        .map(|n| n.to_string())
                        .unwrap_or_default(),
                }),
            }
        };
        match body {
            Body::FederationJoin(j) => {
                claims(&j.network)?;
                self.join(network, e.author, ev.id);
                Ok(())
            }
            Body::FederationEvidence(x) => {
                claims(&x.network)?;
                self.evidence(network, outsider, x, ev.id)?;
                Ok(())
            }
            Body::FederationRoster(r) => {
                claims(&r.network)?;
                self.propose_roster(network, e.author, r, ev.id)?;
                Ok(())
            }
            Body::FederationLeave(l) => {
                claims(&l.network)?;
                if self.parties[&network].joined.is_none() {
                    return Err(FederationError::NotJoined.into());
                }
                self.leave(network, e.author, ev.id);
                Ok(())
            }
            _ if self.parties[&network].joined.is_none() => Err(FederationError::NotJoined.into()),
            _ if !self.is_live() => Err(FederationError::NotLive.into()),
            Body::JointMotion(m) => {
                if !charter.share_joint_motions {
                    return Err(FederationError::NotShared("joint motions").into());
                }
                let open = self.joint.values().filter(|j| j.result.is_none()).count();
                if open >= MAX_OPEN_JOINT_MOTIONS {
                    return Err(FederationError::TooManyOpenJointMotions.into());
                }
                if m.title.trim().is_empty() {
                    return Err(Rejection::Unauthorised(
                        "a joint motion needs a title".into(),
                    ));
                }
                self.joint.insert(
                    ev.id,
                    JointRecord {
                        id: ev.id,
                        motion: m.clone(),
                        proposer: e.author,
                        network,
                        decisions: OrdMap::new(),
                        said: OrdMap::new(),
                        result: None,
                    },
                );
                Ok(())
            }
            Body::JointDecision(d) => {
                claims(&d.network)?;
                let id = EventId::from_slice(&d.joint_motion)
                    .ok_or(FederationError::UnknownJointMotion)?;
                self.decision(network, e.author, id, d.passed, ev.id)?;
                Ok(())
            }
            Body::JointStatement(s) => {
                if !charter.share_statements {
                    return Err(FederationError::NotShared("statements").into());
                }
                let made = self
                    .statements
                    .values()
                    .filter(|x| x.author == e.author)
                    .count();
                if made >= MAX_STATEMENTS_PER_PRACTICE {
                    return Err(FederationError::TooManyStatements.into());
                }
                self.statements.insert(
                    ev.id,
                    StatementRecord {
                        id: ev.id,
                        statement: s.clone(),
                        author: e.author,
                        network,
                    },
                );
                Ok(())
            }
            _ if is_aid(body) => {
                if !charter.share_aid_requests {
                    return Err(FederationError::NotShared("aid requests").into());
                }
                if let Body::AidRequest(r) = body {
                    if r.visibility != pb::Visibility::Federation as i32 {
                        return Err(FederationError::NotShared(
                            "aid requests not marked for the federation",
                        )
                        .into());
                    }
                }
                // A federation's log holds practices' node keys only (its rosters).
                self.aid
                    .apply(&self.members, pb::AidSigners::Node, ev)
                    .map_err(|e| FederationError::Aid(e).into())
            }
            // Refused at ingest (Fold::admits); a direct caller gets a rejection.
            _ => Err(Rejection::Unauthorised(
                "a network's internal business does not belong in a federation's log".into(),
            )),
        }
    }

    fn join(&mut self, network: NetworkId, node: PublicKey, at: EventId) {
        let p = self.parties.get_mut(&network).expect("a party");
        p.join_said.insert(node);
        self.count_join(network, at);
    }

    /// Joins the party at `at` if it has not joined, its roster is anchored and more than
    /// half of that roster has said it joined; its practices then enter the aid membership.
    fn count_join(&mut self, network: NetworkId, at: EventId) {
        let p = self.parties.get_mut(&network).expect("a party");
        if p.joined.is_none() && p.anchored && majority(&p.roster, p.join_said.iter().copied()) {
            p.joined = Some(at);
            let practices = p.practices.clone();
            for pr in practices {
                self.admit(pr);
            }
        }
    }

    /// Takes a network's evidence into its replica, all of it or none (an event already
    /// taken is passed over), then brings its roster in line with what the replica shows.
    /// `outsider`: an author on no roster, who must be an active practice node of the
    /// replica once the evidence is taken (else `NotAMember`, and nothing changes).
    fn evidence(
        &mut self,
        network: NetworkId,
        outsider: Option<PublicKey>,
        x: &pb::FederationEvidence,
        at: EventId,
    ) -> Result<(), Rejection> {
        let p = &self.parties[&network];
        let mut replica = p.replica.clone();
        let mut taken = p.taken.clone();
        for (i, wire) in x.events.iter().enumerate() {
            let bad = |s: String| FederationError::InvalidEvidence(format!("event {}: {s}", i + 1));
            let ev = read_signed(wire).map_err(bad)?;
            if taken.contains(&ev.id) {
                continue;
            }
            take_evidence(&mut replica, &network, &ev).map_err(bad)?;
            taken.insert(ev.id);
        }
        if let Some(author) = outsider {
            if !replica
                .as_ref()
                .is_some_and(|m| m.is_active_practice_node(&author))
            {
                return Err(Rejection::NotAMember);
            }
        }
        let p = self.parties.get_mut(&network).expect("a party");
        p.replica = replica;
        p.taken = taken;
        self.follow_replica(network, at);
        Ok(())
    }

    /// Applies what a party's replica proves to its roster: an entry whose key its holder
    /// rotated takes the new key; one whose key was revoked, or whose practice left, is
    /// dropped. Then anchors the roster if every practice on it is an active practice of
    /// the replica with the same key, and counts the join again.
    fn follow_replica(&mut self, network: NetworkId, at: EventId) {
        let p = self.parties.get_mut(&network).expect("a party");
        let Some(m) = &p.replica else {
            return;
        };
        let mut kept = Vec::new();
        for entry in &p.practices {
            let Ok(k) = PublicKey::from_slice(&entry.node_key) else {
                continue;
            };
            let left = m
                .practice_of_node(&k)
                .is_some_and(|r| r.status != Status::Active);
            if m.is_retired(&k) || left {
                let now = m
                    .practice(&entry.ods_code)
                    .filter(|r| r.status == Status::Active)
                    .and_then(|r| PublicKey::from_slice(&r.practice.node_key).ok())
                    .filter(|n| !m.is_retired(n));
                if let Some(n) = now {
                    kept.push(pb::Practice {
                        node_key: n.as_bytes().to_vec(),
                        ..entry.clone()
                    });
                }
            } else {
                kept.push(entry.clone());
            }
        }
        if !p.anchored {
            // Every practice on it is one the replica shows, and they are more than half of
            // the replica's active practices: a charter naming a few of them cannot let
            // those few speak for all.
            let shown = kept.iter().all(|e| {
                PublicKey::from_slice(&e.node_key).is_ok_and(|k| {
                    m.is_active_practice_node(&k)
                        && m.practice_of_node(&k)
                            .is_some_and(|r| r.practice.ods_code == e.ods_code)
                })
            });
            let active: OrdMap<PublicKey, String> = replica_sayers(m);
            p.anchored = shown && majority(&active, roster_map(&kept).keys().copied());
        }
        if kept != p.practices {
            self.replace_roster(network, kept);
        }
        // The sayers may have changed: proposals already made, and still valid, are
        // counted again.
        let proposed: Vec<Vec<pb::Practice>> = self.parties[&network]
            .roster_said
            .values()
            .cloned()
            .collect();
        for practices in proposed {
            if self.check_roster(network, &practices).is_ok()
                && self.set_roster_if_agreed(network, &practices)
            {
                break;
            }
        }
        self.count_join(network, at);
    }

    fn leave(&mut self, network: NetworkId, node: PublicKey, at: EventId) {
        let p = self.parties.get_mut(&network).expect("a party");
        p.leave_said.insert(node);
        if majority(&p.roster, p.leave_said.iter().copied()) {
            p.left = Some(at);
            let gone: Vec<String> = p.roster.values().cloned().collect();
            for ods in gone {
                self.members.set_practice_status(&ods, Status::Left);
            }
            // A joint motion open when a network leaves is decided by those that remain.
            let open: Vec<EventId> = self
                .joint
                .values()
                .filter(|j| j.result.is_none())
                .map(|j| j.id)
                .collect();
            for j in open {
                self.settle(j, at);
            }
        }
    }

    /// Adds a practice to the aid membership (or brings it back as active).
    fn admit(&mut self, p: pb::Practice) {
        let Ok(key) = PublicKey::from_slice(&p.node_key) else {
            return;
        };
        match self
            .members
            .practice(&p.ods_code)
            .map(|r| r.practice.node_key.clone())
        {
            Some(old) if old != p.node_key => {
                if let Ok(old) = PublicKey::from_slice(&old) {
                    let _ = self.members.replace_key(&old, Some(key));
                }
                self.members
                    .set_practice_status(&p.ods_code, Status::Active);
            }
            Some(_) => self
                .members
                .set_practice_status(&p.ods_code, Status::Active),
            None => self.members.insert_practice(p),
        }
    }

    fn propose_roster(
        &mut self,
        network: NetworkId,
        node: PublicKey,
        r: &pb::FederationRoster,
        at: EventId,
    ) -> Result<(), FederationError> {
        let p = &self.parties[&network];
        if r.number != p.roster_number + 1 {
            return Err(FederationError::InvalidRoster(format!(
                "the next roster of this network is number {}, not {}",
                p.roster_number + 1,
                r.number
            )));
        }
        self.check_roster(network, &r.practices)?;
        let p = self.parties.get_mut(&network).expect("a party");
        p.roster_said.insert(node, r.practices.clone());
        if self.set_roster_if_agreed(network, &r.practices) {
            // Words said under the old roster still count if their sayers are on the new one.
            self.count_join(network, at);
        }
        Ok(())
    }

    /// Checks a roster proposed for `network`: a valid roster whose codes and keys are on
    /// no other party's current roster and which agrees with the party's replica.
    fn check_roster(
        &self,
        network: NetworkId,
        practices: &[pb::Practice],
    ) -> Result<(), FederationError> {
        let mut ods = HashSet::new();
        let mut keys = HashSet::new();
        for other in self.parties.values().filter(|o| o.network != network) {
            ods.extend(other.roster.values().cloned());
            keys.extend(other.roster.keys().copied());
        }
        roster_entries(practices, &mut ods, &mut keys)?;
        if let Some(m) = &self.parties[&network].replica {
            practices.iter().try_for_each(|e| fits_replica(m, e))?;
        }
        Ok(())
    }

    /// Makes `practices` the party's next roster if more than half of its sayers (§3)
    /// have proposed exactly them; returns whether it did.
    fn set_roster_if_agreed(&mut self, network: NetworkId, practices: &[pb::Practice]) -> bool {
        let p = self.parties.get_mut(&network).expect("a party");
        let agreeing = p
            .roster_said
            .iter()
            .filter(|(_, v)| v.as_slice() == practices)
            .map(|(k, _)| *k);
        if !majority(&p.sayers(), agreeing) {
            return false;
        }
        p.roster_number += 1;
        p.roster_said.clear();
        // Only a replica's practices can make a majority before the roster is anchored.
        if let Some(m) = p.replica.as_mut() {
            practices.iter().for_each(|e| into_replica(m, e));
            p.anchored = true;
        }
        self.replace_roster(network, practices.to_vec());
        true
    }

    /// Gives a party the roster `practices` (by a roster the party agreed, or by what its
    /// replica proves) and keeps the aid membership in step: a practice no longer on it
    /// becomes `LEFT`, and, once the party has joined, each one on it is `ACTIVE` with its
    /// key.
    fn replace_roster(&mut self, network: NetworkId, practices: Vec<pb::Practice>) {
        let p = self.parties.get_mut(&network).expect("a party");
        let old: Vec<String> = p.roster.values().cloned().collect();
        p.roster = roster_map(&practices);
        p.practices = practices.clone();
        let joined = p.joined.is_some();
        let still: HashSet<String> = p.roster.values().cloned().collect();
        for ods in old.into_iter().filter(|o| !still.contains(o)) {
            self.members.set_practice_status(&ods, Status::Left);
        }
        if joined {
            for pr in practices {
                self.admit(pr);
            }
        }
    }

    fn decision(
        &mut self,
        network: NetworkId,
        node: PublicKey,
        joint: EventId,
        passed: bool,
        at: EventId,
    ) -> Result<(), FederationError> {
        let roster = self.parties[&network].roster.clone();
        let rec = self
            .joint
            .get_mut(&joint)
            .ok_or(FederationError::UnknownJointMotion)?;
        if rec.result.is_some() || rec.decisions.contains_key(&network) {
            return Err(FederationError::AlreadyDecided);
        }
        let said = rec.said.entry(network).or_default();
        said.insert(node, passed);
        let agreeing = said.iter().filter(|(_, v)| **v == passed).map(|(k, _)| *k);
        if majority(&roster, agreeing) {
            rec.decisions.insert(network, passed);
            self.settle(joint, at);
        }
        Ok(())
    }

    /// Decides a joint motion if the networks' decisions so far settle it under the
    /// charter's rule, among the networks still active.
    fn settle(&mut self, joint: EventId, at: EventId) {
        let all = self.charter.as_ref().is_some_and(|c| c.joint_requires_all);
        let active: Vec<NetworkId> = self
            .parties
            .values()
            .filter(|p| p.is_active())
            .map(|p| p.network)
            .collect();
        let Some(rec) = self.joint.get_mut(&joint) else {
            return;
        };
        if rec.result.is_some() || active.is_empty() {
            return;
        }
        let yes = active
            .iter()
            .filter(|n| rec.decisions.get(*n) == Some(&true))
            .count();
        let no = active
            .iter()
            .filter(|n| rec.decisions.get(*n) == Some(&false))
            .count();
        let n = active.len();
        let result = if all {
            if no > 0 {
                Some(false)
            } else if yes == n {
                Some(true)
            } else {
                None
            }
        } else if yes * 2 > n {
            Some(true)
        } else if no * 2 >= n {
            Some(false)
        } else {
            None
        };
        if let Some(r) = result {
            rec.result = Some((r, at));
        }
    }
}

impl Fold for FederationState {
    const LOG: &'static str = "a federation's log";

    fn admits(body: &Body) -> bool {
        is_federation_business(body) || is_aid(body)
    }

    fn apply(&mut self, ctx: &Context<'_>, ev: &SignedEvent) -> Outcome {
        let outcome = if ev.event.body.is_none() {
            Outcome::NoEffect(NoEffect::UnknownBody)
        } else {
            match self.decide(ctx, ev) {
                Ok(()) => Outcome::Applied,
                Err(r) => Outcome::Rejected(r),
            }
        };
        self.outcomes = chain_outcome(self.outcomes, &ev.id, &outcome);
        self.events += 1;
        outcome
    }

    /// SHA-256 over [`FEDERATION_STATE_DOMAIN`], the federation id, the outcome chain and
    /// the number of events folded (big-endian u64): the state is a function of the
    /// events and their outcomes in fold order, so this names it.
    fn hash(&self, network: &NetworkId, _forks: &HashMap<PublicKey, u64>) -> StateHash {
        let mut h = Sha256::new();
        h.update(FEDERATION_STATE_DOMAIN);
        h.update(network.0.as_bytes());
        h.update(self.outcomes);
        h.update(self.events.to_be_bytes());
        StateHash(h.finalize().into())
    }
}
