//! Membership: the practices and partners of a network, and which key speaks for whom.
//!
//! Founded by the genesis event; changed by the self-service events here (a practice
//! updating its details or leaving, a partner resigning, key rotation and revocation) and,
//! through motions, by the partners' decisions.

use crate::id::NetworkId;
use crate::keys::PublicKey;
use crate::signature::{self, Item, ROTATE_DOMAIN};
use imbl::{OrdMap, OrdSet};
use mutual_proto::v1 as pb;
use std::fmt;
use std::sync::Arc;

/// Whether a member still takes part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// A member in good standing.
    Active,
    /// Left of its own accord (or with its practice).
    Left,
    /// Removed by a decision of the partners.
    Removed,
    /// A partner admitted while the deed names an agreement, who has not yet signed an
    /// accession to it: neither proposes, votes nor stands (docs/GOVERNANCE.md §8.1).
    Pending,
}

impl Status {
    fn to_pb(self) -> pb::MemberStatus {
        match self {
            Status::Active => pb::MemberStatus::Active,
            Status::Left => pb::MemberStatus::Left,
            Status::Removed => pb::MemberStatus::Removed,
            Status::Pending => pb::MemberStatus::Pending,
        }
    }
}

/// A member practice.
#[derive(Clone, Debug, PartialEq)]
pub struct PracticeRecord {
    /// Its details; `node_key` is the current key (empty once revoked and not replaced).
    pub practice: pb::Practice,
    /// Whether it still takes part.
    pub status: Status,
}

/// A partner.
#[derive(Clone, Debug, PartialEq)]
pub struct PartnerRecord {
    /// The key the partner was admitted with: their lasting id, whatever key they use now.
    pub id: PublicKey,
    /// Their details; `key` is their current key (empty once revoked and not replaced).
    pub partner: pb::Partner,
    /// Whether they still take part.
    pub status: Status,
}

/// Whom a key speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    /// A practice node, by ODS code.
    Practice(String),
    /// A partner, by partner id.
    Partner(PublicKey),
}

/// Why a membership change has no effect.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MembershipError {
    /// The genesis breaks a rule.
    #[error("invalid genesis: {0}")]
    InvalidGenesis(String),
    /// The author is not the right kind of member for this event.
    #[error("{0}")]
    Unauthorised(String),
    /// The key is, or was, already in use.
    #[error("key {0:?} is already in use or was used before")]
    KeyInUse(PublicKey),
    /// A key-rotation proof does not verify.
    #[error("the new key's proof of possession does not verify")]
    BadRotationProof,
    /// The key is unknown.
    #[error("key {0:?} belongs to no member")]
    UnknownKey(PublicKey),
}

/// The membership of a network. Cheap to clone (persistent maps).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Membership {
    practices: OrdMap<String, PracticeRecord>,
    partners: OrdMap<PublicKey, PartnerRecord>,
    keys: OrdMap<PublicKey, Holder>,
    /// Every key that ever spoke for a member and no longer does. Never reused.
    retired: OrdSet<PublicKey>,
    /// Replaced whenever a practice is added or its status changes ([`Standing`]).
    practices_standing: Token,
}

/// What a group of members listed from the membership depends on: its partners, and which
/// practices it has with their status. Two are the same ([`Standing::same`]) only if
/// neither changed from one to the other; a practice's own updates leave it standing.
#[derive(Clone)]
pub struct Standing {
    partners: OrdMap<PublicKey, PartnerRecord>,
    practices: Token,
}

impl fmt::Debug for Standing {
    /// How many partners: the rest is the membership again.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Standing({} partners)", self.partners.len())
    }
}

impl Standing {
    /// Whether nothing a group depends on changed between the two.
    pub fn same(&self, other: &Standing) -> bool {
        self.partners.ptr_eq(&other.partners) && Arc::ptr_eq(&self.practices.0, &other.practices.0)
    }
}

