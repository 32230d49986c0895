//! The partners' decisions through the real binary, across separate node processes, each
//! partner signing with their own keystore from a directory that holds no node data and
//! no token (`--node URL`): a deed amendment that names the partnership's agreement,
//! allows proxies and changes how the next resolution is counted; a partner admitted who
//! cannot vote until she signs the agreement; a board election with one seat per
//! locality and a chair election with ranked ballots and a declaration of interest; a
//! proxy's vote counted, capped by the deed and withdrawn by revocation; a lost key
//! replaced by the others' vote. And the refusal, before anything is signed, of every
//! mistake (unknown candidate, non-candidate ranked, a candidate ranked twice, proxy to
//! oneself, proxy chain, an invalid deed, a voting period the deed refuses, the wrong
//! agreement, replacing one's own key, a keystore that would fork its feed).

use crate::common;

use common::partners::*;
use common::{s, start, stop};
use mutual_node::client::Client;

#[test]
fn partners_decide_everything_the_deed_allows_from_their_own_machines() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let DemoPartnership {
        dir,
        dirs,
        laptop,
        ks,
        urls,
        ..
    } = demo_partnership(tmp.path());
    let lap = laptop.as_path();
    // A partner admitted below makes his key on his own machine.
    let dev_ks = laptop.join("dev.keystore");
    succeeds(lap, &["keystore", "new", "--out", s(&dev_ks)], &[]);
    let env: Vec<[(&str, &str); 1]> = urls.iter().map(|u| [("MUTUAL_NODE", u.as_str())]).collect();
    let mut nodes: Vec<_> = dirs.iter().map(|d| start(d)).collect();
    let (amara, ben, chloe) = ("Dr Amara Okafor", "Dr Ben Hughes", "Dr Chloe Patel");
    let members = members_of(&dirs[0]);
    assert_eq!(members.len(), 3);
    let ods3 = members
        .iter()
        .find(|p| p.partners.iter().any(|x| x.name == chloe))
        .expect("the admitted practice, with its first partner")
        .ods
        .clone();

    // ---- 1. Mistakes are refused before anything is signed: nothing is stored.
    let fresh = mutual_protocol::keys::Keypair::from_seed(&[8; 32])
        .expect("key")
        .public()
        .to_string();
    let before = partners_events(&dirs[0]);
    let bad_deed = laptop.join("bad-deed.toml");
    std::fs::write(
        &bad_deed,
        "[deed]\n[[deed.rule]]\nkind = \"general\"\nvoters = \"everyone\"\n",
    )
    .expect("write");
    for (args, says) in [
        (
            vec![
                "--kind",
                "general",
                "--title",
                "Too short",
                "--voting-minutes",
                "0",
            ],
            "voting period",
        ),
        (
            vec![
                "--kind",
                "elect-board",
                "--title",
                "B",
                "--per-locality",
                "--candidate",
                "Dr Nobody",
            ],
            "no partner is called",
        ),
        (
            vec![
                "--kind",
                "elect-board",
                "--title",
                "B",
                "--candidate",
                amara,
            ],
            "--seats N or --per-locality",
        ),
        (
            vec![
                "--kind",
                "amend-deed",
                "--title",
                "Bad",
                "--deed",
                s(&bad_deed),
            ],
            "voters \"everyone\"",
        ),
        (
            vec![
                "--kind",
                "replace-key",
                "--title",
                "Mine",
                "--subject",
                amara,
                "--replacement-key",
                &fresh,
            ],
            "your own key",
        ),
    ] {
        let mut all = vec!["motion", "propose", "--keystore", s(&ks[0])];
        all.extend_from_slice(&args);
        let e = fails(lap, &all, &env[0]);
        assert!(e.contains(says), "{args:?}: {e}");
    }
    assert_eq!(
        partners_events(&dirs[0]),
        before,
        "nothing was signed or stored"
    );
    // The voting period equal to the deed's least (1 minute in the demo) is accepted.
    propose(
        lap,
        &urls[0],
        &ks[0],
        &[
            "--kind",
            "general",
            "--title",
            "One minute",
            "--voting-minutes",
            "1",
        ],
    );

    // ---- 2. The deed names the agreement, allows one proxy each, and asks unanimity of
    // the votes cast for ordinary resolutions.
    let agreement = laptop.join("agreement.txt");
    std::fs::write(
        &agreement,
        "The partners agree to share the work and the risk.\n",
    )
    .expect("write");
    let deed_file = laptop.join("deed.toml");
    std::fs::write(
        &deed_file,
        "[deed]\ngrace_period_minutes = 5\nmin_voting_minutes = 1\nmax_proxies_per_holder = 1\n\
         agreement = \"agreement.txt\"\n\n[[deed.rule]]\nkind = \"general\"\nthreshold_percent = 100\n",
    )
    .expect("write");
    let out = partner_cmd(
        lap,
        &[
            "motion",
            "propose",
            "--keystore",
            s(&ks[1]),
            "--kind",
            "amend-deed",
            "--title",
            "Our agreement, proxies, unanimity",
            "--deed",
            s(&deed_file),
            "--voting-minutes",
            "10",
        ],
        &env[1],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stderr);
    for line in [
        "- general:",
        "+ general:",
        "100%",
        "- agreement: SHA-256",
        "+ agreement: SHA-256",
    ] {
        assert!(
            said.contains(line),
            "the rules' diff is shown before signing, {line:?}: {said}"
        );
    }
    let amend = String::from_utf8_lossy(&out.stdout).trim().to_string();
    for i in 0..2 {
        succeeds(
            lap,
            &["vote", "--keystore", s(&ks[i]), &amend[..8], "for"],
            &env[i],
        );
    }
    pass_time(&dirs, &mut nodes, 20);
    for d in &dirs {
        wait_for("the amendment closed", 120, || motion(d, &amend).closed);
    }
    assert_eq!(motion(&dirs[2], &amend).standing, "passed");
    // Closed, its ballots are kept beside the state in the store and still shown.
    let ballots = motion(&dirs[2], &amend).ballots.expect("shown");
    assert_eq!(ballots.len(), 2, "{ballots:?}");
    assert!(ballots.iter().all(|(_, v)| v == "for"), "{ballots:?}");
    // The list of every motion does not read them back.
    let listed = motions(&dirs[2]);
    let listed = listed.iter().find(|m| m.id == amend).expect("listed");
    assert!(listed.closed && listed.ballots.is_none() && listed.interests.is_none());

    // ---- 3. A partner admitted signs the agreement in force before he votes.
    let (dev, demo_agreement) = ("Dr Dev Shah", dir.join("agreement.txt"));
    let dev_key = mutual_node::keystore::Keystore::read(&dev_ks)
        .expect("ks")
        .public()
        .to_string();
    let admit = propose(
        lap,
        &urls[0],
        &ks[0],
        &[
            "--kind",
            "admit-partner",
            "--title",
            "Admit Dr Dev Shah",
            "--partner-name",
            dev,
            "--ods",
            &ods3,
            "--partner-key",
            &dev_key,
            "--voting-minutes",
            "10",
        ],
    );
    for i in 0..2 {
        succeeds(
            lap,
            &[
                "vote",
                "--node",
                &urls[i],
                "--keystore",
                s(&ks[i]),
                &admit[..10],
                "for",
            ],
            &[],
        );
    }
    pass_time(&dirs, &mut nodes, 20);
    for d in &dirs {
        wait_for("the partner admitted", 120, || motion(d, &admit).closed);
    }
    let pending = succeeds(lap, &["members"], &env[2]);
    assert!(
        pending.contains("Dr Dev Shah — partner [pending: has not yet signed the agreement]"),
        "{pending}"
    );
    let before = partners_events(&dirs[2]);
    let e = fails(
        lap,
        &[
            "motion",
            "propose",
            "--keystore",
            s(&dev_ks),
            "--kind",
            "general",
            "--title",
            "Too soon",
        ],
        &env[2],
    );
    assert!(
        e.contains("has not yet signed the partnership's agreement"),
        "{e}"
    );
    // The demo's agreement is no longer the one in force.
    let wrong = demo_agreement;
    let e = fails(
        lap,
        &[
            "partner",
            "accede",
            "--keystore",
            s(&dev_ks),
            "--agreement",
            s(&wrong),
            "--yes",
        ],
        &env[2],
    );
    assert!(e.contains("is not the agreement the deed names"), "{e}");
    let shown = succeeds(
        lap,
        &[
            "partner",
            "accede",
            "--keystore",
            s(&dev_ks),
            "--agreement",
            s(&agreement),
        ],
        &env[2],
    );
    assert!(
        shown.contains("share the work and the risk"),
        "the agreement is shown: {shown}"
    );
    assert_eq!(
        partners_events(&dirs[2]),
        before,
        "nothing signed before he says yes"
    );
    succeeds(
        lap,
        &[
            "partner",
            "accede",
            "--keystore",
            s(&dev_ks),
            "--agreement",
            s(&agreement),
            "--yes",
        ],
        &env[2],
    );
    wait_for("the accession everywhere", 60, || {
        dirs.iter().all(|d| {
            let m = members_of(d);
            m.iter()
                .flat_map(|p| &p.partners)
                .any(|x| x.name == dev && x.status == "active")
        })
    });
    // An accession by a partner who is not pending (the wrong key) is refused unsigned.
    let before = partners_events(&dirs[0]);
    let e = fails(
        lap,
        &[
            "partner",
            "accede",
            "--keystore",
            s(&ks[0]),
            "--agreement",
            s(&agreement),
            "--yes",
        ],
        &env[0],
    );
    assert!(e.contains("refused before signing"), "{e}");
    assert_eq!(partners_events(&dirs[0]), before);

    // ---- 4. Elections, a declaration of interest, proxies, a key replacement.
    let board = propose(
        lap,
        &urls[0],
        &ks[0],
        &[
            "--kind",
            "elect-board",
            "--title",
            "Board 2027",
            "--per-locality",
            "--candidate",
            amara,
            "--candidate",
            ben,
            "--candidate",
            chloe,
            "--voting-minutes",
            "10",
        ],
    );
    let chair = propose(
        lap,
        &urls[1],
        &ks[1],
        &[
            "--kind",
            "elect-chair",
            "--title",
            "Chair 2027",
            "--candidate",
            amara,
            "--candidate",
            chloe,
            "--voting-minutes",
            "10",
        ],
    );
    let defib = propose(
        lap,
        &urls[0],
        &ks[0],
        &[
            "--kind",
            "general",
            "--title",
            "Buy a defibrillator",
            "--voting-minutes",
            "10",
        ],
    );
    let chloe_new = laptop.join("chloe-new.keystore");
    succeeds(lap, &["keystore", "new", "--out", s(&chloe_new)], &[]);
    let chloe_new_key = mutual_node::keystore::Keystore::read(&chloe_new)
        .expect("ks")
        .public()
        .to_string();
    let replace = propose(
        lap,
        &urls[1],
        &ks[1],
        &[
            "--kind",
            "replace-key",
            "--title",
            "Dr Patel lost her laptop",
            "--subject",
            chloe,
            "--replacement-key",
            &chloe_new_key,
            "--voting-minutes",
            "10",
        ],
    );
    let (b, c, d, r) = (&board[..8], &chair[..8], &defib[..8], &replace[..8]);
    // Ranked ballots by short id prefix, from the laptop, MUTUAL_NODE naming the node.
    for (i, rank) in [
        (0, format!("{amara},{chloe},{ben}")),
        (1, format!("{ben},{amara},{chloe}")),
        (2, format!("{chloe},{ben}")),
    ] {
        succeeds(
            lap,
            &["vote", "--keystore", s(&ks[i]), b, "--rank", &rank],
            &env[i],
        );
    }
    // Bad ballots: a non-candidate ranked, a candidate ranked twice, a yes/no vote on an
    // election, a proxy to oneself, a proxy chain, the subject voting on her own key.
    let before = partners_events(&dirs[0]);
    for (i, args, says) in [
        (
            0,
            vec!["vote", "--keystore", s(&ks[0]), c, "--rank", ben],
            "not a candidate",
        ),
        (
            0,
            vec![
                "vote",
                "--keystore",
                s(&ks[0]),
                c,
                "--rank",
                &format!("{amara},{amara}"),
            ],
            "ranked twice",
        ),
        (
            0,
            vec!["vote", "--keystore", s(&ks[0]), c, "for"],
            "is an election",
        ),
        (
            0,
            vec![
                "proxy",
                "appoint",
                "--keystore",
                s(&ks[0]),
                d,
                "--to",
                amara,
            ],
            "yourself",
        ),
        (
            2,
            vec!["vote", "--keystore", s(&ks[2]), r, "for"],
            "refused before signing",
        ),
    ] {
        let e = fails(lap, &args, &env[i]);
        assert!(e.contains(says), "{args:?}: {e}");
    }
    assert_eq!(
        partners_events(&dirs[0]),
        before,
        "nothing was signed or stored"
    );
    // Ben declares an interest in the chair election and is left out of its vote.
    succeeds(
        lap,
        &[
            "vote",
            "--keystore",
            s(&ks[1]),
            c,
            "--declare-interest",
            "I am standing next year",
        ],
        &env[1],
    );
    succeeds(
        lap,
        &[
            "vote",
            "--keystore",
            s(&ks[0]),
            c,
            "--rank",
            &format!("{amara},{chloe}"),
        ],
        &env[0],
    );
    succeeds(
        lap,
        &[
            "vote",
            "--keystore",
            s(&ks[2]),
            c,
            "--rank",
            &format!("{amara},{chloe}"),
        ],
        &env[2],
    );
    let e = fails(
        lap,
        &["vote", "--keystore", s(&ks[1]), c, "--rank", amara],
        &env[1],
    );
    assert!(e.contains("refused before signing"), "{e}");
    // The key replacement: the others vote; Chloe, its subject, is recused.
    for i in 0..2 {
        succeeds(lap, &["vote", "--keystore", s(&ks[i]), r, "for"], &env[i]);
    }
    // Proxies: Ben appoints Amara on the resolution; she votes for him; one proxy each.
    succeeds(
        lap,
        &[
            "proxy",
            "appoint",
            "--keystore",
            s(&ks[1]),
            d,
            "--to",
            amara,
        ],
        &env[1],
    );
    let e = fails(
        lap,
        &[
            "proxy",
            "appoint",
            "--keystore",
            s(&ks[2]),
            d,
            "--to",
            amara,
        ],
        &env[2],
    );
    assert!(
        e.contains("refused before signing"),
        "the deed's cap of one proxy: {e}"
    );
    succeeds(lap, &["vote", "--keystore", s(&ks[0]), d, "for"], &env[0]);
    succeeds(
        lap,
        &[
            "vote",
            "--keystore",
            s(&ks[0]),
            d,
            "for",
            "--on-behalf-of",
            ben,
        ],
        &env[0],
    );
    let e = fails(
        lap,
        &[
            "vote",
            "--keystore",
            s(&ks[2]),
            d,
            "for",
            "--on-behalf-of",
            ben,
        ],
        &env[2],
    );
    assert!(
        e.contains("refused before signing"),
        "only the holder votes for Ben: {e}"
    );
    succeeds(
        lap,
        &["vote", "--keystore", s(&ks[2]), d, "against"],
        &env[2],
    );
    wait_for("the proxy vote counted", 60, || {
        motion(&dirs[2], &defib).tally.votes_for == 2
    });
    // Revoking the proxy withdraws the vote it cast; Ben then votes himself.
    succeeds(
        lap,
        &["proxy", "revoke", "--keystore", s(&ks[1]), d],
        &env[1],
    );
    wait_for("the proxy vote withdrawn", 60, || {
        motion(&dirs[1], &defib).tally.votes_for == 1
    });
    succeeds(lap, &["vote", "--keystore", s(&ks[1]), d, "for"], &env[1]);
    // Counted on the first node too, so that its log holds every partner's event before
    // the refusal below is checked to add none.
    wait_for("Ben's own vote reaches the first node", 60, || {
        motion(&dirs[0], &defib).tally.votes_for == 2
    });

    // The keystore records its last event: a record ahead of what the node knows (the
    // key signed elsewhere, and the node has not seen it) refuses to sign.
    let record = mutual_node::keystore::record_path(&ks[0]);
    let kept = std::fs::read_to_string(&record).expect("a record beside the keystore");
    let mut v: serde_json::Value = serde_json::from_str(&kept).expect("JSON");
    v["seq"] = serde_json::json!(v["seq"].as_u64().expect("seq") + 3);
    std::fs::write(&record, v.to_string()).expect("write");
    let before = partners_events(&dirs[0]);
    let e = fails(
        lap,
        &[
            "motion",
            "propose",
            "--keystore",
            s(&ks[0]),
            "--kind",
            "general",
            "--title",
            "Fork?",
        ],
        &env[0],
    );
    assert!(e.contains("would fork your feed"), "{e}");
    assert_eq!(partners_events(&dirs[0]), before);
    std::fs::write(&record, kept).expect("restore");

    // ---- 5. Time passes: the votes close and take effect.
    pass_time(&dirs, &mut nodes, 20);
    for dd in &dirs {
        wait_for("the votes closed", 120, || {
            [&board, &chair, &defib, &replace]
                .iter()
                .all(|id| motion(dd, id).closed)
        });
    }
    let m = motion(&dirs[0], &board);
    assert_eq!(m.standing, "passed", "{:?}", m.tally);
    assert_eq!(
        m.tally.elected.len(),
        2,
        "one seat per locality: {:?}",
        m.tally
    );
    assert!(
        m.tally.elected.iter().any(|e| e == ben),
        "North's runoff: {:?}",
        m.tally
    );
    assert!(
        m.tally.elected.iter().any(|e| e == chloe),
        "South's only candidate"
    );
    assert!(
        m.tally
            .rounds
            .iter()
            .any(|r| r.starts_with("North: round 1")),
        "{:?}",
        m.tally.rounds
    );
    let m = motion(&dirs[0], &chair);
    assert_eq!(m.tally.elected, vec![amara.to_string()], "{:?}", m.tally);
    assert_eq!(m.tally.recused, 1, "the declared interest recuses");
    let shown = succeeds(lap, &["motion", "show", b], &env[0]);
    // Times are dates and durations, not epoch milliseconds.
    assert!(
        shown.contains(" UTC (") && shown.contains(" ago)"),
        "{shown}"
    );
    assert!(shown.contains("count    North: round 1"), "{shown}");
    let listed = succeeds(lap, &["members"], &env[1]);
    assert!(
        listed.contains("Dr Amara Okafor — partner (chair)"),
        "{listed}"
    );
    assert!(
        listed.contains("Dr Ben Hughes — partner (board)"),
        "{listed}"
    );
    assert!(
        listed.contains("Dr Chloe Patel — partner (board)"),
        "{listed}"
    );
    let deed = succeeds(lap, &["deed", "show"], &env[0]);
    assert!(
        deed.lines()
            .any(|l| l.starts_with("general ") && l.contains("100% of votes cast")),
        "{deed}"
    );
    assert!(deed.contains("Our agreement, proxies, unanimity"), "{deed}");
    assert!(
        deed.contains("board: Dr Ben Hughes (North), Dr Chloe Patel (South)")
            || deed.contains("board: Dr Chloe Patel (South), Dr Ben Hughes (North)"),
        "{deed}"
    );
    // Counted by the amended rule: 2 for, 1 against fails unanimity.
    let m = motion(&dirs[0], &defib);
    assert!(
        m.standing.starts_with("failed"),
        "{} {:?}",
        m.standing,
        m.tally
    );
    assert_eq!((m.tally.votes_for, m.tally.votes_against), (2, 1));
    let listed = succeeds(lap, &["motion", "list"], &env[0]);
    assert!(listed.contains("Buy a defibrillator: failed"), "{listed}");
    assert!(listed.contains("Board 2027: passed"), "{listed}");
    assert!(listed.contains("One minute: lapsed"), "{listed}");

    // ---- 6. The replaced key no longer signs; the replacement votes for Chloe.
    let last = propose(
        lap,
        &urls[0],
        &ks[0],
        &[
            "--kind",
            "general",
            "--title",
            "A new rota",
            "--voting-minutes",
            "10",
        ],
    );
    let e = fails(
        lap,
        &["vote", "--keystore", s(&ks[2]), &last[..8], "for"],
        &env[2],
    );
    assert!(e.contains("rotated or revoked"), "{e}");
    succeeds(
        lap,
        &["vote", "--keystore", s(&chloe_new), &last[..8], "for"],
        &env[2],
    );
    wait_for("the replacement's vote counted", 60, || {
        let m = motion(&dirs[0], &last);
        m.ballots
            .iter()
            .flatten()
            .any(|(who, v)| who == chloe && v == "for")
    });
    // The partner admitted in step 3 votes, now that he signed the agreement.
    succeeds(
        lap,
        &["vote", "--keystore", s(&dev_ks), &last[..8], "against"],
        &env[2],
    );
    wait_for("his vote counted", 60, || {
        let m = motion(&dirs[0], &last);
        m.ballots
            .iter()
            .flatten()
            .any(|(who, v)| who == dev && v == "against")
    });

    // An invitation for a practice that is already a member is refused.
    let stranger = mutual_protocol::keys::Keypair::from_seed(&[9; 32])
        .expect("key")
        .public()
        .to_string();
    let e = common::refused(
        &[
            "invite",
            "--dir",
            s(&dirs[0]),
            "--node-key",
            &stranger,
            "--name",
            "Again",
            "--ods",
            &ods3,
        ],
        None,
    );
    assert!(e.contains(&format!("ODS code {ods3} is already")), "{e}");
    // Aid commits a practice only by a partner's signature (the deed's default): an
    // offer by the node alone is refused before anything is signed; the partner's counts.
    let day = mutual_node::dates::date_after(mutual_node::now_ms(), 20);
    let req = common::ok(&[
        "aid",
        "request",
        "--dir",
        s(&dirs[0]),
        "--role",
        "GP",
        "--session",
        &format!("{day} AM"),
    ]);
    let req = req.trim();
    wait_for("the request reaches practice 2", 60, || {
        let v: mutual_node::api::AidView =
            Client::of(&dirs[1]).expect("c").get("/aid").expect("aid");
        v.requests.iter().any(|r| r.id == req)
    });
    let before = partners_events(&dirs[1]);
    let e = common::refused(
        &["aid", "offer", "--dir", s(&dirs[1]), req, "--role", "GP"],
        None,
    );
    assert!(e.contains("sign its aid offers"), "{e}");
    assert_eq!(partners_events(&dirs[1]), before, "nothing signed");
    let offer = succeeds(
        lap,
        &[
            "aid",
            "offer",
            "--dir",
            s(&dirs[1]),
            "--keystore",
            s(&ks[1]),
            req,
            "--role",
            "GP",
        ],
        &[],
    );
    assert_eq!(offer.trim().len(), 64, "{offer}");
    // Aid for a day that has passed is refused before the node signs it.
    let e = common::refused(
        &[
            "aid",
            "request",
            "--dir",
            s(&dirs[0]),
            "--role",
            "GP",
            "--session",
            "2020-01-06 AM",
        ],
        None,
    );
    assert!(e.contains("that day has passed"), "{e}");
    // ---- 7. Practice 3's node key is rotated and taken up at the restart.
    let old_key = mutual_node::keyfile::read(&dirs[2].join("node.key"))
        .expect("key")
        .public()
        .to_string();
    let out = succeeds(
        lap,
        &["practice", "rotate-key", "--dir", s(&dirs[2]), "--json"],
        &[],
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let new_key = v["new_key"].as_str().expect("new key").to_string();
    assert!(dirs[2].join("node.key.next").exists());
    wait_for("the rotation everywhere", 60, || {
        dirs.iter().all(|d| {
            let m = members_of(d);
            m.iter().any(|p| p.ods == ods3 && p.node_key == new_key)
        })
    });
    let n3 = nodes.pop().expect("node 3");
    stop(n3);
    nodes.push(start(&dirs[2]));
    let taken = mutual_node::keyfile::read(&dirs[2].join("node.key")).expect("key");
    assert_eq!(
        taken.public().to_string(),
        new_key,
        "the node took up its new key"
    );
    let kept = mutual_node::keyfile::read(&dirs[2].join("node.key.old")).expect("old");
    assert_eq!(kept.public().to_string(), old_key);
    wait_for("the renewed node meets its peers", 60, || {
        common::status(&dirs[2]).is_some_and(|st| {
            st["peers"].as_array().map_or(0, Vec::len) >= 1
                && st["admitted"] == true
                && st["head_confirmed"] == true
        })
    });
    let req3 = common::ok(&[
        "aid",
        "request",
        "--dir",
        s(&dirs[2]),
        "--role",
        "practice nurse",
        "--session",
        &format!("{day} PM"),
    ]);
    wait_for("the new key's event reaches practice 1", 60, || {
        let v: mutual_node::api::AidView =
            Client::of(&dirs[0]).expect("c").get("/aid").expect("aid");
        v.requests.iter().any(|r| r.id == req3.trim())
    });
    // ---- 8. A practice revokes its partner's stolen key; a partner resigns; a practice
    // changes its details, then leaves.
    common::ok(&[
        "practice",
        "revoke-partner-key",
        "--dir",
        s(&dirs[2]),
        "--partner",
        dev,
        "--reason",
        "laptop stolen",
    ]);
    wait_for("the revocation reaches practice 3's peers", 60, || {
        let m = members_of(&dirs[0]);
        m.iter()
            .flat_map(|p| &p.partners)
            .any(|x| x.name == dev && x.key.is_empty())
    });
    let e = fails(
        lap,
        &["vote", "--keystore", s(&dev_ks), &last[..8], "for"],
        &env[0],
    );
    assert!(e.contains("rotated or revoked"), "{e}");
    succeeds(
        lap,
        &[
            "partner",
            "resign",
            "--keystore",
            s(&chloe_new),
            "--reason",
            "retiring",
        ],
        &env[2],
    );
    common::ok(&[
        "practice",
        "update",
        "--dir",
        s(&dirs[2]),
        "--name",
        "Parkview Health",
    ]);
    let e = common::refused(
        &[
            "practice",
            "leave",
            "--dir",
            s(&dirs[2]),
            "--reason",
            "merging",
        ],
        None,
    );
    assert!(e.contains("--yes"), "{e}");
    common::ok(&[
        "practice",
        "leave",
        "--dir",
        s(&dirs[2]),
        "--reason",
        "merging",
        "--yes",
    ]);
    wait_for(
        "the resignation, the new name and the leaving everywhere",
        60,
        || {
            let m = members_of(&dirs[0]);
            m.iter()
                .any(|p| p.ods == ods3 && p.name == "Parkview Health" && p.status == "left")
        },
    );
    let m = members_of(&dirs[1]);
    let chloe_status = m
        .iter()
        .flat_map(|p| &p.partners)
        .find(|x| x.name == chloe)
        .map(|x| x.status.clone());
    assert_eq!(chloe_status.as_deref(), Some("left"));
    for n in nodes {
        stop(n);
    }
    // Logs written to a file carry no terminal colour codes.
    let log = std::fs::read_to_string(dirs[0].join("node.log")).expect("log");
    assert!(
        !log.is_empty() && !log.contains('\u{1b}'),
        "no ANSI codes in the log file"
    );
}
