"use strict";
// The view's side of MCP Apps (io.modelcontextprotocol/ui, protocol 2026-01-26): JSON-RPC 2.0 over
// postMessage with the host. Hand-written instead of the npm App class (a 532 KB bundle, inlined
// into every view) because a view needs five messages of it; see lynn_mcp/server/apps/__init__.py.
const McpView = (() => {
  const PROTOCOL_VERSION = "2026-01-26";
  const REQUEST_TIMEOUT_MS = 30000;
  const pending = new Map();
  const handlers = new Map();
  let nextId = 1;
  let hostCapabilities = {};

  function post(message) {
    window.parent.postMessage({ jsonrpc: "2.0", ...message }, "*");
  }

  function request(method, params) {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(method + ": the host did not answer"));
      }, REQUEST_TIMEOUT_MS);
      pending.set(id, { resolve, reject, timer });
      post({ id, method, params });
    });
  }

  function notify(method, params) {
    post({ method, params });
  }

  window.addEventListener("message", (event) => {
    if (event.source !== window.parent) return; // only the host speaks to a view
    const message = event.data;
    if (!message || message.jsonrpc !== "2.0") return;
    if (message.method === undefined) {
      const waiting = pending.get(message.id);
      if (!waiting) return;
      pending.delete(message.id);
      clearTimeout(waiting.timer);
      if (message.error) waiting.reject(new Error(message.error.message || "the host refused"));
      else waiting.resolve(message.result);
    } else if (message.id !== undefined) {
      // Requests from the host: ping and teardown need only an answer; the view holds no state.
      if (message.method === "ping" || message.method === "ui/resource-teardown") post({ id: message.id, result: {} });
      else post({ id: message.id, error: { code: -32601, message: "method not found" } });
    } else {
      const handler = handlers.get(message.method);
      if (handler) handler(message.params || {});
    }
  });

  function applyHostContext(context) {
    if (!context) return;
    const root = document.documentElement;
    if (context.theme === "light" || context.theme === "dark") root.dataset.theme = context.theme;
    const variables = (context.styles && context.styles.variables) || {};
    for (const [name, value] of Object.entries(variables)) {
      if (name.startsWith("--") && typeof value === "string") root.style.setProperty(name, value);
    }
  }

  function reportSize() {
    const box = document.documentElement.getBoundingClientRect();
    notify("ui/notifications/size-changed", { width: Math.ceil(box.width), height: Math.ceil(box.height) });
  }

  async function connect(app) {
    handlers.set("ui/notifications/tool-input", (params) => app.onToolInput(params.arguments || {}));
    handlers.set("ui/notifications/tool-result", (params) => app.onToolResult(params));
    handlers.set("ui/notifications/tool-cancelled", (params) => app.onCancelled(params.reason));
    handlers.set("ui/notifications/host-context-changed", applyHostContext);
    const result = await request("ui/initialize", {
      appInfo: { name: app.name, version: app.version },
      appCapabilities: {},
      protocolVersion: PROTOCOL_VERSION,
    });
    hostCapabilities = (result && result.hostCapabilities) || {};
    applyHostContext(result && result.hostContext);
    notify("ui/notifications/initialized", {});
    new ResizeObserver(reportSize).observe(document.body);
    return result;
  }

  return {
    connect,
    canCallTools: () => Boolean(hostCapabilities.serverTools),
    callTool: (name, args) => request("tools/call", { name, arguments: args }),
  };
})();

function resultText(result) {
  // The text a tool result carries (an error's words, for one).
  return ((result && result.content) || []).filter((block) => block.type === "text").map((block) => block.text).join("\n");
}
