//! Charters, rosters and the evidence of a network's membership carried into a
//! federation's log: reading and checking a charter, a network's practices as a roster,
//! and the replica of each network's membership kept from its own events (the module
//! documentation of [`super`] says why).

use super::*;

/// The federation id a charter event gives (its event id).
pub fn federation_id(charter_event: &SignedEvent) -> FederationId {
    NetworkId(charter_event.id)
}

/// The charter a wire-encoded charter event carries, if it is a well-signed root event
/// with a valid charter.
pub fn read_charter_event(
    wire: &[u8],
) -> Result<(SignedEvent, pb::FederationCharter), FederationError> {
    let bad = |s: String| FederationError::InvalidCharter(s);
    let ev = read_signed(wire).map_err(bad)?;
    let Some(Body::FederationCharter(c)) = &ev.event.body else {
        return Err(bad("the event is not a charter".into()));
    };
    if ev.event.network.is_some() {
        return Err(bad("a charter event carries no network id".into()));
    }
    validate_charter(c)?;
    let c = c.clone();
    Ok((ev, c))
}

/// An event carried inside another (a charter in a link motion, a network's evidence): it
/// must decode as a `SignedEvent` (docs/PROTOCOL.md §5.2–§5.4) and its signature verify.
pub(super) fn read_signed(wire: &[u8]) -> Result<SignedEvent, String> {
    let ev = SignedEvent::decode(wire).map_err(|e| e.to_string())?;
    if !crate::signature::verify(&ev.signature_item()) {
        return Err("the event's signature does not verify".into());
    }
    Ok(ev)
}

/// Takes one event of `network`'s own log into the federation's replica of that
/// network's membership (docs/FEDERATION.md §3), by the network's own rules
/// (docs/PROTOCOL.md §8.2, §8.5–§8.7): first its genesis, whose id is the network id;
/// then, from an active practice node the replica knows, that practice's `KeyRotation`,
/// `PracticeLeave`, or `KeyRevocation` of its own key. Anything else is refused with the
/// reason, and the replica is left as it was.
pub fn take_evidence(
    replica: &mut Option<Membership>,
    network: &NetworkId,
    ev: &SignedEvent,
) -> Result<(), String> {
    let e = &ev.event;
    let Some(body) = &e.body else {
        return Err("an event without a body is not evidence".into());
    };
    let Some(m) = replica.as_mut() else {
        let Body::Genesis(g) = body else {
            return Err("the network's genesis must come first".into());
        };
        if e.network.is_some() || NetworkId(ev.id) != *network {
            return Err("the genesis is not this network's (its id is not the network id)".into());
        }
        validate_genesis(g, &e.author).map_err(|x| x.to_string())?;
        *replica = Some(Membership::from_genesis(g));
        return Ok(());
    };
    if e.network != Some(*network) {
        return Err("the event is not of this network".into());
    }
    if !m.is_active_practice_node(&e.author) {
        return Err(
            "its author is not the node key of an active practice of the network as the \
             federation knows it"
                .into(),
        );
    }
    match own_change(ev) {
        Some(OwnChange::Rotation(r)) => m.rotate(network, &e.author, r),
        Some(OwnChange::Leave) => m.practice_leaves(&e.author),
        Some(OwnChange::Revocation(r)) => m.revoke(&e.author, r),
        None => {
            return Err(format!(
                "a {} is not membership evidence",
                crate::event::body_name(body)
            ))
        }
    }
    .map_err(|x| x.to_string())
}

/// A change a member makes to its own membership: of these, a practice's are the
/// membership evidence its network carries into a federation's log (the genesis is
/// evidence too, by its id).
enum OwnChange<'a> {
    Rotation(&'a pb::KeyRotation),
    Leave,
    Revocation(&'a pb::KeyRevocation),
}

/// The change to its author's own membership that `ev` makes, if it is one: a key
/// rotation, a leave, or a revocation of the author's own key.
fn own_change(ev: &SignedEvent) -> Option<OwnChange<'_>> {
    match ev.event.body.as_ref()? {
        Body::KeyRotation(r) => Some(OwnChange::Rotation(r)),
        Body::PracticeLeave(_) => Some(OwnChange::Leave),
        Body::KeyRevocation(r) if r.key == ev.event.author.as_bytes() => {
            Some(OwnChange::Revocation(r))
        }
        _ => None,
    }
}

