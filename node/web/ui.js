// What the page's views share: labelled fields, tables, names for keys, messages.

import { h, short, state } from "./app.js";

export const field = (label, control, hint) => {
  const id = control.id || `f-${Math.random().toString(36).slice(2)}`;
  control.id = id;
  return h("p", { class: "field" }, h("label", { for: id }, label), control, hint ? h("small", {}, hint) : null);
};

export const table = (caption, heads, rows) =>
  h(
    "table",
    {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, heads.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))),
  );

export const sameList = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

// A partner's name for a key (or lasting id), as the members list has it.
export function nameOf(key) {
  for (const p of state.members || []) for (const q of p.partners) if (q.key === key || q.id === key) return q.name;
  return `key ${short(key)}`;
}

// A refusal in words, above the view; a plain button.
export function say(text) {
  document.getElementById("notice").replaceChildren(h("p", { class: "error", role: "alert" }, text));
}

export const button = (text, onclick) => h("button", { type: "button", onclick }, text);
