//! The events a practice node writes by itself, without being asked: `Witness` events
//! that witness ballots and close motions (docs/GOVERNANCE.md §5.2, §5.5), announcements
//! of its addresses, and its network's word in each federation's log (docs/FEDERATION.md
//! §4, §5): membership evidence, joining and leaving, its roster, and its decisions on
//! joint motions.

use super::federations::roster_of;
use super::store::Store;
use super::{NodeCore, ANNOUNCE_INTERVAL_MS, WITNESS_DELAY_MS};
use mutual_proto::v1 as pb;
use mutual_protocol::event::Body;
use mutual_protocol::federation::FederationId;
use mutual_protocol::governance::{Finality, Report};

impl<S: Store> NodeCore<S> {
    /// Says in each federation's log what this network decided, as one of its practice
    /// nodes (docs/FEDERATION.md §4, §5): its membership evidence (its genesis and its
    /// practices' own rotations, revocations and leaves), that it joined or left, its
    /// roster, and its decisions on joint motions. Each is said once per node; the
    /// federation counts a network's word once more than half of its roster has said the
    /// same.
    pub(super) fn attest(&mut self) {
        let own = self.net.replica.network();
        let st = self.net.replica.state();
        if !self.net.head_confirmed || !st.membership().is_active_practice_node(&self.me) {
            return;
        }
        let now = self.now.wall_ms;
        // The roster is worked out only for a network that has linked to a federation.
        let roster = std::cell::OnceCell::new();
        let mut todo: Vec<(FederationId, Body)> = Vec::new();
        for (fid, link) in st.governance().federation_links() {
            let Some(log) = self.feds.get(fid).filter(|l| l.head_confirmed) else {
                continue;
            };
            let fs = log.replica.state();
            let Some(party) = fs.party(&own) else {
                continue;
            };
            if party.left.is_some() {
                continue;
            }
            let net = own.as_bytes().to_vec();
            // Only what the federation has not taken is decoded.
            let candidates = std::iter::once(&own.0)
                .chain(st.evidence())
                .filter(|id| !party.has_taken(id))
                .filter_map(|id| self.net.replica.get(id));
            let (due, after) = party.evidence_due(candidates);
            // A node on the roster carries evidence; so does one whose key the evidence
            // itself shows (it rotated, say), so a roster whose keys all moved can follow.
            let on_roster = party.roster.contains_key(&self.me);
            let shown = after.is_some_and(|m| m.is_active_practice_node(&self.me));
            if !due.is_empty() && (on_roster || shown) {
                todo.push((
                    *fid,
                    Body::FederationEvidence(pb::FederationEvidence {
                        network: net.clone(),
                        events: due.iter().map(|e| e.to_wire()).collect(),
                    }),
                ));
            }
            if !on_roster {
                continue;
            }
            if let Some(left_by) = link.left_by {
                if party.joined.is_some() && !fs.said_leave(&own, &self.me) {
                    todo.push((
                        *fid,
                        Body::FederationLeave(pb::FederationLeave {
                            network: net,
                            motion: left_by.as_bytes().to_vec(),
                        }),
                    ));
                }
                continue;
            }
            if party.joined.is_none() && !fs.said_join(&own, &self.me) {
                todo.push((
                    *fid,
                    Body::FederationJoin(pb::FederationJoin {
                        network: net.clone(),
                        motion: link.motion.as_bytes().to_vec(),
                    }),
                ));
            }
            // A roster the network's own events do not show is named again by its
            // practices, whose majority anchors it (docs/FEDERATION.md §3).
            let unanchored = !party.anchored && party.replica.is_some();
            let roster = roster.get_or_init(|| roster_of(st.membership()));
            if (party.practices != *roster || unanchored)
                && fs.said_roster(&own, &self.me) != Some(&roster[..])
            {
                todo.push((
                    *fid,
                    Body::FederationRoster(pb::FederationRoster {
                        network: net.clone(),
                        number: party.roster_number + 1,
                        practices: roster.clone(),
                    }),
                ));
            }
            for j in fs.joint_motions().filter(|_| fs.is_live()) {
                if j.result.is_some()
                    || j.decisions.contains_key(&own)
                    || fs.said_decision(&j.id, &own, &self.me)
                {
                    continue;
                }
                let decided = st
                    .governance()
                    .motions()
                    .filter(|m| {
                        m.motion.joint_motion == j.id.as_bytes()
                            && m.motion.federation == fid.as_bytes()
                    })
                    .find_map(|m| {
                        let r = st.governance().report(&m.id, now)?;
                        network_answer(&r).map(|passed| (m.id, passed))
                    });
                if let Some((motion, passed)) = decided {
                    todo.push((
                        *fid,
                        Body::JointDecision(pb::JointDecision {
                            network: net.clone(),
                            joint_motion: j.id.as_bytes().to_vec(),
                            motion: motion.as_bytes().to_vec(),
                            passed,
                        }),
                    ));
                }
            }
        }
        for (fid, body) in todo {
            // Said once per run: the same word again would change nothing.
            if !self
                .attested
                .insert((fid, prost::Message::encode_to_vec(&attestation_key(&body))))
            {
                continue;
            }
            let what = mutual_protocol::event::body_name(&body);
            if let Err(e) = self.author_fed(fid, vec![body]) {
                tracing::warn!(federation = %fid, error = %e, "could not say {what}");
            }
        }
    }

