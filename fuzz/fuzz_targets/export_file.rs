//! Offline verification of an arbitrary export file: never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mutual_node::export::verify(data, 1_767_225_600_000);
});
