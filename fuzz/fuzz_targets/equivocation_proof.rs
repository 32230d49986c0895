//! `EquivocationProof::decode` and `verify` on arbitrary bytes: never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mutual_protocol::fork::EquivocationProof;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = EquivocationProof::decode(data) {
        let _ = p.verify();
        assert!(EquivocationProof::decode(&p.encode()).is_ok());
    }
});
