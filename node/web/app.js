// The partners' page: routing, the node's API, live updates, and the one way anything is
// signed here (`act`): ask the node to prepare the event, decode the exact bytes it
// answers, check they say what the partner chose, show them, and only then sign in the
// browser and hand the signed event back. The views are in views.js.

import { decodeEvent, hex, signedEvent, unhex } from "./wire.js";
import { openKeystore, parseKeystore, signEvent } from "./keys.js";
import * as views from "./views.js";

// ------------------------------------------------------------------ the page's state

export const state = {
  key: null, // { publicKey, signing } once a keystore is open
  status: null, // GET /status
  live: null, // the last /live change
  dirty: false, // the partner has typed into the current view
};

// Builds an element: h("p", { class: "x" }, "text", child). Text is always text, never
// markup: everything shown comes from signed events anyone may have written.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// Dates as people read them, in the browser's time zone.
export function when(ms) {
  if (!ms) return "—";
  return new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function short(id) {
  return id ? id.slice(0, 12) : "";
}

// ------------------------------------------------------------------ the node's API

async function answer(r) {
  const text = await r.text();
  let body;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  if (!r.ok) throw new Error((body && body.error) || `the node answered ${r.status}`);
  return body;
}

export async function get(path) {
  return answer(await fetch(path, { headers: { Accept: "application/json" } }));
}

export async function post(path, json) {
  return answer(
    await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(json),
    }),
  );
}

// ------------------------------------------------------------------ signing

function say(where, text, kind = "error") {
  where.replaceChildren(h("p", { class: kind, role: kind === "error" ? "alert" : "status" }, text));
}

// Asks the partner to confirm what the decoded bytes say; resolves true to sign.
function confirmSigning(lines) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-what").replaceChildren(
    h("dl", {}, lines.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
  );
  return new Promise((resolve) => {
    const done = (yes) => {
      dialog.close();
      resolve(yes);
    };
    document.getElementById("confirm-sign").onclick = () => done(true);
    document.getElementById("confirm-cancel").onclick = () => done(false);
    dialog.oncancel = () => resolve(false);
    dialog.showModal();
    // Focus starts on the heading, so what is signed is read before any button.
    document.getElementById("confirm-title").focus();
  });
}

// The protocol's limits the page checks prepared events against (protocol/src/limits.rs).
const MAX_DEPS = 32;
const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

// The last event this browser signed with a key in a network, kept in the browser's
// storage as the command line keeps `<keystore>.last`: a node that offers a seq at or
// before it has not seen that event, and signing would fork the partner's feed, which
// silences their key for good.
const feedKey = (network, key) => `mutual.last.${network}.${key}`;

function lastSigned(network, key) {
  try {
    return JSON.parse(localStorage.getItem(feedKey(network, key)) || "null");
  } catch {
    return null;
  }
}

function forkRisk(ev) {
  const last = lastSigned(ev.network, ev.author);
  if (!last) return [];
  if (ev.seq <= last.seq) {
    return [
      `this browser last signed event ${short(last.id)} at number ${last.seq} in your feed, which the node ` +
        `has not seen (it offers number ${ev.seq}); signing now would fork your feed. Wait until the node ` +
        "has it, or use the node you used then",
    ];
  }
  if (ev.seq === last.seq + 1 && ev.prev !== last.id) {
    return [`the node holds another event at number ${last.seq} than the one this browser signed there`];
  }
  return [];
}

// Records `ev` as the last event signed; returns what to put back if the node refuses it
// outright (then nothing was stored, and the record must not block the next signature).
function noteSigned(ev, id) {
  const before = localStorage.getItem(feedKey(ev.network, ev.author));
  const last = lastSigned(ev.network, ev.author);
  if (!last || last.seq < ev.seq) {
    const now = JSON.stringify({ seq: ev.seq, id });
    localStorage.setItem(feedKey(ev.network, ev.author), now);
    return () => {
      // Only if no other tab has signed since.
      if (localStorage.getItem(feedKey(ev.network, ev.author)) !== now) return;
      if (before === null) localStorage.removeItem(feedKey(ev.network, ev.author));
      else localStorage.setItem(feedKey(ev.network, ev.author), before);
    };
  }
  return () => {};
}

