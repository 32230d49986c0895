//! The store's tests: reopening, refusals, a crash's cut tail, damage, the move from
//! format 1 (a file of their own, the store being one concept with many ways to fail).

use super::*;
use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, FeedWriter};
use mutual_protocol::keys::Keypair;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;

/// A store in `dir` holding `events`, made durable, then closed.
fn stored(dir: &Path, events: &[&SignedEvent]) {
    let mut s = open_when_free(dir).expect("open");
    s.put_events(events).expect("events");
    s.sync().expect("sync");
}

fn founded() -> (FeedWriter, SignedEvent) {
    let kp = Keypair::from_seed(&[5; 32]).expect("key");
    let g = pb::Genesis {
        name: "Store test".into(),
        practices: vec![pb::Practice {
            name: "One".into(),
            ods_code: "M1".into(),
            node_key: kp.public().as_bytes().to_vec(),
            ..Default::default()
        }],
        ..Default::default()
    };
    FeedWriter::found(kp, 1_000, g)
}

fn update(w: &mut FeedWriter, n: u32) -> SignedEvent {
    w.sign(
        1_000 + u64::from(n),
        vec![],
        Body::PracticeUpdate(pb::PracticeUpdate {
            list_size: n,
            ..Default::default()
        }),
    )
}

#[test]
fn events_feeds_pending_and_records_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut w, g) = founded();
    let a = update(&mut w, 1);
    let b = update(&mut w, 2);
    {
        let mut s = open_when_free(dir.path()).expect("open");
        s.set_network(NetworkId(g.id)).expect("bind");
        s.put_pending(&[&b]).expect("pending");
        s.put_events(&[&g, &a]).expect("events");
        s.put_record("rota/2026-12-01", b"Dr A, Dr B")
            .expect("record");
        s.sync().expect("sync");
    }
    let s = open_when_free(dir.path()).expect("reopen");
    assert_eq!(s.network(), Some(NetworkId(g.id)));
    let loaded = s.load().expect("load");
    assert_eq!(loaded.events, vec![g.to_wire(), a.to_wire()]);
    assert_eq!(s.event(&a.id).expect("read"), Some(a.to_wire()));
    assert_eq!(loaded.pending, vec![b.to_wire()]);
    assert_eq!(
        s.feed(&w.author(), 0).expect("feed"),
        vec![(g.event.seq, g.id), (a.event.seq, a.id)]
    );
    assert_eq!(
        s.feed(&w.author(), a.event.seq).expect("feed"),
        vec![(a.event.seq, a.id)]
    );
    assert_eq!(
        s.record("rota/2026-12-01").expect("read"),
        Some(b"Dr A, Dr B".to_vec())
    );
    assert_eq!(s.records("rota/").expect("list").len(), 1);
}

#[test]
fn a_store_is_bound_to_one_network() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = open_when_free(dir.path()).expect("open");
    s.set_network(NetworkId(EventId([1; 32]))).expect("bind");
    let err = s.set_network(NetworkId(EventId([2; 32]))).unwrap_err();
    assert!(matches!(err, StoreError::WrongNetwork { .. }), "{err}");
}

#[test]
fn a_newer_format_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let newer = STORE_FORMAT + 1;
    fs::write(
        dir.path().join(FORMAT_FILE),
        format!("mutual-store {newer}\n"),
    )
    .expect("write");
    let err = open_when_free(dir.path()).unwrap_err();
    assert!(
        matches!(err, StoreError::TooNew { found, .. } if found == newer),
        "{err}"
    );
    assert!(err.to_string().contains("newer version"), "{err}");
    let names: Vec<_> = fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from(FORMAT_FILE)]);
}

#[test]
fn a_directory_that_is_not_a_store_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("notes.txt"), "hello").expect("write");
    let err = open_when_free(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore(_)), "{err}");
}

#[test]
fn an_event_stored_twice_in_the_log_is_reported_as_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, g) = founded();
    stored(dir.path(), &[&g]);
    // Bit rot, or a hand: the file now holds the genesis twice.
    let file = dir.path().join(events::EVENTS_FILE);
    let mut bytes = fs::read(&file).expect("read");
    bytes.extend_from_slice(&bytes.clone());
    fs::write(&file, &bytes).expect("write");
    let err = open_when_free(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("appears twice"), "{err}");
}

