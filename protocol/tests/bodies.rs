//! A replica given a body source (the node's log of stored events) lets go of an event's
//! bytes once the source holds it, and reads it back when it is asked for or folded again.

use crate::common;

use common::{key, update, Fixture, T0};
use mutual_protocol::event::{EventError, FeedWriter, SignedEvent};
use mutual_protocol::id::EventId;
use mutual_protocol::replica::{
    Beyond, Bodies, BodyError, IngestError, Ingested, Replica, FEED_MARK_EVERY,
};
use mutual_protocol::runs::{MemoryRuns, RunFiles, RunId};
use mutual_protocol::state::{Outcome, Rejection};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A log of stored events in memory, as the node's event file is on disk.
#[derive(Debug, Default)]
struct Log {
    wires: Mutex<HashMap<EventId, Vec<u8>>>,
    /// Set: every read fails, as a damaged disk would.
    failing: AtomicBool,
    /// Reads asked for.
    reads: AtomicUsize,
}

impl Log {
    /// Writes what `r` stores and this log does not hold yet, as a node does after a call.
    fn write(&self, r: &Replica) {
        let mut wires = self.wires.lock().expect("lock");
        for (id, _) in r.ids_in_order() {
            wires
                .entry(id)
                .or_insert_with(|| r.wire(&id).expect("a stored event"));
        }
    }
}

impl Bodies for Log {
    fn holds(&self, id: &EventId) -> bool {
        self.wires.lock().expect("lock").contains_key(id)
    }

    fn read(&self, id: &EventId) -> Result<Vec<u8>, BodyError> {
        let fail = |detail: &str| BodyError {
            id: *id,
            detail: detail.into(),
        };
        self.reads.fetch_add(1, Ordering::Relaxed);
        if self.failing.load(Ordering::Relaxed) {
            return Err(fail("the disk failed"));
        }
        self.wires
            .lock()
            .expect("lock")
            .get(id)
            .cloned()
            .ok_or_else(|| fail("not written"))
    }
}

/// A replica of `fx` reading back from a log holding its genesis, given `count` events
/// of `w`'s feed that the log does not hold yet.
fn with_unwritten(
    fx: &Fixture,
    w: &mut FeedWriter,
    count: u64,
) -> (Replica, Arc<Log>, Vec<SignedEvent>) {
    let mut r = fx.replica();
    let log = Arc::new(Log::default());
    r.set_bodies(log.clone());
    log.write(&r);
    let evs: Vec<SignedEvent> = (0..count)
        .map(|i| w.sign(T0 + i, vec![], update(i as u32)))
        .collect();
    for ev in &evs {
        r.ingest(T0 + 10_000, &ev.to_wire()).expect("stored");
    }
    (r, log, evs)
}

