// The page's views, one function each, named by the route after `#/`. Each reads what it
// shows from the node's API and builds it with `h` (text only, never markup).

import { act, get, h, lock, openKey, REMEMBERED, render, short, state, when } from "./app.js";
import { createKeystore } from "./keys.js";
import {
  BODY,
  CHOICE,
  CHOICE_NAME,
  KIND,
  ROLE,
  URGENCY,
  bodyOnly,
  describeAid,
  encodeAid,
  equalBytes,
  decodeBallot,
  decodeDeed,
  decodeMotion,
  encodeBallot,
  encodeDeed,
  encodeMotion,
  hex,
  unhex,
} from "./wire.js";

const field = (label, control, hint) => {
  const id = control.id || `f-${Math.random().toString(36).slice(2)}`;
  control.id = id;
  return h("p", { class: "field" }, h("label", { for: id }, label), control, hint ? h("small", {}, hint) : null);
};

const table = (caption, heads, rows) =>
  h(
    "table",
    {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, heads.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))),
  );

const sameList = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

// ------------------------------------------------------------------ motions

function motionRow(m) {
  return [
    h("a", { href: `#/motion/${m.id}` }, m.title || "(untitled)"),
    m.kind.replace(/_/g, " "),
    m.standing,
    m.finality === "open" ? `until ${when(m.closes_at_ms)}` : m.finality === "provisional" ? `provisional until ${when(m.final_at_ms)}` : `final, closed ${when(m.closes_at_ms)}`,
  ];
}

// The protocol's limits on papers (protocol/src/limits.rs).
const MAX_PAPER_BYTES = 16 * 1024 * 1024;
const MAX_PAPERS_PER_EVENT = 16;

async function motions() {
  const [all, feds, deed] = await Promise.all([get("/motions"), get("/federations"), get("/deed")]);
  state.deed = deed;
  const open = all.filter((m) => m.finality === "open");
  const done = all.filter((m) => m.finality !== "open");
  return h(
    "section",
    {},
    h("h1", { tabindex: -1 }, "Motions"),
    open.length ? table("Open for voting", ["Motion", "Kind", "Where it stands", "Voting"], open.map(motionRow)) : h("p", {}, "No motion is open for voting."),
    done.length ? table("Closed", ["Motion", "Kind", "Outcome", "Closed"], done.map(motionRow)) : null,
    proposeForm(feds),
  );
}

// ------------------------------------------------------------------ amending the deed

const GROUP = { 1: "all partners", 2: "the practice's partners", 3: "the board", 4: "the chair" };
const AID_SIGNERS = { 0: "the practice's node", 1: "a partner of the practice", 2: "a managing partner" };
const KIND_NAME = Object.fromEntries(Object.entries(KIND).map(([k, v]) => [v, k.replace(/_/g, " ")]));
const DAY = 24 * 3600 * 1000;
const pct = (bp) => `${bp / 100}%`;

// The differences between two deeds, in words, rule by rule.
function deedChanges(a, b) {
  const out = [];
  const say = (what, x, y) => x !== y && out.push(`${what}: ${x} → ${y}`);
  for (const rb of b.rules) {
    const ra = a.rules.find((r) => r.kind === rb.kind);
    const name = KIND_NAME[rb.kind] || `kind ${rb.kind}`;
    if (!ra) {
      out.push(`${name}: a new rule`);
      continue;
    }
    say(`${name}, quorum`, pct(ra.quorum_bp), pct(rb.quorum_bp));
    say(`${name}, threshold`, pct(ra.threshold?.bp ?? 0), pct(rb.threshold?.bp ?? 0));
    say(`${name}, threshold of`, ra.threshold?.of_electorate ? "the electorate" : "the votes cast", rb.threshold?.of_electorate ? "the electorate" : "the votes cast");
    say(`${name}, shortest vote`, `${ra.min_ms / DAY} days`, `${rb.min_ms / DAY} days`);
    say(`${name}, longest vote`, `${ra.max_ms / DAY} days`, `${rb.max_ms / DAY} days`);
  }
  say("grace period", `${a.grace_period_ms / 3600000} hours`, `${b.grace_period_ms / 3600000} hours`);
  say("proxies a partner may hold", String(a.max_proxies), String(b.max_proxies));
  say("aid is signed by", AID_SIGNERS[a.aid_signers], AID_SIGNERS[b.aid_signers]);
  return out;
}