/// Whether `ev` is of a kind a network carries into a federation's log as membership
/// evidence, if its author is a practice node ([`take_evidence`] decides whether it
/// applies): a rotation, a leave, or a revocation of the author's own key.
pub fn is_evidence_kind(ev: &SignedEvent) -> bool {
    own_change(ev).is_some()
}

/// Checks a charter: a name, 2 to [`MAX_FEDERATION_NETWORKS`] networks sorted by id, each
/// with a name and a valid roster, no ODS code or node key named twice.
pub fn validate_charter(c: &pb::FederationCharter) -> Result<(), FederationError> {
    let bad = |s: &str| Err(FederationError::InvalidCharter(s.into()));
    if c.name.trim().is_empty() {
        return bad("the charter needs a name");
    }
    if c.members.len() < 2 || c.members.len() > MAX_FEDERATION_NETWORKS {
        return Err(FederationError::InvalidCharter(format!(
            "a charter names 2 to {MAX_FEDERATION_NETWORKS} networks, not {}",
            c.members.len()
        )));
    }
    if !c.members.windows(2).all(|w| w[0].network < w[1].network) {
        return bad("networks must be sorted by id, each named once");
    }
    let mut ods = HashSet::new();
    let mut keys = HashSet::new();
    for n in &c.members {
        if NetworkId::from_slice(&n.network).is_none() {
            return bad("a network id is not 32 bytes");
        }
        if n.name.trim().is_empty() {
            return bad("every network needs a name");
        }
        roster_entries(&n.practices, &mut ods, &mut keys)
            .map_err(|e| FederationError::InvalidCharter(e.to_string()))?;
    }
    Ok(())
}

/// Checks a roster's practices (non-empty, sorted by ODS code, only name, ODS code and
/// node key set) and adds their codes and keys to `ods` and `keys`, refusing repeats.
pub(super) fn roster_entries(
    practices: &[pb::Practice],
    ods: &mut HashSet<String>,
    keys: &mut HashSet<PublicKey>,
) -> Result<(), FederationError> {
    let bad = |s: &str| Err(FederationError::InvalidRoster(s.into()));
    if practices.is_empty() {
        return bad("a roster names at least one practice");
    }
    if !practices.windows(2).all(|w| w[0].ods_code < w[1].ods_code) {
        return bad("practices must be sorted by ODS code, each named once");
    }
    for p in practices {
        if p.ods_code.trim().is_empty() || p.name.trim().is_empty() {
            return bad("every practice needs a name and an ODS code");
        }
        if !p.locality.is_empty() || p.list_size != 0 {
            return bad("a roster entry carries only name, ODS code and node key");
        }
        let Ok(k) = PublicKey::from_slice(&p.node_key) else {
            return bad("a node key is not a valid key");
        };
        if !ods.insert(p.ods_code.clone()) {
            return Err(FederationError::InvalidRoster(format!(
                "ODS code {} is named twice",
                p.ods_code
            )));
        }
        if !keys.insert(k) {
            return bad("a node key is named twice");
        }
    }
    Ok(())
}

/// A network's roster entry for a practice, as charters and rosters carry it.
pub fn roster_entry(p: &pb::Practice) -> pb::Practice {
    pb::Practice {
        name: p.name.clone(),
        ods_code: p.ods_code.clone(),
        node_key: p.node_key.clone(),
        ..Default::default()
    }
}

