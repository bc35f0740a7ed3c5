"""Signing people in with OAuth over HTTP: lynn-mcp as a resource server of your identity provider.

`keys` (the issuer's signing keys), `tokens` (a JWT access token checked), `resource` (the HTTP
layer: metadata, challenge, authentication context), `scopes` (scopes per kind of tool, enforced in
the MCP server). docs/security.md ("Signing people in with OAuth") tells the whole story.
"""