#[test]
fn a_tail_cut_short_by_a_crash_is_cut_off_and_what_was_made_durable_stays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut w, g) = founded();
    let durable: Vec<SignedEvent> = (0..5).map(|i| update(&mut w, i)).collect();
    let torn = update(&mut w, 99);
    {
        let mut s = open_when_free(dir.path()).expect("open");
        s.put_events(&[&g]).expect("genesis");
        s.put_events(&durable.iter().collect::<Vec<_>>())
            .expect("events");
        s.sync().expect("sync");
    }
    // A crash while the next frame was being written: its header and part of it.
    let file = dir.path().join(events::EVENTS_FILE);
    let whole = fs::read(&file).expect("read");
    let wire = torn.to_wire();
    let mut cut = whole.clone();
    cut.extend_from_slice(&(wire.len() as u32).to_be_bytes());
    cut.extend_from_slice(&wire[..wire.len() / 2]);
    fs::write(&file, &cut).expect("write");
    let mut s = open_when_free(dir.path()).expect("a cut tail is not damage");
    assert_eq!(s.load().expect("load").events.len(), 6);
    assert_eq!(fs::read(&file).expect("read"), whole, "the tail is cut off");
    // Writing goes on at a frame's boundary.
    s.put_events(&[&torn]).expect("again");
    s.sync().expect("sync");
    drop(s);
    let s = open_when_free(dir.path()).expect("reopen");
    assert_eq!(s.load().expect("load").events.len(), 7);
    assert_eq!(s.event(&torn.id).expect("read"), Some(wire));
}

#[test]
fn a_log_shorter_than_what_was_made_durable_is_reported_as_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut w, g) = founded();
    {
        let mut s = open_when_free(dir.path()).expect("open");
        s.put_events(&[&g]).expect("genesis");
        for i in 0..3 {
            s.put_events(&[&update(&mut w, i)]).expect("event");
        }
        s.sync().expect("sync");
    }
    // The last acknowledged event lost (a file system that lost what it synced).
    let file = dir.path().join(events::EVENTS_FILE);
    let bytes = fs::read(&file).expect("read");
    fs::write(&file, &bytes[..bytes.len() - 10]).expect("write");
    let err = open_when_free(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("4 were made durable"), "{err}");
    assert_eq!(
        fs::read(&file).expect("read"),
        &bytes[..bytes.len() - 10],
        "left as found"
    );
}

#[test]
fn a_store_of_format_1_has_its_events_moved_out_of_sled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut w, g) = founded();
    let evs: Vec<SignedEvent> = std::iter::once(g)
        .chain((0..20).map(|i| update(&mut w, i)))
        .collect();
    let waiting = update(&mut tests_writer(), 77);
    format_1(dir.path(), &evs, &[&waiting], 21);
    // A move a crash cut short before the mark left a file behind: done again.
    fs::write(dir.path().join(events::EVENTS_FILE), b"half a move").expect("leftover");
    let s = open_when_free(dir.path()).expect("moved");
    let loaded = s.load().expect("load");
    let wires: Vec<Vec<u8>> = evs.iter().map(SignedEvent::to_wire).collect();
    assert_eq!(loaded.events, wires, "every event, in the order stored");
    assert_eq!(
        loaded.pending,
        vec![waiting.to_wire()],
        "pending events stay"
    );
    assert_eq!(s.network(), Some(NetworkId(evs[0].id)));
    assert_eq!(s.feed(&evs[1].event.author, 0).expect("feed").len(), 21);
    assert_eq!(read_format(dir.path()).expect("format"), Some(STORE_FORMAT));
    assert_eq!(read_manifest(dir.path()).expect("manifest"), Some(21));
    let names = s.db.tree_names();
    for old in FORMAT_1_TREES {
        assert!(
            !names.iter().any(|n| n.as_ref() == old.as_bytes()),
            "{old} is gone"
        );
    }
    drop(s);
    let again = open_when_free(dir.path()).expect("reopen");
    assert_eq!(again.load().expect("load").events, wires);
}

