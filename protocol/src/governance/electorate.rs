//! Who is in a group a deed names (docs/GOVERNANCE.md §2): every member listed, for a
//! motion's electorate, or one partner asked of, for its proposer; and the last electorate
//! listed, kept for the next motion while what it was listed from stands. A national
//! network's electorate is tens of thousands of partners, and listing it is most of what
//! opening a motion costs.

use super::deed::Rule;
use super::{GovernanceError, PartnerId};
use crate::membership::{Membership, PartnerRecord, Standing, Status};
use imbl::OrdSet;
use mutual_proto::v1 as pb;
use pb::{Group, PartnerRole};
use std::collections::HashMap;
use std::sync::Arc;

/// Whether a partner and their practice are active.
pub fn partner_active(m: &Membership, id: &PartnerId) -> bool {
    m.partner(id)
        .is_some_and(|p| p.status == Status::Active && practice_active(m, &p.partner.practice_ods))
}

/// Whether a practice is active.
pub(super) fn practice_active(m: &Membership, ods: &str) -> bool {
    m.practice(ods).is_some_and(|p| p.status == Status::Active)
}

/// A group a deed names, as asked of the membership: which group, under which rule, of
/// which practice (for one practice's partners), with the board and chair in office.
#[derive(Clone, Copy, Debug)]
pub(super) struct GroupOf<'a> {
    pub(super) group: Group,
    pub(super) rule: &'a Rule,
    pub(super) practice: Option<&'a str>,
    pub(super) board: &'a OrdSet<PartnerId>,
    pub(super) chair: Option<&'a PartnerId>,
}

impl GroupOf<'_> {
    /// The members of the group, as of now: active partners, filtered by role.
    pub(super) fn members(&self, m: &Membership) -> Result<OrdSet<PartnerId>, GovernanceError> {
        let listed = |ids: &mut dyn Iterator<Item = &PartnerId>| -> Vec<&PartnerRecord> {
            ids.filter_map(|id| m.partner(id)).collect()
        };
        let records: Vec<&PartnerRecord> = match self.group {
            Group::AllPartners | Group::Unspecified => m.partners().collect(),
            Group::PracticePartners => {
                let ods = group_practice(self.practice)?;
                m.partners()
                    .filter(|p| p.partner.practice_ods == ods)
                    .collect()
            }
            Group::Board => listed(&mut self.board.iter()),
            Group::Chair => listed(&mut self.chair.into_iter()),
        };
        // Each practice's standing is looked up once, not once for each of its partners:
        // a national network's electorate is tens of thousands of partners.
        let mut practices: HashMap<&str, bool> = HashMap::new();
        let mut members = Vec::with_capacity(records.len());
        for p in records {
            if p.status != Status::Active || !may_vote_as(self.rule, p) {
                continue;
            }
            let ods = p.partner.practice_ods.as_str();
            if *practices
                .entry(ods)
                .or_insert_with(|| practice_active(m, ods))
            {
                members.push(p.id);
            }
        }
        Ok(members.into_iter().collect())
    }

    /// Whether one partner is a member of the group, as of now, as [`GroupOf::members`]
    /// answers it without listing the group.
    pub(super) fn has(&self, m: &Membership, id: &PartnerId) -> Result<bool, GovernanceError> {
        let of_group = match self.group {
            Group::AllPartners | Group::Unspecified => true,
            Group::PracticePartners => {
                let ods = group_practice(self.practice)?;
                m.partner(id).is_some_and(|p| p.partner.practice_ods == ods)
            }
            Group::Board => self.board.contains(id),
            Group::Chair => self.chair == Some(id),
        };
        Ok(of_group
            && partner_active(m, id)
            && m.partner(id).is_some_and(|p| may_vote_as(self.rule, p)))
    }
}

/// Whether a partner's role lets them be counted in a rule's groups.
fn may_vote_as(rule: &Rule, p: &PartnerRecord) -> bool {
    rule.associates_vote || p.partner.role != PartnerRole::Associate as i32
}

/// The practice a group of one practice's partners is of.
fn group_practice(practice: Option<&str>) -> Result<&str, GovernanceError> {
    match practice {
        Some(ods) => Ok(ods),
        None => Err(GovernanceError::InvalidMotion(
            "the deed gives this decision to one practice's partners, \
             but the motion concerns no existing practice"
                .into(),
        )),
    }
}

