//! A closed motion's ballot lists leave the state, which keeps their hash
//! (docs/GOVERNANCE.md §10), and are kept beside it: in memory, or in an archive the
//! node gives the replica.

use crate::common::key;
use crate::governance_common::*;
use mutual_proto::v1 as pb;
use mutual_protocol::event::Body;
use mutual_protocol::governance::tally::Vote;
use mutual_protocol::governance::ClosedVotes;
use mutual_protocol::id::EventId;
use mutual_protocol::replica::{Archive, ArchiveError};
use pb::{Choice, DecisionKind};
use prost::Message;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// An archive in memory that can be told to fail.
#[derive(Debug, Default)]
struct Shelf {
    kept: Mutex<HashMap<EventId, Vec<u8>>>,
    failing: AtomicBool,
    puts: AtomicUsize,
}

impl Archive for Shelf {
    fn put(&self, motion: &EventId, lists: &[u8]) -> Result<(), ArchiveError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(ArchiveError {
                motion: *motion,
                detail: "the disk is full".into(),
            });
        }
        self.kept.lock().unwrap().insert(*motion, lists.to_vec());
        self.puts.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn get(&self, motion: &EventId) -> Result<Option<Vec<u8>>, ArchiveError> {
        Ok(self.kept.lock().unwrap().get(motion).cloned())
    }
}

/// Three practices, and a replica keeping closed motions' lists on a shelf.
fn shelved() -> (Net, Arc<Shelf>) {
    let mut net = Net::new(3, None);
    let shelf = Arc::new(Shelf::default());
    net.r.set_archive(shelf.clone());
    (net, shelf)
}

/// What a motion's votes were: the ids of its events.
struct Voted {
    motion: EventId,
    /// Partner 104's ballot (for) and 105's (against), both counted.
    for_104: EventId,
    against_105: EventId,
    /// Partner 103's declaration of interest, which recuses them.
    declared_103: EventId,
    /// Partner 107's ballot, never witnessed before the close.
    unwitnessed_107: EventId,
}

/// Three practices (partners 102–107; 102 and 103 at the first); a motion voted on, not
/// yet closed.
fn voted(net: &mut Net) -> Voted {
    let motion = net.propose(102, PROPOSED, motion(DecisionKind::General));
    let for_104 = net.vote(104, DURING, motion, Choice::For);
    let against_105 = net.vote(105, DURING, motion, Choice::Against);
    let declared_103 = net.cast(
        103,
        DURING,
        motion,
        Body::Ballot(pb::Ballot {
            motion: motion.as_bytes().to_vec(),
            choice: Choice::DeclareInterest as i32,
            statement: "my practice bids for the contract".into(),
            ..Default::default()
        }),
    );
    let unwitnessed_107 = net.cast_unwitnessed(107, DURING, motion, ballot(motion, Choice::For));
    Voted {
        motion,
        for_104,
        against_105,
        declared_103,
        unwitnessed_107,
    }
}

fn entry(partner: u32, ballot: &EventId) -> pb::BallotEntry {
    pb::BallotEntry {
        partner: pk(partner),
        ballot: ballot.as_bytes().to_vec(),
        proxy: Vec::new(),
    }
}

