//! Appendix A of docs/PROTOCOL.md ("Worked example"), recomputed from its own inputs.
//!
//! The appendix gives test vectors for anyone writing a verifier in another language: a
//! key from a seed, its fingerprint, two events byte by byte with their ids and
//! signatures, the outcome chain and state hash after each, and the encoded state digest.
//! A wrong vector there sends an outside implementer hunting for a bug they do not have,
//! so this test reads the appendix itself (through `include_str!`), takes the inputs it
//! states (the seed, names, numbers, timestamps), recomputes every value with this
//! crate's public API, and checks each against the hex or text as written. Editing the
//! appendix, or changing the encoding, hashing or signing, without the other fails here.

use mutual_proto::v1 as pb;
use mutual_protocol::event::{Body, FeedWriter, SignedEvent};
use mutual_protocol::id::NetworkId;
use mutual_protocol::keys::Keypair;
use mutual_protocol::replica::Replica;
use mutual_protocol::state::{chain_outcome, Outcome};
use prost::Message;

/// The specification, read at compile time so the test and the text cannot drift.
const SPEC: &str = include_str!("../../docs/PROTOCOL.md");

/// The appendix's heading.
const HEADING: &str = "## Appendix A. Worked example";

/// RFC 8032 §7.1, TEST 1: the secret key (the seed) and public key, copied from the RFC,
/// so that the appendix's "the RFC 8032 test-1 seed" is checked against its source and not
/// only against this crate.
const RFC8032_TEST1: (&str, &str) = (
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
);

/// The appendix: from its heading to the next top-level heading, or the end.
fn appendix() -> &'static str {
    let text = after(SPEC, HEADING);
    text.find("\n## ").map_or(text, |end| &text[..end])
}

/// The text after the first `marker` in `text`.
fn after<'a>(text: &'a str, marker: &str) -> &'a str {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("Appendix A no longer contains {marker:?}"));
    &text[at + marker.len()..]
}

/// The text between the first `start` in `text` and the next `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let rest = after(text, start);
    let stop = rest
        .find(end)
        .unwrap_or_else(|| panic!("Appendix A: no {end:?} after {start:?}"));
    &rest[..stop]
}

/// `text` with every run of white space made one space: prose wraps anywhere.
fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A number the prose states.
fn number(text: &str) -> u64 {
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("Appendix A: {text:?} is not a number"))
}

/// The contents of the fenced code blocks in `text`, in order.
fn code_blocks(text: &str) -> Vec<&str> {
    text.split("```").skip(1).step_by(2).collect()
}

/// Bytes written as hex, ignoring white space (a value may wrap over lines).
fn hex_bytes(text: &str) -> Vec<u8> {
    let digits: String = text.split_whitespace().collect();
    hex::decode(&digits).unwrap_or_else(|e| panic!("Appendix A: bad hex {digits:?}: {e}"))
}

/// The value after `label` in a code block of `label value` lines: the rest of the line
/// that starts with `label` and then white space, joined with the indented lines that
/// follow it (a long value wraps onto them).
fn labelled(block: &str, label: &str) -> String {
    let mut lines = block.lines();
    let first = lines
        .by_ref()
        .find_map(|l| {
            l.strip_prefix(label)
                .filter(|rest| rest.starts_with(char::is_whitespace))
        })
        .unwrap_or_else(|| panic!("Appendix A: no line labelled {label:?} in {block:?}"));
    let mut value = first.trim().to_string();
    for l in lines.take_while(|l| l.starts_with(char::is_whitespace) && !l.trim().is_empty()) {
        value.push_str(l.trim());
    }
    value
}

/// One line of an annotated byte listing: its bytes and what the text says of them.
struct Annotated {
    /// Indentation, in spaces: a line nested in a field's value is indented further.
    indent: usize,
    bytes: Vec<u8>,
    note: String,
}

