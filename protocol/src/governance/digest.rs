//! The governance part of the canonical state digest (docs/GOVERNANCE.md §10), and a
//! closed motion's ballot lists, which the state keeps only as a hash.

use super::motion::MotionRecord;
use super::proxy::Proxy;
use super::{Governance, PartnerId};
use crate::id::EventId;
use crate::keys::PublicKey;
use mutual_proto::v1 as pb;
use prost::Message;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Domain prefix of a closed motion's `votes_hash` (docs/GOVERNANCE.md §10).
pub const VOTES_DOMAIN: &[u8] = b"mutual/v1/votes\0";

/// A motion's ballot lists as the digest gives them (`MotionEntry` fields 8–11, the
/// rest left empty): the counted ballots, the declarations, the proxies in force and
/// the valid ballots not counted.
pub(super) fn vote_lists(r: &MotionRecord) -> pb::MotionEntry {
    let bytes = |k: &PublicKey| k.as_bytes().to_vec();
    pb::MotionEntry {
        ballots: r
            .votes
            .ballots
            .iter()
            .map(|(p, (b, _))| pb::BallotEntry {
                partner: bytes(p),
                ballot: b.as_bytes().to_vec(),
                proxy: r.votes.by_proxy.get(p).map(bytes).unwrap_or_default(),
            })
            .collect(),
        proxies: r
            .votes
            .proxies
            .iter()
            .map(|(a, p)| pb::ProxyEntry {
                appointer: bytes(a),
                holder: bytes(&p.holder),
                appointment: p.appointment.as_bytes().to_vec(),
                expires_at_ms: p.expires_at_ms,
            })
            .collect(),
        declared: r
            .votes
            .declared
            .iter()
            .map(|(p, b)| pb::BallotEntry {
                partner: bytes(p),
                ballot: b.as_bytes().to_vec(),
                proxy: Vec::new(),
            })
            .collect(),
        unwitnessed: r
            .unwitnessed
            .iter()
            .map(|b| b.as_bytes().to_vec())
            .collect(),
        ..Default::default()
    }
}

/// The `votes_hash` of encoded ballot lists: SHA-256 over [`VOTES_DOMAIN`] and them.
pub fn votes_hash(lists: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(VOTES_DOMAIN);
    h.update(lists);
    h.finalize().into()
}

/// A closed motion's ballot lists as they stood at the close (docs/GOVERNANCE.md §10).
/// The state keeps only their hash; the lists are kept beside it, where
/// [`crate::replica::Replica::closed_votes`] reads them back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClosedVotes {
    /// The ballot that counted for each partner, and the proxy who cast it, if one did.
    pub ballots: BTreeMap<PartnerId, (EventId, Option<PartnerId>)>,
    /// Each partner's declaration of interest counted last.
    pub declared: BTreeMap<PartnerId, EventId>,
    /// The proxy appointments in force at the close, by appointer.
    pub proxies: BTreeMap<PartnerId, Proxy>,
    /// The valid ballots that were never counted.
    pub unwitnessed: BTreeSet<EventId>,
}

impl ClosedVotes {
    /// Reads encoded ballot lists (a `MotionEntry` with fields 8–11).
    pub fn decode(lists: &[u8]) -> Result<Self, String> {
        let e = pb::MotionEntry::decode(lists).map_err(|e| e.to_string())?;
        let key = |b: &[u8]| {
            PublicKey::from_slice(b).map_err(|_| "a partner id is not 32 bytes".to_string())
        };
        let id = |b: &[u8]| EventId::from_slice(b).ok_or("an event id is not 32 bytes");
        let mut v = Self::default();
        for b in &e.ballots {
            let proxy = (!b.proxy.is_empty()).then(|| key(&b.proxy)).transpose()?;
            v.ballots.insert(key(&b.partner)?, (id(&b.ballot)?, proxy));
        }
        for d in &e.declared {
            v.declared.insert(key(&d.partner)?, id(&d.ballot)?);
        }
        for p in &e.proxies {
            let proxy = Proxy {
                holder: key(&p.holder)?,
                expires_at_ms: p.expires_at_ms,
                appointment: id(&p.appointment)?,
            };
            v.proxies.insert(key(&p.appointer)?, proxy);
        }
        for u in &e.unwitnessed {
            v.unwitnessed.insert(id(u)?);
        }
        Ok(v)
    }
}

impl Governance {
    /// Fills the governance part of the canonical state digest.
    pub(crate) fn digest_into(&self, d: &mut pb::StateDigest) {
        d.motions = self
            .motions
            .values()
            .map(|r| match &r.closed {
                None => pb::MotionEntry {
                    id: r.id.as_bytes().to_vec(),
                    ..vote_lists(r)
                },
                Some(c) => pb::MotionEntry {
                    id: r.id.as_bytes().to_vec(),
                    closed: true,
                    passed: c.tally.passed,
                    votes_for: c.tally.votes_for,
                    votes_against: c.tally.votes_against,
                    abstentions: c.tally.abstentions,
                    elected: c
                        .tally
                        .elected
                        .iter()
                        .map(|k| k.as_bytes().to_vec())
                        .collect(),
                    votes_hash: c.votes_hash.to_vec(),
                    ..Default::default()
                },
            })
            .collect();
        d.board = self.board.iter().map(|k| k.as_bytes().to_vec()).collect();
        d.chair = self
            .chair
            .map(|k| k.as_bytes().to_vec())
            .unwrap_or_default();
        d.board_term_ends_at_ms = self.board_term.ends_at_ms.unwrap_or(0);
        d.chair_term_ends_at_ms = self.chair_term.ends_at_ms.unwrap_or(0);
        d.board_lapsed_at_ms = self.board_term.lapsed_at_ms.unwrap_or(0);
        d.chair_lapsed_at_ms = self.chair_term.lapsed_at_ms.unwrap_or(0);
        d.federations = self
            .links
            .iter()
            .map(|(f, l)| pb::FederationLinkEntry {
                federation: f.as_bytes().to_vec(),
                motion: l.motion.as_bytes().to_vec(),
                left_by: l.left_by.map(|m| m.as_bytes().to_vec()).unwrap_or_default(),
            })
            .collect();
    }
}