// An editor of the deed in force, started from its exact bytes: each rule's quorum,
// threshold and voting periods, the grace period, proxies and who signs aid. Powers and
// the rest are kept as they are (`mutual deed amend` changes those from a file).
function deedEditor() {
  const el = h("fieldset", { class: "deed-editor" }, h("legend", {}, "The deed as amended"));
  let current = null;
  try {
    const bytes = unhex(state.deed.encoded);
    current = decodeDeed(bytes);
    if (!equalBytes(encodeDeed(current), bytes)) throw new Error("the page would not write it back as it is");
  } catch (e) {
    el.append(h("p", { class: "error" }, `The page cannot edit this deed (${e.message}); amend it with mutual deed amend.`));
    return { el, current: null, read: () => { throw new Error("The page cannot edit this deed."); } };
  }
  const number = (value, max, step = "any") => h("input", { type: "number", min: 0, max, step, value, inputmode: "decimal" });
  const rows = current.rules.map((r) => ({
    r,
    quorum: number(r.quorum_bp / 100, 100),
    threshold: number((r.threshold?.bp ?? 0) / 100, 100),
    ofElectorate: h("input", { type: "checkbox", checked: !!r.threshold?.of_electorate }),
    min: number(r.min_ms / DAY, 3650),
    max: number(r.max_ms / DAY, 3650),
  }));
  const grace = number(current.grace_period_ms / 3600000, 24 * 365);
  const proxies = number(current.max_proxies, 1000, 1);
  const aid = h("select", {}, Object.entries(AID_SIGNERS).map(([v, w]) => h("option", { value: v, selected: Number(v) === current.aid_signers }, w)));
  const label = (r, what) => `${KIND_NAME[r.kind] || r.kind}: ${what}`;
  el.append(
    h(
      "table",
      {},
      h("caption", {}, "Rules"),
      h("thead", {}, h("tr", {}, ["Decision", "Quorum %", "Threshold %", "Of the electorate", "Shortest vote (days)", "Longest vote (days)"].map((x) => h("th", { scope: "col" }, x)))),
      h(
        "tbody",
        {},
        rows.map((x) => {
          x.quorum.setAttribute("aria-label", label(x.r, "quorum %"));
          x.threshold.setAttribute("aria-label", label(x.r, "threshold %"));
          x.ofElectorate.setAttribute("aria-label", label(x.r, "threshold of the electorate"));
          x.min.setAttribute("aria-label", label(x.r, "shortest vote in days"));
          x.max.setAttribute("aria-label", label(x.r, "longest vote in days"));
          return h("tr", {}, [KIND_NAME[x.r.kind] || x.r.kind, x.quorum, x.threshold, x.ofElectorate, x.min, x.max].map((c) => h("td", {}, c)));
        }),
      ),
    ),
    field("Grace period after a close (hours)", grace),
    field("Proxies one partner may hold", proxies),
    field("Aid offers, acceptances and countersignatures are signed by", aid),
  );
  const bp = (input, what) => {
    const v = Math.round(Number(input.value) * 100);
    if (!Number.isFinite(v) || v < 0 || v > 10000) throw new Error(`${what} is a percentage from 0 to 100.`);
    return v;
  };
  const ms = (input, unit, what) => {
    const v = Math.round(Number(input.value) * unit);
    if (!Number.isFinite(v) || v < 0) throw new Error(`${what} cannot be negative.`);
    return v;
  };
  const read = () => {
    const d = structuredClone(current);
    d.rules = rows.map((x) => ({
      ...x.r,
      quorum_bp: bp(x.quorum, label(x.r, "the quorum")),
      threshold: { bp: bp(x.threshold, label(x.r, "the threshold")), of_electorate: x.ofElectorate.checked },
      min_ms: ms(x.min, DAY, label(x.r, "the shortest vote")),
      max_ms: ms(x.max, DAY, label(x.r, "the longest vote")),
    }));
    d.grace_period_ms = ms(grace, 3600000, "The grace period");
    d.max_proxies = Math.round(Number(proxies.value));
    d.aid_signers = Number(aid.value);
    const bytes = encodeDeed(d);
    if (equalBytes(bytes, encodeDeed(current))) throw new Error("The amendment changes nothing in the deed in force.");
    return bytes;
  };
  return { el, current, read };
}

// Each kind of motion in words, as "propose ..." reads it.
const KIND_WORDS = {
  general: "an ordinary resolution",
  amend_deed: "a motion to amend the deed",
  admit_practice: "a motion to admit a practice",
  admit_partner: "a motion to admit a partner",
  change_role: "a motion to change a partner's role",
  remove_partner: "a motion to remove a partner",
  remove_practice: "a motion to remove a practice",
  elect_board: "an election of the board",
  elect_chair: "an election of the chair",
  link_federation: "a motion to link to a federation",
  replace_key: "a motion to replace a partner's key",
  leave_federation: "a motion to leave a federation",
};

// Which extra controls each kind of motion asks for.
const NEEDS = {
  general: ["power", "subjectOds", "joint", "papers"],
  amend_deed: ["deedEditor"],
  admit_practice: ["practiceName", "ods", "locality", "listSize", "nodeKey"],
  admit_partner: ["partnerName", "practice", "role", "key"],
  change_role: ["partner", "role"],
  remove_partner: ["partner"],
  remove_practice: ["practice"],
  elect_board: ["candidates", "seats", "perLocality"],
  elect_chair: ["candidates"],
  link_federation: ["charter"],
  replace_key: ["partner", "replacement"],
  leave_federation: ["federation"],
};

