//! The daemon as separate processes: init, found, join, start, status over the local API,
//! a refused write without the token, a clean stop on SIGTERM and a restart.

use crate::common;

use common::{init, mutual, ok, raw, start, status, stop};
use std::path::Path;
use std::process::Child;
use std::time::Duration;

/// Polls until every node reports the same state hash and `peers` peers; bounded.
fn converged(dirs: &[&Path], peers: usize) -> bool {
    for _ in 0..600 {
        let s: Vec<_> = dirs.iter().filter_map(|d| status(d)).collect();
        if s.len() == dirs.len()
            && s.windows(2)
                .all(|w| w[0]["state_hash"] == w[1]["state_hash"])
            && s.iter()
                .all(|x| x["peers"].as_array().map_or(0, Vec::len) == peers)
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn three_node_processes_found_join_sync_and_restart() {
    let root = tempfile::tempdir().expect("tempdir");
    let dirs: Vec<_> = (0..3).map(|i| root.path().join(format!("p{i}"))).collect();
    let mut keys = Vec::new();
    let mut addrs = Vec::new();
    for d in &dirs {
        let (key, peer, listen) = init(d);
        keys.push(key);
        addrs.push(format!("{listen}/p2p/{peer}"));
    }
    // A second init of the same directory is refused and changes nothing.
    let again = mutual(&["init", "--dir", dirs[0].to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already initialised"));

    let founding = root.path().join("founding.toml");
    let mut f = String::from("name = \"Riverside Partnership\"\n");
    for (i, k) in keys.iter().enumerate() {
        f.push_str(&format!(
            "[[practice]]\nname = \"Practice {i}\"\nods = \"M8500{i}\"\nlocality = \"North\"\nnode_key = \"{k}\"\n"
        ));
    }
    std::fs::write(&founding, f).expect("founding file");
    let out = ok(&[
        "found",
        "--dir",
        dirs[0].to_str().unwrap(),
        "--founding",
        founding.to_str().unwrap(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let network = v["network"].as_str().expect("network").to_string();
    for d in &dirs[1..] {
        ok(&[
            "join",
            "--dir",
            d.to_str().unwrap(),
            "--network",
            &network,
            "--bootstrap",
            &addrs[0],
        ]);
    }
    let mut children: Vec<Child> = dirs.iter().map(|d| start(d)).collect();
    let paths: Vec<&Path> = dirs.iter().map(|d| d.as_path()).collect();
    assert!(converged(&paths, 2), "three processes converge and connect");
    let s = status(&dirs[2]).expect("status");
    assert_eq!(s["network"].as_str(), Some(network.as_str()));

    // A write without the token is refused.
    let api = std::fs::read_to_string(dirs[0].join("mutual.toml")).expect("config");
    let api_addr = api
        .lines()
        .find_map(|l| l.strip_prefix("api = "))
        .expect("api line")
        .trim_matches('"')
        .to_string();
    // A write the node signs needs the token, whatever its body; a partner-signed event
    // needs none (its signature is the authority), but garbage is still refused.
    let answer = raw(
        &api_addr,
        &api_addr,
        "POST",
        "/events",
        b"not even an event",
        "",
    );
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("not a valid signed event"), "{answer}");
    let answer = raw(
        &api_addr,
        &api_addr,
        "POST",
        "/invitations",
        b"not even JSON",
        "",
    );
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        answer.contains("Bearer"),
        "the refusal says what is needed: {answer}"
    );

    // Node 1 stops cleanly and comes back from its store.
    let c1 = children.remove(1);
    stop(c1);
    let second = start(&dirs[1]);
    children.insert(1, second);
    assert!(converged(&paths, 2), "the restarted node rejoins");
    // A second node on the same data directory is refused.
    let clash = mutual(&["start", "--dir", dirs[1].to_str().unwrap()]);
    assert!(!clash.status.success());
    let err = String::from_utf8_lossy(&clash.stderr);
    assert!(err.contains("in use by another process"), "{err}");
    for c in children {
        stop(c);
    }
}

#[test]
fn an_api_beyond_loopback_over_plain_http_is_refused_without_the_explicit_setting() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("n");
    let port = common::free_port();
    ok(&[
        "init",
        "--dir",
        dir.to_str().expect("utf-8"),
        "--listen",
        &format!("/ip4/127.0.0.1/tcp/{}", common::free_port()),
        "--api",
        &format!("0.0.0.0:{port}"),
    ]);
    let out = mutual(&["start", "--dir", dir.to_str().expect("utf-8")]);
    assert!(!out.status.success(), "the node does not start");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("plain HTTP beyond this machine")
            && err.contains("api_plain_http_beyond_loopback"),
        "{err}"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens"
    );
}

#[test]
fn partners_reach_a_node_over_tls_trusting_its_own_certificate() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("n");
    let d = dir.to_str().expect("utf-8");
    let port = common::free_port();
    ok(&[
        "init",
        "--dir",
        d,
        "--listen",
        &format!("/ip4/127.0.0.1/tcp/{}", common::free_port()),
        "--api",
        &format!("127.0.0.1:{port}"),
    ]);
    ok(&["tls", "init", "--dir", d, "--name", "node.example"]);
    let again = mutual(&["tls", "init", "--dir", d, "--name", "127.0.0.1"]);
    assert!(!again.status.success(), "an existing certificate is kept");
    let config = dir.join("mutual.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    assert!(text.contains("api_tls = false"), "{text}");
    std::fs::write(&config, text.replace("api_tls = false", "api_tls = true")).expect("config");
    let founding = root.path().join("founding.toml");
    let node_key = ok(&["key", "show", &format!("{d}/node.key"), "--json"]);
    let node_key: serde_json::Value = serde_json::from_str(&node_key).expect("json");
    // The deed names the partnership's agreement: a paper, given to the node below.
    let agreement = root.path().join("agreement.txt");
    std::fs::write(&agreement, "We agree to share the work.\n".repeat(1000)).expect("agreement");
    std::fs::write(
        &founding,
        format!(
            "name = \"TLS\"\n[[practice]]\nname = \"A\"\nods = \"A00001\"\nlocality = \"North\"\nlist_size = 1\nnode_key = \"{}\"\n[deed]\nagreement = \"agreement.txt\"\n",
            node_key["public_key"].as_str().expect("key")
        ),
    )
    .expect("founding");
    ok(&[
        "found",
        "--dir",
        d,
        "--founding",
        founding.to_str().expect("utf-8"),
    ]);
    // Founding twice would make a second network: refused.
    let twice = mutual(&[
        "found",
        "--dir",
        d,
        "--founding",
        founding.to_str().expect("utf-8"),
    ]);
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already belongs to a network"));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mutual"))
        .args(["start", "--dir", d])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starts");
    let cert = dir.join("api-cert.pem");
    let url = format!("https://127.0.0.1:{port}");
    let status = |extra: &[&str]| {
        let mut args = vec!["status", "--json", "--node", url.as_str()];
        args.extend_from_slice(extra);
        mutual(&args)
    };
    let mut up = false;
    for _ in 0..200 {
        if status(&["--node-cert", cert.to_str().expect("utf-8")])
            .status
            .success()
        {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        up,
        "the node answers over TLS, trusting its own certificate"
    );
    // Without the certificate, with another one, or over plain HTTP: no answer.
    let e = status(&[]);
    assert!(String::from_utf8_lossy(&e.stderr).contains("--node-cert"));
    let other = root.path().join("other");
    std::fs::create_dir_all(&other).expect("dir");
    ok(&[
        "tls",
        "init",
        "--dir",
        other.to_str().expect("utf-8"),
        "--name",
        "127.0.0.1",
    ]);
    let wrong = status(&[
        "--node-cert",
        other.join("api-cert.pem").to_str().expect("utf-8"),
    ]);
    assert!(
        !wrong.status.success(),
        "a certificate the node does not hold is not trusted"
    );
    let plain = mutual(&["status", "--node", &format!("http://127.0.0.1:{port}")]);
    assert!(!plain.status.success(), "no plain HTTP on a TLS port");
    // On the node's machine, --dir reaches it over TLS too.
    let local = mutual(&["status", "--dir", d]);
    assert!(
        local.status.success(),
        "{}",
        String::from_utf8_lossy(&local.stderr)
    );
    // A host name is fine over TLS (the certificate names it).
    let by_name = mutual(&[
        "status",
        "--node",
        &format!("https://localhost:{port}"),
        "--node-cert",
        cert.to_str().expect("utf-8"),
    ]);
    assert!(
        by_name.status.success(),
        "{}",
        String::from_utf8_lossy(&by_name.stderr)
    );
    // A paper reaches the node over TLS: sent once the node says it will read it, and
    // acknowledged without its bytes the second time; a file no event names is refused
    // before its bytes are sent.
    let cert_arg = cert.to_str().expect("utf-8");
    let put = |file: &Path| {
        mutual(&[
            "paper",
            "put",
            "--node",
            &url,
            "--node-cert",
            cert_arg,
            file.to_str().expect("utf-8"),
        ])
    };
    let first = put(&agreement);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("stored by the node"));
    let second = put(&agreement);
    assert!(String::from_utf8_lossy(&second.stdout).contains("already holds"));
    let stray = root.path().join("stray.txt");
    std::fs::write(&stray, "x".repeat(100_000)).expect("stray");
    let refused = put(&stray);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("no event of this partnership names"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let _ = child.kill();
    let _ = child.wait();
}
