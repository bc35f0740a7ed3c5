"use strict";
// The load report view: renders a LoadReport / TaskReport (the structured content the bulk and task
// tools return) as one bar, rejected rows by reason and the first rejected rows. It asks Lynn nothing.
const root = document.getElementById("app");
const REASONS = {
  "400": "400: refused by Lynn",
  "403": "403: blacklisted for this campaign",
  "404": "404: not found in Lynn",
  "409": "409: already a record of the campaign",
  invalid_phone: "invalid phone",
  missing_phone: "missing phone",
  duplicate_in_file: "duplicate in the file",
  missing_column: "missing template column",
  malformed_row: "malformed row",
  invalid_value: "invalid value",
};
const EXAMPLE = /^row (\d+): (\S+)(?: ([\s\S]*))?$/;
const PHONE_IN_MESSAGE = /\bphone \+?(\d[\d ]{5,})/;
let toolArguments = {};

function reasonLabel(code) {
  return REASONS[code] || code;
}

function parseExample(text) {
  // "row 12: 403 phone 56911111111 is on this campaign's blacklist" -> row, reason, phone, detail.
  const match = EXAMPLE.exec(String(text));
  if (!match) return { row: "", reason: "", phone: "", detail: String(text) };
  const detail = match[3] || "";
  const phone = PHONE_IN_MESSAGE.exec(detail);
  return { row: match[1], reason: match[2], phone: phone ? phone[1].trim() : "", detail };
}

function outcomeBar(report) {
  const parts = [
    ["accepted", "accepted", report.accepted],
    ["already", "already in the campaign", report.already_in_campaign],
    ["rejected", "rejected", report.rejected],
    ["unprocessed", "unprocessed", report.unprocessed],
  ];
  const total = Math.max(1, report.submitted || 0);
  const bar = el("div", { class: "bar", id: "outcome", role: "img", "aria-label": parts.map(([, label, n]) => `${label} ${n || 0}`).join(", ") },
    parts.filter(([, , n]) => n > 0).map(([kind, label, n]) =>
      el("span", { class: kind, title: `${label}: ${count(n)}`, style: { width: `${(100 * n) / total}%` } })));
  const figures = el("div", { class: "figures" },
    el("div", { class: "figure", "data-figure": "submitted" }, el("div", { class: "value" }, count(report.submitted)), el("div", { class: "label" }, "submitted")),
    parts.filter(([kind, , n]) => kind !== "already" || n > 0).map(([kind, label, n]) =>
      el("div", { class: "figure", "data-figure": kind },
        el("div", { class: "value" }, count(n)),
        el("div", { class: "label" }, el("span", { class: "swatch " + kind }), label))));
  return [figures, bar];
}

function byReason(report) {
  const entries = Object.entries(report.rejected_by_reason || {}).sort((a, b) => b[1] - a[1]);
  if (!entries.length) return null;
  const most = Math.max(...entries.map(([, n]) => n));
  return [
    el("h2", {}, "Rejected by reason"),
    table([ "reason", { text: "rows", class: "num" }, "" ],
      entries.map(([code, n]) => [
        el("span", { title: code }, reasonLabel(code)),
        { text: count(n), class: "num" },
        el("div", { class: "bar thin" }, el("span", { class: "rejected", style: { width: `${(100 * n) / most}%` } })),
      ])),
  ];
}

function firstRejected(report) {
  const examples = (report.examples || []).map(parseExample);
  if (!examples.length) return null;
  const more = report.rejected > examples.length ? ` (first ${examples.length} of ${count(report.rejected)})` : "";
  return [
    el("h2", {}, "Rejected rows" + more),
    el("div", { id: "rejected-rows" }, table(
      [{ text: "row", class: "num" }, "phone", "reason", "detail"],
      examples.map((e) => [{ text: e.row, class: "num" }, el("span", { class: "mono" }, e.phone || "—"), reasonLabel(e.reason), e.detail]))),
  ];
}

function nextStep(report) {
  if (report.unprocessed > 0 && report.resume) {
    return el("div", { class: "note warn", id: "resume-hint" },
      el("strong", {}, `${count(report.unprocessed)} row(s) were not processed. `),
      "Ask the agent to call the same tool again with the same arguments plus ",
      el("code", {}, "resume"), " (the handle below): rows already settled are not sent twice.",
      el("div", { class: "mono muted" }, "resume: " + report.resume.slice(0, 40) + (report.resume.length > 40 ? "…" : "")));
  }
  if (report.unprocessed > 0) {
    return el("div", { class: "note warn", id: "resume-hint" },
      el("strong", {}, `${count(report.unprocessed)} row(s) are not processed yet. `),
      "Ask the agent for the task's status again in a moment.");
  }
  return null;
}

function facts(report) {
  const ids = report.task_ids || [];
  const rows = [
    ["campaign", report.campaign_id && el("span", { class: "mono" }, report.campaign_id)],
    ["task ids", ids.length && el("span", { class: "mono" }, ids.join(", ") + (report.task_count ? ` (${count(report.task_count)} tasks in all)` : ""))],
    ["elapsed", report.elapsed_s !== undefined && `${report.elapsed_s} s`],
    ["results file", report.results_path && el("span", { class: "mono" }, report.results_path)],
    ["file", toolArguments.file_path && el("span", { class: "mono" }, toolArguments.file_path)],
  ].filter(([, value]) => value);
  if (!rows.length) return null;
  return [el("h2", {}, "Details"), el("dl", { class: "facts" }, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]))];
}

function render(report) {
  show(root,
    el("div", { class: "head" }, el("h1", {}, "Load report"), stateBadge(report.state)),
    report.message && el("div", { class: "note", id: "message" }, report.message),
    outcomeBar(report),
    nextStep(report),
    byReason(report),
    firstRejected(report),
    facts(report));
}

McpView.connect({
  name: "lynn-load-report",
  version: "1",
  onToolInput(args) {
    toolArguments = args;
  },
  onToolResult(result) {
    const report = result.structuredContent;
    if (result.isError || !report || typeof report.submitted !== "number") {
      show(root, el("div", { class: "note error", id: "error" }, resultText(result) || "The tool returned no report."));
    } else {
      render(report);
    }
  },
  onCancelled(reason) {
    show(root, el("div", { class: "note" }, "The call was cancelled" + (reason ? ": " + reason : ".")));
  },
}).catch((error) => show(root, el("div", { class: "note error" }, String(error.message || error))));