#[test]
fn a_store_of_format_1_missing_durable_events_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut w, g) = founded();
    let evs: Vec<SignedEvent> = std::iter::once(g)
        .chain((0..4).map(|i| update(&mut w, i)))
        .collect();
    // Its MANIFEST says 9 were made durable; its log holds 5.
    format_1(dir.path(), &evs, &[], 9);
    let err = open_when_free(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("9 were made durable"), "{err}");
    assert_eq!(read_format(dir.path()).expect("format"), Some(1));
    assert!(!dir.path().join(events::EVENTS_FILE).exists());
    let db = sled_when_free(dir.path());
    assert_eq!(
        db.open_tree("log").expect("log").len(),
        5,
        "its events stay in sled"
    );
}

/// Opens the store once sled has let go of it: a sled handle just dropped (by the test
/// that wrote the store) may keep its lock a moment, while its flusher thread ends.
fn open_when_free(dir: &Path) -> Result<SledStore, StoreError> {
    for _ in 0..100 {
        match SledStore::open(dir) {
            Err(StoreError::InUse(_)) => std::thread::sleep(std::time::Duration::from_millis(20)),
            other => return other,
        }
    }
    SledStore::open(dir)
}

/// sled opened on `dir` once the store's handle has let go of it (see `open_when_free`).
fn sled_when_free(dir: &Path) -> sled::Db {
    for _ in 0..100 {
        if let Ok(db) = sled::Config::new().path(dir).open() {
            return db;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    sled::Config::new().path(dir).open().expect("sled")
}

#[test]
fn a_store_of_format_1_holding_an_event_twice_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut w, g) = founded();
    let mut evs: Vec<SignedEvent> = std::iter::once(g)
        .chain((0..3).map(|i| update(&mut w, i)))
        .collect();
    evs.push(evs[1].clone());
    format_1(dir.path(), &evs, &[], 5);
    let err = open_when_free(dir.path()).unwrap_err();
    assert!(err.to_string().contains("is not indexed"), "{err}");
    assert_eq!(read_format(dir.path()).expect("format"), Some(1));
    assert_eq!(read_manifest(dir.path()).expect("manifest"), Some(5));
    assert!(!dir.path().join(events::EVENTS_FILE).exists());
}

#[test]
fn stored_events_leave_the_pending_table_only_once_the_file_holding_them_is_synced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut w, g) = founded();
    let later = update(&mut w, 1);
    let mut s = open_when_free(dir.path()).expect("open");
    s.put_events(&[&g]).expect("genesis");
    s.put_pending(&[&later]).expect("pending");
    s.sync().expect("sync");
    // Its cause came: stored, and the replica waits for nothing any more.
    s.put_events(&[&later]).expect("stored");
    s.retain_pending(&HashSet::new()).expect("retain");
    assert!(
        s.pending.contains_key(later.id.as_bytes()).expect("read"),
        "still pending until the event file is durable"
    );
    s.sync().expect("sync");
    assert!(!s.pending.contains_key(later.id.as_bytes()).expect("read"));
}

/// Another partner's feed, for an event that waits on causes the store lacks.
fn tests_writer() -> FeedWriter {
    let kp = Keypair::from_seed(&[6; 32]).expect("key");
    FeedWriter::resume(kp, NetworkId(EventId([3; 32])), None)
}