#[test]
fn a_closed_motion_is_hashed_over_its_ballot_lists_and_they_leave_the_state() {
    let mut net = Net::new(3, None);
    let v = voted(&mut net);
    close(&mut net, &v.motion);
    let t = net.tally(&v.motion);
    assert_eq!((t.votes_for, t.votes_against, t.unwitnessed), (1, 1, 1));

    // The lists as the spec defines them, built here from what was cast: each sorted
    // by partner id (or event id), in a MotionEntry holding fields 8–11 only.
    let mut ballots = vec![entry(104, &v.for_104), entry(105, &v.against_105)];
    ballots.sort_by(|a, b| a.partner.cmp(&b.partner));
    let lists = pb::MotionEntry {
        ballots,
        declared: vec![entry(103, &v.declared_103)],
        unwitnessed: vec![v.unwitnessed_107.as_bytes().to_vec()],
        ..Default::default()
    }
    .encode_to_vec();
    let mut h = Sha256::new();
    h.update(b"mutual/v1/votes\0");
    h.update(&lists);
    let expected: [u8; 32] = h.finalize().into();

    let digest = pb::StateDigest::decode(
        &*net
            .r
            .state()
            .canonical_bytes(&net.fx.network, net.r.forks()),
    )
    .expect("a digest");
    let e = digest
        .motions
        .iter()
        .find(|e| e.id == v.motion.as_bytes())
        .expect("the motion's entry");
    assert!(e.closed);
    assert_eq!(e.votes_hash, expected.to_vec());
    assert!(e.ballots.is_empty() && e.declared.is_empty());
    assert!(e.proxies.is_empty() && e.unwitnessed.is_empty());

    // The record keeps the hash and the electorate, not the lists.
    let rec = net
        .r
        .state()
        .governance()
        .motion(&v.motion)
        .expect("a motion");
    assert_eq!(rec.closed.as_ref().map(|c| c.votes_hash), Some(expected));
    assert!(rec.votes.ballots.is_empty() && rec.seen.ballots.is_empty());
    assert!(rec.votes.declared.is_empty() && rec.unwitnessed.is_empty());
    assert!(rec.votes.recused.contains(&key(103).public()));

    // Without an archive the replica keeps them, and reads them back checked.
    assert_eq!(net.r.archived_in_memory(), 1);
    let kept = net
        .r
        .closed_votes(&v.motion)
        .expect("read")
        .expect("closed");
    assert_eq!(kept, ClosedVotes::decode(&lists).expect("decodes"));
    let counted = net.r.closed_ballots(&v.motion, &kept).expect("read");
    assert_eq!(
        counted.get(&key(104).public()),
        Some(&(v.for_104, Vote::For))
    );
    assert_eq!(
        counted.get(&key(105).public()),
        Some(&(v.against_105, Vote::Against))
    );
    assert_eq!(counted.len(), 2);
    // An open motion has none kept; an unknown one neither.
    let open = net.propose(
        102,
        AFTER_GRACE,
        pb::Motion {
            opens_at_ms: AFTER_GRACE,
            closes_at_ms: AFTER_GRACE + 2 * DAY,
            ..motion(DecisionKind::General)
        },
    );
    assert_eq!(net.r.closed_votes(&open), Ok(None));
    assert_eq!(net.r.closed_votes(&EventId([9; 32])), Ok(None));
    // A state folded on its own holds them until taken.
    let alone = net.r.fold_from_scratch();
    assert_eq!(alone.governance().archived(&v.motion), Some(kept));
}

#[test]
fn an_archive_keeps_the_lists_checked_against_the_state_and_a_failing_one_leaves_them_in_memory() {
    let mut net = Net::new(3, None);
    let v = voted(&mut net);
    let shelf = Arc::new(Shelf::default());
    shelf.failing.store(true, Ordering::SeqCst);
    net.r.set_archive(shelf.clone());
    close(&mut net, &v.motion);
    // The archive refused them: they stay in memory, and read back.
    assert_eq!(net.r.archived_in_memory(), 1);
    assert!(shelf.kept.lock().unwrap().is_empty());
    let kept = net
        .r
        .closed_votes(&v.motion)
        .expect("read")
        .expect("closed");
    assert_eq!(kept.ballots.len(), 2);

    // Given again once it works, the archive takes what memory held.
    shelf.failing.store(false, Ordering::SeqCst);
    net.r.set_archive(shelf.clone());
    assert_eq!(net.r.archived_in_memory(), 0);
    assert_eq!(net.r.closed_votes(&v.motion), Ok(Some(kept.clone())));

    // What the archive gives back is checked against the state's hash.
    shelf
        .kept
        .lock()
        .unwrap()
        .get_mut(&v.motion)
        .expect("kept")
        .push(0);
    let err = net.r.closed_votes(&v.motion).expect_err("tampered");
    assert!(err.detail.contains("does not match"), "{err}");
    shelf.kept.lock().unwrap().clear();
    let err = net.r.closed_votes(&v.motion).expect_err("lost");
    assert!(err.detail.contains("not kept"), "{err}");
}

