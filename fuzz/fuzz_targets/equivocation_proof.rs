//! `EquivocationProof::decode` and `verify` on arbitrary bytes: never panic.
//! The check is `mutual_node::fuzzing::equivocation_proof`, which the kept corpus also runs as a test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mutual_node::fuzzing::equivocation_proof(data));