/// Writes a store as format 1 did: the events in sled's `log` tree by place (with a gap
/// at 3), indexed by id (an event given twice at its first place) and feed, pending
/// ones in `pending`, and a MANIFEST saying `durable`.
fn format_1(dir: &Path, evs: &[SignedEvent], pending: &[&SignedEvent], durable: u64) {
    fs::write(dir.join(FORMAT_FILE), format!("{FORMAT_PREFIX}1\n")).expect("format");
    let db = sled::Config::new().path(dir).open().expect("sled");
    let tree = |n: &str| db.open_tree(n).expect("tree");
    let (log, ids, feeds) = (tree("log"), tree("ids"), tree("feeds"));
    for (i, e) in evs.iter().enumerate() {
        // Place 3 was skipped (a write that failed), as format 1 could leave.
        let place = (i as u64 + u64::from(i >= 3)).to_be_bytes();
        log.insert(place, e.to_wire()).expect("put");
        if ids.get(e.id.as_bytes()).expect("get").is_none() {
            ids.insert(e.id.as_bytes(), &place).expect("put");
        }
        let mut k = e.event.author.as_bytes().to_vec();
        k.extend_from_slice(&e.event.seq.to_be_bytes());
        k.extend_from_slice(e.id.as_bytes());
        feeds.insert(k, &[][..]).expect("put");
    }
    for e in pending {
        tree("pending")
            .insert(e.id.as_bytes(), e.to_wire())
            .expect("put");
    }
    tree("meta")
        .insert(META_NETWORK, evs[0].id.as_bytes().as_slice())
        .expect("network");
    db.flush().expect("flush");
    fs::write(dir.join(MANIFEST_FILE), format!("events {durable}\n")).expect("manifest");
}

#[test]
fn a_store_without_its_manifest_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, g) = founded();
    stored(dir.path(), &[&g]);
    fs::remove_file(dir.path().join(MANIFEST_FILE)).expect("remove");
    let err = open_when_free(dir.path()).unwrap_err();
    assert!(err.to_string().contains("MANIFEST is missing"), "{err}");
}

#[test]
fn a_frame_longer_than_any_event_before_the_durable_count_is_corruption() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut w, g) = founded();
    stored(dir.path(), &[&g, &update(&mut w, 1)]);
    // The second frame's length says one byte more than any signed event may have.
    let file = dir.path().join(events::EVENTS_FILE);
    let mut bytes = fs::read(&file).expect("read");
    let second = 4 + g.to_wire().len();
    let over = (mutual_protocol::limits::MAX_SIGNED_EVENT_BYTES as u32 + 1).to_be_bytes();
    bytes[second..second + 4].copy_from_slice(&over);
    fs::write(&file, &bytes).expect("write");
    let err = open_when_free(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert_eq!(fs::read(&file).expect("read"), bytes, "left as found");
}

/// The index holds where each frame starts and how long its event is, and a read checks
/// the frame's own length prefix against it: a prefix damaged after opening is an error
/// the read reports, never a part of the event or the next one's bytes handed back.
#[test]
fn a_frame_whose_length_is_damaged_after_opening_is_a_read_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut w, g) = founded();
    let second = update(&mut w, 1);
    stored(dir.path(), &[&g, &second]);
    let s = open_when_free(dir.path()).expect("reopen");
    let bodies = s.bodies().expect("a body source");
    assert!(bodies.holds(&g.id));
    assert_eq!(bodies.read(&g.id), Ok(g.to_wire()));
    let file = OpenOptions::new()
        .write(true)
        .open(dir.path().join(events::EVENTS_FILE))
        .expect("file");
    let real = g.to_wire().len() as u32;
    let limit = mutual_protocol::limits::MAX_SIGNED_EVENT_BYTES as u32;
    for len in [real - 1, real + 1, limit, limit + 1] {
        file.write_all_at(&len.to_be_bytes(), 0).expect("damaged");
        let err = bodies.read(&g.id).unwrap_err();
        assert!(
            err.detail.contains(&format!("says {len} bytes")),
            "{len}: {err}"
        );
        assert_eq!(
            bodies.read(&second.id),
            Ok(second.to_wire()),
            "the next reads as before"
        );
    }
    file.write_all_at(&real.to_be_bytes(), 0).expect("mended");
    assert_eq!(bodies.read(&g.id), Ok(g.to_wire()));
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = open_when_free(dir.path()).expect("open");
    let err = open_when_free(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::InUse(_)), "{err}");
}

