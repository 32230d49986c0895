//! Arbitrary bytes fed to every decoder never panic; what decodes round-trips.

use crate::common;

use common::{history, Fixture, T0};
use mutual_protocol::event::SignedEvent;
use mutual_protocol::fork::EquivocationProof;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn signed_event_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2_048)) {
        if let Ok(ev) = SignedEvent::decode(&bytes) {
            // decode → encode → decode gives the same event.
            let again = SignedEvent::decode(&ev.to_wire()).expect("re-decodes");
            prop_assert_eq!(again.id, ev.id);
            prop_assert_eq!(again.event, ev.event);
        }
    }

    #[test]
    fn proof_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2_048)) {
        if let Ok(p) = EquivocationProof::decode(&bytes) {
            let _ = p.verify();
            prop_assert!(EquivocationProof::decode(&p.encode()).is_ok());
        }
    }

    #[test]
    fn replica_survives_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..2_048)) {
        let (fx, _) = Fixture::new(1);
        let mut r = fx.replica();
        let before = r.state_hash();
        prop_assert!(r.ingest(T0, &bytes).is_err());
        prop_assert_eq!(r.state_hash(), before);
        prop_assert_eq!(r.len(), 1);
    }
}

/// Mutating single bytes of real events: each mutant is either refused or is a
/// different, still valid event; the decoder never panics.
#[test]
fn mutated_real_events_never_panic() {
    let h = history(3, 60);
    for wire in &h.wires {
        for i in 0..wire.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut m = wire.clone();
                m[i] ^= flip;
                if let Ok(ev) = SignedEvent::decode(&m) {
                    let _ = ev.verify_signature();
                }
            }
        }
    }
}
