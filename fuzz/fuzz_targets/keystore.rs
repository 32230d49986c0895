//! Keystore parsing on arbitrary bytes: never panics; costs beyond the limits are refused
//! before any key derivation; a parsed keystore with a wrong passphrase never opens.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(ks) = mutual_node::keystore::Keystore::parse(Path::new("fuzz"), data) {
        // Only cheap costs are worth deriving under a fuzzer.
        if u32::from_be_bytes(data[16..20].try_into().expect("4 bytes")) <= 64 {
            let _ = ks.open("fuzz passphrase");
        }
    }
});