#[test]
fn written_events_leave_memory_and_read_back_and_fold_again_as_kept_ones_do() {
    let (fx, mut w1) = Fixture::new(3);
    let mut r = fx.replica();
    // The same events in a replica that keeps every one, to compare with.
    let mut all_kept = fx.replica();
    let log = Arc::new(Log::default());
    r.set_bodies(log.clone());
    assert_eq!(r.kept_len(), 1, "the genesis is not written yet");
    log.write(&r);
    r.release_written();
    assert_eq!(r.kept_len(), 0);

    let mut signed: Vec<SignedEvent> = Vec::new();
    for i in 0..300u64 {
        let ev = w1.sign(T0 + i, vec![], update(i as u32));
        r.ingest(T0 + 10_000, &ev.to_wire()).expect("stored");
        all_kept.ingest(T0 + 10_000, &ev.to_wire()).expect("stored");
        log.write(&r);
        // The call before this one stored what the log now holds: only this call's event
        // is still in memory.
        assert_eq!(r.kept_len(), 1);
        signed.push(ev);
    }
    r.release_written();
    assert_eq!(r.kept_len(), 0);
    for ev in &signed {
        assert_eq!(r.wire(&ev.id), Some(ev.to_wire()));
        assert_eq!(r.get(&ev.id).map(|e| e.event), Some(ev.event.clone()));
    }
    let in_order: Vec<Vec<u8>> = r.events_in_order().map(|e| e.to_wire()).collect();
    let kept_order: Vec<Vec<u8>> = all_kept.events_in_order().map(|e| e.to_wire()).collect();
    assert_eq!(in_order, kept_order);

    // An event made early and delivered last sends the fold back: what follows its place
    // is read back from the log.
    let late = fx.writer(2).sign(T0 + 1, vec![], update(77));
    r.ingest(T0 + 10_000, &late.to_wire()).expect("late");
    all_kept.ingest(T0 + 10_000, &late.to_wire()).expect("late");
    assert!(r.reapplied() >= 300, "{}", r.reapplied());
    assert_eq!(r.state_hash(), all_kept.state_hash());
    assert_eq!(r.state(), &r.fold_from_scratch());
    log.write(&r);

    // A copy of a written event under another signature is still checked, and refused.
    let mut forged = signed[10].clone();
    forged.signature[0] ^= 1;
    assert_eq!(
        r.ingest(T0 + 10_000, &forged.to_wire()),
        Err(IngestError::Invalid(EventError::BadSignature))
    );
    // An exact copy is a duplicate, found by one read of the stored bytes.
    let reads = log.reads.load(Ordering::Relaxed);
    assert_eq!(
        r.ingest(T0 + 10_000, &signed[10].to_wire()),
        Ok(Ingested::Duplicate)
    );
    assert_eq!(log.reads.load(Ordering::Relaxed), reads + 1);
    assert_eq!(r.wire(&signed[10].id), Some(signed[10].to_wire()));

    // A clock tick lets go of what was written since the last call, like a call taking
    // events in.
    let tail = w1.sign(T0 + 400, vec![], update(400));
    r.ingest(T0 + 10_000, &tail.to_wire()).expect("stored");
    log.write(&r);
    assert_eq!(r.kept_len(), 1);
    assert!(r.tick(T0 + 20_000).is_empty());
    assert_eq!(r.kept_len(), 0);
}

#[test]
fn reading_a_feed_or_walking_back_from_heads_says_when_an_event_cannot_be_read_back() {
    let (fx, mut w1) = Fixture::new(3);
    let (mut r, log, evs) = with_unwritten(&fx, &mut w1, 5);
    log.write(&r);
    r.release_written();
    let author = evs[0].event.author;
    let feed: Vec<_> = r.feed_from(&author, 2).collect();
    assert_eq!(feed.len(), 5);
    assert!(feed.iter().all(Result::is_ok));
    assert!(matches!(r.beyond(&[evs[1].id], 100), Beyond::Events(v) if v.len() == 3));

    log.failing.store(true, Ordering::Relaxed);
    // A feed's ids below its head are read back along `prev`: a read that fails ends the
    // list with the error, never with a shorter list that looks whole.
    let feed: Vec<_> = r.feed_from(&author, 2).collect();
    assert!(
        matches!(feed.as_slice(), [Err(e)] if e.id == evs[4].id),
        "{feed:?}"
    );
    let keys: Vec<_> = r.feed_keys_from(&author, 2).collect();
    assert!(matches!(keys.as_slice(), [Err(_)]), "{keys:?}");
    // The head is kept: its place is known without reading anything back.
    let head: Vec<_> = r
        .feed_keys_from(&author, evs[4].event.seq)
        .map(|k| k.map(|(_, id)| id))
        .collect();
    assert_eq!(head, vec![Ok(evs[4].id)]);
    assert!(matches!(r.beyond(&[evs[1].id], 100), Beyond::Unreadable(e) if e.id == evs[4].id));
    assert_eq!(r.timestamp_of(&evs[4].id), Some(evs[4].event.timestamp_ms));
    assert!(r.try_events_in_order().any(|e| e.is_err()));
}