#[test]
fn records_are_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = open_when_free(dir.path()).expect("open");
    let at_limit = vec![0u8; MAX_RECORD_BYTES];
    s.put_record("k", &at_limit).expect("at the limit");
    let over = vec![0u8; MAX_RECORD_BYTES + 1];
    assert!(matches!(
        s.put_record("k", &over),
        Err(StoreError::TooLarge { .. })
    ));
    assert_eq!(
        s.record("k").expect("read").map(|v| v.len()),
        Some(MAX_RECORD_BYTES)
    );
    let long_key = "k".repeat(MAX_RECORD_KEY_BYTES + 1);
    assert!(matches!(
        s.put_record(&long_key, b"x"),
        Err(StoreError::TooLarge { .. })
    ));
}

#[test]
fn a_damaged_event_log_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut s = open_when_free(dir.path()).expect("open");
        s.set_network(NetworkId(EventId([3; 32]))).expect("bind");
        let (mut w, g) = founded();
        s.put_events(&[&g]).expect("genesis");
        for i in 0..300u32 {
            s.put_events(&[&update(&mut w, i)]).expect("event");
        }
        s.sync().expect("sync");
    }
    let log = dir.path().join(events::EVENTS_FILE);
    let mut bytes = fs::read(&log).expect("read");
    let len = bytes.len();
    for b in &mut bytes[len / 4..len / 2] {
        *b ^= 0x5a;
    }
    fs::write(&log, &bytes).expect("damage");
    let result = open_when_free(dir.path()).and_then(|s| s.load());
    let err = result.expect_err("a damaged store does not open as if whole");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("is corrupt"), "{err}");
    assert_eq!(fs::read(&log).expect("read"), bytes, "left as found");
}

#[test]
fn a_long_log_is_read_a_batch_at_a_time_in_the_order_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut w, g) = founded();
    let evs: Vec<SignedEvent> = std::iter::once(g)
        .chain((0..2 * LOAD_BATCH as u32 + 10).map(|i| update(&mut w, i)))
        .collect();
    let waiting = update(&mut tests_writer(), 77);
    {
        let mut s = open_when_free(dir.path()).expect("open");
        s.put_events(&evs.iter().collect::<Vec<_>>())
            .expect("events");
        s.put_pending(&[&waiting]).expect("pending");
        s.sync().expect("sync");
    }
    let s = open_when_free(dir.path()).expect("reopen");
    let mut batches = Vec::new();
    s.each_event_batch(&mut |batch| {
        batches.push(batch.to_vec());
        Ok(())
    })
    .expect("read");
    let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
    assert_eq!(
        sizes,
        vec![LOAD_BATCH, LOAD_BATCH, 11],
        "never more than a batch"
    );
    let wires: Vec<Vec<u8>> = evs.iter().map(SignedEvent::to_wire).collect();
    assert_eq!(batches.concat(), wires, "every event, in the order stored");
    assert_eq!(s.load().expect("load").events, wires);
    let held = s.load_held().expect("held");
    assert!(held.events.is_empty(), "the log is not read");
    assert_eq!(held.pending, vec![waiting.to_wire()]);
    // A failure handed back stops the reading there.
    let mut seen = 0;
    let stopped = s.each_event_batch(&mut |batch| {
        seen += batch.len();
        Err(StoreError::DiskFull)
    });
    assert!(matches!(stopped, Err(StoreError::DiskFull)));
    assert_eq!(seen, LOAD_BATCH);
}

