//! Papers attached to motions and aid requests (docs/PROTOCOL.md §8.13): the shape rules,
//! each limit tested at the limit and one past it.

use mutual_proto::v1 as pb;
use mutual_protocol::event::{check_body, Body};
use mutual_protocol::limits::{MAX_PAPERS_PER_EVENT, MAX_PAPER_BYTES};

fn paper(n: u8, size: u64) -> pb::Paper {
    pb::Paper {
        name: format!("report-{n}.pdf"),
        sha256: vec![n; 32],
        size,
        media_type: "application/pdf".into(),
    }
}

fn motion(papers: Vec<pb::Paper>) -> Body {
    Body::Motion(pb::Motion {
        kind: pb::DecisionKind::General as i32,
        title: "With papers".into(),
        papers,
        ..Default::default()
    })
}

fn request(papers: Vec<pb::Paper>) -> Body {
    Body::AidRequest(pb::AidRequest {
        role: "GP".into(),
        papers,
        ..Default::default()
    })
}

#[test]
fn papers_are_limited_in_number_and_size() {
    for body in [motion, request] {
        let most: Vec<_> = (0..MAX_PAPERS_PER_EVENT as u8)
            .map(|n| paper(n, MAX_PAPER_BYTES))
            .collect();
        assert!(check_body(&body(most.clone())).is_ok());
        let mut over = most;
        over.push(paper(200, 1));
        let e = check_body(&body(over)).expect_err("one paper too many");
        assert!(e.to_string().contains("over the limit of 16"), "{e}");
        let e = check_body(&body(vec![paper(1, MAX_PAPER_BYTES + 1)])).expect_err("too big");
        assert!(e.to_string().contains("a paper has 1 to"), "{e}");
        assert!(check_body(&body(vec![paper(1, 0)])).is_err(), "empty");
    }
}

#[test]
fn a_paper_needs_a_plain_name_a_full_hash_and_no_twin() {
    let named = |name: &str| pb::Paper {
        name: name.into(),
        ..paper(1, 10)
    };
    for bad in [
        "",
        "  ",
        "\u{a0}",
        "\u{3000}",
        ".",
        "..",
        "a/b.pdf",
        "a\\b.pdf",
        "a\nb",
        "invoice\u{202e}fdp.exe",
    ] {
        assert!(check_body(&motion(vec![named(bad)])).is_err(), "{bad:?}");
    }
    assert!(check_body(&motion(vec![named("Accounts 2026 (draft).xlsx")])).is_ok());
    let short = pb::Paper {
        sha256: vec![1; 31],
        ..paper(1, 10)
    };
    assert!(check_body(&motion(vec![short])).is_err());
    let twin = pb::Paper {
        name: "copy.pdf".into(),
        ..paper(1, 10)
    };
    let e = check_body(&motion(vec![paper(1, 10), twin])).expect_err("twice");
    assert!(e.to_string().contains("attached twice"), "{e}");
}
