//! Invitations (docs/PROTOCOL.md §8.10): who may invite, for how long, how many at once.

use crate::common;

use common::{key, Fixture, T0};
use mutual_proto::v1 as pb;
use mutual_protocol::event::Body;
use mutual_protocol::limits::{MAX_INVITATION_MS, MAX_OPEN_INVITATIONS};
use mutual_protocol::replica::Replica;
use mutual_protocol::state::{Outcome, Rejection};

fn invite(n: u32, expires_ms: u64) -> Body {
    Body::Invitation(pb::Invitation {
        node_key: key(n).public().as_bytes().to_vec(),
        expires_ms,
        practice_name: format!("Joining practice {n}"),
        ods_code: format!("Y{n:05}"),
        bootstrap: vec![format!("/ip4/127.0.0.1/tcp/7700/p2p/peer-{n}")],
    })
}

fn outcome(r: &mut Replica, wire: &[u8], now: u64) -> Outcome {
    r.ingest(now, wire).expect("stored");
    let ev = mutual_protocol::event::SignedEvent::decode(wire).expect("valid");
    r.outcome(&ev.id).cloned().expect("folded")
}

#[test]
fn an_invitation_is_open_until_it_expires_and_only_for_its_key() {
    let (fx, mut w) = Fixture::new(2);
    let mut r = fx.replica();
    let ev = w.sign(T0 + 10, vec![], invite(900, T0 + 1_000));
    assert_eq!(outcome(&mut r, &ev.to_wire(), T0 + 10), Outcome::Applied);
    let invited = key(900).public();
    let open = r.state().invitation(&invited, T0 + 999).expect("open");
    assert_eq!(open.inviter, key(1).public());
    assert!(
        r.state().invitation(&invited, T0 + 1_000).is_none(),
        "lapsed at expires_ms"
    );
    assert!(r.state().invitation(&key(901).public(), T0 + 20).is_none());
}

#[test]
fn expiry_is_bounded_at_the_limit_and_refused_one_past_it() {
    let (fx, mut w) = Fixture::new(1);
    let mut r = fx.replica();
    let t = T0 + 10;
    let at_limit = w.sign(t, vec![], invite(900, t + MAX_INVITATION_MS));
    assert_eq!(outcome(&mut r, &at_limit.to_wire(), t), Outcome::Applied);
    let past = w.sign(t + 1, vec![], invite(901, t + 1 + MAX_INVITATION_MS + 1));
    assert!(matches!(
        outcome(&mut r, &past.to_wire(), t + 1),
        Outcome::Rejected(Rejection::Unauthorised(_))
    ));
    let already_expired = w.sign(t + 2, vec![], invite(902, t + 2));
    assert!(matches!(
        outcome(&mut r, &already_expired.to_wire(), t + 2),
        Outcome::Rejected(Rejection::Unauthorised(_))
    ));
    assert!(r.state().invitation(&key(901).public(), t + 3).is_none());
}

#[test]
fn a_member_key_cannot_be_invited() {
    let (fx, mut w) = Fixture::new(2);
    let mut r = fx.replica();
    // Key 2 is practice 2's node key.
    let ev = w.sign(T0 + 10, vec![], invite(2, T0 + 10_000));
    assert!(matches!(
        outcome(&mut r, &ev.to_wire(), T0 + 10),
        Outcome::Rejected(Rejection::Conflict(_))
    ));
}

#[test]
fn a_stranger_cannot_invite() {
    let (fx, _) = Fixture::new(1);
    let mut r = fx.replica();
    let mut stranger = fx.writer(777);
    let ev = stranger.sign(T0 + 10, vec![fx.genesis.id], invite(900, T0 + 10_000));
    assert_eq!(
        outcome(&mut r, &ev.to_wire(), T0 + 10),
        Outcome::Rejected(Rejection::NotAMember)
    );
    assert!(r.state().invitation(&key(900).public(), T0 + 20).is_none());
}

#[test]
fn open_invitations_per_author_are_capped_and_lapsed_ones_free_a_place() {
    let (fx, mut w) = Fixture::new(1);
    let mut r = fx.replica();
    let mut t = T0 + 10;
    for i in 0..MAX_OPEN_INVITATIONS as u32 {
        let ev = w.sign(t, vec![], invite(900 + i, T0 + 100_000));
        assert_eq!(
            outcome(&mut r, &ev.to_wire(), t),
            Outcome::Applied,
            "invitation {i}"
        );
        t += 1;
    }
    // One more than the limit: refused.
    let over = w.sign(t, vec![], invite(999, T0 + 100_000));
    assert!(matches!(
        outcome(&mut r, &over.to_wire(), t),
        Outcome::Rejected(Rejection::Unauthorised(_))
    ));
    // Renewing one already open is not a new place.
    let renew = w.sign(t + 1, vec![], invite(900, T0 + 200_000));
    assert_eq!(outcome(&mut r, &renew.to_wire(), t + 1), Outcome::Applied);
    // Once the others lapse, there is room again.
    let later = T0 + 100_000;
    let ev = w.sign(later, vec![], invite(999, later + 10));
    assert_eq!(outcome(&mut r, &ev.to_wire(), later), Outcome::Applied);
    assert!(
        r.state()
            .invitation(&key(901).public(), later - 1)
            .is_none(),
        "forgotten"
    );
    assert!(r.state().invitation(&key(900).public(), later).is_some());
}
