// The page's views, one function each, named by the route after `#/`. Each reads what it
// shows from the node's API and builds it with `h` (text only, never markup). Motions and
// proposals are in motions.js and propose.js, the aid board in aid.js; what views share
// in ui.js.

import { get, h, lock, openKey, REMEMBERED, render, short, state, when } from "./app.js";
import { aid } from "./aid.js";
import { createKeystore } from "./keys.js";
import { motion, motions } from "./motions.js";
import { field, say, table } from "./ui.js";
import { unhex } from "./wire.js";

// ------------------------------------------------------------------ members, the deed, federations

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
// The longest search the node takes, in bytes (api/events.rs MAX_SEARCH_BYTES).
const MAX_SEARCH_BYTES = 200;

// The log, a page at a time; "#/log/<skip>/<search>" searches the whole log on the node
// (GET /events?q=), so a search link can be kept and shared.
async function log([skip = "0", q = ""]) {
  const from = Math.max(0, Number(skip) || 0);
  const query = new URLSearchParams({ skip: String(from), limit: String(PAGE) });
  if (q) query.set("q", q);
  const events = await get(`/events?${query}`);
  const search = h("input", { type: "search", value: q });
  const link = (at) => `#/log/${at}${q ? `/${encodeURIComponent(q)}` : ""}`;
  const form = h(
    "form",
    {
      role: "search",
      "aria-labelledby": "log-search",
      onsubmit: (e) => {
        e.preventDefault();
        const text = search.value.trim();
        if (new TextEncoder().encode(text).length > MAX_SEARCH_BYTES) {
          say(`A search is at most ${MAX_SEARCH_BYTES} bytes long.`);
          return;
        }
        location.hash = `#/log/0${text ? `/${encodeURIComponent(text)}` : ""}`;
      },
    },
    h("h2", { id: "log-search" }, "Search the whole log"),
    field("Search for", search, "a name, a kind (ballot, motion, aid_request…), an outcome or an id"),
    h("button", { type: "submit" }, "Search"),
  );
  const what = q ? ` matching “${q}”` : "";
  return h(
    "section",
    {},
    h("h1", { tabindex: -1 }, "The signed log"),
    form,
    h(
      "table",
      {},
      h(
        "caption",
        {},
        events.length
          ? `Events${what} ${from + 1} to ${from + events.length}, in the order every node folds them`
          : `No events${what || " here"}`,
      ),
      h("thead", {}, h("tr", {}, ["Dated", "Who", "Kind", "Outcome", "Id"].map((x) => h("th", { scope: "col" }, x)))),
      h(
        "tbody",
        {},
        events.map((e) => h("tr", {}, [when(e.timestamp_ms), e.who, e.kind.replace(/_/g, " "), e.outcome, short(e.id)].map((c) => h("td", {}, c)))),
      ),
    ),
    h(
      "p",
      {},
      from > 0 ? h("a", { href: link(Math.max(0, from - PAGE)) }, "Earlier events") : null,
      " ",
      events.length === PAGE ? h("a", { href: link(from + PAGE) }, "Later events") : null,
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
        [
          "Catching up",
          s.peers_hold > s.events ? `yes: a peer says it holds ${s.peers_hold} events, ${s.peers_hold - s.events} more` : "no: it holds as many events as its peers say they hold",
        ],
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
