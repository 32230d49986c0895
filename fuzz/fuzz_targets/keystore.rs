//! Keystore parsing on arbitrary bytes: costs beyond the limits are refused before any key
//! derivation; a wrong passphrase never opens a keystore.
//! The check is `mutual_node::fuzzing::keystore`, which the kept corpus also runs as a test.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mutual_node::fuzzing::keystore(data));
