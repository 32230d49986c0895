//! `SignedEvent::decode` on arbitrary bytes: never panics; what decodes round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mutual_protocol::event::SignedEvent;

fuzz_target!(|data: &[u8]| {
    if let Ok(ev) = SignedEvent::decode(data) {
        let again = SignedEvent::decode(&ev.to_wire()).expect("a decoded event re-decodes");
        assert_eq!(again.id, ev.id);
        assert_eq!(again.event, ev.event);
        let _ = ev.verify_signature();
    }
});