/// Parses a listing of lines like `   0a 1a "Example"      name`: hex bytes, quoted
/// strings (their UTF-8 bytes) and `<placeholders>` (looked up with `value`), then, after
/// two or more spaces, a note.
fn annotated(block: &str, value: &dyn Fn(&str) -> Vec<u8>) -> Vec<Annotated> {
    let mut out = Vec::new();
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        let indent = line.len() - line.trim_start().len();
        let mut rest = line.trim_start();
        let mut bytes = Vec::new();
        // Each pass consumes a token or stops: at most one pass per character.
        for _ in 0..=line.len() {
            if let Some(s) = rest.strip_prefix('"') {
                let end = s.find('"').expect("a closing quote");
                bytes.extend_from_slice(&s.as_bytes()[..end]);
                rest = &s[end + 1..];
            } else if let Some(s) = rest.strip_prefix('<') {
                let end = s.find('>').expect("a closing '>'");
                bytes.extend(value(&s[..end]));
                rest = &s[end + 1..];
            } else if rest.len() >= 2 && rest.is_char_boundary(2) {
                match u8::from_str_radix(&rest[..2], 16) {
                    Ok(b) if !rest[2..].starts_with(|c: char| !c.is_whitespace()) => {
                        bytes.push(b);
                        rest = &rest[2..];
                    }
                    _ => break,
                }
            } else {
                break;
            }
            // One space between tokens; two or more start the note.
            match rest.strip_prefix(' ') {
                Some(r) if !r.starts_with(' ') => rest = r,
                _ => break,
            }
        }
        out.push(Annotated {
            indent,
            bytes,
            note: rest.trim().to_string(),
        });
    }
    out
}

/// Reads a protobuf varint from the front of `bytes`.
fn varint(bytes: &mut &[u8]) -> u64 {
    let mut v = 0u64;
    for shift in 0..10 {
        let (&b, rest) = bytes.split_first().expect("a complete varint");
        *bytes = rest;
        v |= u64::from(b & 0x7f) << (7 * shift);
        if b & 0x80 == 0 {
            return v;
        }
    }
    panic!("a varint longer than 10 bytes")
}

/// Checks what the notes of an annotated listing say of each line's bytes — `(field N)`
/// (the key's field number), `name = N` (the varint after the key), `N bytes:` (the length
/// after the key, and the bytes of the lines nested under it) — and returns the listing's
/// bytes, concatenated. Each kind of note must occur at least once, so that a change in
/// the text's layout cannot leave these checks silently checking nothing.
fn check_listing(lines: &[Annotated]) -> Vec<u8> {
    let (mut fields, mut values, mut lengths) = (0, 0, 0);
    for (i, l) in lines.iter().enumerate() {
        let mut key = l.bytes.as_slice();
        if l.note.contains("(field ") {
            let field = number(between(&l.note, "(field ", ")"));
            assert_eq!(varint(&mut key) >> 3, field, "field number: {:?}", l.note);
            fields += 1;
        }
        let mut b = l.bytes.as_slice();
        if let Some(v) = l.note.split_once(" = ").and_then(|(_, v)| v.parse().ok()) {
            varint(&mut b);
            assert_eq!(varint(&mut b), v, "value: {:?}", l.note);
            values += 1;
        }
        if let Some(n) = l.note.strip_suffix(" bytes:") {
            let n = number(n.rsplit([' ', ',']).next().unwrap_or(n));
            varint(&mut b);
            assert_eq!(varint(&mut b), n, "length: {:?}", l.note);
            let nested: usize = lines[i + 1..]
                .iter()
                .take_while(|m| m.indent > l.indent)
                .map(|m| m.bytes.len())
                .sum();
            assert_eq!(nested as u64, n, "bytes nested under {:?}", l.note);
            lengths += 1;
        }
    }
    assert!(
        fields > 0 && values > 0 && lengths > 0,
        "a listing with a field number, a value and a length: {fields}, {values}, {lengths}"
    );
    lines.iter().flat_map(|l| l.bytes.iter().copied()).collect()
}

/// One event of the appendix, as the text states it.
struct Stated {
    /// `event` bytes from the field-by-field listing.
    listed: Vec<u8>,
    /// `event` bytes from the "in full" hex.
    full: Vec<u8>,
    /// The length the prose gives.
    len: u64,
    id: Vec<u8>,
    signature: Vec<u8>,
}

impl Stated {
    /// Reads one event's section: a listing, the full hex, then the id and signature.
    fn read(section: &str, id_label: &str, value: &dyn Fn(&str) -> Vec<u8>) -> Self {
        let blocks = code_blocks(section);
        assert_eq!(blocks.len(), 3, "listing, full hex, id and signature");
        let ids = blocks[2];
        Stated {
            listed: check_listing(&annotated(blocks[0], value)),
            full: hex_bytes(blocks[1]),
            len: number(between(&squash(section), "The `event` bytes (", "bytes)")),
            id: hex_bytes(&labelled(ids, id_label)),
            signature: hex_bytes(&labelled(ids, "signature")),
        }
    }