function proposeForm(feds) {
  const kind = h("select", {}, Object.keys(KIND).map((k) => h("option", { value: k }, KIND_WORDS[k])));
  const title = h("input", { type: "text", required: true, maxlength: 200 });
  const text = h("textarea", { rows: 4 });
  const days = h("input", { type: "number", min: 0, value: 7, inputmode: "numeric" });
  const hours = h("input", { type: "number", min: 0, max: 23, value: 0, inputmode: "numeric" });
  const practices = state.members || [];
  const partners = practices.flatMap((p) => p.partners.filter((q) => q.status === "active").map((q) => ({ ...q, practice: p.name })));
  const c = {
    practiceName: h("input", { type: "text" }),
    ods: h("input", { type: "text", autocapitalize: "characters" }),
    locality: h("input", { type: "text" }),
    listSize: h("input", { type: "number", min: 0, max: 4294967295, step: 1, value: 0, inputmode: "numeric" }),
    nodeKey: h("input", { type: "text", spellcheck: "false" }),
    partnerName: h("input", { type: "text" }),
    practice: h("select", {}, practices.filter((p) => p.status === "active").map((p) => h("option", { value: p.ods }, `${p.name} (${p.ods})`))),
    role: h("select", {}, Object.keys(ROLE).map((r) => h("option", { value: r }, r))),
    key: h("input", { type: "text", spellcheck: "false" }),
    partner: h("select", {}, partners.map((q) => h("option", { value: q.key }, `${q.name} (${q.practice})`))),
    replacement: h("input", { type: "text", spellcheck: "false" }),
    seats: h("input", { type: "number", min: 0, max: 1000, step: 1, value: 1, inputmode: "numeric" }),
    perLocality: h("input", { type: "checkbox" }),
    charter: h("input", { type: "file" }),
    federation: h("select", {}, feds.filter((f) => f.link !== "left").map((f) => h("option", { value: f.id }, f.name || short(f.id)))),
    power: h(
      "select",
      {},
      h("option", { value: "" }, "none: an ordinary resolution"),
      ((state.deed && state.deed.deed.powers) || []).map((p) => h("option", { value: p.rule.kind }, `${p.rule.kind}: ${p.description}`)),
    ),
    subjectOds: h(
      "select",
      {},
      h("option", { value: "" }, "none"),
      practices.filter((p) => p.status === "active").map((p) => h("option", { value: p.ods }, `${p.name} (${p.ods})`)),
    ),
    joint: h(
      "select",
      {},
      h("option", { value: "" }, "no: this partnership's own business"),
      feds
        .filter((f) => f.link !== "left")
        .flatMap((f) => f.joint_motions.filter((j) => j.result === "open").map((j) => h("option", { value: `${f.id}/${j.id}` }, `${j.title} (${f.name})`))),
    ),
    papers: h("input", { type: "file", multiple: true }),
  };
  const boxes = partners.map((q) => h("input", { type: "checkbox", value: q.key }));
  const labels = {
    practiceName: "The practice's name",
    ods: "Its ODS code",
    locality: "Its locality",
    listSize: "Its list size",
    nodeKey: "Its node's key (64 hex digits, from its invite)",
    partnerName: "The partner's name",
    practice: "Practice",
    role: "Role",
    key: "Their key (64 hex digits, from their keystore)",
    partner: "Partner",
    replacement: "The new key (64 hex digits)",
    seats: "Seats (0 with one seat per locality)",
    charter: "The signed charter (from mutual federation charter)",
    federation: "Federation",
    power: "Under the deed's power",
    subjectOds: "The practice it concerns (for a power its partners decide)",
    joint: "This partnership's vote on a joint motion",
    papers: `Papers for the voters to read (at most ${MAX_PAPERS_PER_EVENT}, each up to ${MAX_PAPER_BYTES / 1024 / 1024} MB)`,
  };
  const extra = {};
  for (const [k, control] of Object.entries(c)) {
    extra[k] =
      k === "perLocality"
        ? h("p", {}, h("label", {}, control, " One seat per locality"))
        : field(labels[k], control);
  }
  const editor = deedEditor();
  extra.deedEditor = editor.el;
  extra.candidates = h(
    "fieldset",
    { class: "candidates" },
    h("legend", {}, "Candidates"),
    partners.map((q, i) => h("p", {}, h("label", {}, boxes[i], ` ${q.name} (${q.practice})`))),
  );
  const extras = h("div", {}, Object.values(extra));
  const show = () => {
    const needs = NEEDS[kind.value] || [];
    for (const [k, el] of Object.entries(extra)) el.hidden = !needs.includes(k);
  };
  kind.addEventListener("change", show);
  show();
  const out = h("div", { class: "out" });
  const form = h(
    "form",
    { "aria-labelledby": "propose-title" },
    h("h2", { id: "propose-title" }, "Propose a motion"),
    field("Kind", kind),
    field("Title", title),
    field("Text", text),
    h("fieldset", {}, h("legend", {}, "Voting stays open for"), field("Days", days), field("Hours", hours)),
    extras,
    h("button", { type: "submit" }, "Prepare the motion"),
    out,
  );
  const refuse = (msg) => out.replaceChildren(h("p", { class: "error", role: "alert" }, msg));
  const keyOf = (input, what) => {
    const v = input.value.trim().toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(v)) throw new Error(`${what} must be 64 hex digits.`);
    return unhex(v);
  };
  // The papers' bytes, sent to the node once it holds the motion that names them.
  let papers = [];
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    papers = [];
    const votingMs = (Number(days.value) * 24 + Number(hours.value)) * 3600 * 1000;
    if (!title.value.trim()) return refuse("A motion needs a title.");
    if (votingMs <= 0) return refuse("Voting must stay open for some time.");
    const k = kind.value;
    const chosen = { kind: KIND[k], title: title.value.trim(), text: text.value };
    try {
      if (k === "admit_practice") {
        chosen.admit_practice = {
          name: c.practiceName.value.trim(),
          ods_code: c.ods.value.trim().toUpperCase(),
          locality: c.locality.value.trim(),
          list_size: Number(c.listSize.value),
          node_key: keyOf(c.nodeKey, "The node's key"),
        };
      } else if (k === "admit_partner") {
        chosen.admit_partner = {
          name: c.partnerName.value.trim(),
          practice_ods: c.practice.value,
          role: ROLE[c.role.value],
          key: keyOf(c.key, "Their key"),
        };
      } else if (k === "change_role") {
        chosen.subject_key = unhex(c.partner.value);
        chosen.new_role = ROLE[c.role.value];
      } else if (k === "remove_partner") {
        chosen.subject_key = unhex(c.partner.value);
      } else if (k === "remove_practice") {
        chosen.subject_ods = c.practice.value;
      } else if (k === "replace_key") {
        chosen.subject_key = unhex(c.partner.value);
        chosen.replacement_key = keyOf(c.replacement, "The new key");
      } else if (k === "elect_board" || k === "elect_chair") {
        chosen.candidates = boxes.filter((b) => b.checked).map((b) => unhex(b.value));
        if (!chosen.candidates.length) throw new Error("Choose the candidates.");
        if (k === "elect_board") {
          chosen.per_locality = c.perLocality.checked;
          chosen.seats = chosen.per_locality ? 0 : Number(c.seats.value);
        }
      } else if (k === "link_federation") {
        if (!c.charter.files.length) throw new Error("Choose the signed charter's file.");
        chosen.charter_event = new Uint8Array(await c.charter.files[0].arrayBuffer());
      } else if (k === "leave_federation") {
        if (!c.federation.value) throw new Error("This partnership belongs to no federation.");
        chosen.federation = unhex(c.federation.value);
      } else if (k === "amend_deed") {
        chosen.new_deed = editor.read();
      } else if (k === "general") {
        if (c.joint.value && c.power.value) throw new Error("A vote on a joint motion cites no power.");
        if (c.subjectOds.value && !c.power.value) throw new Error("A practice concerned goes with a power.");
        chosen.power = c.power.value;
        chosen.subject_ods = c.subjectOds.value;
        if (c.joint.value) {
          const [fed, joint] = c.joint.value.split("/");
          chosen.federation = unhex(fed);
          chosen.joint_motion = unhex(joint);
        }
        const files = [...c.papers.files];
        if (files.length > MAX_PAPERS_PER_EVENT) throw new Error(`A motion carries at most ${MAX_PAPERS_PER_EVENT} papers.`);
        chosen.papers = [];
        papers = [];
        for (const file of files) {
          if (file.size < 1 || file.size > MAX_PAPER_BYTES) throw new Error(`${file.name}: a paper is 1 byte to ${MAX_PAPER_BYTES / 1024 / 1024} MB.`);
          const bytes = new Uint8Array(await file.arrayBuffer());
          const sha256 = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
          chosen.papers.push({ name: file.name, sha256, size: bytes.length, media_type: file.type || "application/octet-stream" });
          papers.push({ sha256: hex(sha256), bytes, name: file.name });
        }
      }
    } catch (err) {
      return refuse(err.message);
    }
    let encoded;
    try {
      encoded = encodeMotion(chosen);
    } catch (err) {
      return refuse(`The motion cannot be written: ${err.message}.`);
    }
    await act({
      body: bodyOnly(BODY.motion, encoded),
      votingMs,
      // The node sets the voting period's start to the event's time; with it, the bytes
      // must be exactly the motion chosen.
      check: (ev) => {
        if (ev.field !== BODY.motion) return ["it is not a motion"];
        const timed = { ...chosen, opens_at_ms: ev.timestamp_ms, closes_at_ms: ev.timestamp_ms + votingMs };
        return equalBytes(ev.body, encodeMotion(timed)) ? [] : ["the motion differs from the one you chose"];
      },
      after: async (out) => {
        for (const p of papers) {
          const r = await fetch(`/papers/${p.sha256}`, { method: "PUT", headers: { "Content-Type": "application/octet-stream" }, body: p.bytes });
          if (!r.ok) {
            out.append(h("p", { class: "error", role: "alert" }, `The node did not take the paper ${p.name} (${r.status}); send it again with mutual paper.`));
          }
        }
        if (papers.length) out.append(h("p", { class: "ok" }, `Papers sent: ${papers.map((p) => p.name).join(", ")}.`));
      },
      describe: (ev) => {
        const m = decodeMotion(ev.body);
        return [
          ["What", `propose ${KIND_WORDS[k]}`],
          ...(m.power ? [["Under the deed's power", m.power]] : []),
          ...(m.new_deed ? [["The deed's changes", deedChanges(editor.current, decodeDeed(m.new_deed)).join("; ")]] : []),
          ...(m.joint_motion ? [["A vote on the joint motion", short(m.joint_motion)]] : []),
          ...(m.papers.length ? [["Papers", m.papers.map((p) => `${p.name} (${p.size} bytes, SHA-256 ${short(p.sha256)})`).join("; ")]] : []),
          ["Title", m.title],
          ["Text", m.text || "—"],
          ["Voting", `${when(m.opens_at_ms)} to ${when(m.closes_at_ms)}`],
          ...(m.candidates.length ? [["Candidates", m.candidates.map(nameOf).join(", ")]] : []),
          ...(m.subject ? [["Concerning", nameOf(m.subject)]] : []),
          ...(m.subject_ods ? [["Practice", m.subject_ods]] : []),
          ...(m.admitted ? [["Admits", m.admitted]] : []),
        ];
      },
    });
  });
  return form;
}

