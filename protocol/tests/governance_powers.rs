//! Decisions at the level the deed sets (docs/GOVERNANCE.md §2.5): resolutions under the
//! deed's powers, proposed and decided by the board, by one practice's partners or by all
//! partners as each power says; and terms of office that lapse by witnessed time (§8.2).

use crate::common;
use crate::governance_common;

use common::{key, T0};
use governance_common::*;
use mutual_proto::v1 as pb;
use mutual_protocol::event::Body;
use mutual_protocol::governance::deed::{default_deed, default_rule, MAX_TERM_MS};
use mutual_protocol::governance::{GovernanceError, Term};
use pb::{Choice, DecisionKind, Group};

/// A resolution under `power`, open from `at` for two days.
fn resolution(power: &str, practice: &str, at: u64) -> pb::Motion {
    pb::Motion {
        power: power.into(),
        subject_ods: practice.into(),
        opens_at_ms: at,
        closes_at_ms: at + 2 * DAY,
        ..motion(DecisionKind::General)
    }
}

/// Elects partners 102 (practice 1) and 104 (practice 2) to a two-seat board.
fn elect_board(net: &mut Net) -> mutual_protocol::id::EventId {
    let (m, _) = elect_offices(net, &[102, 104], None);
    assert_eq!(net.r.state().governance().board().len(), 2);
    m
}

fn rejection(net: &Net, id: &mutual_protocol::id::EventId) -> Option<GovernanceError> {
    governance_rejection(&net.outcome(id)).cloned()
}

#[test]
fn a_board_power_is_proposed_and_decided_by_the_board_alone() {
    let mut net = Net::new(3, Some(default_deed()));
    elect_board(&mut net);
    let later = T0 + 5 * DAY;
    // Partner 103 is not on the board: refused, told which powers they hold.
    let off = net.event(
        103,
        later,
        Body::Motion(resolution("operational-spending", "", later)),
    );
    match rejection(&net, &off) {
        Some(GovernanceError::NotEmpowered { power, held }) => {
            assert_eq!(power, "operational-spending");
            assert_eq!(held, "practice-matter (for M85001)");
        }
        other => panic!("{other:?}"),
    }
    let said = rejection(&net, &off)
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        said.contains("the powers they hold: practice-matter (for M85001)"),
        "{said}"
    );
    // A board member proposes; the electorate is the board; a vote from off the board
    // is refused; the two board votes pass it.
    let m = net.propose(104, later, resolution("operational-spending", "", later));
    let rec = net.r.state().governance().motion(&m).expect("motion");
    assert_eq!(rec.power.as_deref(), Some("operational-spending"));
    assert_eq!(net.tally(&m).electorate, 2);
    let outsider = net.vote(105, later + 1, m, Choice::Against);
    assert_eq!(
        rejection(&net, &outsider),
        Some(GovernanceError::NotInElectorate)
    );
    net.vote(102, later + 1, m, Choice::For);
    net.vote(104, later + 1, m, Choice::For);
    net.tick(later + 3 * DAY + 1);
    assert!(net.closed(&m));
    let t = net.tally(&m);
    assert!(t.passed, "{t}");
    assert_eq!((t.electorate, t.votes_for), (2, 2));
}

#[test]
fn a_practice_decides_its_own_matter_among_its_own_partners() {
    let mut net = Net::new(3, Some(default_deed()));
    let later = T0 + DAY;
    // Practice 2 (M85002): partners 104 and 105.
    let m = net.propose(104, later, resolution("practice-matter", "M85002", later));
    assert_eq!(net.tally(&m).electorate, 2);
    let other = net.vote(102, later + 1, m, Choice::For);
    assert_eq!(
        rejection(&net, &other),
        Some(GovernanceError::NotInElectorate)
    );
    // A partner of another practice cannot propose for it.
    let meddle = net.event(
        106,
        later + 2,
        Body::Motion(resolution("practice-matter", "M85002", later)),
    );
    assert!(matches!(
        rejection(&net, &meddle),
        Some(GovernanceError::NotEmpowered { .. })
    ));
    // The power needs the practice named.
    let unnamed = net.event(
        104,
        later + 2,
        Body::Motion(resolution("practice-matter", "", later)),
    );
    assert!(
        matches!(rejection(&net, &unnamed), Some(GovernanceError::InvalidMotion(ref s)) if s.contains("name the practice")),
        "{:?}",
        net.outcome(&unnamed)
    );
    // A practice that does not exist.
    let nowhere = net.event(
        104,
        later + 2,
        Body::Motion(resolution("practice-matter", "Z99999", later)),
    );
    assert!(matches!(
        rejection(&net, &nowhere),
        Some(GovernanceError::InvalidMotion(_))
    ));
    net.vote(104, later + 3, m, Choice::For);
    net.vote(105, later + 3, m, Choice::For);
    net.tick(later + 3 * DAY + 1);
    assert!(net.tally(&m).passed);
}

