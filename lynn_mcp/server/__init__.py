"""The MCP face of lynn-mcp: the server, its tools, consent, audit, resources, prompts and the HTTP
transport. With the entry points (cli, demo, doctor), the only code that imports `mcp`."""

from lynn_mcp.server.build import LynnServer, build_server

__all__ = ["LynnServer", "build_server"]