function nameOf(key) {
  for (const p of state.members || []) for (const q of p.partners) if (q.key === key || q.id === key) return q.name;
  return `key ${short(key)}`;
}

function tallyWords(m) {
  const t = m.tally;
  const lines = [
    `${t.turnout} of ${t.electorate} partners entitled to vote have taken part; quorum needs ${t.quorum_needed} (${t.quorum_met ? "met" : "not met"}).`,
  ];
  if (!m.candidates.length) lines.push(`For ${t.votes_for}, against ${t.votes_against}, abstaining ${t.abstentions}; the threshold is ${t.threshold_met ? "met" : "not met"}.`);
  if (t.recused) lines.push(`${t.recused} partner${t.recused === 1 ? "" : "s"} recused after declaring an interest.`);
  if (t.unwitnessed) lines.push(`${t.unwitnessed} ballot${t.unwitnessed === 1 ? " has" : "s have"} not yet been witnessed by another practice.`);
  lines.push(`Why: ${t.reason}.`);
  return lines;
}

// The deed's rule a motion is decided under: its power's, or its kind's.
function ruleOf(deed, m) {
  if (m.power) return deed.deed.powers.find((p) => p.rule.kind === m.power)?.rule;
  return deed.deed.rules.find((r) => r.kind === m.kind.replace(/_/g, "-"));
}

