//! Signed events: decoding, structural validation and authoring.
//!
//! The wire form is `SignedEvent { bytes event; bytes signature; }`. Decoding checks
//! everything that can be checked from the bytes alone: sizes, field lengths, keys, the
//! shape of `seq`/`prev`/`deps`, and the shape of the body. Signature checks happen in
//! [`crate::replica`] (in batches), and chain and causality checks when the event's causes
//! are known. The `event` bytes are kept exactly as received and are what is hashed,
//! signed, stored and forwarded: nothing is ever re-encoded to verify.

use crate::id::{EventId, NetworkId, ID_LEN};
use crate::keys::{KeyError, Keypair, PublicKey};
use crate::limits::{
    MAX_DEPS, MAX_EVENT_BYTES, MAX_EVIDENCE_EVENTS, MAX_LIST_LEN, MAX_NAME_BYTES,
    MAX_PAPERS_PER_EVENT, MAX_PAPER_BYTES, MAX_SIGNED_EVENT_BYTES, MAX_TEXT_BYTES,
};
use crate::signature::{self, Item, EVENT_DOMAIN, SIGNATURE_LEN};
use mutual_proto::v1 as pb;
use prost::Message;
use std::collections::HashSet;

pub use pb::event::Body;

/// Why an event is invalid: the peer that sent it misbehaved (or relayed misbehaviour).
/// An invalid event is never stored or forwarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// Larger than [`MAX_SIGNED_EVENT_BYTES`] (the wrapper) or [`MAX_EVENT_BYTES`] (the
    /// signed bytes).
    #[error("event is {size} bytes, over the limit of {max}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not a `SignedEvent` containing an `Event`.
    #[error("malformed event: {0}")]
    Malformed(String),
    /// A field breaks a structural rule.
    #[error("invalid field `{field}`: {reason}")]
    Field {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The event is for another network.
    #[error("event belongs to network {found}, not {expected}")]
    WrongNetwork {
        /// This node's network.
        expected: NetworkId,
        /// The event's.
        found: String,
    },
    /// The signature does not verify against the author's key.
    #[error("bad signature")]
    BadSignature,
    /// `prev` is not the author's event with `seq - 1`.
    #[error("broken chain: {0}")]
    BrokenChain(String),
    /// The event claims a time before one of its causes.
    #[error("timestamp {timestamp_ms} is before that of its cause {cause}")]
    TimestampBeforeCause {
        /// The event's timestamp.
        timestamp_ms: u64,
        /// The cause with a later timestamp.
        cause: EventId,
    },
    /// A genesis event for another network, or one that is not the network's genesis.
    #[error("not this network's genesis: {0}")]
    NotGenesis(String),
    /// A body that does not belong in this kind of log: a federation's business in a
    /// network's log, or a network's internal business in a federation's log
    /// (docs/FEDERATION.md §3).
    #[error("a {body} event does not belong in {log}")]
    OutOfScope {
        /// The body type.
        body: &'static str,
        /// The kind of log.
        log: &'static str,
    },
}

/// Whether `body` starts a log (its event has an empty network field and its id names
/// the log): a network's genesis or a federation's charter.
pub fn is_root(body: &Body) -> bool {
    matches!(body, Body::Genesis(_) | Body::FederationCharter(_))
}

fn field(field: &'static str, reason: impl Into<String>) -> EventError {
    EventError::Field {
        field,
        reason: reason.into(),
    }
}

/// A structurally valid event whose signature has not necessarily been checked.
#[derive(Clone, Debug)]
pub struct SignedEvent {
    /// SHA-256 of `event_bytes`.
    pub id: EventId,
    /// The exact signed bytes.
    pub event_bytes: Vec<u8>,
    /// The signature over [`EVENT_DOMAIN`] || `event_bytes`.
    pub signature: [u8; SIGNATURE_LEN],
    /// The decoded header and body.
    pub event: Event,
}