/// A mark of one version of something, told apart from any other by its address. Not part
/// of the membership: two memberships are equal whatever their marks.
#[derive(Clone, Debug, Default)]
struct Token(Arc<()>);

impl PartialEq for Token {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

fn key(bytes: &[u8]) -> Option<PublicKey> {
    PublicKey::from_slice(bytes).ok()
}

/// Checks a genesis body and its author; the same check a founder runs before signing.
pub fn validate_genesis(g: &pb::Genesis, author: &PublicKey) -> Result<(), MembershipError> {
    let bad = |s: String| Err(MembershipError::InvalidGenesis(s));
    if g.name.trim().is_empty() {
        return bad("the network needs a name".into());
    }
    if g.practices.is_empty() {
        return bad("at least one founding practice is needed".into());
    }
    let mut ods = std::collections::BTreeSet::new();
    let mut keys = std::collections::BTreeSet::new();
    for p in &g.practices {
        if p.ods_code.trim().is_empty() || p.name.trim().is_empty() {
            return bad("every practice needs a name and an ODS code".into());
        }
        if !ods.insert(p.ods_code.as_str()) {
            return bad(format!("ODS code {} appears twice", p.ods_code));
        }
        if !keys.insert(p.node_key.as_slice()) {
            return bad(format!("practice {} reuses a key", p.ods_code));
        }
    }
    for p in &g.partners {
        if !ods.contains(p.practice_ods.as_str()) {
            return bad(format!(
                "partner {} belongs to {}, which is not a founding practice",
                p.name, p.practice_ods
            ));
        }
        if p.role == pb::PartnerRole::Unspecified as i32
            || pb::PartnerRole::try_from(p.role).is_err()
        {
            return bad(format!("partner {} has no valid role", p.name));
        }
        if !keys.insert(p.key.as_slice()) {
            return bad(format!("partner {} reuses a key", p.name));
        }
    }
    if !g.practices.iter().any(|p| p.node_key == author.as_bytes()) {
        return bad("the genesis must be signed by a founding practice's node key".into());
    }
    Ok(())
}

impl Membership {
    /// Membership as the genesis founds it (call [`validate_genesis`] first).
    pub fn from_genesis(g: &pb::Genesis) -> Self {
        let mut m = Membership::default();
        for p in &g.practices {
            m.insert_practice(p.clone());
        }
        for p in &g.partners {
            m.insert_partner(p.clone());
        }
        m
    }

    /// Adds a practice (a founding one, or one admitted by the partners).
    pub fn insert_practice(&mut self, p: pb::Practice) {
        if let Some(k) = key(&p.node_key) {
            self.keys.insert(k, Holder::Practice(p.ods_code.clone()));
        }
        self.practices.insert(
            p.ods_code.clone(),
            PracticeRecord {
                practice: p,
                status: Status::Active,
            },
        );
        self.practices_standing = Token::default();
    }

    /// Adds a partner (a founding one, or one admitted by the partners), active.
    pub fn insert_partner(&mut self, p: pb::Partner) {
        self.insert_partner_as(p, Status::Active);
    }

    /// Adds a partner with `status` (active, or pending their accession).
    pub fn insert_partner_as(&mut self, p: pb::Partner, status: Status) {
        let Some(k) = key(&p.key) else { return };
        self.keys.insert(k, Holder::Partner(k));
        self.partners.insert(
            k,
            PartnerRecord {
                id: k,
                partner: p,
                status,
            },
        );
    }

    /// Whether `key` is the current key of a partner pending their accession (of an
    /// active practice).
    pub fn is_pending(&self, key: &PublicKey) -> bool {
        match self.keys.get(key) {
            Some(Holder::Partner(id)) => self.partners.get(id).is_some_and(|p| {
                p.status == Status::Pending && self.practice_active(&p.partner.practice_ods)
            }),
            _ => false,
        }
    }

