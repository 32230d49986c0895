//! Key-file parsing on arbitrary bytes: never panics.
//! The check is `mutual_node::fuzzing::key_file`, which the kept corpus also runs as a test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mutual_node::fuzzing::key_file(data));
