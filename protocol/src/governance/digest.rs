//! The governance part of the canonical state digest (docs/GOVERNANCE.md §10).

use super::Governance;
use mutual_proto::v1 as pb;

impl Governance {
    /// Fills the governance part of the canonical state digest.
    pub(crate) fn digest_into(&self, d: &mut pb::StateDigest) {
        d.motions = self
            .motions
            .values()
            .map(|r| {
                let mut e = pb::MotionEntry {
                    id: r.id.as_bytes().to_vec(),
                    ballots: r
                        .votes
                        .ballots
                        .iter()
                        .map(|(p, (b, _))| pb::BallotEntry {
                            partner: p.as_bytes().to_vec(),
                            ballot: b.as_bytes().to_vec(),
                            proxy: r
                                .votes
                                .by_proxy
                                .get(p)
                                .map(|h| h.as_bytes().to_vec())
                                .unwrap_or_default(),
                        })
                        .collect(),
                    proxies: r
                        .votes
                        .proxies
                        .iter()
                        .map(|(a, p)| pb::ProxyEntry {
                            appointer: a.as_bytes().to_vec(),
                            holder: p.holder.as_bytes().to_vec(),
                            appointment: p.appointment.as_bytes().to_vec(),
                            expires_at_ms: p.expires_at_ms,
                        })
                        .collect(),
                    declared: r
                        .votes
                        .declared
                        .iter()
                        .map(|(p, b)| pb::BallotEntry {
                            partner: p.as_bytes().to_vec(),
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
                };
                if let Some(c) = &r.closed {
                    e.closed = true;
                    e.passed = c.tally.passed;
                    e.votes_for = c.tally.votes_for;
                    e.votes_against = c.tally.votes_against;
                    e.abstentions = c.tally.abstentions;
                    e.elected = c
                        .tally
                        .elected
                        .iter()
                        .map(|k| k.as_bytes().to_vec())
                        .collect();
                }
                e
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
