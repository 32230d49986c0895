//! A framed sync response from a peer's stream: decoded within its limit, taken in,
//! and reported to a round at every step.
//! The check is `mutual_node::fuzzing::sync_response`, which the kept corpus also runs as a test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mutual_node::fuzzing::sync_response(data));