async function motion([id]) {
  const [m, deed] = await Promise.all([get(`/motions/${encodeURIComponent(id)}`), get("/deed")]);
  const rule = ruleOf(deed, m);
  const t = m.tally;
  const facts = [
    ["Kind", m.kind.replace(/_/g, " ")],
    ["Proposed by", m.proposer],
    ["Decided by", m.decided_by || "the partners"],
    ["Voting", `${when(m.opens_at_ms)} to ${when(m.closes_at_ms)}`],
    ["Status", m.finality === "provisional" ? `provisional until ${when(m.final_at_ms)}: late ballots may still arrive` : m.finality],
    ["Where it stands", m.standing],
  ];
  if (m.power) facts.push(["Under the deed's power", m.power]);
  if (rule) facts.push(["What the deed says", `decided by ${rule.voters}; ${rule.counted}; ${rule.recusal}`]);
  if (m.effect) facts.push(["Effect", m.effect]);
  const parts = [
    h("h1", { tabindex: -1 }, m.title || "(untitled)"),
    m.text ? h("p", { class: "motion-text" }, m.text) : null,
    h("dl", {}, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    m.papers.length
      ? h(
          "section",
          {},
          h("h2", {}, "Papers to read"),
          h(
            "ul",
            {},
            m.papers.map((p) =>
              h(
                "li",
                {},
                p.held ? h("a", { href: `/papers/${p.sha256}`, download: p.name }, p.name) : `${p.name} (being fetched from peers)`,
                p.size ? ` · ${Math.ceil(p.size / 1024)} KB` : "",
                ` · SHA-256 ${short(p.sha256)}`,
              ),
            ),
          ),
        )
      : null,
    h("h2", {}, "The tally"),
    h("ul", { class: "tally" }, tallyWords(m).map((l) => h("li", {}, l))),
  ];
  if (m.candidates.length) {
    parts.push(h("p", {}, `Candidates: ${m.candidates.map((c) => c[1]).join(", ")}.`));
    if (t.elected.length) parts.push(h("p", { class: "ok" }, `Elected: ${t.elected.join(", ")}.`));
    if (t.rounds.length) {
      parts.push(table("The count, round by round", ["Step", "What happened"], t.rounds.map((r, i) => [String(i + 1), r])));
      parts.push(chart(m));
    }
  }
  parts.push(
    m.ballots.length ? table("Ballots that count", ["Partner", "Ballot"], m.ballots) : h("p", {}, "No ballot counts yet."),
  );
  if (m.finality === "open") parts.push(ballotForms(m));
  return h("section", {}, parts);
}

// Candidates' first-preference ballots, as bars.
function chart(m) {
  const first = new Map(m.candidates.map(([, name]) => [name, 0]));
  for (const [, b] of m.ballots) {
    const top = b.replace(/^ranking\s*/, "").split(", then ")[0];
    if (first.has(top)) first.set(top, first.get(top) + 1);
  }
  const most = Math.max(1, ...first.values());
  return h(
    "figure",
    { class: "chart" },
    h("figcaption", {}, "First preferences of the ballots that count"),
    [...first].map(([name, n]) => {
      const bar = h("span", { class: "bar", "aria-hidden": "true" });
      // Set through the style object, which the page's policy allows (no inline styles).
      bar.style.width = `${Math.round((100 * n) / most)}%`;
      return h("p", {}, h("span", { class: "bar-label" }, `${name}: ${n}`), bar);
    }),
  );
}

function ballotForms(m) {
  const out = h("div", { class: "out" });
  const motionBytes = unhex(m.id);
  const send = (ballot, words) =>
    act({
      body: bodyOnly(BODY.ballot, encodeBallot({ motion: motionBytes, ...ballot })),
      check: (ev) => {
        if (ev.field !== BODY.ballot) return ["it is not a ballot"];
        const b = decodeBallot(ev.body);
        const wrong = [];
        if (b.motion !== m.id) wrong.push("it is on another motion");
        if (b.choice !== (ballot.choice || 0)) wrong.push(`it says “${CHOICE_NAME[b.choice] || "nothing"}”, not “${CHOICE_NAME[ballot.choice]}”`);
        const ranking = (ballot.ranking || []).map((k) => [...k].map((x) => x.toString(16).padStart(2, "0")).join(""));
        if (!sameList(b.ranking, ranking)) wrong.push("the ranking differs");
        if (b.statement !== (ballot.statement || "")) wrong.push("the statement differs");
        const proxy = ballot.proxy ? [...ballot.proxy].map((x) => x.toString(16).padStart(2, "0")).join("") : "";
        if (b.proxy !== proxy) wrong.push("the proxy differs");
        if (b.proxy_expires_at_ms !== (ballot.proxy_expires_at_ms || 0)) wrong.push("the proxy's end differs");
        if (b.on_behalf_of !== "") wrong.push("it is cast on someone else's behalf");
        if (b.others.length) wrong.push(`it sets fields you did not choose (${b.others.join(", ")})`);
        // And nothing else: the bytes are exactly the ballot chosen.
        if (!wrong.length && !equalBytes(ev.body, encodeBallot({ motion: motionBytes, ...ballot }))) {
          wrong.push("the ballot is not encoded as chosen");
        }
        return wrong;
      },
      describe: (ev) => {
        const b = decodeBallot(ev.body);
        const lines = [["Motion", `${m.title} (${short(b.motion)})`], ["Your ballot", words(b)]];
        return lines;
      },
    });
  const forms = [h("h2", {}, "Your ballot")];
  if (m.candidates.length) {
    const ranks = m.candidates.map(() => h("input", { type: "number", min: 1, max: m.candidates.length, inputmode: "numeric" }));
    const f = h(
      "form",
      { "aria-label": "Ranked ballot" },
      h("p", {}, "Number the candidates in your order of preference (1 first); leave blank those you do not rank."),
      m.candidates.map(([, name], i) => field(`Rank for ${name}`, ranks[i])),
      h("button", { type: "submit" }, "Prepare my ranked ballot"),
    );
    f.addEventListener("submit", (e) => {
      e.preventDefault();
      const chosen = m.candidates.map(([key], i) => ({ key, rank: Number(ranks[i].value) })).filter((c) => c.rank > 0);
      chosen.sort((a, b) => a.rank - b.rank);
      if (new Set(chosen.map((c) => c.rank)).size !== chosen.length) return out.replaceChildren(h("p", { class: "error", role: "alert" }, "Two candidates have the same number."));
      if (!chosen.length) return out.replaceChildren(h("p", { class: "error", role: "alert" }, "Rank at least one candidate."));
      send({ choice: 0, ranking: chosen.map((c) => unhex(c.key)) }, (b) => `rank ${b.ranking.map(nameOf).join(", then ")}`);
    });
    forms.push(f);
  } else {
    const choice = h(
      "fieldset",
      {},
      h("legend", {}, "Vote"),
      ["for", "against", "abstain"].map((c) => h("p", {}, h("label", {}, h("input", { type: "radio", name: "choice", value: c }), ` ${c}`))),
    );
    const f = h("form", { "aria-label": "Vote" }, choice, h("button", { type: "submit" }, "Prepare my vote"));
    f.addEventListener("submit", (e) => {
      e.preventDefault();
      const c = f.querySelector("input[name=choice]:checked");
      if (!c) return out.replaceChildren(h("p", { class: "error", role: "alert" }, "Choose for, against or abstain."));
      send({ choice: CHOICE[c.value] }, (b) => `vote ${CHOICE_NAME[b.choice]}`);
    });
    forms.push(f);
  }
  const statement = h("textarea", { rows: 2 });
  const interest = h("form", { "aria-label": "Declare an interest" }, field("Declare an interest (in words)", statement), h("button", { type: "submit" }, "Prepare the declaration"));
  interest.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!statement.value.trim()) return out.replaceChildren(h("p", { class: "error", role: "alert" }, "Say what the interest is."));
    send({ choice: CHOICE.declare_interest, statement: statement.value.trim() }, (b) => `declare an interest: ${b.statement}`);
  });
  const others = (state.members || []).flatMap((p) => p.partners.filter((q) => q.status === "active" && q.key && q.key !== state.key?.publicKey));
  const proxy = h("select", {}, h("option", { value: "" }, "choose a partner"), others.map((q) => h("option", { value: q.key }, q.name)));
  const appoint = h("form", { "aria-label": "Appoint a proxy" }, field("Appoint a proxy to vote for you on this motion", proxy), h("button", { type: "submit" }, "Prepare the appointment"));
  appoint.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!proxy.value) return out.replaceChildren(h("p", { class: "error", role: "alert" }, "Choose the partner to appoint."));
    send({ choice: CHOICE.appoint_proxy, proxy: unhex(proxy.value) }, (b) => `appoint ${nameOf(b.proxy)} as your proxy until the close`);
  });
  const revoke = h("form", { "aria-label": "Revoke your proxy" }, h("button", { type: "submit" }, "Revoke my proxy on this motion"));
  revoke.addEventListener("submit", (e) => {
    e.preventDefault();
    send({ choice: CHOICE.revoke_proxy }, () => "revoke your proxy and any vote cast by it");
  });
  return h("section", { class: "ballot" }, forms, interest, appoint, revoke, out);
}