    /// Checks `ev`, as this crate signs it, against what the text states, and that the
    /// stated bytes and signature alone make an event that verifies; returns its wire form
    /// built from the text.
    fn check(&self, ev: &SignedEvent, name: &str) -> Vec<u8> {
        assert_eq!(
            hex::encode(&self.listed),
            hex::encode(&self.full),
            "{name}: listing"
        );
        assert_eq!(
            hex::encode(&ev.event_bytes),
            hex::encode(&self.full),
            "{name}"
        );
        assert_eq!(ev.event_bytes.len() as u64, self.len, "{name}: length");
        assert_eq!(
            hex::encode(ev.id.as_bytes()),
            hex::encode(&self.id),
            "{name}: id"
        );
        assert_eq!(
            hex::encode(ev.signature),
            hex::encode(&self.signature),
            "{name}: signature (ed25519 signing is deterministic)"
        );
        let wire = pb::SignedEvent {
            event: self.full.clone(),
            signature: self.signature.clone(),
        }
        .encode_to_vec();
        let from_text = SignedEvent::decode(&wire).expect("the stated event decodes");
        assert!(
            from_text.verify_signature(),
            "{name}: the stated signature verifies"
        );
        assert_eq!(from_text.id, ev.id);
        wire
    }
}

/// The inputs and values the appendix states, the events this crate makes from those
/// inputs, and a replica fed the events as the appendix writes them.
struct Example {
    key: Keypair,
    genesis: pb::Genesis,
    events: [SignedEvent; 2],
    wires: [Vec<u8>; 2],
}

fn example() -> Example {
    let a = appendix();
    let keys = code_blocks(between(a, "Founder key", "**Event 1"))[0];
    let seed: [u8; 32] = hex_bytes(&labelled(keys, "seed"))
        .try_into()
        .expect("a 32-byte seed");
    let key = Keypair::from_seed(&seed).expect("the seed makes a key");
    let public = key.public();
    assert_eq!(public.to_string(), labelled(keys, "public key"));
    assert_eq!(
        (hex::encode(seed).as_str(), public.to_string().as_str()),
        RFC8032_TEST1,
        "the RFC 8032 test-1 seed and public key"
    );
    assert_eq!(
        public.fingerprint().to_string(),
        labelled(keys, "fingerprint")
    );

    // Event 1: the genesis, from the inputs the prose gives.
    let ev1 = between(a, "**Event 1", "**Event 2");
    let prose = squash(ev1);
    assert!(prose.contains("node key = the founder key"), "{prose}");
    assert!(prose.contains("no partners, no deed, no nonce"), "{prose}");
    let genesis = pb::Genesis {
        name: between(&prose, "Network \"", "\"").into(),
        practices: vec![pb::Practice {
            name: between(&prose, "one practice (\"", "\"").into(),
            ods_code: between(&prose, "ODS `", "`").into(),
            locality: between(&prose, "locality \"", "\"").into(),
            list_size: u32::try_from(number(between(&prose, "list size ", ",")))
                .expect("a u32 list size"),
            node_key: public.as_bytes().to_vec(),
        }],
        ..Default::default()
    };
    let (mut feed, first) = FeedWriter::found(
        Keypair::from_seed(&seed).expect("key"),
        number(between(&prose, "`timestamp_ms` ", ".")),
        genesis.clone(),
    );
    assert_eq!(first.event.seq, number(between(&prose, "`seq` ", ",")));
    let network = NetworkId(first.id);
    let value = |name: &str| -> Vec<u8> {
        match name {
            "public key" => public.as_bytes().to_vec(),
            "network id" | "event 1 id" => network.as_bytes().to_vec(),
            other => panic!("Appendix A: unknown placeholder <{other}>"),
        }
    };
    let stated1 = Stated::read(ev1, "id (= network id)", &value);
    let wire1 = stated1.check(&first, "event 1");

    // Event 2: the founder's practice update, following the genesis.
    let ev2 = between(a, "**Event 2", "**State hashes**");
    let prose = squash(ev2);
    assert!(prose.contains("by the founder"), "{prose}");
    assert!(prose.contains("`prev` = event 1, no deps"), "{prose}");
    let list_size = number(between(&prose, "`PracticeUpdate { list_size: ", " }`"));
    let second = feed.sign(
        number(between(&prose, "`timestamp_ms` ", ",")),
        Vec::new(),
        Body::PracticeUpdate(pb::PracticeUpdate {
            list_size: u32::try_from(list_size).expect("a u32 list size"),
            ..Default::default()
        }),
    );
    assert_eq!(second.event.seq, number(between(&prose, "`seq` ", ",")));
    assert_eq!(second.event.prev, Some(first.id));
    let stated2 = Stated::read(ev2, "id", &value);
    let wire2 = stated2.check(&second, "event 2");

    Example {
        key,
        genesis,
        events: [first, second],
        wires: [wire1, wire2],
    }
}

