// The protocol's wire format, as much of it as the page needs: protobuf encoding of the
// bodies a partner signs, and a strict decoding of the `Event` bytes the node prepares,
// so the page can show and check what will be signed (docs/PROTOCOL.md §2, §5).

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function unhex(text) {
  const s = text.trim();
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) {
    throw new Error("not hex");
  }
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ------------------------------------------------------------------ encoding

function varint(n) {
  let v = BigInt(n);
  if (v < 0n) throw new Error("a negative varint");
  const out = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Uint8Array.from(out);
}

// A message writer: fields in the order they are added, default values left out as
// proto3 does.
export class Writer {
  constructor() {
    this.parts = [];
  }
  uint(field, n) {
    if (n) this.parts.push(varint((field << 3) | 0), varint(n));
    return this;
  }
  bool(field, b) {
    return this.uint(field, b ? 1 : 0);
  }
  bytes(field, b) {
    if (b && b.length) this.parts.push(varint((field << 3) | 2), varint(b.length), b);
    return this;
  }
  string(field, s) {
    return this.bytes(field, new TextEncoder().encode(s || ""));
  }
  // An optional message: written whenever present, even empty, as prost writes Some.
  maybe(field, b) {
    return b ? this.always(field, b) : this;
  }
  // A field written even when empty: a oneof's body, which prost writes whenever set.
  always(field, b) {
    this.parts.push(varint((field << 3) | 2), varint(b.length), b);
    return this;
  }
  repeated(field, list) {
    for (const b of list || []) this.parts.push(varint((field << 3) | 2), varint(b.length), b);
    return this;
  }
  finish() {
    return concat(...this.parts);
  }
}

// The body fields of `Event` the page signs (event.proto).
export const BODY = {
  motion: 23,
  ballot: 24,
  aid_request: 25,
  aid_offer: 26,
  aid_acceptance: 27,
  aid_countersign: 28,
  aid_cancel: 29,
  aid_fulfil: 30,
  aid_withdraw: 31,
};

export const URGENCY = { routine: 1, soon: 2, urgent: 3 };
const VISIBILITY_NETWORK = 1;

export const CHOICE = {
  for: 1,
  against: 2,
  abstain: 3,
  declare_interest: 4,
  appoint_proxy: 5,
  revoke_proxy: 6,
};
export const CHOICE_NAME = Object.fromEntries(Object.entries(CHOICE).map(([k, v]) => [v, k]));

// The motions the page proposes, by DecisionKind (event.proto).
export const KIND = {
  general: 1,
  amend_deed: 9,
  admit_practice: 2,
  admit_partner: 3,
  change_role: 4,
  remove_partner: 5,
  remove_practice: 6,
  elect_board: 7,
  elect_chair: 8,
  link_federation: 10,
  replace_key: 11,
  leave_federation: 12,
};

export const ROLE = { partner: 1, associate: 2, managing: 3 };

// An `Event` with only `body` set: what `POST /prepare` takes.
export function bodyOnly(field, message) {
  return new Writer().bytes(field, message).finish();
}

export function encodeBallot(b) {
  return new Writer()
    .bytes(1, b.motion)
    .uint(2, b.choice)
    .repeated(3, b.ranking)
    .string(4, b.statement)
    .bytes(5, b.proxy)
    .uint(6, b.proxy_expires_at_ms)
    .bytes(7, b.on_behalf_of)
    .finish();
}

// A motion, its fields in field-number order as prost writes them, so the node's
// re-encoding of what it decoded gives back the same bytes.
export function encodeMotion(m) {
  const practice = (p) =>
    p &&
    new Writer()
      .string(1, p.name)
      .string(2, p.ods_code)
      .string(3, p.locality)
      .uint(4, p.list_size)
      .bytes(5, p.node_key)
      .finish();
  const partner = (p) =>
    p && new Writer().string(1, p.name).string(2, p.practice_ods).uint(3, p.role).bytes(4, p.key).finish();
  return new Writer()
    .uint(1, m.kind)
    .string(2, m.title)
    .string(3, m.text)
    .uint(4, m.opens_at_ms)
    .uint(5, m.closes_at_ms)
    .bytes(6, practice(m.admit_practice))
    .bytes(7, partner(m.admit_partner))
    .bytes(8, m.subject_key)
    .uint(9, m.new_role)
    .string(10, m.subject_ods)
    .maybe(11, m.new_deed)
    .uint(12, m.seats)
    .repeated(13, m.candidates)
    .bytes(15, m.replacement_key)
    .bool(16, m.per_locality)
    .bytes(17, m.charter_event)
    .bytes(18, m.federation)
    .bytes(19, m.joint_motion)
    .repeated(20, (m.first_partners || []).map(partner))
    .string(21, m.power)
    .repeated(22, (m.papers || []).map(encodePaper))
    .finish();
}

