//! A replica fed arbitrary frames: never panics, its pending set stays bounded.
//! The check is `mutual_node::fuzzing::replica_ingest`, which the kept corpus also runs as a test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mutual_node::fuzzing::replica_ingest(data));
