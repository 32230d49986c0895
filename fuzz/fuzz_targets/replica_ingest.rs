//! A replica fed arbitrary frames: never panics, stores nothing invalid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mutual_protocol::id::{EventId, NetworkId};
use mutual_protocol::replica::Replica;

fuzz_target!(|data: &[u8]| {
    let mut r = Replica::new(NetworkId(EventId([7; 32])));
    // Split the input into frames at 0xff bytes so one input can carry several events.
    let frames: Vec<&[u8]> = data.split(|b| *b == 0xff).collect();
    let _ = r.ingest_batch(1_767_225_600_000, &frames);
    let _ = r.tick(u64::MAX);
    assert!(r.pending_len() <= mutual_protocol::limits::MAX_PENDING_EVENTS);
    let _ = r.state_hash();
});