#[test]
fn a_replica_loaded_from_the_store_reads_its_events_back_from_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut w, g) = founded();
    let evs: Vec<SignedEvent> = std::iter::once(g.clone())
        .chain((0..LOAD_BATCH as u32 + 10).map(|i| update(&mut w, i)))
        .collect();
    stored(dir.path(), &evs.iter().collect::<Vec<_>>());
    let mut s = open_when_free(dir.path()).expect("reopen");
    let mut r = mutual_protocol::replica::Replica::new(NetworkId(g.id));
    crate::core::store::load_log(&mut s, &mut r, 1_000_000).expect("loaded");
    assert_eq!(r.len(), evs.len());
    assert_eq!(r.kept_len(), 0, "every event is read back from the file");
    for ev in &evs {
        assert_eq!(r.wire(&ev.id), Some(ev.to_wire()));
    }
    // An event taken in is kept until the store has made it durable, then let go of at
    // the next call.
    let next = update(&mut w, 9_999);
    r.ingest(1_000_000, &next.to_wire()).expect("stored");
    assert_eq!(r.kept_len(), 1);
    r.release_written();
    assert_eq!(r.kept_len(), 1, "not written yet");
    s.put_events(&[&next]).expect("written");
    r.release_written();
    assert_eq!(r.kept_len(), 1, "written, but not yet made durable");
    s.sync().expect("durable");
    let after = update(&mut w, 10_000);
    r.ingest(1_000_000, &after.to_wire()).expect("stored");
    assert_eq!(r.kept_len(), 1, "only the event of this call");
    assert_eq!(
        r.get(&next.id).map(|e| e.event),
        Some(next.event.clone()),
        "read back from the file"
    );
}

/// Closed motions' ballot lists live in the `closed` file, not in the replica's memory;
/// they are derived from the log, so loading it mends any that were damaged or lost.
#[test]
fn closed_motions_ballots_are_kept_in_their_file_and_loading_the_log_mends_them() {
    use crate::bench::national::{generate, National};
    let dir = tempfile::TempDir::new().expect("dir");
    let size = National {
        practices: 20,
        partners: 300,
        events: 1_500,
    };
    let network: NetworkId = generate(size, dir.path())
        .expect("generated")
        .network
        .parse()
        .expect("an id");
    let load = || {
        let mut store = open_when_free(dir.path()).expect("store");
        let mut r = mutual_protocol::replica::Replica::new(network);
        crate::core::store::load_log(&mut store, &mut r, u64::MAX / 2).expect("loaded");
        (store, r)
    };
    let (store, r) = load();
    let closed: Vec<EventId> = (r.state().governance().motions())
        .filter(|m| m.closed.is_some())
        .map(|m| m.id)
        .collect();
    assert!(closed.len() >= 3, "{} closed", closed.len());
    assert_eq!(r.archived_in_memory(), 0);
    let kept: Vec<_> = (closed.iter())
        .map(|m| r.closed_votes(m).expect("read").expect("closed"))
        .collect();
    assert!(kept.iter().all(|k| !k.ballots.is_empty()));
    let file = dir.path().join(closed::CLOSED_FILE);
    let size = std::fs::metadata(&file).expect("closed file").len();
    assert!(size > 0);

    // Other lists under one motion: reading them back says so, and nothing is made up.
    store.closed.put(&closed[0], b"other lists").expect("put");
    let err = r
        .closed_votes(&closed[0])
        .expect_err("not what the state hashed");
    assert!(err.detail.contains("does not match"), "{err}");
    assert_eq!(r.closed_votes(&closed[2]), Ok(Some(kept[2].clone())));
    drop((store, r));

    // Loading the log again closes every motion again and mends it.
    let (store, r) = load();
    assert_eq!(r.archived_in_memory(), 0);
    assert_eq!(r.closed_votes(&closed[0]), Ok(Some(kept[0].clone())));
    drop((store, r));

    // Cut short in the middle: every list lost is written again.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .and_then(|f| f.set_len(size / 2))
        .expect("cut");
    let (_store, r) = load();
    assert_eq!(r.archived_in_memory(), 0);
    for (m, k) in closed.iter().zip(&kept) {
        assert_eq!(r.closed_votes(m), Ok(Some(k.clone())));
    }
    assert!(std::fs::metadata(&file).expect("closed file").len() >= size);
}

/// The genesis and 299 updates: more events than keys of one byte (the tests' key), so
/// some share theirs.
fn three_hundred() -> Vec<SignedEvent> {
    let (mut w, g) = founded();
    std::iter::once(g)
        .chain((1..300).map(|n| update(&mut w, n)))
        .collect()
}