    /// A pending partner accedes to the agreement whose hash the deed in force names:
    /// they become active.
    pub fn accede(
        &mut self,
        author: &PublicKey,
        a: &pb::Accession,
        agreement_hash: &[u8],
    ) -> Result<(), MembershipError> {
        if !self.is_pending(author) {
            return Err(MembershipError::Unauthorised(
                "only a partner admitted and not yet acceded signs an accession".into(),
            ));
        }
        if agreement_hash.is_empty() || a.agreement_hash != agreement_hash {
            return Err(MembershipError::Unauthorised(
                "the accession names another agreement than the deed in force".into(),
            ));
        }
        if let Some(Holder::Partner(id)) = self.keys.get(author) {
            let id = *id;
            self.set_partner_status(&id, Status::Active);
        }
        Ok(())
    }

    /// Whom `key` currently speaks for, if anyone.
    pub fn holder(&self, key: &PublicKey) -> Option<&Holder> {
        self.keys.get(key)
    }

    /// Whether `key` once spoke for a member and no longer does.
    pub fn is_retired(&self, key: &PublicKey) -> bool {
        self.retired.contains(key)
    }

    /// Whether `key` has ever been used by any member, now or before.
    pub fn is_known(&self, key: &PublicKey) -> bool {
        self.keys.contains_key(key) || self.retired.contains(key) || self.partners.contains_key(key)
    }

    /// Whether the holder of `key` is an active member (and, for a partner, their
    /// practice too).
    pub fn is_active(&self, key: &PublicKey) -> bool {
        match self.keys.get(key) {
            Some(Holder::Practice(ods)) => self.practice_active(ods),
            Some(Holder::Partner(id)) => self.partners.get(id).is_some_and(|p| {
                p.status == Status::Active && self.practice_active(&p.partner.practice_ods)
            }),
            None => false,
        }
    }

    fn practice_active(&self, ods: &str) -> bool {
        self.practices
            .get(ods)
            .is_some_and(|p| p.status == Status::Active)
    }

    /// The practices, by ODS code.
    pub fn practices(&self) -> impl Iterator<Item = &PracticeRecord> {
        self.practices.values()
    }

    /// The partners, by partner id.
    pub fn partners(&self) -> impl Iterator<Item = &PartnerRecord> {
        self.partners.values()
    }

    /// What a group listed from the membership now depends on.
    pub fn standing(&self) -> Standing {
        Standing {
            partners: self.partners.clone(),
            practices: self.practices_standing.clone(),
        }
    }

    /// One practice.
    pub fn practice(&self, ods: &str) -> Option<&PracticeRecord> {
        self.practices.get(ods)
    }

    /// One partner, by id.
    pub fn partner(&self, id: &PublicKey) -> Option<&PartnerRecord> {
        self.partners.get(id)
    }

    /// The node keys of the active practices.
    pub fn active_practice_nodes(&self) -> impl Iterator<Item = PublicKey> + '_ {
        self.practices
            .values()
            .filter(|p| p.status == Status::Active)
            .filter_map(|p| key(&p.practice.node_key))
    }

    /// Whether `key` is the node key of an active practice.
    pub fn is_active_practice_node(&self, key: &PublicKey) -> bool {
        matches!(self.keys.get(key), Some(Holder::Practice(ods)) if self.practice_active(ods))
    }

    /// The practice whose node key is `key` (whatever its status).
    pub fn practice_of_node(&self, key: &PublicKey) -> Option<&PracticeRecord> {
        match self.keys.get(key) {
            Some(Holder::Practice(ods)) => self.practices.get(ods),
            _ => None,
        }
    }

    /// A practice updates its own details.
    pub fn update_practice(
        &mut self,
        author: &PublicKey,
        u: &pb::PracticeUpdate,
    ) -> Result<(), MembershipError> {
        let ods = self.practice_author(author)?;
        if let Some(rec) = self.practices.get_mut(&ods) {
            if !u.name.is_empty() {
                rec.practice.name = u.name.clone();
            }
            if !u.locality.is_empty() {
                rec.practice.locality = u.locality.clone();
            }
            if u.list_size != 0 {
                rec.practice.list_size = u.list_size;
            }
        }
        Ok(())
    }