// ------------------------------------------------------------------ the deed

// A decision rule, a power and a deed, read from their bytes with every field kept (a
// field the page does not know is refused: the deed is then amended with
// `mutual deed amend`), and written back in the same canonical form.
function decodeRule(bytes) {
  const f = fields(bytes);
  if (others(f, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]).length) throw new Error("a rule has fields the page does not know");
  const t = f.has(5) ? fields(byt(f, 5)) : null;
  if (t && others(t, [1, 2]).length) throw new Error("a threshold has fields the page does not know");
  return {
    kind: num(f, 1),
    proposers: num(f, 2),
    voters: num(f, 3),
    quorum_bp: num(f, 4),
    threshold: t ? { bp: num(t, 1), of_electorate: num(t, 2) !== 0 } : null,
    min_ms: num(f, 6),
    max_ms: num(f, 7),
    abstentions_count: num(f, 8) !== 0,
    associates_vote: num(f, 9) !== 0,
    subject_recuses: num(f, 10) !== 0,
    interest_recuses: num(f, 11) !== 0,
  };
}

function encodeRule(r) {
  return new Writer()
    .uint(1, r.kind)
    .uint(2, r.proposers)
    .uint(3, r.voters)
    .uint(4, r.quorum_bp)
    .maybe(5, r.threshold && new Writer().uint(1, r.threshold.bp).bool(2, r.threshold.of_electorate).finish())
    .uint(6, r.min_ms)
    .uint(7, r.max_ms)
    .bool(8, r.abstentions_count)
    .bool(9, r.associates_vote)
    .bool(10, r.subject_recuses)
    .bool(11, r.interest_recuses)
    .finish();
}

export function decodeDeed(bytes) {
  const f = fields(bytes);
  if (others(f, [1, 2, 3, 4, 5, 6, 7, 8]).length) throw new Error("the deed has fields the page does not know");
  return {
    rules: list(f, 1).map(decodeRule),
    grace_period_ms: num(f, 2),
    max_proxies: num(f, 3),
    agreement_hash: byt(f, 4),
    aid_signers: num(f, 5),
    powers: list(f, 6).map((b) => {
      const p = fields(b);
      if (others(p, [1, 2, 3]).length) throw new Error("a power has fields the page does not know");
      return { name: str(p, 1), description: str(p, 2), rule: p.has(3) ? decodeRule(byt(p, 3)) : null };
    }),
    board_term_ms: num(f, 7),
    chair_term_ms: num(f, 8),
  };
}

export function encodeDeed(d) {
  return new Writer()
    .repeated(1, d.rules.map(encodeRule))
    .uint(2, d.grace_period_ms)
    .uint(3, d.max_proxies)
    .bytes(4, d.agreement_hash)
    .uint(5, d.aid_signers)
    .repeated(
      6,
      d.powers.map((p) =>
        new Writer().string(1, p.name).string(2, p.description).maybe(3, p.rule && encodeRule(p.rule)).finish(),
      ),
    )
    .uint(7, d.board_term_ms)
    .uint(8, d.chair_term_ms)
    .finish();
}

// A paper a motion carries: its name, hash, size and media type (docs/PROTOCOL.md §8.13).
export function encodePaper(p) {
  return new Writer().string(1, p.name).bytes(2, p.sha256).uint(3, p.size).string(4, p.media_type).finish();
}

// A session as the aid board shows it, "YYYY-MM-DD AM" (or PM, or HH:MM-HH:MM).
function encodeSession(text) {
  const [date, ...part] = text.trim().split(/\s+/);
  return new Writer().string(1, date).string(2, part.join(" ")).finish();
}

