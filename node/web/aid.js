// The aid board: requests, offers and agreements, and what the partner may do for their
// practice as the deed says.

import { act, get, h, state } from "./app.js";
import { button, field, say, table } from "./ui.js";
import { URGENCY, bodyOnly, describeAid, encodeAid, equalBytes } from "./wire.js";

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

export async function aid() {
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