/// The decoded content of an event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The network, or `None` for a genesis event (whose id is the network id).
    pub network: Option<NetworkId>,
    /// Who signed it.
    pub author: PublicKey,
    /// The author's sequence number, from 1.
    pub seq: u64,
    /// The author's previous event; `None` iff `seq == 1`.
    pub prev: Option<EventId>,
    /// Other events this one follows.
    pub deps: Vec<EventId>,
    /// The author's claimed time, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// The typed body; `None` when the body type is unknown to this version (the event is
    /// kept and forwarded but has no effect).
    pub body: Option<Body>,
}

impl Event {
    /// Every event this one directly follows: `prev` then `deps`.
    pub fn causes(&self) -> impl Iterator<Item = EventId> + '_ {
        self.prev.iter().copied().chain(self.deps.iter().copied())
    }
}

impl SignedEvent {
    /// The id of the event whose wire bytes these are, read without decoding the event
    /// itself (`None` if they are not a `SignedEvent`): what a store checks an event it
    /// found by part of its id against.
    pub fn id_of_wire(wire: &[u8]) -> Option<EventId> {
        let outer = pb::SignedEvent::decode(wire).ok()?;
        Some(EventId::of(&outer.event))
    }

    /// Decodes and structurally validates wire bytes (an encoded `SignedEvent`).
    pub fn decode(wire: &[u8]) -> Result<Self, EventError> {
        if wire.len() > MAX_SIGNED_EVENT_BYTES {
            return Err(EventError::TooLarge {
                size: wire.len(),
                max: MAX_SIGNED_EVENT_BYTES,
            });
        }
        let outer = pb::SignedEvent::decode(wire)
            .map_err(|e| EventError::Malformed(format!("SignedEvent: {e}")))?;
        let signature: [u8; SIGNATURE_LEN] =
            outer.signature.as_slice().try_into().map_err(|_| {
                field(
                    "signature",
                    format!("{} bytes, expected {SIGNATURE_LEN}", outer.signature.len()),
                )
            })?;
        if outer.event.len() > MAX_EVENT_BYTES {
            return Err(EventError::TooLarge {
                size: outer.event.len(),
                max: MAX_EVENT_BYTES,
            });
        }
        let event = decode_event(&outer.event)?;
        Ok(SignedEvent {
            id: EventId::of(&outer.event),
            event_bytes: outer.event,
            signature,
            event,
        })
    }

    /// An event taken in before, from its id, signed bytes and signature as kept: the
    /// bytes are decoded again, not hashed or checked against the signature. `None` if
    /// they do not decode, which bytes once taken in always do.
    pub(crate) fn from_kept(
        id: EventId,
        event_bytes: &[u8],
        signature: [u8; SIGNATURE_LEN],
    ) -> Option<Self> {
        let event = decode_event(event_bytes).ok()?;
        Some(SignedEvent {
            id,
            event_bytes: event_bytes.to_vec(),
            signature,
            event,
        })
    }

    /// The wire form: an encoded `SignedEvent` holding the original bytes.
    pub fn to_wire(&self) -> Vec<u8> {
        wire_of(&self.event_bytes, &self.signature)
    }

    /// The signature check this event needs, for [`signature::verify_batch`].
    pub fn signature_item(&self) -> Item<'_> {
        Item {
            key: &self.event.author,
            domain: EVENT_DOMAIN,
            message: &self.event_bytes,
            signature: &self.signature,
        }
    }

    /// Checks the signature alone.
    pub fn verify_signature(&self) -> bool {
        signature::verify(&self.signature_item())
    }

    /// Whether this is a genesis event (no network field).
    pub fn is_genesis(&self) -> bool {
        self.event.network.is_none()
    }

    /// The network the event belongs to: its `network` field, or for a genesis, the
    /// network it founds (its own id).
    pub fn network(&self) -> NetworkId {
        self.event.network.unwrap_or(NetworkId(self.id))
    }
}

fn id_field(bytes: &[u8], name: &'static str) -> Result<EventId, EventError> {
    EventId::from_slice(bytes)
        .ok_or_else(|| field(name, format!("{} bytes, expected {ID_LEN}", bytes.len())))
}