// What a prepared event says about itself that the page can check, whatever its body.
function envelopeProblems(ev, prepared, id) {
  const wrong = [];
  if (ev.author !== state.key.publicKey) wrong.push("the author is not your key");
  if (state.status && ev.network !== state.status.network) wrong.push("the network is not this one");
  if (id !== prepared.id) wrong.push("the id the node gave is not the bytes' hash");
  if (ev.seq < 1 || (ev.seq === 1) !== (ev.prev === "")) wrong.push("its place in your feed is malformed");
  if (Math.abs(ev.timestamp_ms - Date.now()) > MAX_CLOCK_SKEW_MS) {
    wrong.push(`it is dated ${when(ev.timestamp_ms)}, more than five minutes from this computer's clock`);
  }
  if (ev.deps.length > MAX_DEPS || new Set(ev.deps).size !== ev.deps.length || ev.deps.includes(ev.prev)) {
    wrong.push("its list of causes is malformed");
  }
  return wrong;
}

// Prepares, checks, shows, signs and sends one event, saying what happened in #notice.
//   body: an `Event` holding only the body the partner chose (wire.js bodyOnly);
//   check(decodedEvent): the differences between the decoded bytes and that choice,
//     in words (none: they agree);
//   describe(decodedEvent): what the bytes say, as [label, value] lines;
//   votingMs: for a motion, how long its vote stays open;
//   after(out): what to do once the node has the event (send a motion's papers).
export async function act(args) {
  const buttons = [...document.querySelectorAll("main button")];
  buttons.forEach((b) => (b.disabled = true));
  try {
    return await actNow(args);
  } finally {
    buttons.forEach((b) => (b.disabled = false));
    document.getElementById("notice").scrollIntoView({ block: "nearest" });
  }
}

async function actNow({ body, check, describe, votingMs, after }) {
  // What happens is said above the view, which live updates may redraw meanwhile.
  const out = document.getElementById("notice");
  if (!state.key) {
    say(out, "Open your keystore first (Your key), then try again.");
    return false;
  }
  say(out, "Preparing…", "note");
  let prepared;
  try {
    prepared = await post("/prepare", {
      author: state.key.publicKey,
      body: hex(body),
      voting_ms: votingMs ?? null,
    });
  } catch (e) {
    say(out, `The node refused: ${e.message}. Nothing was signed.`);
    return false;
  }
  let bytes;
  let ev;
  const wrong = [];
  try {
    bytes = unhex(prepared.event);
    ev = decodeEvent(bytes);
    const id = hex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
    wrong.push(...envelopeProblems(ev, prepared, id), ...check(ev));
  } catch (e) {
    wrong.push(`the bytes do not decode (${e.message})`);
  }
  if (wrong.length) {
    say(
      out,
      `The node prepared bytes that do not say what you chose: ${wrong.join("; ")}. ` +
        "Nothing was signed. Tell your practice's IT lead.",
    );
    return false;
  }
  const risk = forkRisk(ev);
  if (risk.length) {
    say(out, `Not signed: ${risk.join("; ")}.`);
    return false;
  }
  say(out, "Check what the bytes say before you sign.", "note");
  const yes = await confirmSigning([
    ...describe(ev),
    ["Signed as", state.key.publicKey],
    ["Event number", `${ev.seq} in your feed`],
    ["Dated", when(ev.timestamp_ms)],
    ["The node's own words", prepared.summary],
  ]);
  if (!yes) {
    say(out, "Cancelled. Nothing was signed.", "note");
    return false;
  }
  // One signature at a time per key across this browser's tabs, checked against the
  // record again inside the lock and recorded before the event leaves the page.
  const signed = await navigator.locks.request(`mutual.sign.${ev.author}`, async () => {
    const risk = forkRisk(ev);
    if (risk.length) return { refused: risk.join("; ") };
    const sig = await signEvent(state.key.signing, bytes);
    const undo = noteSigned(ev, prepared.id);
    return { sig, undo };
  });
  if (signed.refused) {
    say(out, `Not signed: ${signed.refused}.`);
    return false;
  }
  try {
    const r = await fetch("/events", {
      method: "POST",
      headers: { "Content-Type": "application/octet-stream" },
      body: signedEvent(bytes, signed.sig),
    });
    // Refused outright (the node stored nothing): the record goes back as it was.
    if (r.status >= 400 && r.status < 500) {
      await navigator.locks.request(`mutual.sign.${ev.author}`, async () => signed.undo());
    }
    const done = await answer(r);
    say(out, `Signed and sent (event ${short(done.id || prepared.id)}): ${done.outcome || "stored"}.`, "ok");
    state.dirty = false;
    if (after) await after(out);
    // The view afresh: its forms cleared, what was signed shown.
    render();
    return true;
  } catch (e) {
    say(out, `Signed, but the node did not take it: ${e.message}.`);
    return false;
  }
}