#[test]
fn a_power_that_does_not_exist_or_does_not_fit_is_refused() {
    let mut net = Net::new(3, Some(default_deed()));
    let later = T0 + DAY;
    let unknown = net.event(
        102,
        later,
        Body::Motion(resolution("buy-a-boat", "", later)),
    );
    match rejection(&net, &unknown) {
        Some(GovernanceError::InvalidMotion(s)) => assert!(
            s.contains("no power called \"buy-a-boat\"")
                && s.contains("operational-spending, appoint-manager, practice-matter"),
            "{s}"
        ),
        other => panic!("{other:?}"),
    }
    // Only a resolution cites a power.
    let mut amend = resolution("practice-matter", "M85001", later);
    amend.kind = DecisionKind::AmendDeed as i32;
    amend.new_deed = Some(default_deed());
    let wrong = net.event(102, later, Body::Motion(amend));
    assert!(matches!(
        rejection(&net, &wrong),
        Some(GovernanceError::InvalidMotion(_))
    ));
    // Without a power, a resolution is for all partners, as it always was; its
    // `subject_ods` means nothing.
    let plain = net.propose(102, later, resolution("", "Z99999", later));
    assert_eq!(net.tally(&plain).electorate, 6);
}

#[test]
fn an_amended_deed_moves_a_power_from_the_board_to_all_partners() {
    let mut net = Net::new(3, Some(default_deed()));
    elect_board(&mut net);
    let mut deed = default_deed();
    for p in deed.powers.iter_mut() {
        if p.name == "operational-spending" {
            p.rule = Some(default_rule(DecisionKind::General).to_pb());
        }
    }
    let later = T0 + 5 * DAY;
    let amend = net.propose(
        103,
        later,
        pb::Motion {
            new_deed: Some(deed),
            opens_at_ms: later,
            closes_at_ms: later + 2 * DAY,
            ..motion(DecisionKind::AmendDeed)
        },
    );
    for p in net.partners() {
        net.vote(p, later + 1, amend, Choice::For);
    }
    net.tick(later + 3 * DAY + 1);
    assert!(net.tally(&amend).passed);
    // Partner 103, off the board, now proposes under it; all six partners decide.
    let next = later + 4 * DAY;
    let m = net.propose(103, next, resolution("operational-spending", "", next));
    assert_eq!(net.tally(&m).electorate, 6);
    let rule = &net.r.state().governance().motion(&m).expect("motion").rule;
    assert_eq!(
        (rule.proposers, rule.voters),
        (Group::AllPartners, Group::AllPartners)
    );
}

#[test]
fn a_deed_with_a_bad_power_or_term_is_refused_at_proposal() {
    let mut net = Net::new(2, Some(default_deed()));
    let mut twice = default_deed();
    twice.powers.push(twice.powers[0].clone());
    let mut long = default_deed();
    long.board_term_ms = MAX_TERM_MS + 1;
    for (deed, says) in [(twice, "two powers"), (long, "ten years")] {
        let m = net.event(
            102,
            T0 + DAY,
            Body::Motion(pb::Motion {
                new_deed: Some(deed),
                ..motion(DecisionKind::AmendDeed)
            }),
        );
        match rejection(&net, &m) {
            Some(GovernanceError::InvalidDeed(s)) => assert!(s.contains(says), "{s}"),
            other => panic!("{says}: {other:?}"),
        }
    }
}