fn key_field(bytes: &[u8], name: &'static str) -> Result<PublicKey, EventError> {
    PublicKey::from_slice(bytes).map_err(|e: KeyError| field(name, e.to_string()))
}

/// Lowest field number of an `Event` body type. Every top-level `Event` field numbered
/// from here up is a body, whether this version knows its type or not.
pub const FIRST_BODY_FIELD: u32 = 16;

/// Counts the top-level body fields in encoded `Event` bytes. Protobuf readers keep only
/// the last member of a `oneof`, so an event with two bodies could mean different things
/// to nodes that know different body types; such an event is malformed.
fn body_fields(mut bytes: &[u8]) -> Result<usize, prost::DecodeError> {
    let mut count = 0;
    while !bytes.is_empty() {
        let (tag, wire_type) = prost::encoding::decode_key(&mut bytes)?;
        if tag >= FIRST_BODY_FIELD {
            count += 1;
        }
        prost::encoding::skip_field(
            wire_type,
            tag,
            &mut bytes,
            prost::encoding::DecodeContext::default(),
        )?;
    }
    Ok(count)
}

/// The wire form of an event's signed bytes and signature (an encoded `SignedEvent`).
pub(crate) fn wire_of(event_bytes: &[u8], signature: &[u8; SIGNATURE_LEN]) -> Vec<u8> {
    pb::SignedEvent {
        event: event_bytes.to_vec(),
        signature: signature.to_vec(),
    }
    .encode_to_vec()
}

fn decode_event(bytes: &[u8]) -> Result<Event, EventError> {
    let raw = pb::Event::decode(bytes).map_err(|e| EventError::Malformed(format!("Event: {e}")))?;
    let bodies = body_fields(bytes).map_err(|e| EventError::Malformed(format!("Event: {e}")))?;
    if bodies > 1 {
        return Err(EventError::Malformed(format!(
            "{bodies} body fields; an event has at most one"
        )));
    }
    let author = key_field(&raw.author, "author")?;
    if raw.seq == 0 {
        return Err(field("seq", "sequence numbers start at 1"));
    }
    let prev = match (raw.seq, raw.prev.is_empty()) {
        (1, true) => None,
        (1, false) => return Err(field("prev", "must be empty when seq is 1")),
        (_, true) => return Err(field("prev", "missing; required when seq > 1")),
        (_, false) => Some(id_field(&raw.prev, "prev")?),
    };
    if raw.deps.len() > MAX_DEPS {
        return Err(field(
            "deps",
            format!("{} entries, over the limit of {MAX_DEPS}", raw.deps.len()),
        ));
    }
    let mut seen = HashSet::with_capacity(raw.deps.len() + 1);
    seen.extend(prev);
    let mut deps = Vec::with_capacity(raw.deps.len());
    for d in &raw.deps {
        let id = id_field(d, "deps")?;
        if !seen.insert(id) {
            return Err(field(
                "deps",
                format!("{} listed twice (or also prev)", id.short()),
            ));
        }
        deps.push(id);
    }
    let root = raw.body.as_ref().is_some_and(is_root);
    let network = if raw.network.is_empty() {
        if !root {
            return Err(field(
                "network",
                "empty, but the body is not a genesis or a charter",
            ));
        }
        if raw.seq != 1 || !deps.is_empty() {
            return Err(field("genesis", "a genesis has seq 1 and no deps"));
        }
        None
    } else {
        if root {
            return Err(field(
                "network",
                "a genesis or a charter carries no network id",
            ));
        }
        Some(NetworkId(id_field(&raw.network, "network")?))
    };
    if let Some(body) = &raw.body {
        check_body(body)?;
    }
    Ok(Event {
        network,
        author,
        seq: raw.seq,
        prev,
        deps,
        timestamp_ms: raw.timestamp_ms,
        body: raw.body,
    })
}

fn name(s: &str, f: &'static str) -> Result<(), EventError> {
    if s.len() > MAX_NAME_BYTES {
        return Err(field(
            f,
            format!("{} bytes, over the limit of {MAX_NAME_BYTES}", s.len()),
        ));
    }
    Ok(())
}