    /// A practice leaves, with its partners.
    pub fn practice_leaves(&mut self, author: &PublicKey) -> Result<(), MembershipError> {
        let ods = self.practice_author(author)?;
        self.set_practice_status(&ods, Status::Left);
        Ok(())
    }

    /// Sets a practice's status, and its active partners' with it.
    pub fn set_practice_status(&mut self, ods: &str, status: Status) {
        if let Some(rec) = self.practices.get_mut(ods) {
            rec.status = status;
            self.practices_standing = Token::default();
        }
        let affected: Vec<PublicKey> = self
            .partners
            .values()
            .filter(|r| {
                r.partner.practice_ods == ods
                    && matches!(r.status, Status::Active | Status::Pending)
            })
            .map(|r| r.id)
            .collect();
        for id in affected {
            self.set_partner_status(&id, status);
        }
    }

    /// Sets a partner's status.
    pub fn set_partner_status(&mut self, id: &PublicKey, status: Status) {
        if let Some(rec) = self.partners.get_mut(id) {
            rec.status = status;
        }
    }

    /// Sets a partner's role, whatever key they use now (`id` is their partner id).
    /// Fails with [`MembershipError::UnknownKey`] if no partner has that id.
    pub fn set_partner_role(
        &mut self,
        id: &PublicKey,
        role: pb::PartnerRole,
    ) -> Result<(), MembershipError> {
        let rec = self
            .partners
            .get_mut(id)
            .ok_or(MembershipError::UnknownKey(*id))?;
        rec.partner.role = role as i32;
        Ok(())
    }

    /// Gives the partner with partner id `id` the key `new`: their current key, if they
    /// still have one, is retired, and `new` speaks for them from now on. This is how a
    /// partner whose key was revoked gets a key again.
    ///
    /// Fails with [`MembershipError::KeyInUse`] if `new` was ever used by any member
    /// ([`Membership::is_known`]), and with [`MembershipError::UnknownKey`] if no partner
    /// has that id.
    pub fn assign_key(&mut self, id: &PublicKey, new: PublicKey) -> Result<(), MembershipError> {
        if self.is_known(&new) {
            return Err(MembershipError::KeyInUse(new));
        }
        let current = self
            .partners
            .get(id)
            .ok_or(MembershipError::UnknownKey(*id))?
            .partner
            .key
            .clone();
        if let Ok(old) = PublicKey::from_slice(&current) {
            if self.keys.get(&old) == Some(&Holder::Partner(*id)) {
                return self.replace_key(&old, Some(new));
            }
        }
        self.keys.insert(new, Holder::Partner(*id));
        if let Some(rec) = self.partners.get_mut(id) {
            rec.partner.key = new.as_bytes().to_vec();
        }
        Ok(())
    }

    /// Every pending partner becomes active (the deed no longer names an agreement to
    /// accede to).
    pub fn activate_pending(&mut self) {
        let pending: Vec<PublicKey> = self
            .partners
            .values()
            .filter(|r| r.status == Status::Pending)
            .map(|r| r.id)
            .collect();
        for id in pending {
            self.set_partner_status(&id, Status::Active);
        }
    }

    /// A partner resigns.
    pub fn partner_resigns(&mut self, author: &PublicKey) -> Result<(), MembershipError> {
        match self.keys.get(author) {
            Some(Holder::Partner(id)) => {
                let id = *id;
                self.set_partner_status(&id, Status::Left);
                Ok(())
            }
            _ => Err(MembershipError::Unauthorised(
                "only a partner can resign".into(),
            )),
        }
    }

