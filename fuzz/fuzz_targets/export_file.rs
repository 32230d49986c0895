//! Offline verification of an arbitrary export file: never panics.
//! The check is `mutual_node::fuzzing::export_file`, which the kept corpus also runs as a test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mutual_node::fuzzing::export_file(data));
