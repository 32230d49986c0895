//! Invite lines on arbitrary input: only a well-signed, unexpired invitation for this key is accepted.
//! The check is `mutual_node::fuzzing::invite`, which the kept corpus also runs as a test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mutual_node::fuzzing::invite(data));
