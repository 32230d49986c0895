//! `SignedEvent::decode` on arbitrary bytes: never panics; what decodes round-trips.
//! The check is `mutual_node::fuzzing::signed_event`, which the kept corpus also runs as a test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mutual_node::fuzzing::signed_event(data));
