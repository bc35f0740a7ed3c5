"""A throwaway OAuth authorization server of the tests' own, and lynn-mcp served over HTTP with OAuth.

`AuthorizationServer` runs on loopback with RSA keys made here: RFC 8414 metadata, a JWKS (counting
its fetches; `rotate()` replaces the signing key and withdraws the old one), an authorization
endpoint whose user approves at once (authorization code with PKCE S256, as a host's connector
signs a person in), and a token endpoint for that grant and for client credentials
(`client_secret_basic` or `_post`). The audience of a token is the RFC 8707 `resource` the client
asked for, as Keycloak's audience mapper or any resource-indicator-aware server would put it.
`mint()` signs any token directly, for the ones no honest server would issue.

`LynnOverOAuth` serves `build_http_app` in a thread against a sandbox, signed in through it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx2
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from ops.ops_helpers import ServedApp, free_port
from settings_factory import sandbox_settings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from lynn_mcp.sandbox import SandboxServer
from lynn_mcp.server import build_server
from lynn_mcp.server.http import build_http_app
from lynn_mcp.server.oauth.keys import SigningKeys
from lynn_mcp.server.oauth.tokens import JwtVerifier

ALL_SCOPES = "lynn:read lynn:write lynn:admin"
TOKEN_LIFETIME_S = 300


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    @classmethod
    def new(cls) -> SigningKey:
        return cls(
            kid=uuid.uuid4().hex[:12], private=rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )

    def jwk(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "alg": "RS256", "use": "sig"}


@dataclass
class RegisteredClient:
    secret: str
    scope: str
    subject: str


@dataclass(frozen=True)
class Grant:
    """An authorization code's request: who, for what, and the PKCE challenge to meet."""

    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    resource: str