// ------------------------------------------------------------------ members, aid, federations

async function members() {
  const list = await get("/members");
  const byLocality = new Map();
  for (const p of list) {
    if (!byLocality.has(p.locality)) byLocality.set(p.locality, []);
    byLocality.get(p.locality).push(p);
  }
  return h(
    "section",
    {},
    h("h1", { tabindex: -1 }, "Members"),
    [...byLocality].map(([locality, practices]) => [
      h("h2", {}, locality || "No locality given"),
      practices.map((p) =>
        p.partners.length
          ? table(
              `${p.name} (${p.ods}) · ${p.status}`,
              ["Partner", "Role", "Offices", "Status", "Key"],
              p.partners.map((q) => [q.name, q.role, q.offices.join(", ") || "—", q.status, short(q.key) || "revoked"]),
            )
          : h("p", {}, h("strong", {}, `${p.name} (${p.ods}) · ${p.status}`), ": no partner admitted yet."),
      ),
    ]),
  );
}

// The practice whose partner holds the open keystore, if any (its ODS code).
function myPractice() {
  for (const p of state.members || []) if (p.partners.some((q) => q.key && q.key === state.key?.publicKey)) return p.ods;
  return null;
}

// The open keystore's partner's role, if they are a partner here.
function myRole() {
  for (const p of state.members || []) for (const q of p.partners) if (q.key && q.key === state.key?.publicKey) return q.role;
  return null;
}

const practiceName = (ods) => (state.members || []).find((p) => p.ods === ods)?.name || ods;

// Signs one aid action for the partner's practice: the page encodes the body itself and
// signs only bytes whose body is exactly that encoding.
function aidAct(action) {
  let field;
  let body;
  try {
    [field, body] = encodeAid(action);
  } catch (err) {
    return say(`The aid action cannot be written: ${err.message}.`);
  }
  return act({
    body: bodyOnly(field, body),
    check: (ev) => (ev.field === field && equalBytes(ev.body, body) ? [] : ["the aid body differs from what you chose"]),
    describe: (ev) => describeAid(ev.field, ev.body),
  });
}

// A small form: a heading, the controls, a button, and what to do with their values.
function aidForm(label, controls, button, submit) {
  const f = h(
    "form",
    { "aria-label": label },
    h("h2", {}, label),
    controls.map(([l, c, hint]) => field(l, c, hint)),
    h("button", { type: "submit" }, button),
  );
  f.addEventListener("submit", (e) => {
    e.preventDefault();
    submit();
  });
  return f;
}

function requestForm() {
  const role = h("input", { type: "text", value: "GP" });
  const sessions = h("textarea", { rows: 3 });
  const urgency = h("select", {}, Object.keys(URGENCY).map((u) => h("option", { value: u }, u)));
  const notes = h("textarea", { rows: 2 });
  const days = h("input", { type: "number", min: 1, value: 14, inputmode: "numeric" });
  return aidForm(
    "Ask for help",
    [
      ["Role needed", role],
      ["Sessions, one per line", sessions, "each as 2027-01-15 AM (or PM, or 09:00-13:00)"],
      ["Urgency", urgency],
      ["Notes", notes],
      ["Open for (days)", days],
    ],
    "Prepare the request",
    () => {
      const list = sessions.value.split("\n").map((l) => l.trim()).filter(Boolean);
      if (!list.length) return say("Give at least one session.");
      aidAct({
        action: "request",
        role: role.value.trim(),
        sessions: list,
        urgency: urgency.value,
        notes: notes.value,
        expires_at_ms: Date.now() + Number(days.value) * 24 * 3600 * 1000,
      });
    },
  );
}

function say(text) {
  document.getElementById("notice").replaceChildren(h("p", { class: "error", role: "alert" }, text));
}

const button = (text, onclick) => h("button", { type: "button", onclick }, text);