#[test]
fn a_long_feed_is_read_back_along_prev_and_a_fork_deep_in_it_is_found_as_in_memory() {
    let (fx, mut w1) = Fixture::new(3);
    let k = FEED_MARK_EVERY;
    let (mut r, log, evs) = with_unwritten(&fx, &mut w1, 3 * k + 5);
    log.write(&r);
    r.release_written();
    assert_eq!(
        r.kept_len(),
        0,
        "every id below the head is read back from the log"
    );
    let author = evs[0].event.author;
    let head = evs.last().expect("events").event.seq;
    for from in [2, 3, k - 1, k, k + 1, 2 * k, 2 * k + 1, head, head + 1] {
        let before = log.reads.load(Ordering::Relaxed);
        let listed: Vec<EventId> = r
            .feed_keys_from(&author, from)
            .map(|key| key.expect("read back").1)
            .collect();
        let want: Vec<EventId> = evs
            .iter()
            .filter(|e| e.event.seq >= from)
            .map(|e| e.id)
            .collect();
        assert_eq!(listed, want, "from seq {from}");
        let reads = log.reads.load(Ordering::Relaxed) - before;
        assert!(
            reads < want.len() + k as usize,
            "{reads} reads from seq {from}"
        );
    }

    // A twin of the key signs at a seq between two marks, far below the head: the feed is
    // read back whole, and the fork found as a replica keeping every event finds it.
    let at = k + 3;
    let below = evs.iter().find(|e| e.event.seq == at - 1).expect("seq");
    let first = evs.iter().find(|e| e.event.seq == at).expect("seq");
    let mut twin = FeedWriter::resume(key(1), fx.network, Some((at - 1, below.id)));
    let second = twin.sign(T0 + 5_000, vec![], update(9_999));
    r.ingest(T0 + 10_000, &second.to_wire()).expect("stored");
    let mut kept = fx.replica();
    for ev in evs.iter().chain([&second]) {
        kept.ingest(T0 + 10_000, &ev.to_wire()).expect("stored");
    }
    for replica in [&r, &kept] {
        assert_eq!(replica.forks().get(&author), Some(&at));
        let proof = replica.fork_proof(&author).expect("a proof");
        assert_eq!((proof.first.id, proof.second.id), (first.id, second.id));
        assert_eq!(
            replica.outcome(&evs.last().expect("events").id),
            Some(&Outcome::Rejected(Rejection::Forked { seq: at }))
        );
        assert_eq!(
            replica.feed_head(&author),
            Some((head, evs.last().expect("events").id))
        );
        let at_fork: Vec<EventId> = replica
            .feed_keys_from(&author, at)
            .take(2)
            .map(|key| key.expect("listed").1)
            .collect();
        assert_eq!(at_fork, vec![first.id, second.id]);
    }
    assert_eq!(r.state_hash(), kept.state_hash());

    // The twin's branch grows past the first branch's head: its first event there is the
    // feed's new head, read the same with and without a body source.
    let mut past = Vec::new();
    for i in 0..=(head - at + 1) {
        past.push(twin.sign(T0 + 5_001 + i, vec![], update(9_000 + i as u32)));
    }
    log.write(&r);
    r.release_written();
    for ev in &past {
        r.ingest(T0 + 10_000, &ev.to_wire()).expect("stored");
        kept.ingest(T0 + 10_000, &ev.to_wire()).expect("stored");
    }
    let top = past.last().expect("signed");
    assert_eq!(top.event.seq, head + 2);
    for replica in [&r, &kept] {
        assert_eq!(replica.feed_head(&author), Some((head + 2, top.id)));
        let listed: Vec<EventId> = replica
            .feed_keys_from(&author, head)
            .map(|key| key.expect("listed").1)
            .collect();
        let want = [evs.last().expect("events").id, past[past.len() - 3].id];
        assert_eq!(listed[..2], want, "seq {head}: the first, then the twin's");
        assert_eq!(listed[2..], [past[past.len() - 2].id, top.id]);
    }
    assert_eq!(r.state_hash(), kept.state_hash());
}

#[test]
fn a_fork_whose_feed_cannot_be_read_back_is_refused_for_now_and_changes_nothing() {
    let (fx, mut w1) = Fixture::new(3);
    let (mut r, log, evs) = with_unwritten(&fx, &mut w1, FEED_MARK_EVERY + 5);
    log.write(&r);
    r.release_written();
    let author = evs[0].event.author;
    let below = &evs[2];
    let mut twin = FeedWriter::resume(key(1), fx.network, Some((below.event.seq, below.id)));
    let second = twin.sign(T0 + 5_000, vec![], update(9_999));
    let before = (r.state_hash(), r.len(), r.feed_head(&author));

    log.failing.store(true, Ordering::Relaxed);
    let refused = r.ingest(T0 + 10_000, &second.to_wire());
    assert!(
        matches!(&refused, Err(e @ IngestError::Unreadable(_)) if !e.is_peer_fault()),
        "{refused:?}"
    );
    log.failing.store(false, Ordering::Relaxed);
    assert_eq!((r.state_hash(), r.len(), r.feed_head(&author)), before);
    assert!(r.forks().is_empty());
    assert!(!r.knows(&second.id));

    // Offered again once the disk reads, it is the fork it is.
    r.ingest(T0 + 10_000, &second.to_wire()).expect("stored");
    assert_eq!(r.forks().get(&author), Some(&second.event.seq));
}