#[test]
fn a_late_ballot_before_the_close_closes_the_motion_again_with_it_and_the_archive_follows() {
    let (mut net, shelf) = shelved();
    let motion = net.propose(104, PROPOSED, motion(DecisionKind::General));
    net.vote(104, DURING, motion, Choice::For);
    net.vote(105, DURING, motion, Choice::Against);
    close(&mut net, &motion);
    let before = net.r.closed_votes(&motion).expect("read").expect("closed");
    assert_eq!(before.ballots.len(), 2);

    // Partner 106's ballot and practice 2's witness of it, signed during the vote on
    // the motion alone: both sort before the close, and arrive after it.
    let late = net.sign(106, DURING, vec![motion], ballot(motion, Choice::For));
    let witness = net.sign(2, DURING, vec![late.id], Body::Witness(pb::Witness {}));
    net.put(&late);
    net.put(&witness);
    let after = net.r.closed_votes(&motion).expect("read").expect("closed");
    assert_eq!(after.ballots.len(), 3);
    assert_eq!(
        after.ballots.get(&key(106).public()).map(|b| b.0),
        Some(late.id)
    );
    assert_eq!(net.tally(&motion).votes_for, 2);
    assert_eq!(net.r.archived_in_memory(), 0);
    let archived = shelf.kept.lock().unwrap().get(&motion).cloned();
    assert_eq!(
        archived.map(|l| ClosedVotes::decode(&l).expect("decodes")),
        Some(after.clone())
    );

    // A replica given the same events in fold order agrees, hash and lists.
    let mut again = net.fx.replica();
    for ev in net.r.events_in_order() {
        let _ = again.ingest(NOW, &ev.to_wire());
    }
    assert_eq!(again.state_hash(), net.r.state_hash());
    assert_eq!(again.closed_votes(&motion), Ok(Some(after)));
}

#[test]
fn proxies_an_expired_appointment_and_an_empty_motion_are_hashed_as_the_spec_says() {
    let deed = pb::Deed {
        max_proxies_per_holder: 2,
        ..mutual_protocol::governance::deed::default_deed()
    };
    let mut net = Net::new(3, Some(deed));
    let m = net.propose(102, PROPOSED, motion(DecisionKind::General));
    let quiet = net.propose(103, PROPOSED, motion(DecisionKind::General));
    // 105 appoints 104 (until the close), who votes for them; 107 appoints 106 until
    // just after, and 106 never votes: the appointment expires, and is still listed.
    let by_105 = net.cast(105, DURING, m, appoint(m, 104));
    let for_105 = net.cast(104, DURING + 1, m, as_proxy(m, 105, Choice::For));
    let expiry = DURING + 10;
    let by_107 = net.cast(
        107,
        DURING + 2,
        m,
        Body::Ballot(pb::Ballot {
            motion: m.as_bytes().to_vec(),
            choice: Choice::AppointProxy as i32,
            proxy: pk(106),
            proxy_expires_at_ms: expiry,
            ..Default::default()
        }),
    );
    close(&mut net, &m);
    assert!(net.closed(&quiet));

    let proxy =
        |appointer: u32, holder: u32, appointment: &EventId, expires_at_ms: u64| pb::ProxyEntry {
            appointer: pk(appointer),
            holder: pk(holder),
            appointment: appointment.as_bytes().to_vec(),
            expires_at_ms,
        };
    let closes = motion(DecisionKind::General).closes_at_ms;
    let mut proxies = vec![
        proxy(105, 104, &by_105, closes),
        proxy(107, 106, &by_107, expiry),
    ];
    proxies.sort_by(|a, b| a.appointer.cmp(&b.appointer));
    let lists = pb::MotionEntry {
        ballots: vec![pb::BallotEntry {
            partner: pk(105),
            ballot: for_105.as_bytes().to_vec(),
            proxy: pk(104),
        }],
        proxies,
        ..Default::default()
    }
    .encode_to_vec();
    let hash = |bytes: &[u8]| -> Vec<u8> {
        let mut h = Sha256::new();
        h.update(b"mutual/v1/votes\0");
        h.update(bytes);
        h.finalize().to_vec()
    };
    let digest = pb::StateDigest::decode(
        &*net
            .r
            .state()
            .canonical_bytes(&net.fx.network, net.r.forks()),
    )
    .expect("a digest");
    let votes_hash = |id: &EventId| {
        (digest.motions.iter())
            .find(|e| e.id == id.as_bytes())
            .map(|e| e.votes_hash.clone())
            .expect("an entry")
    };
    assert_eq!(votes_hash(&m), hash(&lists));
    // A motion closed with nothing cast: the prefix alone, the value the spec quotes.
    assert_eq!(
        hex::encode(votes_hash(&quiet)),
        "d78329450acbb900eec11686327afb4a1ee0e9ff8aadef8c52f40c03132f90d2"
    );
    let kept = net.r.closed_votes(&m).expect("read").expect("closed");
    assert_eq!(
        kept.ballots.get(&key(105).public()),
        Some(&(for_105, Some(key(104).public())))
    );
    assert_eq!(kept.proxies.len(), 2);
}