async function aid() {
  const [a, deed] = await Promise.all([get("/aid"), get("/deed")]);
  const signers = deed.deed.aid_signers;
  // Who may act for their practice here, as the deed says (docs/AID.md §3.1): no partner
  // where the node signs; not an associate; only a managing partner where the deed says so.
  const role = myRole();
  const mayAct =
    signers !== "the practice's node" &&
    role !== "associate" &&
    (signers !== "a managing partner of the practice" || role === "managing");
  const mine = mayAct ? myPractice() : null;
  const requestRows = a.requests.map((r) => {
    const actions = [];
    if (mine && r.state === "open") {
      if (r.practice === mine) {
        actions.push(button("Withdraw", () => aidAct({ action: "withdraw", request: r.id, reason: "" })));
        for (const [offer, by, sessions] of r.offers) {
          actions.push(button(`Accept ${practiceName(by)}'s offer`, () => aidAct({ action: "accept", offer, sessions })));
        }
      } else if (!r.offers.some(([, by]) => by === mine)) {
        actions.push(
          button("Offer cover", () => aidAct({ action: "offer", request: r.id, sessions: r.sessions, role: r.role, terms: "" })),
        );
      }
    }
    return [
      practiceName(r.practice),
      r.role,
      r.sessions.join(", "),
      r.urgency,
      `${r.state.replace(/_/g, " ")}${r.outstanding ? `, ${r.outstanding} sessions outstanding` : ""}`,
      r.offers.map(([, by, s]) => `${practiceName(by)}: ${s.join(", ")}`).join("; ") || "none yet",
      h("span", { class: "actions" }, actions),
    ];
  });
  const agreementRows = a.agreements.map((g) => {
    const actions = [];
    if (mine && g.status === "pending" && g.offerer === mine) {
      actions.push(button("Countersign", () => aidAct({ action: "countersign", agreement: g.id })));
    }
    if (mine && g.requester === mine && g.status === "binding") {
      actions.push(button("Record as fulfilled", () => aidAct({ action: "fulfil", agreement: g.id })));
    }
    if (mine && (g.requester === mine || g.offerer === mine) && (g.status === "pending" || g.status === "binding")) {
      const cancel = button("Cancel…", () => {
        const reason = h("input", { type: "text", required: true });
        const notice = h("input", { type: "number", min: 0, value: 0, inputmode: "numeric" });
        const form = aidForm("Cancel the agreement", [["Why", reason], ["Notice given (hours)", notice]], "Prepare the cancellation", () => {
          if (!reason.value.trim()) return say("Say why the agreement is cancelled.");
          aidAct({ action: "cancel", agreement: g.id, reason: reason.value.trim(), notice_hours: Number(notice.value) });
        });
        cancel.replaceWith(form);
        reason.focus();
      });
      actions.push(cancel);
    }
    return [practiceName(g.requester), practiceName(g.offerer), g.sessions.join(", "), g.status, h("span", { class: "actions" }, actions)];
  });
  return h(
    "section",
    {},
    h("h1", { tabindex: -1 }, "Mutual aid"),
    h("p", {}, `Under the deed, aid offers, acceptances and countersignatures are signed by ${signers}.`),
    mine
      ? h("p", {}, `You act for ${practiceName(mine)}.`)
      : signers === "the practice's node"
        ? h("p", {}, "Your practice's node signs its aid events (mutual aid, on the node's machine).")
        : state.key
          ? h("p", {}, "Under the deed your role does not commit your practice to aid.")
          : h("p", {}, "Open your keystore to act for your practice."),
    requestRows.length
      ? table("Requests", ["Practice", "Role", "Sessions", "Urgency", "State", "Offers", "You can"], requestRows)
      : h("p", {}, "No request for help."),
    agreementRows.length
      ? table("Agreements", ["Requester", "Offerer", "Sessions", "Status", "You can"], agreementRows)
      : h("p", {}, "No agreement yet."),
    mine ? requestForm() : null,
  );
}

async function federations() {
  const list = await get("/federations");
  if (!list.length) return h("section", {}, h("h1", { tabindex: -1 }, "Federations"), h("p", {}, "This partnership belongs to no federation."));
  return h(
    "section",
    {},
    h("h1", { tabindex: -1 }, "Federations"),
    list.map((f) => [
      h("h2", {}, `${f.name} (${f.link}${f.live ? "" : ", not every network has joined yet"})`),
      h("p", {}, `Shares: ${f.shares.join(", ") || "nothing"}. A joint motion passes with ${f.joint_rule === "all" ? "every network" : "a majority of networks"}. ${f.events} events in its log.`),
      table(
        "Networks",
        ["Network", "State", "Practices"],
        f.networks.map((n) => [n.name, n.state, n.practices.map((p) => p.name).join(", ")]),
      ),
      f.joint_motions.length
        ? table(
            "Joint motions",
            ["Motion", "Proposed by", "Each network's decision", "Result"],
            f.joint_motions.map((j) => [
              j.title,
              f.networks.find((n) => n.network === j.network)?.name || short(j.network),
              Object.entries(j.decisions)
                .map(([net, passed]) => `${f.networks.find((n) => n.network === net)?.name || short(net)}: ${passed ? "for" : "against"}`)
                .join("; ") || "none yet",
              j.result,
            ]),
          )
        : h("p", {}, "No joint motion."),
      f.statements.length
        ? table("Statements", ["Network", "Title", "Text"], f.statements.map(([, net, title, text]) => [f.networks.find((n) => n.network === net)?.name || short(net), title, text]))
        : null,
    ]),
  );
}

async function deed() {
  const d = await get("/deed");
  const t = d.deed;
  return h(
    "section",
    {},
    h("h1", { tabindex: -1 }, "The deed"),
    h(
      "dl",
      {},
      [
        ["Board", d.board.join(", ") || "none elected"],
        ["Chair", d.chair || "none elected"],
        ["Grace period after a close", t.grace_period],
        ["Proxies", t.proxies],
        ["Aid is signed by", t.aid_signers],
        ["Board's term", t.board_term],
        ["Chair's term", t.chair_term],
        ["Last amended by", d.amended_by || "not amended since the founding"],
      ].map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
    ),
    table(
      "Who decides what",
      ["Decision", "Proposed by", "Decided by", "Counted", "Voting", "Recusal"],
      t.rules.map((r) => [r.kind.replace(/-/g, " "), r.proposers, r.voters, r.counted, r.voting, r.recusal]),
    ),
    t.powers.length
      ? table(
          "Powers of the deed",
          ["Power", "What it covers", "Decided by", "Counted"],
          t.powers.map((p) => [p.rule.kind, p.description, p.rule.voters, p.rule.counted]),
        )
      : null,
    h("p", {}, "The deed is amended by a motion the partners vote on (mutual deed amend)."),
  );
}

