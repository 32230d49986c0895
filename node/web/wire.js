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
  repeated(field, list) {
    for (const b of list || []) this.parts.push(varint((field << 3) | 2), varint(b.length), b);
    return this;
  }
  finish() {
    return concat(...this.parts);
  }
}

// The body fields of `Event` the page signs (event.proto).
export const BODY = { motion: 23, ballot: 24, aid_request: 25, aid_countersign: 28 };

export const CHOICE = {
  for: 1,
  against: 2,
  abstain: 3,
  declare_interest: 4,
  appoint_proxy: 5,
  revoke_proxy: 6,
};
export const CHOICE_NAME = Object.fromEntries(Object.entries(CHOICE).map(([k, v]) => [v, k]));

export const KIND = { general: 1, elect_board: 7, elect_chair: 8 };

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

export function encodeMotion(m) {
  return new Writer()
    .uint(1, m.kind)
    .string(2, m.title)
    .string(3, m.text)
    .uint(4, m.opens_at_ms)
    .uint(5, m.closes_at_ms)
    .uint(12, m.seats)
    .repeated(13, m.candidates)
    .bool(16, m.per_locality)
    .finish();
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
  return {
    kind: num(f, 1),
    title: str(f, 2),
    text: str(f, 3),
    opens_at_ms: num(f, 4),
    closes_at_ms: num(f, 5),
    seats: num(f, 12),
    candidates: list(f, 13).map(hex),
    per_locality: num(f, 16) !== 0,
    others: others(f, [1, 2, 3, 4, 5, 12, 13, 16]),
  };
}

// The signed event `POST /events` takes: `SignedEvent { event, signature }`.
export function signedEvent(eventBytes, signature) {
  return new Writer().bytes(1, eventBytes).bytes(2, signature).finish();
}
