//! The deterministic simulator (`node/src/sim/`, docs/NETWORK.md §9): the real node logic
//! (`NodeCore`) on every node, over a simulated network that drops, duplicates,
//! corrupts, delays, reorders and partitions, with crashes and restarts through the
//! store's recovery path, skewed clocks, a forking author and a silent member, while the
//! partnership does its business: motions, ballots, an election, proxies, aid, an
//! invitation and the admission of a new practice, a partner's key rotation; and, with a
//! second partnership, a federation's charter, each side's vote to link, joint motions
//! decided by each network's vote, statements and aid across the federation, and the
//! ally's vote to leave it.
//!
//! - `MUTUAL_SIM_SEEDS=N` runs seeds 1..=N (default [`CI_SEEDS`]).
//! - `MUTUAL_SIM_SEED=S` runs seed S alone.
//!
//! A failing seed is printed with the command that replays it.

use crate::common;

use common::env_number;
use mutual_node::core::Defect;
use mutual_node::sim::shrink::shrink;
use mutual_node::sim::{
    run, Faults, Plan, Report, Violation, MAX_ALLY_PRACTICES, MAX_SIM_NODES, MIN_ALLY_PRACTICES,
    MIN_SIM_NODES,
};
use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Seeds run by default (in CI).
const CI_SEEDS: u64 = 6;
/// Founding practices in the CI runs.
const CI_NODES: usize = 8;

/// Every kind of business the workload does; each must happen in the CI seeds.
const KINDS: &[&str] = &[
    "invitation",
    "admit-practice motion",
    "election",
    "motion",
    "practice resolution",
    "paper",
    "ballot",
    "ranked ballot",
    "proxy",
    "aid request",
    "aid offer",
    "aid acceptance",
    "aid countersign",
    "aid fulfil",
    "aid cancel",
    "aid withdraw",
    "key rotation",
    "key revocation",
    "practice leave",
    "partner resignation",
    "admit-partner motion",
    "accession",
    "practice update",
    "address announcement",
    "charter",
    "link motion",
    "joint motion",
    "joint-motion vote",
    "joint statement",
    "federation aid request",
    "federation aid offer",
];

/// Every kind of event the federation's log must have held at the end of some CI seed:
/// the charter, what the networks' nodes say by themselves (their evidence, joins,
/// rosters once the admitted practice joins one, and decisions on joint motions), and
/// the business across it.
const FEDERATION_KINDS: &[&str] = &[
    "federation_charter",
    "federation_evidence",
    "federation_join",
    "federation_roster",
    "joint_motion",
    "joint_decision",
    "joint_statement",
    "aid_request",
    "aid_offer",
];

/// Every kind of event (docs/PROTOCOL.md §5), by the name `body_name` gives it: each must
/// have taken effect in a partnership's or the federation's log in some CI seed, but for
/// leaving a federation, which the longer federated run shows.
const EVENT_KINDS: &[&str] = &[
    "genesis",
    "practice_update",
    "practice_leave",
    "partner_resign",
    "key_rotation",
    "key_revocation",
    "address_announcement",
    "motion",
    "ballot",
    "aid_request",
    "aid_offer",
    "aid_acceptance",
    "aid_countersign",
    "aid_cancel",
    "aid_fulfil",
    "aid_withdraw",
    "federation_charter",
    "invitation",
    "federation_join",
    "federation_roster",
    "joint_motion",
    "joint_decision",
    "joint_statement",
    "witness",
    "accession",
    "federation_evidence",
];

/// Runs one plan; a broken invariant or a panic becomes an error naming the replay.
fn check(plan: &Plan) -> Result<Report, String> {
    match catch_unwind(AssertUnwindSafe(|| run(plan))) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(f)) => Err(format!(
            "seed {}: {}\n  faults so far: {}\n  replay: {}",
            plan.seed,
            f.violation,
            serde_json::to_string(&f.report).unwrap_or_default(),
            f.replay
        )),
        Err(_) => Err(format!(
            "seed {} panicked\n  replay: {}",
            plan.seed,
            plan.replay()
        )),
    }
}