#[test]
fn an_election_s_rankings_read_back_from_the_ballot_events() {
    let mut net = Net::new(3, None);
    let (board, chair) = elect_offices(&mut net, &[104, 106], Some(102));
    let chair = chair.expect("a chair election");
    let kept = net.r.closed_votes(&board).expect("read").expect("closed");
    let ballots = net.r.closed_ballots(&board, &kept).expect("read");
    assert_eq!(ballots.len(), net.partners().len());
    assert!(ballots
        .values()
        .all(|(_, v)| *v == Vote::Ranking(vec![0, 1])));
    let kept = net.r.closed_votes(&chair).expect("read").expect("closed");
    let ballots = net.r.closed_ballots(&chair, &kept).expect("read");
    assert!(ballots.values().all(|(_, v)| *v == Vote::Ranking(vec![0])));
}

#[test]
fn a_ballot_read_back_counts_only_on_the_motion_it_names() {
    let mut net = Net::new(3, None);
    let first = net.propose(102, PROPOSED, motion(DecisionKind::General));
    let second = net.propose(103, PROPOSED, motion(DecisionKind::General));
    for m in [first, second] {
        net.vote(104, DURING, m, Choice::For);
    }
    close(&mut net, &first);
    let of_first = net.r.closed_votes(&first).expect("read").expect("closed");
    assert_eq!(
        net.r.closed_ballots(&first, &of_first).map(|b| b.len()),
        Ok(1)
    );
    // The first motion's lists given as the second's: its ballot is a valid vote on
    // either motion, but names the first.
    let err = net
        .r
        .closed_ballots(&second, &of_first)
        .expect_err("another motion's");
    assert!(err.detail.contains("does not read back as a vote"), "{err}");
}

#[test]
fn a_late_event_after_the_close_folds_again_from_a_later_checkpoint_and_leaves_the_lists_kept() {
    let (mut net, shelf) = shelved();
    let v = voted(&mut net);
    close(&mut net, &v.motion);
    assert_eq!(shelf.puts.load(Ordering::SeqCst), 1);
    let kept = net
        .r
        .closed_votes(&v.motion)
        .expect("read")
        .expect("closed");
    // Well past a checkpoint after the close, practice 2 signs an event following an
    // early one of these, and it arrives last: the fold goes back to a checkpoint after
    // the close, and does not close the motion again.
    let mut anchor = None;
    for i in 0..300 {
        let id = net.tick(AFTER_GRACE + 1 + i);
        if i == 200 {
            anchor = Some(id);
        }
    }
    let late = net.sign(
        2,
        AFTER_GRACE + 250,
        vec![anchor.expect("anchor")],
        Body::Witness(pb::Witness {}),
    );
    let before = net.r.reapplied();
    net.put(&late);
    let reapplied = net.r.reapplied() - before;
    assert!(
        (1..300).contains(&reapplied),
        "folded again from a checkpoint after the close: {reapplied}"
    );
    assert_eq!(shelf.puts.load(Ordering::SeqCst), 1, "not closed again");
    assert_eq!(net.r.closed_votes(&v.motion), Ok(Some(kept)));
    assert_eq!(net.r.state(), &net.r.fold_from_scratch());
}