/// A replica of the example's network holding the events numbered in `label` (a table
/// row's first cell: "none", "event 1 (Applied)", "events 1, 2 ..."), fed as the text
/// writes them; checks each outcome if the label names it. Returns the replica and the
/// event numbers.
fn replica_for(x: &Example, label: &str) -> (Replica, Vec<usize>) {
    let network = NetworkId(x.events[0].id);
    let mut r = Replica::new(network);
    let stored = label.split(['(', ')']).next().unwrap_or(label);
    let numbers: Vec<usize> = stored
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| usize::try_from(number(s)).expect("an event number"))
        .collect();
    assert_eq!(numbers.is_empty(), label.trim() == "none", "row {label:?}");
    // The local clock: the latest event's timestamp, so that none is held as future-dated.
    let now = x
        .events
        .iter()
        .map(|e| e.event.timestamp_ms)
        .max()
        .unwrap_or(0);
    for &n in &numbers {
        r.ingest(now, &x.wires[n - 1])
            .expect("the stated event is valid");
    }
    if label.contains("Applied") {
        for &n in &numbers {
            assert_eq!(r.outcome(&x.events[n - 1].id), Some(&Outcome::Applied));
        }
    }
    assert_eq!(r.len(), numbers.len(), "row {label:?}");
    (r, numbers)
}

/// The backticked spans of `text`, in order.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

#[test]
fn the_founder_key_and_both_events_are_as_stated() {
    // Every check is in `example`: the key, fingerprint, each event's listing, bytes,
    // length, id and signature.
    let x = example();
    assert_eq!(x.events[1].event.author, x.key.public());
}

#[test]
fn the_outcome_chains_and_state_hashes_are_as_stated() {
    let x = example();
    let network = NetworkId(x.events[0].id);
    let table = between(appendix(), "**State hashes**", "With event 1 alone");
    let rows: Vec<Vec<&str>> = table
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(2) // the header and the separator
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect()
        })
        .collect();
    assert!(!rows.is_empty(), "a table of state hashes");
    for row in &rows {
        let [label, stated_chain, stated_hash] = row[..] else {
            panic!("a row of three cells: {row:?}");
        };
        let (r, numbers) = replica_for(&x, label);
        // The chain as §9.1 defines it, and as the state holds it.
        let chain = numbers.iter().fold([0u8; 32], |c, &n| {
            chain_outcome(c, &x.events[n - 1].id, &Outcome::Applied)
        });
        let digest =
            pb::StateDigest::decode(r.state().canonical_bytes(&network, r.forks()).as_slice())
                .expect("the digest decodes");
        assert_eq!(digest.outcomes, chain.to_vec(), "row {label:?}");
        let stated_chain = match stated_chain {
            "32 zero bytes" => vec![0; 32],
            cell => hex_bytes(backticked(cell)[0]),
        };
        assert_eq!(
            hex::encode(chain),
            hex::encode(stated_chain),
            "row {label:?}"
        );
        assert_eq!(
            r.state_hash().to_string(),
            backticked(stated_hash)[0],
            "state hash, row {label:?}"
        );
    }
}

#[test]
fn the_state_digest_of_event_1_is_encoded_as_stated() {
    let x = example();
    let text = squash(after(appendix(), "With event 1 alone,"));
    let (r, _) = replica_for(&x, "event 1");
    let network = NetworkId(x.events[0].id);
    let bytes = r.state().canonical_bytes(&network, r.forks());
    let len = number(between(&text, "encoded `StateDigest` (", "bytes)"));
    assert_eq!(bytes.len() as u64, len);
    // The byte strings the sentence names, in its order: network, name, practices entry,
    // practice, status, outcomes, events.
    let parts: Vec<Vec<u8>> = backticked(&text)
        .into_iter()
        .filter(|s| s.len() == 5 && s.as_bytes()[2] == b' ')
        .map(hex_bytes)
        .collect();
    let [net, name, entry, practice, status, outcomes, events] = &parts[..] else {
        panic!("seven byte strings in {text:?}");
    };
    assert!(text.contains("for status `ACTIVE`"), "{text}");
    let practice_bytes = x.genesis.practices[0].encode_to_vec();
    let chain = chain_outcome([0; 32], &x.events[0].id, &Outcome::Applied);
    let pieces: [&[u8]; 11] = [
        net,
        network.as_bytes(),
        name,
        x.genesis.name.as_bytes(),
        entry,
        practice,
        &practice_bytes,
        status,
        outcomes,
        &chain,
        events,
    ];
    assert_eq!(hex::encode(&bytes), hex::encode(pieces.concat()));
}