// The aid bodies a partner signs for their practice (docs/AID.md), from the action as
// `POST /aid` takes it, with every id in full and sessions spelled out.
export function encodeAid(a) {
  const w = new Writer();
  switch (a.action) {
    case "request":
      w.string(1, a.role)
        .repeated(2, a.sessions.map(encodeSession))
        .uint(3, URGENCY[a.urgency])
        .string(5, a.notes)
        .uint(6, a.expires_at_ms)
        .uint(7, VISIBILITY_NETWORK);
      return [BODY.aid_request, w.finish()];
    case "offer":
      w.bytes(1, unhex(a.request)).repeated(2, a.sessions.map(encodeSession)).string(3, a.role).string(4, a.terms);
      return [BODY.aid_offer, w.finish()];
    case "accept":
      w.bytes(1, unhex(a.offer)).repeated(2, a.sessions.map(encodeSession));
      return [BODY.aid_acceptance, w.finish()];
    case "countersign":
      return [BODY.aid_countersign, w.bytes(1, unhex(a.agreement)).finish()];
    case "cancel":
      w.bytes(1, unhex(a.agreement)).string(2, a.reason).uint(3, a.notice_hours * 3600000);
      return [BODY.aid_cancel, w.finish()];
    case "fulfil":
      return [BODY.aid_fulfil, w.bytes(1, unhex(a.agreement)).finish()];
    case "withdraw":
      return [BODY.aid_withdraw, w.bytes(1, unhex(a.request)).string(2, a.reason).finish()];
    default:
      throw new Error(`no aid action ${a.action}`);
  }
}

// What an aid body says, as [label, value] lines, read from its bytes.
export function describeAid(field, bytes) {
  const f = fields(bytes);
  const sessions = (n) =>
    list(f, n)
      .map((b) => {
        const s = fields(b);
        return `${str(s, 1)} ${str(s, 2)}`;
      })
      .join(", ");
  switch (field) {
    case BODY.aid_request:
      return [
        ["What", "ask the partnership for help"],
        ["Role", str(f, 1)],
        ["Sessions", sessions(2)],
        ["Urgency", Object.keys(URGENCY).find((k) => URGENCY[k] === num(f, 3)) || "unspecified"],
        ["Notes", str(f, 5) || "—"],
        ["Open until", new Date(num(f, 6)).toLocaleString()],
      ];
    case BODY.aid_offer:
      return [["What", "offer cover"], ["On request", hex(byt(f, 1)).slice(0, 12)], ["Sessions", sessions(2)], ["Who covers", str(f, 3)], ["Terms", str(f, 4) || "—"]];
    case BODY.aid_acceptance:
      return [["What", "accept an offer"], ["Offer", hex(byt(f, 1)).slice(0, 12)], ["Sessions", sessions(2)]];
    case BODY.aid_countersign:
      return [["What", "countersign an agreement: it becomes binding"], ["Agreement", hex(byt(f, 1)).slice(0, 12)]];
    case BODY.aid_cancel:
      return [["What", "cancel an agreement"], ["Agreement", hex(byt(f, 1)).slice(0, 12)], ["Why", str(f, 2)], ["Notice", `${num(f, 3) / 3600000} hours`]];
    case BODY.aid_fulfil:
      return [["What", "record an agreement as fulfilled"], ["Agreement", hex(byt(f, 1)).slice(0, 12)]];
    case BODY.aid_withdraw:
      return [["What", "withdraw a request"], ["Request", hex(byt(f, 1)).slice(0, 12)], ["Why", str(f, 2) || "—"]];
    default:
      return [["What", `an event of body ${field}`]];
  }
}

// ------------------------------------------------------------------ decoding

// Reads a message into { field: [values] }: a varint as a BigInt, a length-delimited
// field as bytes. Any other wire type, a truncated field or a field number of 0 is an
// error: the page decodes only what it can check.
export function fields(bytes) {
  const out = new Map();
  let at = 0;
  const readVarint = () => {
    let v = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (at >= bytes.length) throw new Error("truncated varint");
      const b = bytes[at++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw new Error("varint too long");
  };
  while (at < bytes.length) {
    const key = readVarint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field === 0) throw new Error("field number 0");
    let value;
    if (wire === 0) value = readVarint();
    else if (wire === 2) {
      const len = Number(readVarint());
      if (at + len > bytes.length) throw new Error("truncated field");
      value = bytes.subarray(at, at + len);
      at += len;
    } else throw new Error(`wire type ${wire} is not used by these messages`);
    if (!out.has(field)) out.set(field, []);
    out.get(field).push(value);
  }
  return out;
}

