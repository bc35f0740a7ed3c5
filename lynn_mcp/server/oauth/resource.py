"""The HTTP face of OAuth: this server as an OAuth 2.1 resource server (MCP authorization spec).

Built from the SDK's resource-server parts, wrapped around the whole HTTP app:

* `GET /.well-known/oauth-protected-resource<path of LYNN_PUBLIC_URL>` (RFC 9728; where the SDK's
  own server puts it, and where the challenge points) and, for clients that look there when no
  challenge told them, the same document at `/.well-known/oauth-protected-resource`: this resource
  (LYNN_PUBLIC_URL), its authorization server (LYNN_OAUTH_ISSUER, exactly as configured) and the
  scopes (oauth/scopes.py). Public, cacheable, CORS open (the SDK's handler).
* Every other path except the health probes needs a bearer access token (oauth/tokens.py). None,
  or one that is not accepted: 401 with `WWW-Authenticate: Bearer error="invalid_token", ...,
  resource_metadata="<the URL above>"` (the SDK's `RequireAuthMiddleware`).
* A token that is accepted but carries none of the lynn scopes: 403 with the `insufficient_scope`
  challenge naming them, so a client can ask the user to sign in again with them. Which tools a
  token's scopes allow is decided inside the MCP server (`ScopeGate`), per call.
* For requests let through, the SDK's authentication context holds the `AccessToken`
  (`get_access_token()`), which the scope gate and the audit line read.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Final

from mcp.server.auth.handlers.metadata import ProtectedResourceMetadataHandler
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.routes import build_resource_metadata_url, cors_middleware
from mcp.shared.auth import ProtectedResourceMetadata
from pydantic import AnyHttpUrl
from starlette.authentication import AuthCredentials
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from lynn_mcp.config import Settings
from lynn_mcp.server.oauth.keys import SigningKeys
from lynn_mcp.server.oauth.scopes import SCOPES
from lynn_mcp.server.oauth.tokens import JwtVerifier

__all__ = ["ROOT_METADATA_PATH", "ResourceServer", "verifier_from"]

ROOT_METADATA_PATH: Final = "/.well-known/oauth-protected-resource"
RESOURCE_NAME: Final = "lynn-mcp"


def verifier_from(settings: Settings) -> JwtVerifier:
    """The token verifier LYNN_OAUTH_ISSUER, LYNN_OAUTH_JWKS_URL and the audience describe."""
    if settings.oauth_issuer is None or settings.token_audience is None:
        raise ValueError("OAuth is not configured (LYNN_OAUTH_ISSUER, LYNN_PUBLIC_URL)")
    keys = SigningKeys(settings.oauth_issuer, settings.oauth_jwks_url)
    return JwtVerifier(keys=keys, audience=settings.token_audience)


def _challenge(error: str, description: str, metadata_url: str, scope: str | None = None) -> bytes:
    parts = [f'error="{error}"', f'error_description="{description}"']
    if scope is not None:
        parts.append(f'scope="{scope}"')
    parts.append(f'resource_metadata="{metadata_url}"')
    return ("Bearer " + ", ".join(parts)).encode()


class _SomeLynnScope:
    """403 `insufficient_scope` for an authenticated token that carries none of the lynn scopes."""

    def __init__(self, app: ASGIApp, metadata_url: str) -> None:
        self._app = app
        self._metadata_url = metadata_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        credentials = scope.get("auth")
        granted = credentials.scopes if isinstance(credentials, AuthCredentials) else []
        if any(name in granted for name in SCOPES):
            await self._app(scope, receive, send)
            return
        description = "This token carries none of the scopes of lynn-mcp"
        body = json.dumps({"error": "insufficient_scope", "error_description": description}).encode()
        challenge = _challenge("insufficient_scope", description, self._metadata_url, " ".join(SCOPES))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"www-authenticate", challenge),
        ]
        await send({"type": "http.response.start", "status": 403, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class ResourceServer:
    """ASGI wrapper making `app` an OAuth protected resource (see the module docstring).

    `open_paths` (the health probes) pass without a token, as do the metadata paths.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: TokenVerifier,
        public_url: str,
        issuer: str,
        open_paths: Collection[str],
    ) -> None:
        self.metadata_url = str(build_resource_metadata_url(AnyHttpUrl(public_url)))
        # Validated from strings: the model keeps a path-less issuer without a trailing slash, which
        # clients compare exactly with the issuer's own metadata (the SDK's route helper adds one).
        metadata = ProtectedResourceMetadata.model_validate(
            {
                "resource": public_url,
                "authorization_servers": [issuer],
                "scopes_supported": list(SCOPES),
                "resource_name": RESOURCE_NAME,
            }
        )
        endpoint = cors_middleware(ProtectedResourceMetadataHandler(metadata).handle, ["GET", "OPTIONS"])
        paths = {AnyHttpUrl(self.metadata_url).path or ROOT_METADATA_PATH, ROOT_METADATA_PATH}
        self._metadata = {path: Route(path, endpoint=endpoint, methods=["GET", "OPTIONS"]) for path in paths}
        self._open_paths = frozenset(open_paths)
        self._open = app
        guarded: ASGIApp = AuthContextMiddleware(app)
        guarded = _SomeLynnScope(guarded, self.metadata_url)
        guarded = RequireAuthMiddleware(guarded, [], AnyHttpUrl(self.metadata_url))
        self._guarded = AuthenticationMiddleware(guarded, backend=BearerAuthBackend(verifier))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if scope["type"] == "lifespan" or (scope["type"] == "http" and path in self._open_paths):
            await self._open(scope, receive, send)
        elif scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})  # nothing here speaks WebSocket
        elif path in self._metadata:
            await self._metadata[path].handle(scope, receive, send)
        else:
            await self._guarded(scope, receive, send)