// ------------------------------------------------------------------ the log and the node

const PAGE = 100;

async function log([skip = "0"]) {
  const from = Math.max(0, Number(skip) || 0);
  const events = await get(`/events?skip=${from}&limit=${PAGE}`);
  const search = h("input", { type: "search" });
  const body = h("tbody", {});
  const fill = () => {
    const q = search.value.trim().toLowerCase();
    body.replaceChildren(
      ...events
        .filter((e) => !q || `${e.who} ${e.kind} ${e.outcome} ${e.id} ${e.author}`.toLowerCase().includes(q))
        .map((e) => h("tr", {}, [when(e.timestamp_ms), e.who, e.kind.replace(/_/g, " "), e.outcome, short(e.id)].map((c) => h("td", {}, c)))),
    );
  };
  search.addEventListener("input", fill);
  fill();
  return h(
    "section",
    {},
    h("h1", { tabindex: -1 }, "The signed log"),
    field("Search these events", search, "by who, kind, outcome or id"),
    h(
      "table",
      {},
      h("caption", {}, `Events ${from + 1} to ${from + events.length}, in the order every node folds them`),
      h("thead", {}, h("tr", {}, ["Dated", "Who", "Kind", "Outcome", "Id"].map((x) => h("th", { scope: "col" }, x)))),
      body,
    ),
    h(
      "p",
      {},
      from > 0 ? h("a", { href: `#/log/${Math.max(0, from - PAGE)}` }, "Earlier events") : null,
      " ",
      events.length === PAGE ? h("a", { href: `#/log/${from + PAGE}` }, "Later events") : null,
    ),
  );
}

async function node() {
  const s = await get("/status");
  state.status = s;
  return h(
    "section",
    {},
    h("h1", { tabindex: -1 }, "This node"),
    h(
      "dl",
      {},
      [
        ["Network", s.network],
        ["Events held", String(s.events)],
        ["Waiting for causes", String(s.pending)],
        ["Connected peers", String(s.peers.length)],
        ["State hash", s.state_hash],
        ["Knows its own feed's head", s.head_confirmed ? "yes" : "not yet"],
        ["Admitted practice", s.admitted ? "yes" : "no"],
        ["Node's clock", when(s.now_ms)],
        ["Elections due", s.elections_due.join(", ") || "none"],
      ].map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]),
    ),
  );
}

// ------------------------------------------------------------------ your key

async function key() {
  const file = h("input", { type: "file" });
  const pass = h("input", { type: "password", autocomplete: "current-password" });
  const remember = h("input", { type: "checkbox" });
  const out = h("div", { class: "out" });
  const remembered = localStorage.getItem(REMEMBERED);
  const openForm = h(
    "form",
    { "aria-labelledby": "open-title" },
    h("h2", { id: "open-title" }, "Open your keystore"),
    h("p", {}, "Your keystore stays in this browser: the page opens it with your passphrase and signs here. The node never sees your key or your passphrase."),
    remembered ? h("p", {}, "This browser remembers a keystore file; choose another below to use that one instead.") : null,
    field("Keystore file", file),
    field("Passphrase", pass),
    h("p", {}, h("label", {}, remember, " Remember this keystore file in this browser (it stays encrypted)")),
    h("button", { type: "submit" }, "Open"),
    out,
  );
  openForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    out.replaceChildren(h("p", { role: "status" }, "Opening… (this takes a moment)"));
    try {
      let bytes;
      if (file.files.length) bytes = new Uint8Array(await file.files[0].arrayBuffer());
      else if (remembered) bytes = unhex(remembered);
      else throw new Error("Choose your keystore file.");
      await openKey(bytes, pass.value, remember.checked);
      pass.value = "";
      out.replaceChildren(h("p", { class: "ok", role: "status" }, `Opened: you sign as key ${short(state.key.publicKey)}.`));
    } catch (err) {
      pass.value = "";
      out.replaceChildren(h("p", { class: "error", role: "alert" }, err.message));
    }
  });
  const forget = remembered
    ? h("p", {}, h("button", { type: "button", onclick: () => { localStorage.removeItem(REMEMBERED); lock(); render(); } }, "Forget the remembered keystore"))
    : null;
  const newPass = h("input", { type: "password", autocomplete: "new-password" });
  const again = h("input", { type: "password", autocomplete: "new-password" });
  const made = h("div", { class: "out" });
  const create = h(
    "form",
    { "aria-labelledby": "create-title" },
    h("h2", { id: "create-title" }, "Make a new keystore"),
    h("p", {}, "For a partner who has none yet: the key is made in this browser and saved as a file you keep. Give the key it shows to whoever proposes admitting you."),
    field("New passphrase (at least 8 characters)", newPass),
    field("The passphrase again", again),
    h("button", { type: "submit" }, "Make the keystore"),
    made,
  );
  create.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (newPass.value !== again.value) return made.replaceChildren(h("p", { class: "error", role: "alert" }, "The two passphrases differ."));
    try {
      made.replaceChildren(h("p", { role: "status" }, "Making… (this takes a moment)"));
      const ks = await createKeystore(newPass.value);
      const url = URL.createObjectURL(new Blob([ks.bytes], { type: "application/octet-stream" }));
      made.replaceChildren(
        h("p", { class: "ok", role: "status" }, `Made. Your key: ${ks.publicKey}`),
        h("p", {}, h("a", { href: url, download: "mutual-keystore" }, "Save the keystore file"), " and keep it safe: without it and its passphrase nobody can sign for you."),
      );
    } catch (err) {
      made.replaceChildren(h("p", { class: "error", role: "alert" }, err.message));
    } finally {
      newPass.value = "";
      again.value = "";
    }
  });
  return h("section", {}, h("h1", { tabindex: -1 }, "Your key"), openForm, forget, create);
}

export const ROUTES = { motions, motion, members, deed, aid, federations, log, node, key };