// ------------------------------------------------------------------ the keystore

export const REMEMBERED = "mutual.keystore";

export async function openKey(bytes, passphrase, remember) {
  parseKeystore(bytes);
  state.key = await openKeystore(bytes, passphrase);
  if (remember) localStorage.setItem(REMEMBERED, hex(bytes));
  showKey();
}

export function lock() {
  state.key = null;
  showKey();
}

function partnerName(key) {
  for (const p of state.members || []) {
    for (const q of p.partners) if (q.key === key) return `${q.name} (${p.name})`;
  }
  return null;
}

export function showKey() {
  const line = document.getElementById("keyline");
  if (!state.key) {
    line.replaceChildren("No keystore open: you can read, not sign. ", h("a", { href: "#/key" }, "Open yours"));
  } else {
    const who = partnerName(state.key.publicKey);
    line.replaceChildren(
      `Signing as ${who || `key ${short(state.key.publicKey)} (not a partner here yet)`}. `,
      h("button", { type: "button", onclick: lock }, "Lock"),
    );
  }
}

// ------------------------------------------------------------------ routing and live

let rendering = 0;
let lastRoute = null;
let lastShown = null;

// Whether the partner is working in the view: typing, choosing, or signing. A live update
// then leaves the view as it is and offers to show what is new.
function partnerBusy() {
  const main = document.getElementById("main");
  return (
    state.dirty ||
    document.getElementById("confirm").open ||
    (main.contains(document.activeElement) && document.activeElement !== main.querySelector("h1"))
  );
}

function offerWhatIsNew() {
  if (document.getElementById("show-new")) return;
  document
    .getElementById("live")
    .append(h("button", { type: "button", id: "show-new", onclick: () => render() }, "Show what is new"));
}

// Renders asked for by the partner or the page itself (not by a live update) in flight.
let asked = 0;

// Draws the current route's view. `live`: drawn because new events arrived, so it gives
// way to a partner who began working in the view while it was being fetched, and to a
// render the page asked for that is still being drawn (it shows the same news).
export async function render({ live = false } = {}) {
  if (live && asked > 0) return;
  if (!live) asked++;
  try {
    await draw(live);
  } finally {
    if (!live) asked--;
  }
}

