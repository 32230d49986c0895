//! Decisions at the level the deed sets, with the papers in front of the voters, through
//! the real binary across separate node processes, each partner signing from a directory
//! with no node data (docs/GOVERNANCE.md §2.5, §8.2; docs/PROTOCOL.md §8.13):
//! a board resolution under a listed power decided by the board alone; a practice's own
//! matter decided by its partners alone; an amendment that gives a power to all partners
//! and sets a board term, after which the next resolution is counted that way and the
//! board's seats lapse with `deed show` saying an election is due; the demo's
//! due-diligence report on every node, the practice admitted later included. And the
//! refusal, before anything is signed, of a power that does not exist, a practice not
//! named, a proposer who does not hold the power, a file over the size limit.

use crate::common;

use common::partners::*;
use common::{ok, raw, s, start};
use mutual_node::api::{Amendment, DeedView, PapersView};
use mutual_node::client::Client;
use mutual_node::daemon::FileConfig;
use sha2::{Digest, Sha256};
use std::path::Path;

/// A `PUT` of `path` whose head says `Content-Length: length` and that sends no body:
/// the node must answer from the head alone (else the read times out).
fn head_only(addr: &str, path: &str, length: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {length}\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out)
        .expect("an answer without the body");
    out
}

fn deed_of(dir: &Path) -> DeedView {
    Client::of(dir).expect("client").get("/deed").expect("deed")
}

fn papers_of(dir: &Path) -> PapersView {
    Client::of(dir)
        .expect("client")
        .get("/papers")
        .expect("papers")
}

