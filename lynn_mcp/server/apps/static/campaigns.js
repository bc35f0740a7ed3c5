"use strict";
// The campaigns view: a table of list_campaigns' page (or get_campaign's one campaign). Its actions
// go through the host's tool-call bridge and are read-only: refresh, open one campaign, and filling
// in each row's template and dates from get_campaign. Starting, stopping or deleting is never done
// from here: that stays a tool call the agent makes, with its human confirmation.
const root = document.getElementById("app");
const READ_ONLY_TOOLS = new Set(["list_campaigns", "get_campaign"]);
const details = new Map(); // campaign id -> get_campaign's structured content
let listArguments = {};
let reload = null; // [tool, arguments] that gave what is shown: Refresh calls it again
let page = null; // the last list_campaigns result
let opened = null; // the campaign shown below the table

async function callRead(name, args) {
  if (!READ_ONLY_TOOLS.has(name)) throw new Error(name + " is not a read-only tool");
  const result = await McpView.callTool(name, args);
  if (!result || result.isError || !result.structuredContent) throw new Error(resultText(result) || name + " failed");
  return result.structuredContent;
}

function field(campaign, name) {
  const detail = details.get(campaign.id);
  const value = (detail && detail[name]) || campaign[name];
  return value === undefined ? (detail ? "—" : "…") : value;
}

function campaignRow(campaign) {
  const open = el("button", { class: "link", "data-open": campaign.id, onclick: () => openCampaign(campaign.id) }, campaign.name);
  const row = el("tr", { class: opened && opened.id === campaign.id ? "selected" : null, "data-id": campaign.id },
    el("td", { class: "name" }, open),
    el("td", {}, stateBadge(campaign.status)),
    el("td", {}, campaign.execution_mode || "—"),
    el("td", {}, campaign.category || "—"),
    el("td", { class: "mono" }, field(campaign, "template_id")),
    el("td", { class: "nowrap" }, when(field(campaign, "start_date"))),
    el("td", { class: "nowrap" }, when(field(campaign, "stop_date"))),
    el("td", { class: "nowrap" }, when(field(campaign, "valid_until"))));
  return row;
}

function detailPanel(campaign) {
  const facts = [
    ["id", el("span", { class: "mono" }, campaign.id)],
    ["status", stateBadge(campaign.status)],
    ["execution mode", campaign.execution_mode],
    ["channel", campaign.channel],
    ["type", campaign.campaign_type],
    ["category", campaign.category],
    ["division", campaign.division],
    ["template", campaign.template_id && el("span", { class: "mono" }, campaign.template_id)],
    ["start", campaign.start_date && when(campaign.start_date)],
    ["stop", campaign.stop_date && when(campaign.stop_date)],
    ["valid until", campaign.valid_until && when(campaign.valid_until)],
    ["last changed", campaign.updated_at && when(campaign.updated_at)],
  ].filter(([, value]) => value);
  return el("section", { id: "campaign-detail" },
    el("h2", {}, "Campaign"),
    el("div", { class: "head" }, el("h1", { class: "detail-name" }, campaign.name)),
    el("dl", { class: "facts" }, facts.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
    el("p", { class: "muted" }, "Starting, stopping or deleting a campaign is a request to the agent; it asks you to confirm."));
}

function render(note) {
  const canCall = McpView.canCallTools();
  const parts = [];
  if (page) {
    parts.push(el("div", { class: "head" },
      el("h1", {}, "Campaigns"), el("span", { class: "muted", id: "total" }, `${count(page.total)} in all`),
      el("span", { class: "spacer" }),
      canCall && el("button", { id: "refresh", onclick: refresh }, "Refresh")));
    parts.push(table(["name", "status", "mode", "category", "template", "start", "stop", "valid until"], page.campaigns.map(campaignRow)));
    if (page.next_cursor) parts.push(el("p", { class: "muted" }, "More campaigns on the next page (next_cursor " + page.next_cursor + ")."));
    if (!canCall) parts.push(el("p", { class: "muted" }, "This host does not pass tool calls from views: templates and dates are in get_campaign."));
  }
  if (note) parts.push(el("div", { class: "note error" }, note));
  if (opened) parts.push(detailPanel(opened));
  show(root, parts);
}

function showResult(content) {
  if (Array.isArray(content.campaigns)) {
    page = content;
    opened = opened && content.campaigns.some((c) => c.id === opened.id) ? opened : null;
  } else {
    // get_campaign: one campaign, shown as a one-row table and its details.
    details.set(content.id, content);
    page = { campaigns: [content], total: 1 };
    opened = content;
  }
  render();
}

async function fillDetails() {
  // get_campaign for the rows whose template and dates the page does not carry, three at a time.
  if (!McpView.canCallTools() || !page) return;
  const missing = page.campaigns.filter((c) => !details.has(c.id));
  const worker = async () => {
    for (let c = missing.shift(); c; c = missing.shift()) {
      try {
        details.set(c.id, await callRead("get_campaign", { campaign_id: c.id }));
      } catch (error) {
        details.set(c.id, {});
      }
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  const fresh = opened && details.get(opened.id);
  if (fresh && fresh.id) opened = fresh;
  render();
}

async function refresh() {
  try {
    details.clear();
    showResult(await callRead(...reload));
    await fillDetails();
  } catch (error) {
    render(String(error.message || error));
  }
}

async function openCampaign(id) {
  try {
    opened = details.get(id) && details.get(id).id ? details.get(id) : await callRead("get_campaign", { campaign_id: id });
    details.set(id, opened);
    render();
  } catch (error) {
    render(String(error.message || error));
  }
}

McpView.connect({
  name: "lynn-campaigns",
  version: "1",
  onToolInput(args) {
    listArguments = args;
  },
  onToolResult(result) {
    const content = result.structuredContent;
    if (result.isError || !content) {
      show(root, el("div", { class: "note error", id: "error" }, resultText(result) || "The tool returned no campaigns."));
    } else {
      reload = Array.isArray(content.campaigns) ? ["list_campaigns", listArguments] : ["get_campaign", { campaign_id: content.id }];
      showResult(content);
      fillDetails();
    }
  },
  onCancelled(reason) {
    show(root, el("div", { class: "note" }, "The call was cancelled" + (reason ? ": " + reason : ".")));
  },
}).catch((error) => show(root, el("div", { class: "note error" }, String(error.message || error))));