/// Runs plans on every core; returns the reports and the failures.
fn run_all(plans: Vec<Plan>) -> (Vec<Report>, Vec<String>) {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(plan) = plans.get(i) else { break };
                let r = check(plan);
                results.lock().expect("no thread panics holding it").push(r);
            });
        }
    });
    let results = results.into_inner().expect("no thread panicked");
    let (ok, failed): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    (
        ok.into_iter().filter_map(Result::ok).collect(),
        failed.into_iter().filter_map(Result::err).collect(),
    )
}

#[test]
fn seeds_converge_keep_every_invariant_and_do_every_kind_of_business() {
    let seeds: Vec<u64> = match env_number("MUTUAL_SIM_SEED") {
        Some(s) => vec![s],
        None => (1..=env_number("MUTUAL_SIM_SEEDS").unwrap_or(CI_SEEDS)).collect(),
    };
    let plans = seeds.iter().map(|&s| Plan::sized(s, CI_NODES)).collect();
    let (ok, failed) = run_all(plans);
    let sum = |f: fn(&Report) -> u64| ok.iter().map(f).sum::<u64>();
    println!(
        "{} seeds of {} nodes: {} faults injected ({} dropped, {} duplicated, {} corrupted, \
         {} partitions, {} crashes), {} acknowledged events, none lost, none invalid stored; \
         {} motions closed, {} passed, {} ballots counted; admitted in {} runs",
        ok.len(),
        ok.first().map_or(0, |r| r.nodes),
        sum(Report::faults),
        sum(|r| r.dropped),
        sum(|r| r.duplicated),
        sum(|r| r.corrupted),
        sum(|r| r.partitions),
        sum(|r| r.crashes),
        sum(|r| r.acknowledged),
        sum(|r| r.motions_closed as u64),
        sum(|r| r.motions_passed as u64),
        sum(|r| r.ballots_counted as u64),
        ok.iter().filter(|r| r.admitted).count(),
    );
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert_eq!(ok.len(), seeds.len());
    // Every run had something to survive, and did real business.
    for r in &ok {
        assert!(r.crashes > 0 && r.partitions > 0 && r.dropped > 0, "{r:?}");
        assert!(r.forks <= 1, "{r:?}");
        assert!(r.motions_closed > 0 && r.ballots_counted > 0, "{r:?}");
    }
    if seeds.len() >= 4 {
        let done: BTreeSet<&str> = ok
            .iter()
            .flat_map(|r| r.business.keys().map(String::as_str))
            .collect();
        for kind in KINDS {
            assert!(done.contains(kind), "no run did any {kind}: {done:?}");
        }
        assert!(
            ok.iter().any(|r| r.admitted),
            "the partners admitted the new practice in no run"
        );
        assert!(ok.iter().any(|r| r.motions_passed > 0));
        assert!(
            ok.iter().any(|r| r.papers > 0),
            "no run ended with papers held on every node"
        );
        assert!(ok.iter().any(|r| r.forks == 1), "no run saw the fork");
        let took_effect: BTreeSet<&str> = ok
            .iter()
            .flat_map(|r| r.network_kinds.keys().chain(r.federation_kinds.keys()))
            .map(String::as_str)
            .collect();
        for kind in EVENT_KINDS {
            assert!(
                took_effect.contains(kind),
                "no {kind} took effect in any run: {took_effect:?}"
            );
        }
        assert!(
            ok.iter().any(|r| r.departed == 1),
            "no practice left its partnership in any run"
        );
        // The partnerships linked under the faults and did business across the
        // federation, which every node of both holds alike.
        assert!(
            ok.iter().filter(|r| r.federation_live).count() * 2 >= ok.len(),
            "the federation was live in fewer than half the runs: {ok:?}"
        );
        let in_federation: BTreeSet<&str> = ok
            .iter()
            .flat_map(|r| r.federation_kinds.keys().map(String::as_str))
            .collect();
        for kind in FEDERATION_KINDS {
            assert!(
                in_federation.contains(kind),
                "no federation's log held a {kind}: {in_federation:?}"
            );
        }
        assert!(
            ok.iter().any(|r| r.joint_settled > 0),
            "no joint motion was settled by the networks' decisions"
        );
    }
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let mut plan = Plan::sized(42, 5);
    plan.fault_ms = 90_000;
    let a = run(&plan).expect("seed 42 holds");
    let b = run(&plan).expect("seed 42 holds");
    assert_eq!(
        serde_json::to_string(&a).expect("report"),
        serde_json::to_string(&b).expect("report")
    );
    plan.seed = 43;
    let c = run(&plan).expect("seed 43 holds");
    assert_ne!(a.state_hash, c.state_hash);
}