#[test]
fn the_deed_sets_who_decides_and_the_papers_reach_every_node() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let DemoPartnership {
        summary,
        dir,
        dirs,
        laptop,
        ks,
        urls,
    } = demo_partnership(tmp.path());
    // The admission motion carried a due-diligence report; every node holds every paper,
    // the practice admitted by that motion included.
    assert_eq!(summary["papers_everywhere"], true, "{summary}");
    let report = summary["due_diligence"].as_str().expect("hash").to_string();
    assert_eq!(report.len(), 64);
    let lap = laptop.as_path();
    let env: Vec<[(&str, &str); 1]> = urls.iter().map(|u| [("MUTUAL_NODE", u.as_str())]).collect();
    let mut nodes: Vec<_> = dirs.iter().map(|d| start(d)).collect();
    let (amara, ben, chloe) = ("Dr Amara Okafor", "Dr Ben Hughes", "Dr Chloe Patel");
    let ods3 = members_of(&dirs[0])
        .iter()
        .find(|p| p.partners.iter().any(|x| x.name == chloe))
        .expect("the admitted practice")
        .ods
        .clone();
    // The demo elected one North partner to the board (before the South practice was
    // admitted): `on` is that partner, `off` the other founder.
    let board = deed_of(&dirs[0]).board;
    let on = match board.as_slice() {
        [one] if *one == format!("{amara} (North)") => 0,
        [one] if *one == format!("{ben} (North)") => 1,
        other => panic!("one North partner on the board: {other:?}"),
    };
    let off = 1 - on;

    // ---- 1. The report, from the node of the practice admitted after it was attached:
    // a download, never a page, and the bytes the motion's hash names.
    let saved = laptop.join("report.pdf");
    let out = succeeds(
        lap,
        &["paper", "get", &report[..8], "--out", s(&saved)],
        &env[2],
    );
    assert!(out.contains("SHA-256 checked"), "{out}");
    let bytes = std::fs::read(&saved).expect("saved");
    assert_eq!(hex::encode(Sha256::digest(&bytes)), report);
    let api = FileConfig::read(&dirs[2]).expect("config").api;
    let answer = raw(&api, &api, "GET", &format!("/papers/{report}"), b"", "");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let head = answer.to_ascii_lowercase();
    assert!(
        head.contains("content-type: application/octet-stream"),
        "{answer}"
    );
    assert!(head.contains("content-disposition: attachment; filename=\"due-diligence-"));
    assert!(head.contains("x-content-type-options: nosniff"));

    // ---- 2. Mistakes are refused before anything is signed: nothing is stored.
    let big = laptop.join("scan.pdf");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(mutual_protocol::limits::MAX_PAPER_BYTES + 1))
        .expect("a file one byte over the limit");
    // The partners' feeds on every node: a practice node may write events of its own
    // meanwhile (witnesses, addresses), a partner's key nothing.
    let partner_keys: Vec<String> = members_of(&dirs[0])
        .iter()
        .flat_map(|p| p.partners.iter().map(|x| x.key.clone()))
        .collect();
    let all_events = || {
        dirs.iter()
            .flat_map(|d| {
                let c = Client::of(d).expect("client");
                partner_keys
                    .iter()
                    .map(move |k| {
                        c.get::<mutual_node::api::FeedView>(&format!("/feeds/{k}"))
                            .expect("feed")
                            .seq
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    let before = all_events();
    for (who, args, says) in [
        (
            off,
            vec!["--power", "operational-spending"],
            "the powers they hold: practice-matter (for",
        ),
        (
            on,
            vec!["--power", "buy-a-boat"],
            "no power called \"buy-a-boat\"",
        ),
        (2, vec!["--power", "practice-matter"], "name the practice"),
        (
            off,
            vec!["--power", "practice-matter", "--practice", &ods3],
            "does not let this partner propose under the power practice-matter for",
        ),
        (on, vec!["--attach", s(&big)], "over the limit"),
    ] {
        let mut all = vec![
            "motion",
            "propose",
            "--keystore",
            s(&ks[who]),
            "--kind",
            "resolution",
            "--title",
            "A mistake",
        ];
        all.extend_from_slice(&args);
        let e = fails(lap, &all, &env[who]);
        assert!(e.contains(says), "{args:?}: {e}");
    }
    assert_eq!(
        all_events(),
        before,
        "nothing was signed or stored on any node"
    );

    // ---- 3. The board spends under its power, with the quote attached: only the board
    // votes. A practice decides its own matter: only its partners vote.
    let quote = laptop.join("defibrillator-quote.pdf");
    std::fs::write(&quote, b"%PDF-1.4 quote: two defibrillators, 2,400 GBP\n").expect("quote");
    let spend = propose(
        lap,
        &urls[on],
        &ks[on],
        &[
            "--kind",
            "resolution",
            "--power",
            "operational-spending",
            "--title",
            "Two defibrillators",
            "--attach",
            s(&quote),
            "--voting-minutes",
            "10",
        ],
    );
    let m = motion(&dirs[0], &spend);
    assert_eq!(m.power.as_deref(), Some("operational-spending"));
    assert_eq!(
        (m.decided_by.as_str(), m.tally.electorate),
        ("the board", 1)
    );
    assert_eq!(m.papers.len(), 1);
    wait_for("the quote on every node", 60, || {
        dirs.iter().all(|d| motion(d, &spend).papers[0].held)
    });
    // The upload door refuses from the head alone, before any body is read: a hash that
    // is not whole, one no event names, a length over the limit; a paper held already
    // is acknowledged without its bytes.
    let api1 = FileConfig::read(&dirs[1]).expect("config").api;
    let quote_hash = hex::encode(Sha256::digest(std::fs::read(&quote).expect("quote")));
    for (path, length, says) in [
        ("/papers/abcd".to_string(), "5", "400 "),
        (format!("/papers/{}", "0".repeat(64)), "5", "422 "),
        (
            format!("/papers/{}", "0".repeat(64)),
            &(mutual_protocol::limits::MAX_PAPER_BYTES + 1).to_string(),
            "400 ",
        ),
        (format!("/papers/{quote_hash}"), "5", "200 "),
    ] {
        let answer = head_only(&api1, &path, length);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {says}")),
            "{path} {length}: {answer}"
        );
    }
    let e = fails(
        lap,
        &["vote", "--keystore", s(&ks[off]), &spend[..8], "for"],
        &env[off],
    );
    assert!(e.contains("not in this motion's electorate"), "{e}");
    succeeds(
        lap,
        &["vote", "--keystore", s(&ks[on]), &spend[..8], "for"],
        &env[on],
    );
    let own = propose(
        lap,
        &urls[2],
        &ks[2],
        &[
            "--kind",
            "resolution",
            "--power",
            "practice-matter",
            "--practice",
            &ods3,
            "--title",
            "Open on Saturday mornings",
            "--voting-minutes",
            "10",
        ],
    );
    let m = motion(&dirs[0], &own);
    assert_eq!(
        (m.practice.as_deref(), m.tally.electorate),
        (Some(ods3.as_str()), 1)
    );
    let e = fails(
        lap,
        &["vote", "--keystore", s(&ks[1]), &own[..8], "against"],
        &env[1],
    );
    assert!(e.contains("not in this motion's electorate"), "{e}");
    succeeds(
        lap,
        &["vote", "--keystore", s(&ks[2]), &own[..8], "for"],
        &env[2],
    );

    // ---- 4. The partners take spending back from the board and give the board a term;
    // then elect a board under the new deed.
    let deed_file = laptop.join("deed.toml");
    std::fs::write(
        &deed_file,
        format!(
            "[deed]\ngrace_period_minutes = 5\nmin_voting_minutes = 1\nmax_proxies_per_holder = 1\n\
             agreement = {:?}\nboard_term_minutes = 30\n\n[[deed.power]]\n\
             name = \"operational-spending\"\nproposers = \"all-partners\"\nvoters = \"all-partners\"\n",
            dir.join("agreement.txt")
        ),
    )
    .expect("deed");
    let amend = propose(
        lap,
        &urls[0],
        &ks[0],
        &[
            "--kind",
            "amend-deed",
            "--title",
            "Spending for all partners; three-year board terms",
            "--deed",
            s(&deed_file),
            "--voting-minutes",
            "10",
        ],
    );
    let election = propose(
        lap,
        &urls[0],
        &ks[0],
        &[
            "--kind",
            "elect-board",
            "--title",
            "Board 2028",
            "--per-locality",
            "--candidate",
            ben,
            "--candidate",
            chloe,
            "--voting-minutes",
            "11",
        ],
    );
    for i in 0..3 {
        succeeds(
            lap,
            &["vote", "--keystore", s(&ks[i]), &amend[..8], "for"],
            &env[i],
        );
        succeeds(
            lap,
            &[
                "vote",
                "--keystore",
                s(&ks[i]),
                &election[..8],
                "--rank",
                &format!("{ben},{chloe}"),
            ],
            &env[i],
        );
    }
    pass_time(&dirs, &mut nodes, 20);
    for d in &dirs {
        wait_for("every motion closed", 120, || {
            [&spend, &own, &amend, &election]
                .iter()
                .all(|id| motion(d, id).closed)
        });
    }
    for (id, electorate) in [(&spend, 1), (&own, 1), (&amend, 3)] {
        let m = motion(&dirs[2], id);
        assert_eq!(m.standing, "passed", "{}: {m:?}", m.title);
        assert_eq!(m.tally.electorate, electorate, "{}", m.title);
    }
    let deed = deed_of(&dirs[1]);
    let mut board = deed.board.clone();
    board.sort();
    assert_eq!(
        board,
        [format!("{ben} (North)"), format!("{chloe} (South)")]
    );
    assert!(
        deed.board_term.ends.is_some() && !deed.board_term.election_due,
        "{deed:?}"
    );
    let spending = deed
        .deed
        .powers
        .iter()
        .find(|p| p.rule.kind == "operational-spending")
        .expect("the power");
    assert_eq!(spending.rule.voters, "all partners");
    let history: Vec<Amendment> = Client::of(&dirs[2])
        .expect("client")
        .get("/deed/history")
        .expect("history");
    assert_eq!(history.len(), 1);
    let changes = history[0].changes.join("\n");
    for want in [
        "- power operational-spending: proposed by the board",
        "+ power operational-spending: proposed by all partners",
        "+ board's term: 30 min",
    ] {
        assert!(changes.contains(want), "{want:?} in {changes}");
    }
    let shown = succeeds(lap, &["deed", "history"], &env[0]);
    assert!(shown.contains("Spending for all partners"), "{shown}");

    // ---- 5. The next spending resolution is for all partners.
    let next = propose(
        lap,
        &urls[off],
        &ks[off],
        &[
            "--kind",
            "resolution",
            "--power",
            "operational-spending",
            "--title",
            "A new phone system",
        ],
    );
    let m = motion(&dirs[1], &next);
    assert_eq!(
        (m.decided_by.as_str(), m.tally.electorate),
        ("all partners", 3)
    );

    // ---- 6. The board's term ends: its seats lapse on every node, and an election is due.
    pass_time(&dirs, &mut nodes, 40);
    for d in &dirs {
        wait_for("the board's seats to lapse", 120, || {
            let v = deed_of(d);
            v.board.is_empty() && v.board_term.election_due && v.board_term.lapsed.is_some()
        });
    }
    let shown = succeeds(lap, &["deed", "show"], &env[2]);
    assert!(shown.contains("power operational-spending"), "{shown}");
    assert!(shown.contains("board: none in office"), "{shown}");
    assert!(shown.contains("an election is due"), "{shown}");
    let status = succeeds(lap, &["status"], &env[1]);
    assert!(status.contains("election due board"), "{status}");
    // An aid request carries a rota; every node fetches it.
    let rota = laptop.join("rota.csv");
    std::fs::write(&rota, b"date,session\n2027-01-04,AM\n").expect("rota");
    let day = mutual_node::dates::date_after(mutual_node::now_ms(), 7);
    ok(&[
        "aid",
        "request",
        "--dir",
        s(&dirs[1]),
        "--role",
        "GP",
        "--session",
        &format!("{day} AM"),
        "--attach",
        s(&rota),
    ]);
    wait_for("the rota on every node", 60, || {
        dirs.iter().all(|d| {
            papers_of(d)
                .papers
                .iter()
                .any(|p| p.name == "rota.csv" && p.held)
        })
    });
    let listed = succeeds(lap, &["paper", "list"], &env[2]);
    assert!(listed.contains("defibrillator-quote.pdf"), "{listed}");
    // The agreement is a paper: a partner reads the node's copy, checked against the deed.
    let out = partner_cmd(
        lap,
        &["partner", "accede", "--keystore", s(&ks[0])],
        &env[0],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("this is the agreement the deed names"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("agree"));
    assert_eq!(papers_of(&dirs[2]).held, papers_of(&dirs[2]).named);
    for n in nodes {
        common::stop(n);
    }
}