fn text(s: &str, f: &'static str) -> Result<(), EventError> {
    if s.len() > MAX_TEXT_BYTES {
        return Err(field(
            f,
            format!("{} bytes, over the limit of {MAX_TEXT_BYTES}", s.len()),
        ));
    }
    Ok(())
}

fn list<T>(v: &[T], f: &'static str) -> Result<(), EventError> {
    if v.len() > MAX_LIST_LEN {
        return Err(field(
            f,
            format!("{} entries, over the limit of {MAX_LIST_LEN}", v.len()),
        ));
    }
    Ok(())
}

fn opt_id(bytes: &[u8], f: &'static str) -> Result<(), EventError> {
    id_field(bytes, f).map(|_| ())
}

fn practice(p: &pb::Practice) -> Result<(), EventError> {
    name(&p.name, "practice.name")?;
    name(&p.ods_code, "practice.ods_code")?;
    name(&p.locality, "practice.locality")?;
    key_field(&p.node_key, "practice.node_key").map(|_| ())
}

fn partner(p: &pb::Partner) -> Result<(), EventError> {
    name(&p.name, "partner.name")?;
    name(&p.practice_ods, "partner.practice_ods")?;
    key_field(&p.key, "partner.key").map(|_| ())
}

fn sessions(s: &[pb::Session]) -> Result<(), EventError> {
    list(s, "sessions")?;
    for x in s {
        name(&x.date, "session.date")?;
        name(&x.part, "session.part")?;
    }
    Ok(())
}

fn deed(d: &pb::Deed) -> Result<(), EventError> {
    list(&d.rules, "deed.rules")?;
    list(&d.powers, "deed.powers")?;
    for p in &d.powers {
        name(&p.name, "deed.powers.name")?;
        text(&p.description, "deed.powers.description")?;
    }
    if !d.agreement_hash.is_empty() && d.agreement_hash.len() != 32 {
        return Err(field("deed.agreement_hash", "must be empty or 32 bytes"));
    }
    Ok(())
}

/// Bidirectional formatting characters: a name holding one could show as another.
const BIDI_CONTROLS: [char; 12] = [
    '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}',
    '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
];

/// Whether a paper's name is one a person can be shown and a file can be saved as: not
/// blank (nothing left once characters with the Unicode `White_Space` property are taken
/// from both ends), not `.` or `..`, no `/` or `\\`, no control character (general
/// category `Cc`) and no bidirectional formatting character (docs/PROTOCOL.md §5.4).
pub fn paper_name_ok(n: &str) -> bool {
    !n.trim().is_empty()
        && n != "."
        && n != ".."
        && !n
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control() || BIDI_CONTROLS.contains(&c))
}

