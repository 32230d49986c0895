//! Proxies: written (signed), limited in time, revocable, capped per holder by the deed
//! (docs/GOVERNANCE.md, "Proxies").

use crate::governance_common;

use governance_common::*;
use mutual_proto::v1 as pb;
use mutual_protocol::event::Body;
use mutual_protocol::governance::deed::default_deed;
use mutual_protocol::governance::GovernanceError;
use mutual_protocol::state::Outcome;
use pb::{Choice, DecisionKind};

fn six() -> Net {
    Net::new(3, Some(default_deed()))
}

fn proxy_deed(max: u32) -> pb::Deed {
    pb::Deed {
        max_proxies_per_holder: max,
        ..default_deed()
    }
}

fn appoint(motion: mutual_protocol::id::EventId, holder: u32, expires: u64) -> Body {
    Body::Ballot(pb::Ballot {
        motion: motion.as_bytes().to_vec(),
        choice: Choice::AppointProxy as i32,
        proxy: pk(holder),
        proxy_expires_at_ms: expires,
        ..Default::default()
    })
}

fn revoke(motion: mutual_protocol::id::EventId) -> Body {
    Body::Ballot(pb::Ballot {
        motion: motion.as_bytes().to_vec(),
        choice: Choice::RevokeProxy as i32,
        ..Default::default()
    })
}

#[test]
fn a_proxy_votes_for_the_appointer_within_the_deed_s_cap() {
    let mut net = Net::new(3, Some(proxy_deed(1)));
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    // 103 appoints 102; 102 votes for 103 and for themselves.
    let a = net.cast(103, DURING, m, appoint(m, 102, 0));
    assert_eq!(net.outcome(&a), Outcome::Applied);
    let pv = net.cast(102, DURING + 1, m, as_proxy(m, 103, Choice::For));
    assert_eq!(net.outcome(&pv), Outcome::Applied);
    net.vote(102, DURING + 1, m, Choice::For);
    let t = net.tally(&m);
    assert_eq!((t.turnout, t.votes_for), (2, 2));
    // The cap is one proxy per holder: 104 cannot also appoint 102.
    let over = net.cast(104, DURING + 2, m, appoint(m, 102, 0));
    assert_eq!(
        governance_rejection(&net.outcome(&over)),
        Some(&GovernanceError::ProxyCapReached { max: 1 })
    );
    // 105 holds no proxy from 104.
    let forged = net.cast(105, DURING + 2, m, as_proxy(m, 104, Choice::Against));
    assert_eq!(
        governance_rejection(&net.outcome(&forged)),
        Some(&GovernanceError::NoProxy)
    );
    // A vote in person wins over the proxy's, and the proxy cannot then override it.
    net.vote(103, DURING + 3, m, Choice::Against);
    let again = net.cast(102, DURING + 4, m, as_proxy(m, 103, Choice::For));
    assert!(matches!(
        governance_rejection(&net.outcome(&again)),
        Some(GovernanceError::InvalidBallot(_))
    ));
    let t = net.tally(&m);
    assert_eq!((t.turnout, t.votes_for, t.votes_against), (2, 1, 1));
}

#[test]
fn a_revoked_or_expired_proxy_counts_for_nothing() {
    let mut net = Net::new(3, Some(proxy_deed(2)));
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    net.cast(103, DURING, m, appoint(m, 102, 0));
    net.cast(102, DURING + 1, m, as_proxy(m, 103, Choice::For));
    assert_eq!(net.tally(&m).votes_for, 1);
    let r = net.cast(103, DURING + 2, m, revoke(m));
    assert_eq!(net.outcome(&r), Outcome::Applied);
    assert_eq!(
        net.tally(&m).turnout,
        0,
        "revoking withdraws the proxy's vote"
    );
    let after = net.cast(102, DURING + 3, m, as_proxy(m, 103, Choice::For));
    assert_eq!(
        governance_rejection(&net.outcome(&after)),
        Some(&GovernanceError::NoProxy)
    );
    // A proxy limited in time: votes after its expiry are refused.
    net.cast(104, DURING + 4, m, appoint(m, 102, DURING + 10));
    let in_time = net.cast(102, DURING + 10, m, as_proxy(m, 104, Choice::For));
    assert_eq!(net.outcome(&in_time), Outcome::Applied);
    let too_late = net.cast(102, DURING + 11, m, as_proxy(m, 104, Choice::Against));
    assert!(matches!(
        governance_rejection(&net.outcome(&too_late)),
        Some(GovernanceError::InvalidBallot(_))
    ));
    assert_eq!(net.tally(&m).votes_for, 1);
}

#[test]
fn proxies_are_refused_when_the_deed_allows_none() {
    let mut net = six();
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    let a = net.cast(103, DURING, m, appoint(m, 102, 0));
    assert_eq!(
        governance_rejection(&net.outcome(&a)),
        Some(&GovernanceError::ProxiesDisabled)
    );
}
