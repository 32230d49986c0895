//! `GET /metrics`: the Prometheus text a practice's monitoring scrapes. Every metric has a
//! help line, a type (gauge or counter, counters named `_total`) and a value, and the
//! values move as the node works.

use mutual_tests::{http_get, serve_api, update, wait_for, Cluster, Transport};
use std::collections::BTreeMap;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// The metrics, by name: (type, value). Every sample must have its HELP and TYPE.
async fn scrape(addr: std::net::SocketAddr) -> BTreeMap<String, (String, u64)> {
    let (head, body) = http_get(addr, "/metrics").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (mut help, mut kind, mut samples) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for line in body.lines().filter(|l| !l.is_empty()) {
        let parts: Vec<&str> = line.splitn(4, ' ').collect();
        match parts.as_slice() {
            ["#", "HELP", name, text] => {
                help.insert(name.to_string(), text.to_string());
            }
            ["#", "TYPE", name, t] => {
                kind.insert(name.to_string(), t.to_string());
            }
            [name, value] => {
                let v: u64 = value.parse().expect("a whole number");
                samples.insert(name.to_string(), v);
            }
            other => panic!("not Prometheus text: {other:?}"),
        }
    }
    samples
        .into_iter()
        .map(|(name, v)| {
            assert!(name.starts_with("mutual_"), "{name}");
            assert!(help.contains_key(&name), "{name} has no HELP");
            let t = kind
                .get(&name)
                .unwrap_or_else(|| panic!("{name} has no TYPE"));
            assert!(t == "gauge" || t == "counter", "{name}: {t}");
            assert_eq!(t == "counter", name.ends_with("_total"), "{name}: {t}");
            (name, (t.clone(), v))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_named_typed_and_move_as_the_node_works() {
    let c = Cluster::found(2, Transport::Tcp).await;
    assert!(c.converge(&[0, 1], LIMIT).await);
    let api = serve_api(&c, 0, "metrics-test").await;
    let before = scrape(api).await;
    for name in [
        "mutual_events",
        "mutual_pending_events",
        "mutual_peers",
        "mutual_quarantined_events",
        "mutual_sync_bytes_in_total",
        "mutual_transport_bytes_in_total",
        "mutual_transport_bytes_out_total",
        "mutual_sync_rounds_total",
        "mutual_events_received_total",
        "mutual_events_authored_total",
        "mutual_invalid_events_total",
        "mutual_evidence_refused_total",
        "mutual_bans_total",
        "mutual_connections_refused_total",
    ] {
        assert!(before.contains_key(name), "{name} missing: {before:?}");
    }
    assert_eq!(before["mutual_peers"].1, 1);
    // Node 0 signs; node 1 signs and node 0 takes its events in.
    c.node(0)
        .author((0..3).map(update).collect())
        .await
        .expect("authored");
    c.node(1)
        .author((0..5).map(update).collect())
        .await
        .expect("authored");
    assert!(c.converge(&[0, 1], LIMIT).await);
    let moved = wait_for(LIMIT, || async {
        let after = scrape(api).await;
        after["mutual_events"].1 >= before["mutual_events"].1 + 8
            && after["mutual_events_authored_total"].1
                >= before["mutual_events_authored_total"].1 + 3
            && after["mutual_events_received_total"].1
                >= before["mutual_events_received_total"].1 + 5
            && after["mutual_sync_rounds_total"].1 > before["mutual_sync_rounds_total"].1
            && after["mutual_transport_bytes_in_total"].1
                > before["mutual_transport_bytes_in_total"].1
            && after["mutual_transport_bytes_out_total"].1
                > before["mutual_transport_bytes_out_total"].1
    })
    .await;
    assert!(moved, "the counters moved: {:?}", scrape(api).await);
    // Counters never go down.
    let after = scrape(api).await;
    for (name, (kind, v)) in &after {
        if kind == "counter" {
            assert!(
                *v >= before.get(name).map_or(0, |b| b.1),
                "{name} went down"
            );
        }
    }
}