const last = (f, n) => {
  const v = f.get(n);
  return v ? v[v.length - 1] : undefined;
};
const num = (f, n) => Number(last(f, n) ?? 0n);
const byt = (f, n) => last(f, n) ?? new Uint8Array(0);
// ignoreBOM: a leading U+FEFF is kept, so text with one never reads as text without.
const str = (f, n) => new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(byt(f, n));
const others = (f, known) => [...f.keys()].filter((k) => !known.includes(k));
const list = (f, n) => f.get(n) ?? [];

// The event a partner is about to sign, decoded from its exact bytes.
export function decodeEvent(bytes) {
  const f = fields(bytes);
  const bodies = [...f.keys()].filter((k) => k >= 16);
  if (bodies.length !== 1) throw new Error("the event has no single body");
  const field = bodies[0];
  const body = byt(f, field);
  const unknown = others(f, [1, 2, 3, 4, 5, 6, field]);
  if (unknown.length) throw new Error(`the event sets fields the page does not know (${unknown.join(", ")})`);
  // Only the canonical encoding is taken: a field given twice (which a decoder may merge
  // rather than keep the last of), fields out of order or overlong numbers would let the
  // bytes say more than the page reads.
  const canonical = new Writer()
    .bytes(1, byt(f, 1))
    .bytes(2, byt(f, 2))
    .uint(3, last(f, 3) ?? 0n)
    .bytes(4, byt(f, 4))
    .repeated(5, list(f, 5))
    .uint(6, last(f, 6) ?? 0n)
    .always(field, body)
    .finish();
  if (!equalBytes(canonical, bytes)) throw new Error("the event is not in its one canonical encoding");
  return {
    network: hex(byt(f, 1)),
    author: hex(byt(f, 2)),
    seq: num(f, 3),
    prev: hex(byt(f, 4)),
    deps: list(f, 5).map(hex),
    timestamp_ms: num(f, 6),
    field,
    body,
  };
}

export function decodeBallot(bytes) {
  const f = fields(bytes);
  return {
    motion: hex(byt(f, 1)),
    choice: num(f, 2),
    ranking: list(f, 3).map(hex),
    statement: str(f, 4),
    proxy: hex(byt(f, 5)),
    proxy_expires_at_ms: num(f, 6),
    on_behalf_of: hex(byt(f, 7)),
    others: others(f, [1, 2, 3, 4, 5, 6, 7]),
  };
}

export function decodeMotion(bytes) {
  const f = fields(bytes);
  const practice = f.has(6) ? fields(byt(f, 6)) : null;
  const partner = f.has(7) ? fields(byt(f, 7)) : null;
  return {
    first_partners: list(f, 20).map((b) => {
      const q = fields(b);
      return { name: str(q, 1), practice_ods: str(q, 2), role: num(q, 3), key: hex(byt(q, 4)) };
    }),
    charter_bytes: byt(f, 17).length,
    subject: hex(byt(f, 8)),
    subject_ods: str(f, 10),
    admitted: practice
      ? `the practice ${str(practice, 1)} (${str(practice, 2)}), ${str(practice, 3)}`
      : partner
        ? `${str(partner, 1)} as a partner of ${str(partner, 2)}`
        : "",
    kind: num(f, 1),
    title: str(f, 2),
    text: str(f, 3),
    opens_at_ms: num(f, 4),
    closes_at_ms: num(f, 5),
    seats: num(f, 12),
    candidates: list(f, 13).map(hex),
    per_locality: num(f, 16) !== 0,
    power: str(f, 21),
    new_deed: f.has(11) ? byt(f, 11) : null,
    joint_motion: hex(byt(f, 19)),
    papers: list(f, 22).map((b) => {
      const p = fields(b);
      return { name: str(p, 1), sha256: hex(byt(p, 2)), size: num(p, 3) };
    }),
  };
}

// The signed event `POST /events` takes: `SignedEvent { event, signature }`.
export function signedEvent(eventBytes, signature) {
  return new Writer().bytes(1, eventBytes).bytes(2, signature).finish();
}