/// The last group [`Electorates::members`] listed, with what it was listed from. Not part
/// of the state: two states are equal whatever is kept here.
#[derive(Clone, Default)]
pub(super) struct Electorates(Option<Arc<Listed>>);

impl PartialEq for Electorates {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Electorates {
    /// How many members the kept group has: the rest is the membership again.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(l) => write!(f, "Electorates({:?}: {} members)", l.group, l.members.len()),
            None => f.write_str("Electorates(none)"),
        }
    }
}

/// A group as listed, and what it was listed from.
struct Listed {
    group: Group,
    associates_vote: bool,
    practice: Option<String>,
    board: OrdSet<PartnerId>,
    chair: Option<PartnerId>,
    standing: Standing,
    members: OrdSet<PartnerId>,
}

impl Electorates {
    /// The members of a group, as [`GroupOf::members`] lists them: the very set listed last
    /// if it was listed for the same group, rule and practice, with the same board and
    /// chair, from a membership whose partners and practices' standing have not changed
    /// since (a practice's own updates, and every other event, leave it standing).
    pub(super) fn members(
        &mut self,
        of: GroupOf<'_>,
        m: &Membership,
    ) -> Result<OrdSet<PartnerId>, GovernanceError> {
        let standing = m.standing();
        if let Some(l) = &self.0 {
            if l.group == of.group
                && l.associates_vote == of.rule.associates_vote
                && l.practice.as_deref() == of.practice
                && l.chair.as_ref() == of.chair
                && l.board == *of.board
                && l.standing.same(&standing)
            {
                return Ok(l.members.clone());
            }
        }
        let members = of.members(m)?;
        self.0 = Some(Arc::new(Listed {
            group: of.group,
            associates_vote: of.rule.associates_vote,
            practice: of.practice.map(str::to_owned),
            board: of.board.clone(),
            chair: of.chair.copied(),
            standing,
            members: members.clone(),
        }));
        Ok(members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::deed::default_rule;
    use crate::keys::{Keypair, PublicKey};
    use pb::DecisionKind;
    use proptest::prelude::*;

    fn key(n: u8) -> PublicKey {
        Keypair::from_seed(&[n; 32]).expect("seed").public()
    }

    fn status(n: u8) -> Status {
        [Status::Active, Status::Pending, Status::Left][usize::from(n % 3)]
    }

    /// A group as it was defined before members were listed in one pass: every listed
    /// id that `partner_active` holds, filtered by role.
    fn reference(
        group: Group,
        rule: &Rule,
        m: &Membership,
        practice: Option<&str>,
        board: &OrdSet<PartnerId>,
        chair: Option<&PartnerId>,
    ) -> Option<OrdSet<PartnerId>> {
        let ids: Vec<PartnerId> = match group {
            Group::AllPartners | Group::Unspecified => m.partners().map(|p| p.id).collect(),
            Group::PracticePartners => {
                let ods = practice?;
                m.partners()
                    .filter(|p| p.partner.practice_ods == ods)
                    .map(|p| p.id)
                    .collect()
            }
            Group::Board => board.iter().copied().collect(),
            Group::Chair => chair.into_iter().copied().collect(),
        };
        Some(
            ids.into_iter()
                .filter(|id| partner_active(m, id))
                .filter(|id| m.partner(id).is_some_and(|p| may_vote_as(rule, p)))
                .collect(),
        )
    }

    proptest! {
        /// Listing a group in one pass, and asking of one partner, answer what the
        /// definition does, over practices and partners of every status and role.
        #[test]
        fn a_group_is_listed_and_asked_of_as_defined(
            practices in proptest::collection::vec(0u8..3, 1..5),
            partners in proptest::collection::vec((0u8..3, 0u8..5, 1i32..4), 0..14),
            board in proptest::collection::vec(0u8..16, 0..4),
            chair in proptest::option::of(0u8..16),
            practice in proptest::option::of(0u8..5),
            associates_vote in any::<bool>(),
        ) {
            let mut m = Membership::default();
            for (i, st) in practices.iter().enumerate() {
                let ods = format!("P{i}");
                m.insert_practice(pb::Practice { ods_code: ods.clone(), ..Default::default() });
                m.set_practice_status(&ods, status(*st));
            }
            for (i, (st, of, role)) in partners.iter().enumerate() {
                let p = pb::Partner {
                    key: key(i as u8 + 1).as_bytes().to_vec(),
                    practice_ods: format!("P{of}"),
                    role: *role,
                    ..Default::default()
                };
                m.insert_partner_as(p, status(*st));
            }
            let board: OrdSet<PartnerId> = board.iter().map(|n| key(n + 1)).collect();
            let chair = chair.map(|n| key(n + 1));
            let practice = practice.map(|n| format!("P{n}"));
            let mut rule = default_rule(DecisionKind::General);
            rule.associates_vote = associates_vote;
            for group in [
                Group::Unspecified,
                Group::AllPartners,
                Group::PracticePartners,
                Group::Board,
                Group::Chair,
            ] {
                let want = reference(group, &rule, &m, practice.as_deref(), &board, chair.as_ref());
                let of = GroupOf {
                    group,
                    rule: &rule,
                    practice: practice.as_deref(),
                    board: &board,
                    chair: chair.as_ref(),
                };
                let got = of.members(&m);
                prop_assert_eq!(got.as_ref().ok(), want.as_ref(), "{:?}", group);
                for n in 1..=16 {
                    let asked = of.has(&m, &key(n));
                    let listed = want.as_ref().map(|w| w.contains(&key(n)));
                    prop_assert_eq!(asked.ok(), listed, "{:?}, partner {}", group, n);
                }
            }
        }
    }
    proptest! {
        /// The electorate kept from the last motion is the very set listed while nothing
        /// a group depends on changes (a practice's own updates included) and it is asked
        /// for the same group, rule, practice, board and chair; and what a listing from
        /// scratch gives whatever changes.
        #[test]
        fn the_last_electorate_is_kept_while_the_membership_stands(
            ops in proptest::collection::vec((0u8..7, 0u8..8, 0u8..3, 0u8..64), 1..24),
        ) {
            let mut m = Membership::default();
            let practice = |i: u8| pb::Practice {
                ods_code: format!("P{i}"),
                node_key: key(100 + i).as_bytes().to_vec(),
                ..Default::default()
            };
            for i in 0..3u8 {
                m.insert_practice(practice(i));
            }
            // Partners of P3 too, a practice not yet admitted: admitting it changes no
            // partner, yet lets them vote. Every other partner is an associate.
            let partner = |n: u8| pb::Partner {
                key: key(n + 1).as_bytes().to_vec(),
                practice_ods: format!("P{}", n % 4),
                role: [PartnerRole::Partner, PartnerRole::Associate][usize::from(n % 2)] as i32,
                ..Default::default()
            };
            for n in 0..6 {
                m.insert_partner(partner(n));
            }
            let mut board: OrdSet<PartnerId> = [key(1), key(2)].into_iter().collect();
            let mut e = Electorates::default();
            let mut last: Option<(u8, Option<OrdSet<PartnerId>>)> = None;
            for (op, n, st, asked) in ops {
                match op {
                    0 => {
                        let u = pb::PracticeUpdate { list_size: 100 + u32::from(n), ..Default::default() };
                        m.update_practice(&key(100 + n % 3), &u).expect("its own node");
                    }
                    1 => m.set_partner_status(&key(n % 6 + 1), status(st)),
                    2 => m.set_practice_status(&format!("P{}", n % 3), status(st)),
                    3 => m.insert_partner(partner(n + 6)),
                    4 => board = [key(n % 6 + 1)].into_iter().collect(),
                    6 => m.insert_practice(practice(3)),
                    _ => {}
                }
                // What is asked: the group, the rule's associates, the practice, the chair.
                let group = [Group::AllPartners, Group::PracticePartners, Group::Board, Group::Chair]
                    [usize::from(asked % 4)];
                let mut rule = default_rule(DecisionKind::General);
                rule.associates_vote = asked & 4 != 0;
                let ods = format!("P{}", (asked >> 3) % 4);
                let chair = (asked & 32 != 0).then(|| key(2));
                let of = GroupOf {
                    group,
                    rule: &rule,
                    practice: Some(&ods),
                    board: &board,
                    chair: chair.as_ref(),
                };
                let got = e.members(of, &m).ok();
                let fresh = of.members(&m).ok();
                prop_assert_eq!(&got, &fresh, "after op {}, asked {}", op, asked);
                if let Some((before, Some(l))) = &last {
                    if matches!(op, 0 | 5) && *before == asked {
                        let kept = got.as_ref().is_some_and(|g| g.ptr_eq(l));
                        prop_assert!(kept, "op {} leaves the membership standing", op);
                    }
                }
                last = Some((asked, got));
            }
        }
    }
}