/// The simulator can fail: a node that keeps its own feed out of its frontiers (so what
/// gossip failed to carry is never pulled) is caught as a failure to converge, and the
/// failing plan shrinks to one with fewer faults that still fails, replayable from the
/// command it prints.
#[test]
fn a_planted_sync_bug_is_found_and_shrunk() {
    let mut plan = Plan::sized(7, 5);
    plan.fault_ms = 60_000;
    plan.defect = Some(Defect::HideOwnFeed);
    let f = run(&plan).expect_err("the planted bug breaks convergence");
    assert!(
        matches!(f.violation, Violation::NotConverged { .. }),
        "{}",
        f.violation
    );
    assert!(
        f.replay.starts_with("mutual simulate --plan '"),
        "{}",
        f.replay
    );
    let (small, why) = shrink(&plan).expect("the plan fails, so it shrinks");
    assert!(matches!(why.violation, Violation::NotConverged { .. }));
    let faults = |p: &Plan| {
        let f = &p.faults;
        [f.forker, f.silent_member, f.runaway_clock]
            .iter()
            .filter(|x| **x)
            .count() as u64
            + u64::from(f.crash_every_ms > 0)
            + u64::from(f.partition_every_ms > 0)
    };
    assert!(
        faults(&small) < faults(&plan)
            || small.nodes < plan.nodes
            || small.fault_ms < plan.fault_ms,
        "nothing was shrunk: {small:?}"
    );
    // The shrunk plan replays from what it prints.
    let json = why
        .replay
        .strip_prefix("mutual simulate --plan '")
        .and_then(|s| s.strip_suffix('\''))
        .expect("a plan replay");
    let replayed: Plan = serde_json::from_str(json).expect("the replay parses");
    assert!(
        run(&replayed).is_err(),
        "the replayed plan fails the same way"
    );
    // Without the defect the same plan holds.
    plan.defect = None;
    run(&plan).expect("the plan holds without the defect");
}

/// The federation's log is checked as closely as the networks': nodes that never sync it
/// are caught as a failure to settle.
#[test]
fn a_planted_federation_sync_bug_is_found() {
    let mut plan = Plan::sized(4, 5);
    plan.defect = Some(Defect::NoFederationSync);
    let f = run(&plan).expect_err("the planted bug breaks the federation's convergence");
    // Each partnership's nodes agree on its log (one group of nodes each), so what is
    // caught is the federation's: its nodes sign nothing there until a sync round shows
    // them their own feed, so the networks' joins are never said.
    let Violation::NotConverged { detail, .. } = &f.violation else {
        panic!("{}", f.violation)
    };
    // (A node not yet admitted holds the log but not its papers: a group of its own, with
    // the same hash.)
    let hashes = |net: &str| -> BTreeSet<String> {
        detail
            .split("; nodes ")
            .filter_map(|group| group.split_once(&format!("network {net}: ")))
            .filter_map(|(_, rest)| rest.split("hash ").nth(1))
            .map(|h| h.chars().take(12).collect())
            .collect()
    };
    assert_eq!(hashes("0").len(), 1, "{detail}");
    assert_eq!(hashes("1").len(), 1, "{detail}");
    assert!(detail.contains("federation 1 events"), "{detail}");
    // Without the defect the same plan holds, and the federation went live.
    plan.defect = None;
    let r = run(&plan).expect("the plan holds without the defect");
    assert!(r.federation_live, "{r:?}");
}

#[test]
fn the_checks_catch_a_lost_acknowledged_write() {
    // Authors that acknowledge before the write is durable lose an event in some crash.
    let mut plan = Plan::sized(3, 5);
    plan.fault_ms = 120_000;
    plan.faults.crash_every_ms = 2_000;
    plan.defect = Some(Defect::AckBeforeDurable);
    match run(&plan) {
        Err(f) if matches!(f.violation, Violation::AcknowledgedLost { .. }) => {}
        other => panic!("the lost acknowledged event went unnoticed: {other:?}"),
    }
    // Without the defect the same plan holds.
    plan.defect = None;
    run(&plan).expect("the plan holds without the defect");
}