    /// Writes a `Witness` event, [`WITNESS_DELAY_MS`] (plus this node's share of it) after
    /// it first had ballots of other practices to witness or a motion whose grace period
    /// has passed to close in the fold, if it still has then (docs/GOVERNANCE.md §5.2,
    /// §5.5). Only an active practice node's event does either.
    pub(super) fn witness(&mut self) {
        let now = self.now.wall_ms;
        let st = self.net.replica.state();
        let m = st.membership();
        let g = st.governance();
        // A forked node's events no longer witness or close anything (PROTOCOL.md §6).
        let wanted = self.net.head_confirmed
            && m.is_active_practice_node(&self.me)
            && !self.net.replica.forks().contains_key(&self.me)
            && (g.would_witness(m, &self.me, now) || g.closing_due(now));
        if !wanted {
            self.witness_due = None;
            return;
        }
        let share = WITNESS_DELAY_MS * u64::from(self.me.as_bytes()[0]) / 256;
        let t = self.now.mono_ms;
        let due = *self.witness_due.get_or_insert(t + WITNESS_DELAY_MS + share);
        if t < due {
            return;
        }
        self.witness_due = None;
        if let Err(e) = self.author(vec![Body::Witness(pb::Witness {})]) {
            tracing::warn!(error = %e, "could not write a witness");
        }
    }

    /// Announces this node's listen addresses when they differ from the announced ones.
    pub(super) fn announce_addresses(&mut self) {
        if !self.net.head_confirmed || self.listen.is_empty() {
            return;
        }
        let active = self
            .net
            .replica
            .state()
            .membership()
            .is_active_practice_node(&self.me);
        if !active
            || self
                .last_announce
                .is_some_and(|t| self.now.mono_ms.saturating_sub(t) < ANNOUNCE_INTERVAL_MS)
        {
            return;
        }
        let mine: Vec<String> = self.listen.iter().map(|a| a.to_string()).collect();
        let announced = self
            .net
            .replica
            .state()
            .addresses()
            .find(|(k, _)| **k == self.me)
            .map(|(_, a)| a.clone());
        if announced.as_ref() == Some(&mine) {
            return;
        }
        self.last_announce = Some(self.now.mono_ms);
        let body = Body::AddressAnnouncement(pb::AddressAnnouncement { addresses: mine });
        if let Err(e) = self.author(vec![body]) {
            tracing::warn!(error = %e, "could not announce addresses");
        }
    }
}

/// A network's answer on a motion, as its nodes may say it in a federation's log: only
/// once the fold has closed the motion. Past the grace period by this node's clock the
/// report already reads final, but a ballot witnessed in time may still arrive and change
/// the tally until a witness closes the motion (docs/GOVERNANCE.md §5.5), and an answer
/// once said cannot be taken back.
pub fn network_answer(r: &Report) -> Option<bool> {
    (r.closed && r.finality == Finality::Final).then_some(r.tally.passed)
}

/// What identifies an attestation for [`NodeCore::attest`]'s once-per-run rule: the body
/// itself, which names the network, the roster's number and practices, the motion or the
/// joint motion and the decision.
fn attestation_key(body: &Body) -> pb::Event {
    pb::Event {
        body: Some(body.clone()),
        ..Default::default()
    }
}
