"""lynn-mcp: an MCP server for Lynn's Outbound (Proactive) API, with a built-in sandbox."""

__version__ = "0.1.0"