#[test]
fn the_event_file_s_index_in_runs_and_under_shared_keys_finds_reads_and_refuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let evs = three_hundred();
    let refs: Vec<&SignedEvent> = evs.iter().collect();
    let mut strangers = tests_writer();
    let strangers: Vec<SignedEvent> = (1..40).map(|n| update(&mut strangers, n)).collect();
    let sharing_first;
    {
        // Runs of 4: every batch of 3 below writes one now and then, and merges them.
        let mut file = events::EventFile::open_with(dir.path(), 0, 4).expect("open");
        for batch in refs.chunks(3) {
            file.append(batch).expect("append");
            // A batch again, with the last one: nothing is written twice.
            file.append(batch).expect("append again");
        }
        assert_eq!(file.count(), 300);
        sharing_first = file.sharing_keys();
        assert!(sharing_first > 0, "some events share their key");
        let bodies = file.bodies();
        assert!(
            refs.iter().all(|e| !bodies.holds(&e.id)),
            "nothing durable yet"
        );
        file.sync().expect("sync");
        for e in &refs {
            assert!(bodies.holds(&e.id));
            assert_eq!(file.get(&e.id).expect("read"), Some(e.to_wire()));
        }
        // Events not stored, most sharing their key with a stored one: not found.
        for e in &strangers {
            assert_eq!(file.get(&e.id).expect("read"), None);
            assert!(!bodies.holds(&e.id));
        }
        let runs = dir.path().join(runs::RUNS_DIR);
        let files: usize = fs::read_dir(&runs)
            .expect("runs")
            .map(|d| fs::read_dir(d.expect("entry").path()).expect("own").count())
            .sum();
        assert!(files >= 1, "the index is in runs");
    }
    {
        // Opened again, the index made anew: the same.
        let file = events::EventFile::open_with(dir.path(), 300, 4).expect("open");
        assert_eq!(file.count(), 300);
        assert_eq!(file.sharing_keys(), sharing_first);
        assert!(refs
            .iter()
            .all(|e| file.get(&e.id).expect("read") == Some(e.to_wire())));
    }
    // An event appended twice by hand, once one under its key and once one sharing it.
    let file = dir.path().join(events::EVENTS_FILE);
    let bytes = fs::read(&file).expect("read");
    let frame_of = |i: usize| {
        let start: usize = evs[..i].iter().map(|e| 4 + e.to_wire().len()).sum();
        bytes[start..start + 4 + evs[i].to_wire().len()].to_vec()
    };
    let shares = |i: usize| evs[..i].iter().any(|e| e.id.0[0] == evs[i].id.0[0]);
    let under_key = (0..evs.len())
        .find(|&i| !shares(i))
        .expect("one under its key");
    let sharing = (0..evs.len()).find(|&i| shares(i)).expect("one sharing");
    for i in [under_key, sharing] {
        let mut doubled = bytes.clone();
        doubled.extend_from_slice(&frame_of(i));
        fs::write(&file, &doubled).expect("write");
        match events::EventFile::open_with(dir.path(), 300, 4) {
            Err(events::ReadError::Damaged(d)) => assert!(d.contains("appears twice"), "{d}"),
            other => panic!("event {i} doubled: {other:?}"),
        }
    }
}

#[test]
fn two_events_sharing_a_key_in_one_write_are_both_indexed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let evs = three_hundred();
    // Two events whose ids begin with the same byte (the tests' key), and another.
    let (a, b) = (0..evs.len())
        .flat_map(|i| (i + 1..evs.len()).map(move |j| (i, j)))
        .find(|&(i, j)| evs[i].id.0[0] == evs[j].id.0[0])
        .expect("a pair sharing a key among 300");
    let mut file = events::EventFile::open_with(dir.path(), 0, 4).expect("open");
    file.append(&[&evs[a], &evs[b], &evs[a]]).expect("append");
    assert_eq!(file.count(), 2);
    assert_eq!(file.sharing_keys(), 1);
    file.sync().expect("sync");
    let bodies = file.bodies();
    for e in [&evs[a], &evs[b]] {
        assert_eq!(file.get(&e.id).expect("read"), Some(e.to_wire()));
        assert!(bodies.holds(&e.id));
    }
    file.append(&[&evs[b]]).expect("again");
    assert_eq!(file.count(), 2, "not written twice");
}
