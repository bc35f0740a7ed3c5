"use strict";
// The sandbox console: reads /console/api/ and shows it. Read-only: nothing here changes the sandbox.
const root = document.getElementById("app");
const POLL_MS = 1000; // while a task is Pending or Running, so its progress moves
const POLLS_MAX = 600; // then stop (a stuck task does not keep a tab busy forever)
let tenant = new URLSearchParams(location.search).get("tenant") || "";
let selected = decodeURIComponent((location.hash.match(/^#campaign=(.+)$/) || [])[1] || "");
let polls = 0;
let timer = null;

async function getJson(path) {
  const response = await fetch(path + (tenant ? "?tenant=" + encodeURIComponent(tenant) : ""), { headers: { accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.message || response.statusText);
  return body;
}

function progress(task) {
  const total = Math.max(1, task.total);
  return el("div", { class: "bar thin", title: `${task.processed} of ${task.total} rows processed` },
    el("span", { class: "accepted", style: { width: `${(100 * task.succeeded) / total}%` } }),
    el("span", { class: "rejected", style: { width: `${(100 * task.failed) / total}%` } }));
}

function campaignsTable(campaigns) {
  return table(["name", "status", "mode", "category", "template", "start", "stop", { text: "records", class: "num" }],
    campaigns.map((c) => el("tr", { class: c.id === selected ? "selected" : null, "data-id": c.id },
      el("td", { class: "name" }, el("button", { class: "link", onclick: () => select(c.id) }, c.name)),
      el("td", {}, stateBadge(c.status)),
      el("td", {}, c.executionMode),
      el("td", {}, c.category || "—"),
      el("td", { class: "mono", title: c.templateId || null }, c.templateId ? c.templateId.slice(0, 8) + "…" : "—"),
      el("td", { class: "nowrap" }, when(c.startDate)),
      el("td", { class: "nowrap" }, when(c.stopDate)),
      el("td", { class: "num" }, count(c.records)))));
}

function recordsSection(campaign) {
  const more = (shown, all) => (all > shown ? ` (first ${count(shown)} of ${count(all)})` : ` (${count(all)})`);
  return el("section", { id: "campaign-records" },
    el("h2", {}, "Records of ", el("span", { class: "campaign-name" }, campaign.name), more(campaign.records.length, campaign.recordCount)),
    campaign.records.length
      ? el("div", { id: "records" }, table(["phone", ...campaign.columns, "Status", "message", "task"],
          campaign.records.map((r) => [
            { text: r.phone, class: "mono" }, ...campaign.columns.map((column) => r.data[column] ?? ""),
            el("span", { class: "badge ok" }, r.status), "—", { text: r.taskId.slice(0, 8), class: "mono" },
          ])))
      : el("p", { class: "muted" }, "No records yet."),
    el("h2", {}, "Rows Lynn refused", more(campaign.refused.length, campaign.refusedCount)),
    campaign.refused.length
      ? el("div", { id: "refused" }, table([{ text: "row", class: "num" }, "Status", "message", "task"],
          campaign.refused.map((r) => [{ text: r.row, class: "num" }, el("span", { class: "badge bad" }, r.status), r.message || "", { text: r.taskId.slice(0, 8), class: "mono" }])))
      : el("p", { class: "muted" }, "None."));
}

function tasksTable(tasks) {
  if (!tasks.length) return el("p", { class: "muted" }, "No tasks yet.");
  return el("div", { id: "tasks" }, table(["task", "kind", "campaign", "state", "progress", { text: "processed", class: "num" }, { text: "ok", class: "num" }, { text: "failed", class: "num" }, "message", "updated"],
    tasks.map((t) => [
      { text: t.id.slice(0, 8), class: "mono nowrap" }, t.kind, t.campaignName || "—", stateBadge(t.state), progress(t),
      { text: `${count(t.processed)} / ${count(t.total)}`, class: "num" }, { text: count(t.succeeded), class: "num" },
      { text: count(t.failed), class: "num" }, t.message || "", { text: when(t.updatedAt), class: "nowrap" },
    ])));
}

function blacklistTable(entries) {
  if (!entries.length) return el("p", { class: "muted" }, "Nobody is blacklisted.");
  return el("div", { id: "blacklist" }, table(["contact", "identifier", "channel", "campaign", "category", "do not disturb", "since"],
    entries.map((e) => [e.contactName, { text: e.identifier, class: "mono" }, e.channel, e.campaignName, e.category || "—",
      el("span", { class: "badge" + (e.doNotDisturb ? " bad" : "") }, e.doNotDisturb ? "yes" : "lifted"), when(e.updatedAt)])));
}

async function load() {
  clearTimeout(timer);
  try {
    const data = await getJson("/console/api/overview");
    tenant = String(data.tenant);
    const campaign = selected && data.campaigns.some((c) => c.id === selected)
      ? await getJson("/console/api/campaigns/" + encodeURIComponent(selected)) : null;
    const tenants = el("select", { id: "tenant", "aria-label": "tenant", onchange: (e) => { tenant = e.target.value; selected = ""; polls = 0; load(); } },
      data.tenants.map((t) => el("option", { value: t.id, selected: String(t.id) === tenant }, `${t.id} · ${t.name}`)));
    show(root,
      el("div", { class: "head" },
        el("h1", {}, "Lynn sandbox"), el("span", { class: "badge" }, "read-only console"), el("span", { class: "spacer" }),
        tenants, el("button", { id: "refresh", onclick: () => { polls = 0; load(); } }, "Refresh")),
      el("p", { class: "muted" }, "What the agent did in this sandbox, as Lynn's campaign data screen shows it. Pick a campaign to see its records."),
      el("h2", {}, `Campaigns (${data.campaigns.length})`), el("div", { id: "campaigns" }, campaignsTable(data.campaigns)),
      campaign && recordsSection(campaign),
      el("h2", {}, "Tasks"), tasksTable(data.tasks),
      el("h2", {}, "Blacklist"), blacklistTable(data.blacklist));
    const open = data.tasks.some((t) => t.state === "Pending" || t.state === "Running");
    if (open && polls++ < POLLS_MAX) timer = setTimeout(load, POLL_MS);
  } catch (error) {
    show(root, el("div", { class: "note error" }, "The sandbox did not answer: " + String(error.message || error)));
  }
}

function select(id) {
  selected = id;
  history.replaceState(null, "", "#campaign=" + encodeURIComponent(id));
  load();
}

load();