@dataclass
class AuthorizationServer:
    """See the module docstring. Use as a context manager; `issuer` is its URL."""

    port: int = field(default_factory=free_port)
    signing: SigningKey = field(default_factory=SigningKey.new)
    clients: dict[str, RegisteredClient] = field(default_factory=dict)
    jwks_fetches: int = 0
    tokens_issued: int = 0
    codes: dict[str, Grant] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.issuer = f"http://127.0.0.1:{self.port}"
        app = Starlette(
            routes=[
                Route("/.well-known/oauth-authorization-server", self._metadata),
                Route("/jwks", self._jwks),
                Route("/authorize", self._authorize),
                Route("/token", self._token, methods=["POST"]),
            ]
        )
        self._served = ServedApp(app, self.port)

    def __enter__(self) -> AuthorizationServer:
        self._served.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._served.__exit__(*exc)

    def register(self, client_id: str, *, scope: str, subject: str | None = None) -> str:
        """A confidential client allowed `scope`; returns its secret. Its tokens' `sub` is `subject`."""
        secret = secrets.token_urlsafe(16)
        self.clients[client_id] = RegisteredClient(secret, scope, subject or f"user-{client_id}")
        return secret

    def rotate(self) -> SigningKey:
        """Sign with a new key from now on; the JWKS publishes only the new one. Returns the old key."""
        old, self.signing = self.signing, SigningKey.new()
        return old

    def mint(
        self,
        *,
        scope: str | None = ALL_SCOPES,
        subject: str | None = "alice",
        client_id: str = "agent",
        audience: str | list[str],
        issuer: str | None = None,
        expires_in: float = TOKEN_LIFETIME_S,
        not_before_in: float | None = None,
        key: SigningKey | None = None,
        headers: Mapping[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A token signed here (RS256 by default), with the claims given; None leaves a claim out."""
        now = time.time()
        payload: dict[str, Any] = {
            "iss": issuer or self.issuer,
            "aud": audience,
            "sub": subject,
            "azp": client_id,
            "scope": scope,
            "iat": int(now),
            "exp": int(now + expires_in),
            "jti": uuid.uuid4().hex,
            **claims,
        }
        if not_before_in is not None:
            payload["nbf"] = int(now + not_before_in)
        payload = {name: value for name, value in payload.items() if value is not None}
        signer = key or self.signing
        return jwt.encode(
            payload, signer.private, algorithm="RS256", headers={"kid": signer.kid, **(headers or {})}
        )

    async def _metadata(self, _: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "scopes_supported": ALL_SCOPES.split(),
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "client_credentials"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            }
        )

    async def _jwks(self, _: Request) -> Response:
        self.jwks_fetches += 1
        return JSONResponse({"keys": [self.signing.jwk()]})

    async def _authorize(self, request: Request) -> Response:
        """The user signs in and approves at once: back to the client with a code."""
        query = request.query_params
        client = self.clients.get(query.get("client_id", ""))
        pkce = query.get("code_challenge_method") == "S256"
        if client is None or query.get("response_type") != "code" or not pkce:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = Grant(
            client_id=query["client_id"],
            redirect_uri=query["redirect_uri"],
            challenge=query["code_challenge"],
            scope=query.get("scope") or client.scope,
            resource=query.get("resource", ""),
        )
        back = {"code": code, "state": query.get("state", ""), "iss": self.issuer}
        return RedirectResponse(f"{query['redirect_uri']}?{urlencode(back)}", status_code=302)

    def _redeem(self, form: Mapping[str, Any], client_id: str) -> Grant | None:
        """The grant behind an authorization code, if this client may redeem it now (once)."""
        grant = self.codes.pop(str(form.get("code")), None)
        verifier = str(form.get("code_verifier", "")).encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
        if grant is None or grant.client_id != client_id or grant.redirect_uri != form.get("redirect_uri"):
            return None
        return grant if secrets.compare_digest(challenge, grant.challenge) else None

    async def _token(self, request: Request) -> Response:
        form = await request.form()
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        client = self.clients.get(str(client_id))
        if client is None or not secrets.compare_digest(client.secret, str(secret)):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        resource, asked = form.get("resource"), str(form.get("scope") or client.scope)
        if form.get("grant_type") == "authorization_code":
            grant = self._redeem(form, str(client_id))
            if grant is None:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            resource, asked = resource or grant.resource, grant.scope
        elif form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if not isinstance(resource, str) or not resource:
            return JSONResponse({"error": "invalid_target"}, status_code=400)
        granted = " ".join(scope for scope in asked.split() if scope in client.scope.split())
        self.tokens_issued += 1
        token = self.mint(scope=granted, subject=client.subject, client_id=str(client_id), audience=resource)
        body = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_S,
            "scope": granted,
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    def token_for(self, client_id: str, secret: str, resource: str, scope: str | None = None) -> str:
        """An access token from the token endpoint, as any client would get it."""
        data = {
            "grant_type": "client_credentials",
            "resource": resource,
            **({"scope": scope} if scope else {}),
        }
        answer = httpx2.post(f"{self.issuer}/token", data=data, auth=(client_id, secret), timeout=10)
        answer.raise_for_status()
        token: str = answer.json()["access_token"]
        return token


class LynnOverOAuth:
    """lynn-mcp's HTTP app (the real `build_http_app`) on a free loopback port, signing callers in
    through `authorization`; `public_url` is its /mcp URL, the audience its tokens must carry."""

    def __init__(
        self,
        sandbox: SandboxServer,
        authorization: AuthorizationServer,
        workdir: Path,
        *,
        key_clock: Callable[[], float] | None = None,
        **settings: Any,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.public_url = f"{self.url}/mcp"
        self.audit_log = workdir / f"audit-{self.port}.jsonl"
        self.settings = sandbox_settings(
            sandbox,
            oauth_issuer=authorization.issuer,
            public_url=self.public_url,
            audit_log=self.audit_log,
            **settings,
        )
        verifier = None
        if key_clock is not None:  # the production verifier, its key cache on the given clock
            keys = SigningKeys(authorization.issuer, clock=key_clock)
            verifier = JwtVerifier(keys=keys, audience=self.public_url)
        server = build_server(self.settings, served_over="http")
        app = build_http_app(server, self.settings, host="127.0.0.1", port=self.port, token_verifier=verifier)
        self._served = ServedApp(app, self.port)

    def __enter__(self) -> LynnOverOAuth:
        self._served.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._served.__exit__(*exc)

    def audit_lines(self) -> list[dict[str, Any]]:
        if not self.audit_log.exists():
            return []
        return [json.loads(line) for line in self.audit_log.read_text().splitlines()]
