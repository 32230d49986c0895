// Proposing a motion of any kind, an amendment of the deed edited from the deed in force
// included: the page encodes the motion, and signs only bytes that are exactly it.

import { act, h, short, state, when } from "./app.js";
import { field, nameOf } from "./ui.js";
import {
  BODY,
  KIND,
  ROLE,
  bodyOnly,
  decodeDeed,
  decodeMotion,
  encodeDeed,
  encodeMotion,
  equalBytes,
  hex,
  unhex,
} from "./wire.js";

// The protocol's limits on papers (protocol/src/limits.rs).
const MAX_PAPER_BYTES = 16 * 1024 * 1024;
const MAX_PAPERS_PER_EVENT = 16;

// ------------------------------------------------------------------ amending the deed

const AID_SIGNERS = { 0: "the practice's node", 1: "a partner of the practice", 2: "a managing partner" };
const KIND_NAME = Object.fromEntries(Object.entries(KIND).map(([k, v]) => [v, k.replace(/_/g, " ")]));
const DAY = 24 * 3600 * 1000;
const pct = (bp) => `${bp / 100}%`;

const GROUPS = { 1: "all partners", 2: "the practice's partners", 3: "the board", 4: "the chair" };
// A power's name: lower-case letters, digits and hyphens, 1 to 64 of them (GOVERNANCE.md §2.5).
const POWER_NAME = /^[a-z0-9-]{1,64}$/;
const days = (ms) => (ms ? `${ms / DAY} days` : "none");

// The differences between two rules, in words, each line starting with `name`.
function ruleChanges(name, ra, rb, say) {
  say(`${name}, proposed by`, GROUPS[ra.proposers] || ra.proposers, GROUPS[rb.proposers] || rb.proposers);
  say(`${name}, decided by`, GROUPS[ra.voters] || ra.voters, GROUPS[rb.voters] || rb.voters);
  say(`${name}, quorum`, pct(ra.quorum_bp), pct(rb.quorum_bp));
  say(`${name}, threshold`, pct(ra.threshold?.bp ?? 0), pct(rb.threshold?.bp ?? 0));
  say(`${name}, threshold of`, ra.threshold?.of_electorate ? "the electorate" : "the votes cast", rb.threshold?.of_electorate ? "the electorate" : "the votes cast");
  say(`${name}, shortest vote`, `${ra.min_ms / DAY} days`, `${rb.min_ms / DAY} days`);
  say(`${name}, longest vote`, `${ra.max_ms / DAY} days`, `${rb.max_ms / DAY} days`);
}

// The differences between two deeds, in words, rule by rule and power by power.
function deedChanges(a, b) {
  const out = [];
  const say = (what, x, y) => x !== y && out.push(`${what}: ${x} → ${y}`);
  for (const rb of b.rules) {
    const ra = a.rules.find((r) => r.kind === rb.kind);
    const name = KIND_NAME[rb.kind] || `kind ${rb.kind}`;
    if (!ra) out.push(`${name}: a new rule`);
    else ruleChanges(name, ra, rb, say);
  }
  for (const pb of b.powers) {
    const pa = a.powers.find((p) => p.name === pb.name);
    if (!pa) {
      out.push(`power ${pb.name}: a new power (${pb.description}), decided by ${GROUPS[pb.rule.voters] || pb.rule.voters}`);
      continue;
    }
    say(`power ${pb.name}, what it covers`, pa.description, pb.description);
    ruleChanges(`power ${pb.name}`, pa.rule, pb.rule, say);
  }
  for (const pa of a.powers) if (!b.powers.some((p) => p.name === pa.name)) out.push(`power ${pa.name}: removed`);
  say("grace period", `${a.grace_period_ms / 3600000} hours`, `${b.grace_period_ms / 3600000} hours`);
  say("proxies a partner may hold", String(a.max_proxies), String(b.max_proxies));
  say("aid is signed by", AID_SIGNERS[a.aid_signers], AID_SIGNERS[b.aid_signers]);
  say("board term", days(a.board_term_ms), days(b.board_term_ms));
  say("chair's term", days(a.chair_term_ms), days(b.chair_term_ms));
  const agreement = (x) => (x && x.length ? `SHA-256 ${short(hex(x))}` : "none");
  say("the agreement", agreement(a.agreement_hash), agreement(b.agreement_hash));
  return out;
}

