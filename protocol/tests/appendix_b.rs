//! Appendix B of docs/PROTOCOL.md ("Powers and papers"), recomputed from its own inputs:
//! a paper's hash and encoding, a power's encoding, and the judgement of resolutions
//! under the default deed's powers. Editing the appendix, or the encoding or the rules,
//! without the other fails here.

use crate::common;
use crate::governance_common;

use common::T0;
use governance_common::*;
use mutual_proto::v1 as pb;
use mutual_protocol::event::{check_body, Body};
use mutual_protocol::governance::deed::{default_deed, default_rule};
use mutual_protocol::state::Outcome;
use prost::Message;
use sha2::{Digest, Sha256};

const SPEC: &str = include_str!("../../docs/PROTOCOL.md");
const HEADING: &str = "## Appendix B. Powers and papers";

fn appendix() -> &'static str {
    let at = SPEC
        .find(HEADING)
        .expect("Appendix B is in docs/PROTOCOL.md");
    let text = &SPEC[at + HEADING.len()..];
    text.find("\n## ").map_or(text, |end| &text[..end])
}

/// The hex after `label ` on a line of the appendix's code blocks, wrapped lines joined.
fn hex_after(label: &str) -> Vec<u8> {
    let text = appendix();
    let mut lines = text.lines();
    let first = lines
        .by_ref()
        .find_map(|l| l.strip_prefix(label).filter(|r| r.starts_with(' ')))
        .unwrap_or_else(|| panic!("Appendix B: no line labelled {label:?}"));
    let mut digits: String = first.split_whitespace().collect();
    for l in lines.take_while(|l| l.starts_with(' ') && !l.trim().is_empty()) {
        digits.extend(l.split_whitespace());
    }
    hex::decode(&digits).unwrap_or_else(|e| panic!("Appendix B: {label}: bad hex: {e}"))
}

/// The paper's bytes, as the appendix states them.
const PAPER_TEXT: &str = "Due diligence: Parkview Practice. QOF 98%, CQC good.\n";

fn paper() -> pb::Paper {
    pb::Paper {
        name: "due-diligence.txt".into(),
        sha256: Sha256::digest(PAPER_TEXT.as_bytes()).to_vec(),
        size: PAPER_TEXT.len() as u64,
        media_type: "text/plain".into(),
    }
}

fn power() -> pb::Power {
    let rule = mutual_protocol::governance::deed::Rule {
        proposers: pb::Group::Board,
        voters: pb::Group::Board,
        ..default_rule(pb::DecisionKind::General)
    };
    pb::Power {
        name: "premises".into(),
        description: "Leases and buildings".into(),
        rule: Some(rule.to_pb()),
    }
}

#[test]
fn the_appendix_states_the_paper_and_the_power_as_encoded() {
    assert!(appendix().contains(&format!("{:?}", PAPER_TEXT.trim_end())));
    let stated = format!("the {} bytes of UTF-8 text", PAPER_TEXT.trim_end().len());
    assert!(appendix().contains(&stated), "{stated}");
    assert!(appendix().contains(&format!("{} bytes in all", PAPER_TEXT.len())));
    assert_eq!(hex_after("sha256"), paper().sha256, "the paper's SHA-256");
    assert_eq!(
        hex_after("paper"),
        paper().encode_to_vec(),
        "the Paper encoding"
    );
    assert_eq!(
        hex_after("power"),
        power().encode_to_vec(),
        "the Power encoding"
    );
    let motion = Body::Motion(pb::Motion {
        papers: vec![paper()],
        ..motion(pb::DecisionKind::General)
    });
    assert!(check_body(&motion).is_ok());
}

#[test]
fn the_appendix_judgements_hold() {
    // Under the default deed with partner 102 alone on the board (see the appendix).
    let mut net = Net::new(3, Some(default_deed()));
    let e = net.propose(
        102,
        PROPOSED,
        pb::Motion {
            seats: 1,
            candidates: vec![pk(102)],
            ..motion(pb::DecisionKind::ElectBoard)
        },
    );
    for p in net.partners() {
        net.cast(p, DURING, e, ranking(e, &[102]));
    }
    close(&mut net, &e);
    let at = T0 + 5 * DAY;
    let cite = |power: &str, ods: &str| pb::Motion {
        power: power.into(),
        subject_ods: ods.into(),
        opens_at_ms: at,
        closes_at_ms: at + 2 * DAY,
        ..motion(pb::DecisionKind::General)
    };
    assert!(
        case(1).contains("`practice-matter (for M85001)`"),
        "case 1 states the powers held as the reason names them"
    );
    let expect = [
        (103, cite("operational-spending", ""), "NotEmpowered"),
        (
            102,
            cite("operational-spending", ""),
            "Applied, electorate 1",
        ),
        (
            104,
            cite("practice-matter", "M85002"),
            "Applied, electorate 2",
        ),
        (104, cite("practice-matter", ""), "InvalidMotion"),
        (102, cite("buy-a-boat", ""), "InvalidMotion"),
    ];
    let mo_power: Vec<String> = expect.iter().map(|(_, m, _)| m.power.clone()).collect();
    for (i, (who, mo, said)) in expect.into_iter().enumerate() {
        let id = net.event(who, at + i as u64, Body::Motion(mo));
        let got = match net.outcome(&id) {
            Outcome::Applied => format!("Applied, electorate {}", net.tally(&id).electorate),
            o => format!(
                "{:?}",
                governance_rejection(&o).expect("a governance rejection")
            )
            .split(['(', ' ', '{'])
            .next()
            .unwrap_or_default()
            .to_string(),
        };
        assert_eq!(got, said, "case {}", i + 1);
        let stated = case(i + 1);
        assert!(
            stated.contains(&format!("`{}`", mo_power[i])) && stated.contains(said),
            "the appendix states case {} with its power and {said}: {stated}",
            i + 1
        );
        // The powers a refused proposer holds, as the reason names them.
        if let Some(mutual_protocol::governance::GovernanceError::NotEmpowered { held, .. }) =
            governance_rejection(&net.outcome(&id))
        {
            assert!(stated.contains(&format!("`{held}`")), "{held}: {stated}");
        }
    }
}

/// The appendix's numbered case `n`, white space squashed.
fn case(n: usize) -> String {
    let text = appendix();
    let start = text
        .find(&format!("\n{n}. "))
        .unwrap_or_else(|| panic!("Appendix B states no case {n}"));
    let rest = &text[start + 1..];
    let end = rest.find(&format!("\n{}. ", n + 1)).unwrap_or(rest.len());
    rest[..end].split_whitespace().collect::<Vec<_>>().join(" ")
}
