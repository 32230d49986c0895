//! The tally is a function of the set of events: whatever order ballots and membership
//! events arrive in (with duplicates, forks, rotations, resignations and removals), every
//! node computes the same tallies, the same closings and the same state hash.

use crate::common;
use crate::governance_common;

use common::{deliver, key, rotation, T0};
use governance_common::*;
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, FeedWriter};
use mutual_protocol::governance::deed::default_deed;
use mutual_protocol::governance::GovernanceError;
use mutual_protocol::governance::MAX_OPEN_MOTIONS;
use mutual_protocol::id::EventId;
use mutual_protocol::replica::Replica;
use pb::{Choice, DecisionKind};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

/// A random governance history, built on a live replica (so every event is valid).
fn scenario(seed: u64) -> (Net, Vec<EventId>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut net = Net::new(
        3,
        Some(pb::Deed {
            max_proxies_per_holder: 2,
            ..default_deed()
        }),
    );
    let long = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            closes_at_ms: T0 + 6 * DAY,
            ..motion(DecisionKind::General)
        },
    );
    let remove = net.propose(
        103,
        PROPOSED,
        pb::Motion {
            subject_key: pk(107),
            ..motion(DecisionKind::RemovePartner)
        },
    );
    let elect = net.propose(
        104,
        PROPOSED,
        pb::Motion {
            seats: 2,
            candidates: [102, 103, 104, 105].iter().map(|&k| pk(k)).collect(),
            closes_at_ms: T0 + 5 * DAY,
            ..motion(DecisionKind::ElectBoard)
        },
    );
    let motions = vec![long, remove, elect];
    // Which key number each partner signs with now.
    let mut current: HashMap<u32, u32> = net.partners().into_iter().map(|p| (p, p)).collect();
    let mut t = PROPOSED + 1;
    let mut next_key = 7000;
    for _ in 0..30 {
        t += rng.gen_range(1..6 * 3_600_000);
        let p = net.partners()[rng.gen_range(0..6)];
        let k = current[&p];
        let m = motions[rng.gen_range(0..motions.len())];
        match rng.gen_range(0..100) {
            0..=59 => {
                let body = if m == elect {
                    let mut c = vec![102, 103, 104, 105];
                    for i in (1..c.len()).rev() {
                        c.swap(i, rng.gen_range(0..=i));
                    }
                    c.truncate(rng.gen_range(1..=4));
                    ranking(m, &c)
                } else {
                    let choice =
                        [Choice::For, Choice::Against, Choice::Abstain][rng.gen_range(0..3)];
                    ballot(m, choice)
                };
                if rng.gen_bool(0.5) {
                    net.cast(k, t, m, body);
                } else {
                    // A ballot that follows only its motion (and its author's feed).
                    let ev = net.sign(k, t, vec![m], body);
                    net.put(&ev);
                }
            }
            60..=64 => {
                let new = key(next_key);
                net.event(k, t, rotation(&net.fx.network, &key(k).public(), &new));
                current.insert(p, next_key);
                next_key += 1;
            }
            65..=67 => {
                net.event(k, t, Body::PartnerResign(pb::PartnerResign::default()));
            }
            68..=71 => {
                // A fork: a second event at the author's next seq.
                let last = net.r.feed_head(&key(k).public());
                let mut twin = FeedWriter::resume(key(k), net.fx.network, last);
                let ev = twin.sign(t, vec![m], ballot(m, Choice::Against));
                net.put(&ev);
                let ev = net.sign(k, t, vec![m], ballot(m, Choice::For));
                net.put(&ev);
            }
            75..=79 => {
                // A declaration of interest, a proxy appointment or revocation, or a
                // proxy vote: whatever the fold makes of it, it must make it everywhere.
                let other = current[&net.partners()[rng.gen_range(0..6)]];
                let choice = [
                    Choice::DeclareInterest,
                    Choice::AppointProxy,
                    Choice::RevokeProxy,
                    Choice::For,
                ][rng.gen_range(0..4)];
                let body = Body::Ballot(pb::Ballot {
                    motion: m.as_bytes().to_vec(),
                    choice: choice as i32,
                    proxy: if choice == Choice::AppointProxy {
                        pk(other)
                    } else {
                        vec![]
                    },
                    on_behalf_of: if choice == Choice::For {
                        pk(other)
                    } else {
                        vec![]
                    },
                    ..Default::default()
                });
                net.cast(k, t, m, body);
            }
            72..=74 => {
                let prac = rng.gen_range(2..=3);
                net.event(prac, t, Body::PracticeLeave(pb::PracticeLeave::default()));
            }
            _ => {
                net.tick(t);
            }
        }
    }
    net.tick(T0 + 20 * DAY);
    (net, motions)
}

fn tallies(r: &Replica, motions: &[EventId]) -> Vec<String> {
    motions
        .iter()
        .map(|m| {
            let rec = r.state().governance().motion(m).expect("motion");
            format!(
                "{:?} {:?}",
                rec.tally(),
                rec.closed.as_ref().map(|c| &c.effect)
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn the_tally_is_the_same_whatever_the_order_of_arrival(seed in any::<u64>(), order in any::<u64>()) {
        let (net, motions) = scenario(seed);
        let wires: Vec<Vec<u8>> = net.r.events_in_order().map(|e| e.to_wire()).collect();
        let want = tallies(&net.r, &motions);
        for m in &motions {
            prop_assert!(net.closed(m), "every motion closes");
        }
        let other = deliver(&net.fx, &wires, order);
        prop_assert_eq!(other.state_hash(), net.r.state_hash());
        prop_assert_eq!(tallies(&other, &motions), want);
    }
}

#[test]
fn open_motions_are_bounded() {
    // Sixteen partners, each at their own cap (MAX_OPEN_MOTIONS_PER_PROPOSER), fill
    // the network-wide limit.
    let mut net = Net::new(8, Some(default_deed()));
    let partners = net.partners();
    for i in 0..MAX_OPEN_MOTIONS {
        let ev = net.sign(
            partners[i % partners.len()],
            PROPOSED,
            vec![],
            Body::Motion(pb::Motion {
                title: format!("motion {i}"),
                ..motion(DecisionKind::General)
            }),
        );
        net.put(&ev);
    }
    let over = net.event(102, PROPOSED, Body::Motion(motion(DecisionKind::General)));
    assert_eq!(
        governance_rejection(&net.outcome(&over)),
        Some(&GovernanceError::TooManyOpenMotions)
    );
    // Once they close, there is room again.
    net.tick(AFTER_GRACE);
    let later = T0 + 5 * DAY;
    net.propose(
        102,
        later,
        pb::Motion {
            opens_at_ms: later,
            closes_at_ms: later + 2 * DAY,
            ..motion(DecisionKind::General)
        },
    );
}