#[test]
fn a_perfect_network_converges_too() {
    let mut plan = Plan::sized(11, MIN_SIM_NODES);
    plan.faults = Faults::none();
    plan.fault_ms = 60_000;
    let r = run(&plan).expect("no faults, no failure");
    assert_eq!(r.faults(), 0);
    assert_eq!(r.forks, 0);
}

#[test]
fn plans_outside_the_limits_are_refused() {
    for nodes in [MIN_SIM_NODES - 1, MAX_SIM_NODES + 1] {
        let plan = Plan::sized(1, nodes);
        assert!(
            matches!(run(&plan), Err(f) if matches!(f.violation, Violation::Nodes(n, _) if n == nodes))
        );
    }
    for allies in [MIN_ALLY_PRACTICES - 1, MAX_ALLY_PRACTICES + 1] {
        let mut plan = Plan::sized(1, MIN_SIM_NODES);
        plan.allies = allies;
        assert!(
            matches!(run(&plan), Err(f) if matches!(f.violation, Violation::Nodes(_, a) if a == allies))
        );
    }
}

#[test]
fn a_longer_run_seats_a_board_that_uses_its_powers_and_is_elected_again_when_its_term_lapses() {
    // The board takes its seats a voting period and a grace period (at least seven
    // simulated minutes) after it is proposed, and its term is four minutes: twenty
    // minutes of business give it time to act under its powers, to lapse, and to be
    // elected again.
    // The partnership alone: the federation's business is the next test's.
    let plans: Vec<Plan> = (1..=2)
        .map(|seed| {
            let mut p = Plan::sized(seed, 6);
            p.fault_ms = 20 * 60_000;
            p.allies = 0;
            p
        })
        .collect();
    let (ok, failed) = run_all(plans);
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    let did = |what: &str| {
        ok.iter()
            .map(|r| r.business.get(what).copied().unwrap_or(0))
            .sum::<u64>()
    };
    assert!(did("board resolution") > 0, "no board resolution: {ok:?}");
    assert!(
        ok.iter().any(|r| r.boards_elected >= 2),
        "no board was elected again after its term: {ok:?}"
    );
}

#[test]
fn a_longer_federated_run_agrees_aid_and_settles_joint_motions_across_the_federation_then_the_ally_leaves(
) {
    // The federation is live about eight simulated minutes in; twelve more minutes of
    // business under the faults give time for aid to be asked, offered, accepted and
    // countersigned across it, and for joint motions to be decided by both networks.
    const SEEDS: u64 = 6;
    let plans: Vec<Plan> = (1..=SEEDS)
        .map(|seed| {
            let mut p = Plan::sized(seed, 6);
            p.fault_ms = 20 * 60_000;
            p
        })
        .collect();
    let (ok, failed) = run_all(plans);
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert_eq!(ok.len(), SEEDS as usize);
    for r in &ok {
        assert!(r.federation_live && r.networks_linked == 2, "{r:?}");
        assert!(
            r.federation_aid_agreed > 0,
            "no aid agreed across it: {r:?}"
        );
        assert!(r.joint_settled > 0, "no joint motion settled: {r:?}");
        // Once admitted, the practice is on its network's roster in the federation: its
        // network said its new roster.
        assert!(!r.admitted || r.joiner_on_roster, "{r:?}");
    }
    // What the partners' votes decide is the seed's, not a guarantee of any one run: the
    // admission passes only if enough partners take up the motion in time, and of two
    // networks, the first to decide against a joint motion settles it
    // (docs/FEDERATION.md §6), the other's decision then coming too late, as it should.
    // Across the seeds, both happen.
    assert!(
        ok.iter().any(|r| r.admitted && r.joiner_on_roster),
        "the practice was admitted and on the roster in no run: {ok:?}"
    );
    assert!(
        ok.iter().any(|r| r.joint_decided_by_all > 0),
        "no joint motion decided by both networks: {ok:?}"
    );
    // Once a joint motion is decided by both networks and aid agreed there, the ally's
    // partners vote to leave the federation, and its nodes say so in the federation's log.
    let left: Vec<&Report> = ok.iter().filter(|r| r.federation_left).collect();
    assert!(
        !left.is_empty(),
        "the ally left the federation in no run: {ok:?}"
    );
    for r in left {
        assert!(r.business.contains_key("leave motion"), "{r:?}");
        assert!(r.federation_kinds.contains_key("federation_leave"), "{r:?}");
    }
}