    /// The author replaces its own key with `new_key`, proving possession of the new key.
    pub fn rotate(
        &mut self,
        network: &NetworkId,
        author: &PublicKey,
        r: &pb::KeyRotation,
    ) -> Result<(), MembershipError> {
        let new_key = key(&r.new_key).ok_or(MembershipError::BadRotationProof)?;
        if self.is_known(&new_key) {
            return Err(MembershipError::KeyInUse(new_key));
        }
        let sig: [u8; 64] = r
            .new_key_signature
            .as_slice()
            .try_into()
            .map_err(|_| MembershipError::BadRotationProof)?;
        let message = rotation_message(network, author);
        let proof = Item {
            key: &new_key,
            domain: ROTATE_DOMAIN,
            message: &message,
            signature: &sig,
        };
        if !signature::verify(&proof) {
            return Err(MembershipError::BadRotationProof);
        }
        self.replace_key(author, Some(new_key))
    }

    /// `key` is revoked: by itself, or, for a partner's key, by their practice's node.
    pub fn revoke(
        &mut self,
        author: &PublicKey,
        r: &pb::KeyRevocation,
    ) -> Result<(), MembershipError> {
        let target = key(&r.key)
            .ok_or_else(|| MembershipError::Unauthorised("the revoked key is not a key".into()))?;
        let holder = self
            .keys
            .get(&target)
            .cloned()
            .ok_or(MembershipError::UnknownKey(target))?;
        let allowed = target == *author
            || match (&holder, self.keys.get(author)) {
                (Holder::Partner(id), Some(Holder::Practice(ods))) => self
                    .partners
                    .get(id)
                    .is_some_and(|p| &p.partner.practice_ods == ods),
                _ => false,
            };
        if !allowed {
            return Err(MembershipError::Unauthorised(
                "a key can be revoked only by itself or, for a partner, by their practice's node"
                    .into(),
            ));
        }
        self.replace_key(&target, None)
    }

    /// Moves whatever `old` speaks for onto `new` (or onto no key), retiring `old`.
    pub fn replace_key(
        &mut self,
        old: &PublicKey,
        new: Option<PublicKey>,
    ) -> Result<(), MembershipError> {
        let holder = self
            .keys
            .remove(old)
            .ok_or(MembershipError::UnknownKey(*old))?;
        self.retired.insert(*old);
        let new_bytes = new.map(|k| k.as_bytes().to_vec()).unwrap_or_default();
        match &holder {
            Holder::Practice(ods) => {
                if let Some(rec) = self.practices.get_mut(ods) {
                    rec.practice.node_key = new_bytes;
                }
            }
            Holder::Partner(id) => {
                if let Some(rec) = self.partners.get_mut(id) {
                    rec.partner.key = new_bytes;
                }
            }
        }
        if let Some(k) = new {
            self.keys.insert(k, holder);
        }
        Ok(())
    }

    fn practice_author(&self, author: &PublicKey) -> Result<String, MembershipError> {
        match self.keys.get(author) {
            Some(Holder::Practice(ods)) => Ok(ods.clone()),
            _ => Err(MembershipError::Unauthorised(
                "only a practice node can make this event".into(),
            )),
        }
    }

    /// Fills the membership part of the canonical state digest.
    pub(crate) fn digest_into(&self, d: &mut pb::StateDigest) {
        d.practices = self
            .practices
            .values()
            .map(|r| pb::PracticeEntry {
                practice: Some(r.practice.clone()),
                status: r.status.to_pb() as i32,
            })
            .collect();
        d.partners = self
            .partners
            .values()
            .map(|r| pb::PartnerEntry {
                id: r.id.as_bytes().to_vec(),
                partner: Some(r.partner.clone()),
                status: r.status.to_pb() as i32,
            })
            .collect();
        d.retired_keys = self.retired.iter().map(|k| k.as_bytes().to_vec()).collect();
    }
}

/// The message a new key signs (after [`ROTATE_DOMAIN`]) to prove possession in a
/// rotation: the network id followed by the old key.
pub fn rotation_message(network: &NetworkId, old: &PublicKey) -> Vec<u8> {
    let mut m = network.as_bytes().to_vec();
    m.extend_from_slice(old.as_bytes());
    m
}