#[test]
fn the_boards_term_lapses_at_the_first_practice_event_after_it_ends() {
    let mut deed = default_deed();
    deed.board_term_ms = 30 * DAY;
    deed.chair_term_ms = 60 * DAY;
    let mut net = Net::new(3, Some(deed));
    let election = elect_board(&mut net);
    let g = net.r.state().governance();
    let taken = g.motion(&election).expect("election").final_at_ms;
    let ends = taken + 30 * DAY;
    assert_eq!(g.board_term().ends_at_ms, Some(ends));
    assert!(!g.board_term().election_due(ends));
    assert!(
        g.board_term().election_due(ends + 1),
        "due once the term ends"
    );
    assert!(
        g.closing_due(ends + 1),
        "a practice node writes to lapse it"
    );
    let hash_before = net.r.state_hash();
    // A partner's event never lapses seats; a practice node's, after the end, does.
    net.tick(ends);
    assert_eq!(
        net.r.state().governance().board().len(),
        2,
        "not after the end"
    );
    net.event(
        102,
        ends + 5,
        Body::PartnerResign(pb::PartnerResign::default()),
    );
    assert_eq!(net.r.state().governance().board().len(), 1, "102 resigned");
    net.tick(ends + 10);
    let g = net.r.state().governance();
    assert!(g.board().is_empty(), "the seats lapsed");
    assert_eq!(g.board_term().ends_at_ms, None);
    assert_eq!(g.board_term().lapsed_at_ms, Some(ends));
    assert!(g.board_term().election_due(0));
    assert_ne!(net.r.state_hash(), hash_before);
    // With no board, no one holds the board's powers.
    let at = ends + DAY;
    let m = net.event(104, at, Body::Motion(resolution("appoint-manager", "", at)));
    assert!(matches!(
        rejection(&net, &m),
        Some(GovernanceError::NotEmpowered { .. })
    ));
}

#[test]
fn without_a_term_seats_last_until_the_next_election() {
    let mut net = Net::new(3, Some(default_deed()));
    elect_board(&mut net);
    net.tick(T0 + 300 * DAY);
    let g = net.r.state().governance();
    assert_eq!(g.board().len(), 2);
    assert!(!g.board_term().election_due(u64::MAX));
    assert!(g.board().contains(&key(102).public()));
    assert_eq!(g.board_term(), Term::default(), "no term runs, none lapsed");
}

#[test]
fn terms_lapse_in_time_order_with_closings_and_a_re_election_fills_the_seats() {
    let mut deed = default_deed();
    deed.board_term_ms = 10 * DAY;
    deed.chair_term_ms = 5 * DAY;
    let mut net = Net::new(3, Some(deed));
    elect_offices(&mut net, &[102, 104], Some(102));
    let taken = T0 + 4 * DAY; // closes T0 + 3 days, plus one day's grace
    let g = net.r.state().governance();
    assert_eq!(g.board_term().ends_at_ms, Some(taken + 10 * DAY));
    assert_eq!(g.chair_term().ends_at_ms, Some(taken + 5 * DAY));
    // A re-election whose grace period ends exactly when the board's term does.
    let again = net.propose(
        103,
        T0 + 5 * DAY,
        pb::Motion {
            seats: 2,
            candidates: vec![pk(106), pk(107)],
            opens_at_ms: T0 + 11 * DAY,
            closes_at_ms: T0 + 13 * DAY,
            ..motion(DecisionKind::ElectBoard)
        },
    );
    assert_eq!(
        net.r
            .state()
            .governance()
            .motion(&again)
            .map(|m| m.final_at_ms),
        Some(taken + 10 * DAY)
    );
    // The chair's term ends first: only the chair lapses.
    net.tick(taken + 5 * DAY + 1);
    let g = net.r.state().governance();
    assert_eq!(g.chair(), None);
    assert_eq!(g.chair_term().lapsed_at_ms, Some(taken + 5 * DAY));
    assert!(g.chair_term().election_due(0));
    assert_eq!(g.board().len(), 2);
    assert!(!g.board_term().election_due(taken + 5 * DAY + 1));
    for p in net.partners() {
        net.cast(p, T0 + 12 * DAY, again, ranking(again, &[106, 107]));
    }
    // One event past both: the old term lapses, then the re-election seats the new board
    // with a new term, and no election is due.
    net.tick(taken + 10 * DAY + 1);
    let g = net.r.state().governance();
    assert!(net.closed(&again));
    let mut want = vec![key(106).public(), key(107).public()];
    want.sort();
    assert_eq!(g.board().iter().copied().collect::<Vec<_>>(), want);
    assert_eq!(
        g.board_term(),
        Term {
            ends_at_ms: Some(taken + 20 * DAY),
            lapsed_at_ms: None
        }
    );
}
