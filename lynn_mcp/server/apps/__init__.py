"""MCP Apps views (`io.modelcontextprotocol/ui`): what a host renders beside a tool's answer.

    ui://lynn/load-report.html   load_campaign_data, upload_campaign_file, bulk_set_dnd,
                                 get_task_status, get_dnd_task_status
    ui://lynn/campaigns.html     list_campaigns, get_campaign

`views` holds the views and the `_meta` link a tool declares (`view_link`); `links` shows those
links only to hosts that render apps, so a plain host's listings and results are as they were.
A view renders from the structured content the tool already returns and asks Lynn for nothing
new; the campaigns view's only calls (refresh, open one) are read-only tools, through the host.

The bridge is hand-written (`static/bridge.js`, 4.0 KB) rather than the npm `App` class of
`@modelcontextprotocol/ext-apps` 2.0.4. Measured: its self-contained `app-with-deps.js` is 541,828
bytes (129 KB gzipped) and would be inlined into every view, since a view may load nothing from
elsewhere: 30 times the size of a whole view today (18.5 KB, 6.3 KB gzipped: look, DOM helpers,
bridge and the view's script). A view needs six messages of the protocol (`ui/initialize`,
`ui/notifications/initialized`, `tool-input`, `tool-result`, `size-changed`, and `tools/call` for
the campaigns view's read-only actions); the browser tests drive them from a host page
(tests/apps/host.html), so a drift from the spec shows there.
"""

from lynn_mcp.server.apps.links import ViewsForAppHosts
from lynn_mcp.server.apps.views import CAMPAIGNS, LOAD_REPORT, view_link, views_extension

__all__ = ["CAMPAIGNS", "LOAD_REPORT", "ViewsForAppHosts", "view_link", "views_extension"]