// An editor of the deed in force, started from its exact bytes: each rule's and each
// power's quorum, threshold and voting periods (and a power's description, who proposes
// and who decides), powers added and removed, the grace period, proxies, who signs aid,
// the board's and the chair's terms, and the agreement partners accede to.
function deedEditor() {
  const el = h("fieldset", { class: "deed-editor" }, h("legend", {}, "The deed as amended"));
  let current = null;
  try {
    const bytes = unhex(state.deed.encoded);
    current = decodeDeed(bytes);
    if (!equalBytes(encodeDeed(current), bytes)) throw new Error("the page would not write it back as it is");
  } catch (e) {
    el.append(h("p", { class: "error" }, `The page cannot edit this deed (${e.message}); amend it with mutual deed amend.`));
    return { el, current: null, read: async () => { throw new Error("The page cannot edit this deed."); } };
  }
  const number = (value, max, step = "any") => h("input", { type: "number", min: 0, max, step, value, inputmode: "decimal" });
  // A group, with the deed's own value kept as it is if it is none of the usual ones.
  const group = (value) =>
    h(
      "select",
      {},
      GROUPS[value] ? null : h("option", { value, selected: true }, `as the deed has it (${value})`),
      Object.entries(GROUPS).map(([v, w]) => h("option", { value: v, selected: Number(v) === value }, w)),
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
  // A rule with no threshold keeps none while the page shows it as 0%, of the votes cast.
  const threshold = (r, value, ofElectorate) =>
    !r.threshold && value === 0 && !ofElectorate ? r.threshold : { bp: value, of_electorate: ofElectorate };
  // One rule's controls, each labelled "<name>: <what>"; `read` gives the rule edited.
  const ruleControls = (r, name, withGroups) => {
    const c = {
      proposers: withGroups ? group(r.proposers) : null,
      voters: withGroups ? group(r.voters) : null,
      quorum: number(r.quorum_bp / 100, 100),
      threshold: number((r.threshold?.bp ?? 0) / 100, 100),
      ofElectorate: h("input", { type: "checkbox", checked: !!r.threshold?.of_electorate }),
      min: number(r.min_ms / DAY, 3650),
      max: number(r.max_ms / DAY, 3650),
    };
    const words = { proposers: "proposed by", voters: "decided by", quorum: "quorum %", threshold: "threshold %", ofElectorate: "threshold of the electorate", min: "shortest vote in days", max: "longest vote in days" };
    for (const [k, input] of Object.entries(c)) input?.setAttribute("aria-label", `${name}: ${words[k]}`);
    return {
      cells: [c.proposers, c.voters, c.quorum, c.threshold, c.ofElectorate, c.min, c.max].filter((x) => x),
      read: () => ({
        ...r,
        ...(withGroups ? { proposers: Number(c.proposers.value), voters: Number(c.voters.value) } : {}),
        quorum_bp: bp(c.quorum, `${name}: the quorum`),
        threshold: threshold(r, bp(c.threshold, `${name}: the threshold`), c.ofElectorate.checked),
        min_ms: ms(c.min, DAY, `${name}: the shortest vote`),
        max_ms: ms(c.max, DAY, `${name}: the longest vote`),
      }),
    };
  };
  const heads = (first) => h("thead", {}, h("tr", {}, [...first, "Quorum %", "Threshold %", "Of the electorate", "Shortest vote (days)", "Longest vote (days)"].map((x) => h("th", { scope: "col" }, x))));
  const rules = current.rules.map((r) => ({ r, c: ruleControls(r, KIND_NAME[r.kind] || r.kind, false) }));
  // The powers in force, each editable or removed, and one row for a new power (its
  // rule starts from the ordinary resolution's, as `mutual deed amend` does).
  const general = current.rules.find((r) => r.kind === KIND.general);
  const powerRow = (p, isNew) => {
    const name = h("input", { type: "text", value: p.name, maxlength: 64, spellcheck: "false", "aria-label": isNew ? "New power: its name" : `power ${p.name}: its name`, readonly: !isNew });
    const label = isNew ? "new power" : `power ${p.name}`;
    const description = h("textarea", { rows: 2, "aria-label": `${label}: what it covers` });
    description.value = p.description;
    const remove = isNew ? null : h("input", { type: "checkbox", "aria-label": `${label}: remove it` });
    return { p, isNew, name, description, remove, c: ruleControls(p.rule || general, label, true) };
  };
  const powers = [
    ...current.powers.map((p) => powerRow(p, false)),
    // A deed with no rule for ordinary resolutions gives a new power nothing to start from
    // (`mutual deed amend` adds one from a file).
    ...(general ? [powerRow({ name: "", description: "", rule: { ...general, kind: KIND.general } }, true)] : []),
  ];
  const grace = number(current.grace_period_ms / 3600000, 24 * 365);
  const proxies = number(current.max_proxies, 1000, 1);
  const aid = h("select", {}, Object.entries(AID_SIGNERS).map(([v, w]) => h("option", { value: v, selected: Number(v) === current.aid_signers }, w)));
  const boardTerm = number(current.board_term_ms / DAY, 3650);
  const chairTerm = number(current.chair_term_ms / DAY, 3650);
  const agreementFile = h("input", { type: "file" });
  const noAgreement = h("input", { type: "checkbox" });
  const agreementNow = current.agreement_hash.length ? `The deed names an agreement with SHA-256 ${short(hex(current.agreement_hash))}.` : "The deed names no agreement.";
  el.append(
    h(
      "table",
      {},
      h("caption", {}, "Rules"),
      heads(["Decision"]),
      h("tbody", {}, rules.map((x) => h("tr", {}, [KIND_NAME[x.r.kind] || x.r.kind, ...x.c.cells].map((c) => h("td", {}, c))))),
    ),
    h(
      "table",
      {},
      h("caption", {}, "Powers (name a new one in the last row; a name is lower-case letters, digits and hyphens)"),
      heads(["Power", "What it covers", "Proposed by", "Decided by"]),
      h("tbody", {}, powers.map((x) => h("tr", {}, [x.name, x.description, ...x.c.cells].map((c) => h("td", {}, c))))),
    ),
    powers.some((x) => x.remove)
      ? h("fieldset", {}, h("legend", {}, "Remove powers"), powers.filter((x) => x.remove).map((x) => h("p", {}, h("label", {}, x.remove, ` Remove the power ${x.p.name}`))))
      : null,
    field("Grace period after a close (hours)", grace),
    field("Proxies one partner may hold", proxies),
    field("Aid offers, acceptances and countersignatures are signed by", aid),
    field("Board term (days; 0: until the next election)", boardTerm),
    field("Chair's term (days; 0: until the next election)", chairTerm),
    h("p", {}, agreementNow),
    field("The partnership agreement partners accede to (choose its file to name a new one)", agreementFile),
    h("p", {}, h("label", {}, noAgreement, " Name no agreement")),
  );
  const read = async () => {
    const d = structuredClone(current);
    d.rules = rules.map((x) => x.c.read());
    d.powers = [];
    for (const x of powers) {
      if (x.remove?.checked) continue;
      const name = x.name.value.trim();
      if (x.isNew && !name) continue;
      if (x.isNew && !POWER_NAME.test(name)) throw new Error(`"${name}" is not a power's name: lower-case letters, digits and hyphens.`);
      if (x.isNew && current.powers.some((p) => p.name === name)) throw new Error(`The deed already has a power called ${name}.`);
      // Its words as the deed has them, unless the partner changed them.
      const description = x.description.value === x.p.description ? x.p.description : x.description.value.trim();
      if (!description.trim()) throw new Error(`The power ${name} needs a description of what it covers.`);
      d.powers.push({ name, description, rule: x.c.read() });
    }
    d.grace_period_ms = ms(grace, 3600000, "The grace period");
    d.max_proxies = Math.round(Number(proxies.value));
    d.aid_signers = Number(aid.value);
    d.board_term_ms = ms(boardTerm, DAY, "The board term");
    d.chair_term_ms = ms(chairTerm, DAY, "The chair's term");
    if (noAgreement.checked && agreementFile.files.length) throw new Error("Choose an agreement's file or no agreement, not both.");
    if (noAgreement.checked) d.agreement_hash = new Uint8Array();
    if (agreementFile.files.length) {
      const bytes = new Uint8Array(await agreementFile.files[0].arrayBuffer());
      d.agreement_hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    }
    const bytes = encodeDeed(d);
    if (equalBytes(bytes, encodeDeed(current))) throw new Error("The amendment changes nothing in the deed in force.");
    return bytes;
  };
  return { el, current, read };
}

// The first partners of a practice to admit, one a line as "NAME=KEY", as
// `mutual propose admit-practice --first-partner` takes them.
function firstPartners(text, ods) {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line)
    .map((line) => {
      const at = line.lastIndexOf("=");
      if (at < 1) throw new Error(`"${line}": write a first partner as NAME=KEY.`);
      const key = line.slice(at + 1).trim().toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(key)) throw new Error(`"${line}": the key must be 64 hex digits.`);
      return { name: line.slice(0, at).trim(), practice_ods: ods, role: ROLE.partner, key: unhex(key) };
    });
}

