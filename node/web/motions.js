// Motions: the list, a motion's page with its tally in words, the count of an election
// round by round, and the partner's ballot.

import { act, get, h, short, state, when } from "./app.js";
import { proposeForm } from "./propose.js";
import { field, nameOf, sameList, table } from "./ui.js";
import { BODY, CHOICE, CHOICE_NAME, bodyOnly, decodeBallot, encodeBallot, equalBytes, unhex } from "./wire.js";

function motionRow(m) {
  return [
    h("a", { href: `#/motion/${m.id}` }, m.title || "(untitled)"),
    m.kind.replace(/_/g, " "),
    m.standing,
    m.finality === "open" ? `until ${when(m.closes_at_ms)}` : m.finality === "provisional" ? `provisional until ${when(m.final_at_ms)}` : `final, closed ${when(m.closes_at_ms)}`,
  ];
}

export async function motions() {
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

function tallyWords(m) {
  const t = m.tally;
  const lines = [
    `${t.turnout} of ${t.electorate} partners entitled to vote have taken part; quorum needs ${t.quorum_needed} (${t.quorum_met ? "met" : "not met"}).`,
  ];
  if (!m.candidates.length) lines.push(`For ${t.votes_for}, against ${t.votes_against}, abstaining ${t.abstentions}; the threshold is ${t.threshold_met ? "met" : "not met"}.`);
  if (t.recused) lines.push(`${t.recused} partner${t.recused === 1 ? " is" : "s are"} recused, by the deed's rule on interests or on the motion's subject.`);
  for (const [who, what] of m.interests || []) lines.push(`${who} declared an interest${what ? `: ${what}` : ""}.`);
  if (t.unwitnessed) lines.push(`${t.unwitnessed} ballot${t.unwitnessed === 1 ? " has" : "s have"} not yet been witnessed by another practice.`);
  lines.push(`Why: ${t.reason}.`);
  return lines;
}

// The deed's rule a motion is decided under: its power's, or its kind's.
function ruleOf(deed, m) {
  if (m.power) return deed.deed.powers.find((p) => p.rule.kind === m.power)?.rule;
  return deed.deed.rules.find((r) => r.kind === m.kind.replace(/_/g, "-"));
}

export async function motion([id]) {
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
    if (t.count.length) parts.push(countTable(t), chart(t));
    if (t.rounds.length) {
      const words = h("ol", {}, t.rounds.map((r) => h("li", {}, r)));
      // Open when there is no table: the words are then all there is to read.
      parts.push(h("details", { open: !t.count.length }, h("summary", {}, "The count in words"), words));
    }
  }
  parts.push(
    m.ballots.length ? table("Ballots that count", ["Partner", "Ballot"], m.ballots) : h("p", {}, "No ballot counts yet."),
  );
  if (m.finality === "open") parts.push(ballotForms(m));
  return h("section", {}, parts);
}

// Each candidate's votes round by round, the quota and what each round decided. A seat
// per locality is counted apart: its rows name the locality.
const votesShown = (v) => (Number.isInteger(v) ? String(v) : v.toFixed(2));

function countTable(t) {
  // A column per candidate, by key (two partners may share a name).
  const candidates = new Map(t.count.flatMap((r) => r.totals.map(([key, name]) => [key, name])));
  const byLocality = t.count.some((r) => r.locality);
  return table(
    "The count, round by round",
    [...(byLocality ? ["Locality"] : []), "Round", ...candidates.values(), "Exhausted", "What happened"],
    t.count.map((r) => {
      const votes = new Map(r.totals.map(([key, , v]) => [key, v]));
      return [
        ...(byLocality ? [r.locality] : []),
        String(r.round),
        ...[...candidates.keys()].map((k) => (votes.has(k) ? votesShown(votes.get(k)) : "—")),
        votesShown(r.exhausted),
        r.what,
      ];
    }),
  );
}

// The same count as bars: each candidate's votes in each round.
function chart(t) {
  const most = Math.max(1, ...t.count.flatMap((r) => r.totals.map(([, , v]) => v)));
  const bar = (v) => {
    const el = h("span", { class: "bar", "aria-hidden": "true" });
    // Set through the style object, which the page's policy allows (no inline styles).
    el.style.width = `${Math.round((100 * v) / most)}%`;
    return el;
  };
  return h(
    "figure",
    { class: "chart" },
    h("figcaption", {}, "Votes of each candidate, round by round"),
    t.count.map((r) =>
      h(
        "div",
        { class: "chart-round" },
        h("p", { class: "chart-title" }, `${r.locality ? `${r.locality}, ` : ""}round ${r.round}`),
        r.totals.map(([, name, v]) => h("p", {}, h("span", { class: "bar-label" }, `${name}: ${votesShown(v)}`), bar(v))),
      ),
    ),
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
  // The partner's own ballot, if one counts: a new one replaces it until the close.
  const at = state.key ? (m.ballot_keys || []).indexOf(state.key.publicKey) : -1;
  const mine = at >= 0 ? m.ballots[at][1] : null;
  const forms = [
    h("h2", {}, "Your ballot"),
    mine
      ? h("p", { id: "your-ballot" }, `Your ballot counts: ${mine}. You may change it until the vote closes; the new one replaces it.`)
      : null,
  ];
  if (m.candidates.length) {
    const ranks = m.candidates.map(() => h("input", { type: "number", min: 1, max: m.candidates.length, inputmode: "numeric" }));
    const f = h(
      "form",
      { "aria-label": "Ranked ballot" },
      h("p", {}, "Number the candidates in your order of preference (1 first); leave blank those you do not rank."),
      m.candidates.map(([, name], i) => field(`Rank for ${name}`, ranks[i])),
      h("button", { type: "submit" }, mine ? "Prepare my new ranked ballot" : "Prepare my ranked ballot"),
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
    const f = h("form", { "aria-label": "Vote" }, choice, h("button", { type: "submit" }, mine ? "Prepare my changed vote" : "Prepare my vote"));
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
  // A motion takes proxies as the deed in force when it was proposed said; a proxy
  // appointed may always be revoked.
  const proxyForms = m.max_proxies > 0 ? [appoint, revoke] : [h("p", {}, "The deed this motion was proposed under allows no proxies."), revoke];
  return h("section", { class: "ballot" }, forms, interest, proxyForms, out);
}
