//! Any delivery order converges: a node whose pending set is small, sent a long log
//! newest event first, refuses what does not fit, and sync rounds bring it again once its
//! causes are stored (docs/NETWORK.md §4.3).

use mutual_node::bench::sync::Pair;
use mutual_node::bench::workload::workload;
use mutual_node::core::CoreConfig;

const EVENTS: usize = 20_000;
const PENDING_CAP: usize = 100;

#[test]
fn twenty_thousand_events_in_reverse_order_with_a_pending_cap_of_100_converge_through_sync() {
    let w = workload(20, EVENTS);
    // Node 1 holds the genesis alone; node 0 holds every event.
    let held = vec![false; EVENTS];
    let config = CoreConfig {
        pending_cap: PENDING_CAP,
        ..CoreConfig::default()
    };
    let mut pair = Pair::with_config(&w, &held, config).expect("two cores");
    let mut most_pending = 0;
    for ev in w.events.iter().rev() {
        pair.gossip(1, ev.to_wire()).expect("carried");
        most_pending = most_pending.max(pair.core(1).replica().pending_len());
    }
    let before_sync = pair.core(1).replica().len();
    assert!(most_pending <= PENDING_CAP, "{most_pending} pending");
    // The cap refused events: gossip alone brought almost nothing.
    assert!(before_sync <= PENDING_CAP, "{before_sync}");
    pair.connect_and_sync().expect("sync brings the rest");
    let (a, b) = (pair.core(0).replica(), pair.core(1).replica());
    assert_eq!(b.len(), EVENTS + 1);
    assert_eq!(b.pending_len(), 0);
    assert_eq!(a.state_hash(), b.state_hash());
}