/// The papers of one event: at most [`MAX_PAPERS_PER_EVENT`], each with a name
/// ([`paper_name_ok`]), a 32-byte SHA-256, a size of 1 to [`MAX_PAPER_BYTES`], no hash
/// twice (docs/PROTOCOL.md §8.13).
fn papers(v: &[pb::Paper], f: &'static str) -> Result<(), EventError> {
    if v.len() > MAX_PAPERS_PER_EVENT {
        return Err(field(
            f,
            format!(
                "{} papers, over the limit of {MAX_PAPERS_PER_EVENT}",
                v.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    for p in v {
        name(&p.name, f)?;
        name(&p.media_type, f)?;
        if !paper_name_ok(&p.name) {
            return Err(field(f, format!("{:?} is not a file name", p.name)));
        }
        if p.sha256.len() != 32 {
            return Err(field(f, "a paper's sha256 must be 32 bytes"));
        }
        if p.size == 0 || p.size > MAX_PAPER_BYTES {
            return Err(field(
                f,
                format!(
                    "{} is {} bytes; a paper has 1 to {MAX_PAPER_BYTES}",
                    p.name, p.size
                ),
            ));
        }
        if !seen.insert(&p.sha256) {
            return Err(field(f, "the same paper is attached twice"));
        }
    }
    Ok(())
}

fn charter(c: &pb::FederationCharter) -> Result<(), EventError> {
    name(&c.name, "charter.name")?;
    list(&c.members, "charter.members")?;
    for n in &c.members {
        opt_id(&n.network, "charter.members.network")?;
        name(&n.name, "charter.members.name")?;
        list(&n.practices, "charter.members.practices")?;
        n.practices.iter().try_for_each(practice)?;
        list(&n.bootstrap, "charter.members.bootstrap")?;
        n.bootstrap.iter().try_for_each(|s| name(s, "bootstrap"))?;
    }
    Ok(())
}

/// Checks the shape of a body: field lengths, keys and ids, list sizes. Whether the body
/// is allowed to take effect is decided later, by the state machine.
pub fn check_body(body: &Body) -> Result<(), EventError> {
    match body {
        Body::Genesis(g) => {
            name(&g.name, "genesis.name")?;
            list(&g.practices, "genesis.practices")?;
            list(&g.partners, "genesis.partners")?;
            g.practices.iter().try_for_each(practice)?;
            g.partners.iter().try_for_each(partner)?;
            if let Some(d) = &g.deed {
                deed(d)?;
            }
            if g.nonce.len() > ID_LEN {
                return Err(field("genesis.nonce", "longer than 32 bytes"));
            }
            Ok(())
        }
        Body::PracticeUpdate(u) => {
            name(&u.name, "practice_update.name")?;
            name(&u.locality, "practice_update.locality")
        }
        Body::PracticeLeave(l) => text(&l.reason, "practice_leave.reason"),
        Body::PartnerResign(r) => text(&r.reason, "partner_resign.reason"),
        Body::Accession(a) => {
            if a.agreement_hash.len() != 32 {
                return Err(field("accession.agreement_hash", "must be 32 bytes"));
            }
            Ok(())
        }
        Body::KeyRotation(r) => {
            key_field(&r.new_key, "key_rotation.new_key")?;
            if r.new_key_signature.len() != SIGNATURE_LEN {
                return Err(field("key_rotation.new_key_signature", "must be 64 bytes"));
            }
            Ok(())
        }
        Body::KeyRevocation(r) => {
            key_field(&r.key, "key_revocation.key")?;
            text(&r.reason, "key_revocation.reason")
        }
        Body::AddressAnnouncement(a) => {
            list(&a.addresses, "address_announcement.addresses")?;
            a.addresses.iter().try_for_each(|s| name(s, "address"))
        }
        Body::Motion(m) => {
            name(&m.title, "motion.title")?;
            text(&m.text, "motion.text")?;
            if let Some(p) = &m.admit_practice {
                practice(p)?;
            }
            if let Some(p) = &m.admit_partner {
                partner(p)?;
            }
            list(&m.first_partners, "motion.first_partners")?;
            m.first_partners.iter().try_for_each(partner)?;
            if !m.subject_key.is_empty() {
                key_field(&m.subject_key, "motion.subject_key")?;
            }
            if !m.replacement_key.is_empty() {
                key_field(&m.replacement_key, "motion.replacement_key")?;
            }
            name(&m.subject_ods, "motion.subject_ods")?;
            name(&m.power, "motion.power")?;
            papers(&m.papers, "motion.papers")?;
            if let Some(d) = &m.new_deed {
                deed(d)?;
            }
            list(&m.candidates, "motion.candidates")?;
            m.candidates
                .iter()
                .try_for_each(|c| key_field(c, "motion.candidates").map(|_| ()))?;
            if m.charter_event.len() > MAX_SIGNED_EVENT_BYTES {
                return Err(field("motion.charter_event", "larger than an event"));
            }
            if !m.federation.is_empty() {
                opt_id(&m.federation, "motion.federation")?;
            }
            if !m.joint_motion.is_empty() {
                opt_id(&m.joint_motion, "motion.joint_motion")?;
            }
            Ok(())
        }
        Body::Ballot(b) => {
            opt_id(&b.motion, "ballot.motion")?;
            list(&b.ranking, "ballot.ranking")?;
            b.ranking
                .iter()
                .try_for_each(|c| key_field(c, "ballot.ranking").map(|_| ()))
        }
        Body::AidRequest(r) => {
            name(&r.role, "aid_request.role")?;
            sessions(&r.sessions)?;
            list(&r.requirements, "aid_request.requirements")?;
            r.requirements
                .iter()
                .try_for_each(|s| name(s, "aid_request.requirements"))?;
            papers(&r.papers, "aid_request.papers")?;
            text(&r.notes, "aid_request.notes")
        }
        Body::AidOffer(o) => {
            opt_id(&o.request, "aid_offer.request")?;
            sessions(&o.sessions)?;
            name(&o.role, "aid_offer.role")?;
            text(&o.terms, "aid_offer.terms")
        }
        Body::AidAcceptance(a) => {
            opt_id(&a.offer, "aid_acceptance.offer")?;
            sessions(&a.sessions)
        }
        Body::AidCountersign(c) => opt_id(&c.acceptance, "aid_countersign.acceptance"),
        Body::AidCancel(c) => {
            opt_id(&c.acceptance, "aid_cancel.acceptance")?;
            text(&c.reason, "aid_cancel.reason")
        }
        Body::AidFulfil(f) => opt_id(&f.acceptance, "aid_fulfil.acceptance"),
        Body::AidWithdraw(w) => {
            opt_id(&w.request, "aid_withdraw.request")?;
            text(&w.reason, "aid_withdraw.reason")
        }
        Body::FederationCharter(c) => charter(c),
        Body::FederationJoin(j) => {
            opt_id(&j.network, "federation_join.network")?;
            opt_id(&j.motion, "federation_join.motion")
        }
        Body::FederationRoster(r) => {
            opt_id(&r.network, "federation_roster.network")?;
            list(&r.practices, "federation_roster.practices")?;
            r.practices.iter().try_for_each(practice)
        }
        Body::FederationLeave(l) => {
            opt_id(&l.network, "federation_leave.network")?;
            opt_id(&l.motion, "federation_leave.motion")
        }
        Body::JointMotion(m) => {
            name(&m.title, "joint_motion.title")?;
            text(&m.text, "joint_motion.text")
        }
        Body::JointDecision(d) => {
            opt_id(&d.network, "joint_decision.network")?;
            opt_id(&d.joint_motion, "joint_decision.joint_motion")?;
            opt_id(&d.motion, "joint_decision.motion")
        }
        Body::JointStatement(s) => {
            name(&s.title, "joint_statement.title")?;
            text(&s.text, "joint_statement.text")
        }
        Body::Witness(_) => Ok(()),
        Body::FederationEvidence(x) => {
            opt_id(&x.network, "federation_evidence.network")?;
            if x.events.len() > MAX_EVIDENCE_EVENTS {
                return Err(field(
                    "federation_evidence.events",
                    format!(
                        "{} events, over the limit of {MAX_EVIDENCE_EVENTS}",
                        x.events.len()
                    ),
                ));
            }
            Ok(())
        }
        Body::Invitation(i) => {
            key_field(&i.node_key, "invitation.node_key")?;
            name(&i.practice_name, "invitation.practice_name")?;
            name(&i.ods_code, "invitation.ods_code")?;
            list(&i.bootstrap, "invitation.bootstrap")?;
            i.bootstrap.iter().try_for_each(|s| name(s, "bootstrap"))
        }
    }
}

/// The event a body names by id and which must therefore be one of its causes (its
/// `prev` or a dep): an aid body's referent (docs/AID.md §4.1) or the motion a ballot is
/// cast on. `None` for other bodies or an id field that is not 32 bytes.
pub fn referent(body: &Body) -> Option<EventId> {
    let bytes: &[u8] = match body {
        Body::Ballot(b) => &b.motion,
        Body::AidOffer(o) => &o.request,
        Body::AidAcceptance(a) => &a.offer,
        Body::AidCountersign(c) => &c.acceptance,
        Body::AidCancel(c) => &c.acceptance,
        Body::AidFulfil(f) => &f.acceptance,
        Body::AidWithdraw(w) => &w.request,
        Body::JointDecision(d) => &d.joint_motion,
        _ => return None,
    };
    EventId::from_slice(bytes)
}

/// The deps to cite for a new event with `body`: the body's [`referent`] first, so it is
/// never the one a limit drops, then `heads`; never `prev` (cited as `prev` already), and
/// at most `MAX_DEPS - 1`, leaving room for the genesis a feed's first event also cites.
pub fn deps_for(body: &Body, heads: &[EventId], prev: Option<EventId>) -> Vec<EventId> {
    let mut deps: Vec<EventId> = referent(body).into_iter().collect();
    for h in heads {
        if deps.len() + 1 >= MAX_DEPS {
            break;
        }
        if !deps.contains(h) && Some(*h) != prev {
            deps.push(*h);
        }
    }
    deps.retain(|d| Some(*d) != prev);
    deps
}

/// A body type's name as in `event.proto`, in snake case (`"aid_request"`).
pub fn body_name(body: &Body) -> &'static str {
    match body {
        Body::Genesis(_) => "genesis",
        Body::PracticeUpdate(_) => "practice_update",
        Body::PracticeLeave(_) => "practice_leave",
        Body::PartnerResign(_) => "partner_resign",
        Body::KeyRotation(_) => "key_rotation",
        Body::KeyRevocation(_) => "key_revocation",
        Body::AddressAnnouncement(_) => "address_announcement",
        Body::Motion(_) => "motion",
        Body::Ballot(_) => "ballot",
        Body::AidRequest(_) => "aid_request",
        Body::AidOffer(_) => "aid_offer",
        Body::AidAcceptance(_) => "aid_acceptance",
        Body::AidCountersign(_) => "aid_countersign",
        Body::AidCancel(_) => "aid_cancel",
        Body::AidFulfil(_) => "aid_fulfil",
        Body::AidWithdraw(_) => "aid_withdraw",
        Body::FederationCharter(_) => "federation_charter",
        Body::Invitation(_) => "invitation",
        Body::FederationJoin(_) => "federation_join",
        Body::FederationRoster(_) => "federation_roster",
        Body::FederationLeave(_) => "federation_leave",
        Body::JointMotion(_) => "joint_motion",
        Body::JointDecision(_) => "joint_decision",
        Body::JointStatement(_) => "joint_statement",
        Body::Witness(_) => "witness",
        Body::Accession(_) => "accession",
        Body::FederationEvidence(_) => "federation_evidence",
    }
}

/// Writes an author's feed: assigns `seq` and `prev` and signs.
///
/// The caller owns durability: it must not hand out an event from a `FeedWriter` whose
/// state it has not persisted, or a restart could reuse a sequence number (a fork).
#[derive(Debug)]
pub struct FeedWriter {
    keypair: Keypair,
    network: Option<NetworkId>,
    next_seq: u64,
    prev: Option<EventId>,
}

impl FeedWriter {
    /// A writer continuing a feed whose last event had `last_seq` and id `last`.
    pub fn resume(keypair: Keypair, network: NetworkId, last: Option<(u64, EventId)>) -> Self {
        let (next_seq, prev) = match last {
            Some((seq, id)) => (seq + 1, Some(id)),
            None => (1, None),
        };
        FeedWriter {
            keypair,
            network: Some(network),
            next_seq,
            prev,
        }
    }

    /// Signs a network's genesis; the returned writer continues the founder's feed.
    pub fn found(keypair: Keypair, timestamp_ms: u64, genesis: pb::Genesis) -> (Self, SignedEvent) {
        Self::root(keypair, timestamp_ms, Body::Genesis(genesis))
    }

    /// Signs the first event of a log (a genesis or a federation's charter, see
    /// [`is_root`]); the returned writer continues the author's feed in that log.
    pub fn root(keypair: Keypair, timestamp_ms: u64, body: Body) -> (Self, SignedEvent) {
        let mut w = FeedWriter {
            keypair,
            network: None,
            next_seq: 1,
            prev: None,
        };
        let ev = w.sign(timestamp_ms, Vec::new(), body);
        w.network = Some(NetworkId(ev.id));
        (w, ev)
    }

    /// The author's key.
    pub fn author(&self) -> PublicKey {
        self.keypair.public()
    }

    /// The seq the next event will have.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Signs the next event in the feed. A first event (seq 1) outside genesis is given
    /// the genesis as a dependency if the caller did not name it, as the protocol requires.
    pub fn sign(&mut self, timestamp_ms: u64, deps: Vec<EventId>, body: Body) -> SignedEvent {
        let position = FeedPosition {
            network: self.network,
            author: self.keypair.public(),
            next_seq: self.next_seq,
            prev: self.prev,
        };
        let (event_bytes, event) = position.prepare(timestamp_ms, deps, body);
        let signature = self.keypair.sign(EVENT_DOMAIN, &event_bytes);
        let id = EventId::of(&event_bytes);
        self.prev = Some(id);
        self.next_seq += 1;
        SignedEvent {
            id,
            event_bytes,
            signature,
            event,
        }
    }
}

/// Where an author's feed stands, for preparing its next event without its key: the node
/// prepares the exact bytes a partner signs elsewhere (docs/PROTOCOL.md §5.10).
#[derive(Debug, Clone, Copy)]
pub struct FeedPosition {
    /// The log (`None` only for a root event).
    pub network: Option<NetworkId>,
    /// The author.
    pub author: PublicKey,
    /// The seq the next event has.
    pub next_seq: u64,
    /// The author's last event, if any.
    pub prev: Option<EventId>,
}

impl FeedPosition {
    /// The position after `last` (the feed's last seq and event) in a network's log.
    pub fn after(network: NetworkId, author: PublicKey, last: Option<(u64, EventId)>) -> Self {
        FeedPosition {
            network: Some(network),
            author,
            next_seq: last.map_or(1, |l| l.0 + 1),
            prev: last.map(|l| l.1),
        }
    }

    /// The bytes to sign for the next event (and their decoded form): `deps` without
    /// `prev`, sorted, deduplicated and capped, with the genesis first in a feed's first
    /// event, as [`FeedWriter::sign`] signs them.
    pub fn prepare(
        &self,
        timestamp_ms: u64,
        mut deps: Vec<EventId>,
        body: Body,
    ) -> (Vec<u8>, Event) {
        if let Some(p) = self.prev {
            deps.retain(|d| *d != p);
        }
        deps.sort();
        deps.dedup();
        if let (Some(net), 1) = (self.network, self.next_seq) {
            if !deps.contains(&net.genesis()) {
                deps.truncate(MAX_DEPS - 1);
                deps.insert(0, net.genesis());
            }
        }
        deps.truncate(MAX_DEPS);
        let raw = pb::Event {
            network: self
                .network
                .map(|n| n.as_bytes().to_vec())
                .unwrap_or_default(),
            author: self.author.as_bytes().to_vec(),
            seq: self.next_seq,
            prev: self.prev.map(|p| p.as_bytes().to_vec()).unwrap_or_default(),
            deps: deps.iter().map(|d| d.as_bytes().to_vec()).collect(),
            timestamp_ms,
            body: Some(body),
        };
        let event_bytes = raw.encode_to_vec();
        let event = Event {
            network: self.network,
            author: self.author,
            seq: raw.seq,
            prev: self.prev,
            deps,
            timestamp_ms,
            body: raw.body,
        };
        (event_bytes, event)
    }
}

impl SignedEvent {
    /// Joins event bytes and a signature made elsewhere over them into a signed event,
    /// checked as [`SignedEvent::decode`] checks one from the wire.
    pub fn assemble(
        event_bytes: Vec<u8>,
        signature: [u8; SIGNATURE_LEN],
    ) -> Result<Self, EventError> {
        let wire = pb::SignedEvent {
            event: event_bytes,
            signature: signature.to_vec(),
        }
        .encode_to_vec();
        SignedEvent::decode(&wire)
    }
}