#[test]
#[should_panic(expected = "the fold cannot go on without it")]
fn a_fold_that_cannot_read_back_what_it_must_apply_again_stops() {
    let (fx, mut w1) = Fixture::new(3);
    let (mut r, log, _) = with_unwritten(&fx, &mut w1, 10);
    log.write(&r);
    r.release_written();
    log.failing.store(true, Ordering::Relaxed);
    // Made early, delivered last: the events after its place must be applied again.
    let late = fx.writer(2).sign(T0 + 1, vec![], update(77));
    let _ = r.ingest(T0 + 10_000, &late.to_wire());
}

#[test]
fn an_unwritten_event_stays_in_memory_and_one_that_cannot_be_read_back_is_not_given() {
    let (fx, mut w1) = Fixture::new(3);
    let (mut r, log, evs) = with_unwritten(&fx, &mut w1, 5);
    // Not written: released by no call, and given from memory.
    r.release_written();
    assert_eq!(r.kept_len(), 5);
    log.failing.store(true, Ordering::Relaxed);
    assert_eq!(r.get(&evs[4].id).map(|e| e.id), Some(evs[4].id));

    log.failing.store(false, Ordering::Relaxed);
    log.write(&r);
    r.release_written();
    assert_eq!(r.kept_len(), 0);
    log.failing.store(true, Ordering::Relaxed);
    assert!(r.contains(&evs[4].id));
    assert!(r.get(&evs[4].id).is_none());
    assert_eq!(r.wire(&evs[4].id), None);
    let err = r.load(&evs[4].id).expect_err("cannot be read back");
    assert_eq!(err.id, evs[4].id);
    assert!(err.to_string().contains("the disk failed"), "{err}");
    // An event not stored is not an error.
    assert!(matches!(r.load(&EventId([9; 32])), Ok(None)));
}

/// Run files whose reads fail once told to.
#[derive(Debug, Default)]
struct FailingRuns {
    inner: MemoryRuns,
    failing: AtomicBool,
}

impl RunFiles for FailingRuns {
    fn create(&self) -> std::io::Result<RunId> {
        self.inner.create()
    }
    fn append(&self, run: RunId, bytes: &[u8]) -> std::io::Result<()> {
        self.inner.append(run, bytes)
    }
    fn read_at(&self, run: RunId, at: u64, buf: &mut [u8]) -> std::io::Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("the disk is failing"));
        }
        self.inner.read_at(run, at, buf)
    }
    fn remove(&self, run: RunId) {
        self.inner.remove(run)
    }
}

#[test]
fn indexes_in_runs_that_cannot_be_read_are_errors_a_node_answers_not_stops() {
    let (fx, mut w) = Fixture::new(3);
    let mut r = fx.replica();
    let runs = Arc::new(FailingRuns::default());
    r.set_runs_with(runs.clone(), 8);
    let evs: Vec<SignedEvent> = (0..40u64)
        .map(|i| w.sign(T0 + i, vec![], update(i as u32)))
        .collect();
    for ev in &evs {
        r.ingest(T0 + 10_000, &ev.to_wire()).expect("stored");
    }
    assert!(runs.inner.runs() >= 2, "the indexes are in runs");
    let head = evs.last().expect("events").id;
    let old = evs[0].id;
    assert!(matches!(r.load(&old), Ok(Some(_))));
    runs.failing.store(true, Ordering::SeqCst);
    assert!(r.load(&old).is_err(), "not \"not stored\"");
    assert!(r.read_wire(&old).is_err());
    let read: Vec<_> = r.try_events_in_order().collect();
    assert!(
        read.last().is_some_and(Result::is_err),
        "the order ends in an error"
    );
    assert!(matches!(r.beyond(&[old], 1_000), Beyond::Unreadable(_)));
    runs.failing.store(false, Ordering::SeqCst);
    assert!(matches!(r.load(&old), Ok(Some(_))));
    assert_eq!(
        r.try_events_in_order().filter(Result::is_ok).count(),
        r.len()
    );
    assert!(matches!(r.beyond(&[head], 1_000), Beyond::Events(v) if v.is_empty()));
}
