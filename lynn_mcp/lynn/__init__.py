"""The Lynn HTTP side: one authenticated client, the wire models, the operation table, the retry
policy, and the cleaning of text that comes from Lynn. Never imports `mcp`, `lynn_mcp.server` or
`lynn_mcp.bulk`."""