async function draw(live) {
  const main = document.getElementById("main");
  // Only "#/..." names a view; another hash (the skip link's "#main") is an anchor.
  if (location.hash && !location.hash.startsWith("#/")) return;
  const [name, ...rest] = (location.hash.replace(/^#\/?/, "") || "motions").split("/");
  const view = views.ROUTES[name] || views.ROUTES.motions;
  const mine = ++rendering;
  if (location.hash !== lastRoute) document.getElementById("notice").replaceChildren();
  lastRoute = location.hash;
  try {
    const el = await view(rest.map(decodeURIComponent));
    if (mine !== rendering) return;
    const moved = lastShown !== location.hash;
    if (live && !moved && partnerBusy()) return offerWhatIsNew();
    lastShown = location.hash;
    main.replaceChildren(el);
    state.dirty = false;
    // A new view: focus its heading, so keyboard and screen-reader users start there.
    if (moved) main.querySelector("h1")?.focus();
  } catch (e) {
    if (mine !== rendering) return;
    main.replaceChildren(h("p", { class: "error", role: "alert" }, `Could not load this page: ${e.message}`));
  }
}

async function refreshShared() {
  try {
    state.status = await get("/status");
    state.members = await get("/members");
    document.getElementById("network").textContent = `· network ${short(state.status.network)}`;
    showKey();
  } catch {
    // The live line says the node cannot be reached.
  }
}

let catchingUp = false;

// The live line: what the node holds, and how far it has to catch up (exported for the
// page's tests).
export function showLive(c) {
  const live = document.getElementById("live");
  const parts = [`${c.events} events held`];
  if (c.federation_events) parts.push(`${c.federation_events} in federations`);
  // Behind: a peer said it holds more than this node, or events wait for their causes.
  const target = Math.max(c.peers_hold || 0, c.events + c.pending);
  const behind = target > c.events;
  if (behind) {
    const why = [];
    if (c.peers_hold > c.events) why.push(`a peer says it holds ${c.peers_hold}, ${c.peers_hold - c.events} more`);
    if (c.pending > 0) why.push(`${c.pending} wait for their causes`);
    live.replaceChildren(
      h("span", { id: "catching-up" }, `${parts.join(", ")}. Catching up: ${why.join("; ")}. `),
      h("progress", { max: target, value: c.events, "aria-label": "Catching up" }),
    );
  } else {
    live.replaceChildren(h("span", {}, `${parts.join(", ")}. Up to date with what peers have sent.`));
  }
  // Screen readers hear when catching up starts and ends, not every count.
  if (catchingUp !== behind) {
    catchingUp = behind;
    document.getElementById("announce").textContent = catchingUp
      ? "The node is catching up with its peers."
      : "The node is up to date.";
  }
}

let source = null;
const LIVE_RETRY_MS = 10_000;

function startLive() {
  if (source) return;
  source = new EventSource("/live");
  source.addEventListener("change", async (m) => {
    const c = JSON.parse(m.data);
    const first = state.live === null;
    const grew = !first && (c.events !== state.live.events || c.federation_events !== state.live.federation_events);
    state.live = c;
    showLive(c);
    if (!grew) return;
    await refreshShared();
    if (!partnerBusy()) render({ live: true });
    else offerWhatIsNew();
  });
  source.onerror = () => {
    // A browser retries a dropped stream by itself, but not one refused (the node's cap
    // of open streams): then the page tries again itself, a little later.
    if (source && source.readyState === EventSource.CLOSED) {
      source = null;
      state.live = null;
      setTimeout(startLive, LIVE_RETRY_MS);
    }
    document
      .getElementById("live")
      .replaceChildren(h("span", { class: "error" }, "The node cannot be reached, or is busy; retrying…"));
  };
}

// A hidden tab lets go of its stream (a browser opens few connections to one host).
document.addEventListener("visibilitychange", () => {
  if (document.hidden && source) {
    source.close();
    source = null;
    state.live = null;
  } else if (!document.hidden) {
    startLive();
  }
});

window.addEventListener("hashchange", () => render());
document.addEventListener("input", (e) => {
  if (document.getElementById("main").contains(e.target)) state.dirty = true;
});
await refreshShared();
startLive();
render();
