//! A framed sync request from a peer's stream: decoded within its limit and answered
//! within the response limit.
//! The check is `mutual_node::fuzzing::sync_request`, which the kept corpus also runs as a test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mutual_node::fuzzing::sync_request(data));