// A charter's signed event from the file `mutual federation charter` writes: its hex,
// or the JSON the node's API answers (`charter_event`), as the command line reads it.
function charterBytes(text) {
  let hexText = text.trim();
  try {
    const v = JSON.parse(hexText);
    if (v && typeof v === "object") hexText = String(v.charter_event || "");
  } catch {
    // Not JSON: the hex itself.
  }
  hexText = hexText.trim().toLowerCase();
  if (!hexText || hexText.length % 2 || !/^[0-9a-f]+$/.test(hexText)) {
    throw new Error("The charter's file holds no hex charter event (write it with mutual federation charter).");
  }
  return unhex(hexText);
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
  admit_practice: ["practiceName", "ods", "locality", "listSize", "nodeKey", "firstPartners"],
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

export function proposeForm(feds) {
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
    firstPartners: h("textarea", { rows: 3, spellcheck: "false" }),
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
    firstPartners: "Its first partners, one a line as NAME=KEY (optional)",
    partnerName: "The partner's name",
    practice: "Practice",
    role: "Role",
    key: "Their key (64 hex digits, from their keystore)",
    partner: "Partner",
    replacement: "The new key (64 hex digits)",
    seats: "Seats (0 with one seat per locality)",
    charter: "The signed charter (the file mutual federation charter wrote)",
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
        chosen.first_partners = firstPartners(c.firstPartners.value, chosen.admit_practice.ods_code);
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
        chosen.charter_event = charterBytes(await c.charter.files[0].text());
      } else if (k === "leave_federation") {
        if (!c.federation.value) throw new Error("This partnership belongs to no federation.");
        chosen.federation = unhex(c.federation.value);
      } else if (k === "amend_deed") {
        chosen.new_deed = await editor.read();
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
          ...(m.first_partners.length
            ? [["With first partners", m.first_partners.map((q) => `${q.name} (key ${short(q.key)})`).join(", ")]]
            : []),
          ...(m.charter_bytes ? [["The federation's charter", `a signed charter of ${m.charter_bytes} bytes`]] : []),
        ];
      },
    });
  });
  return form;
}
