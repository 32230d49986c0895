//! Invite lines on arbitrary input: never panics, and nothing but a well-signed,
//! unexpired invitation for this key is accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mutual_protocol::keys::Keypair;

fuzz_target!(|data: &[u8]| {
    let me = Keypair::from_seed(&[7; 32]).expect("a valid seed").public();
    let text = String::from_utf8_lossy(data);
    if let Ok(inv) = mutual_node::invite::decode(&text, &me, 1_000) {
        assert!(inv.event.verify_signature());
        assert!(inv.expires_ms > 1_000);
        assert!(!inv.bootstrap.is_empty());
    }
    // Also as the hex body of an invite line.
    let line = format!("{}{}", mutual_node::invite::PREFIX, hex::encode(data));
    let _ = mutual_node::invite::decode(&line, &me, 1_000);
});
