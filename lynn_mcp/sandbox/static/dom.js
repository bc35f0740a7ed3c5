"use strict";
// DOM building shared by the MCP Apps views and the sandbox console. Every string becomes a text
// node: text from Lynn (names, categories, messages) is never parsed as HTML.

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "style") for (const [name, v] of Object.entries(value)) node.style.setProperty(name, v);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function show(root, ...children) {
  root.replaceChildren();
  return append(root, children);
}

function count(value) {
  return Number(value || 0).toLocaleString("en-US");
}

function when(iso) {
  // ISO 8601 text as "2026-12-01 09:00 -03:00": shortened, not converted (it stays Lynn's text).
  if (typeof iso !== "string" || iso.length < 16) return iso || "—";
  const zone = /(Z|[+-]\d\d:\d\d)$/.exec(iso);
  return iso.slice(0, 10) + " " + iso.slice(11, 16) + (zone ? " " + (zone[1] === "Z" ? "UTC" : zone[1]) : "");
}

function stateBadge(state) {
  const text = String(state || "unknown");
  const kind = { completed: "ok", started: "ok", failed: "bad", incomplete: "bad", running: "busy", pending: "busy" }[text.toLowerCase()];
  return el("span", { class: "badge" + (kind ? " " + kind : "") }, text);
}

function table(headers, rows) {
  // headers: [text or {text, class}]; rows: arrays of cells (text, Node or {text, class}).
  const cell = (tag, item) =>
    item !== null && typeof item === "object" && !(item instanceof Node)
      ? el(tag, { class: item.class }, item.text)
      : el(tag, {}, item);
  return el("table", {},
    el("thead", {}, el("tr", {}, headers.map((h) => cell("th", h)))),
    el("tbody", {}, rows.map((row) => (row instanceof Node ? row : el("tr", {}, row.map((c) => cell("td", c)))))));
}