/// Whether `body` is a federation's own business, which belongs only in a federation's log
/// (docs/FEDERATION.md §1): a charter, an attestation, a joint motion or a statement.
pub fn is_federation_business(body: &Body) -> bool {
    matches!(
        body,
        Body::FederationCharter(_)
            | Body::FederationJoin(_)
            | Body::FederationEvidence(_)
            | Body::FederationRoster(_)
            | Body::FederationLeave(_)
            | Body::JointMotion(_)
            | Body::JointDecision(_)
            | Body::JointStatement(_)
    )
}

/// Whether `body` is one of the aid bodies (docs/AID.md), which belong in either log.
pub fn is_aid(body: &Body) -> bool {
    matches!(
        body,
        Body::AidRequest(_)
            | Body::AidOffer(_)
            | Body::AidAcceptance(_)
            | Body::AidCountersign(_)
            | Body::AidCancel(_)
            | Body::AidFulfil(_)
            | Body::AidWithdraw(_)
    )
}

/// A charter's entry for a network: its id, name, bootstrap addresses and its practices
/// as roster entries ([`roster_entry`]), sorted by ODS code.
pub fn charter_entry(
    network: NetworkId,
    name: &str,
    practices: &[pb::Practice],
    bootstrap: &[String],
) -> pb::CharterNetwork {
    let mut practices: Vec<pb::Practice> = practices.iter().map(roster_entry).collect();
    practices.sort_by(|a, b| a.ods_code.cmp(&b.ods_code));
    pb::CharterNetwork {
        network: network.as_bytes().to_vec(),
        name: name.into(),
        practices,
        bootstrap: bootstrap.to_vec(),
    }
}

/// A roster's practices by node key.
pub(super) fn roster_map(practices: &[pb::Practice]) -> OrdMap<PublicKey, String> {
    practices
        .iter()
        .filter_map(|p| Some((PublicKey::from_slice(&p.node_key).ok()?, p.ods_code.clone())))
        .collect()
}

/// Whether a roster entry agrees with what a network's own events show: its key is not
/// one its holder retired, nor held by another member, and its practice has not left.
pub(super) fn fits_replica(m: &Membership, e: &pb::Practice) -> Result<(), FederationError> {
    let bad = |s: &str| {
        Err(FederationError::InvalidRoster(format!(
            "{}: {s}",
            e.ods_code
        )))
    };
    let Ok(k) = PublicKey::from_slice(&e.node_key) else {
        return bad("not a key");
    };
    if m.is_retired(&k) {
        return bad("its node key was retired by its holder in the network's own log");
    }
    match m.holder(&k) {
        Some(Holder::Practice(ods)) if *ods == e.ods_code => {}
        None => {}
        Some(_) => return bad("its node key belongs to another member of the network"),
    }
    if m.practice(&e.ods_code)
        .is_some_and(|r| r.status == Status::Left)
    {
        return bad("the practice left the network by its own signed event");
    }
    Ok(())
}

/// Records a practice of a roster the federation accepted in a network's replica: a new
/// practice (one the partners admitted), or a new key for one it knows.
pub(super) fn into_replica(m: &mut Membership, e: &pb::Practice) {
    let Ok(k) = PublicKey::from_slice(&e.node_key) else {
        return;
    };
    if m.is_known(&k) {
        return;
    }
    let old = m
        .practice(&e.ods_code)
        .and_then(|r| PublicKey::from_slice(&r.practice.node_key).ok())
        .filter(|o| m.holder(o).is_some());
    match old {
        Some(o) => {
            let _ = m.replace_key(&o, Some(k));
        }
        None => m.insert_practice(e.clone()),
    }
}

/// The active practices of a replica, by node key.
pub(super) fn replica_sayers(m: &Membership) -> OrdMap<PublicKey, String> {
    m.active_practice_nodes()
        .filter_map(|k| Some((k, m.practice_of_node(&k)?.practice.ods_code.clone())))
        .collect()
}

/// Whether more than half of `roster` is in `said`.
pub(super) fn majority(
    roster: &OrdMap<PublicKey, String>,
    said: impl Iterator<Item = PublicKey>,
) -> bool {
    let n = said.filter(|k| roster.contains_key(k)).count();
    n * 2 > roster.len()
}
