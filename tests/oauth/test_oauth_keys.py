"""The issuer's signing keys: a rotated key is picked up, unknown key ids cannot make the server hammer
the authorization server, discovery takes only the issuer's own metadata, and odd keys are left out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from oauth_helpers import AuthorizationServer, LynnOverOAuth, SigningKey

from lynn_mcp.sandbox import SandboxServer
from lynn_mcp.server.oauth.keys import REFETCH_COOLDOWN_S, KeySourceError, SigningKeys, metadata_urls

pytestmark = pytest.mark.anyio

LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def status(lynn: LynnOverOAuth, token: str) -> int:
    headers = {**JSON_HEADERS, "Authorization": f"Bearer {token}"}
    return httpx2.post(f"{lynn.url}/mcp", json=LIST_TOOLS, headers=headers, timeout=10).status_code


def test_a_rotated_key_is_picked_up_and_unknown_keys_are_rate_limited(
    module_sandbox: SandboxServer, tmp_path: Path
) -> None:
    clock = Clock()
    with (
        AuthorizationServer() as authorization,
        LynnOverOAuth(module_sandbox, authorization, tmp_path, key_clock=clock) as lynn,
    ):
        old_token = authorization.mint(audience=lynn.public_url)
        assert status(lynn, old_token) == 200
        assert authorization.jwks_fetches == 1

        old_key = authorization.rotate()
        new_token = authorization.mint(audience=lynn.public_url)
        # Within the cooldown no fetch happens, whatever key ids arrive.
        assert status(lynn, new_token) == 401
        stranger = SigningKey.new()
        for kid in ("a", "b", "c", "d", "e"):
            forged = authorization.mint(audience=lynn.public_url, key=SigningKey(kid, stranger.private))
            assert status(lynn, forged) == 401
        assert authorization.jwks_fetches == 1
        assert status(lynn, old_token) == 200  # the old key is still held

        clock.now += REFETCH_COOLDOWN_S
        assert status(lynn, new_token) == 200  # unknown key id: fetched again, the new key found
        assert authorization.jwks_fetches == 2
        # The old key was withdrawn: tokens it signed stop working.
        assert status(lynn, authorization.mint(audience=lynn.public_url, key=old_key)) == 401
        assert authorization.jwks_fetches == 2


ISSUER = "https://login.example.com/realms/lynn"
JWKS_URL = "https://login.example.com/realms/lynn/protocol/openid-connect/certs"


class Documents:
    """A fake `fetch`: the documents at each URL (a KeySourceError where absent), and the URLs asked."""

    def __init__(self, documents: dict[str, Any]) -> None:
        self.documents = documents
        self.asked: list[str] = []

    async def __call__(self, url: str) -> Any:
        self.asked.append(url)
        if url not in self.documents:
            raise KeySourceError(f"{url} answered HTTP 404")
        return self.documents[url]


def key_set(*keys: SigningKey, **extra: Any) -> dict[str, Any]:
    return {"keys": [{**key.jwk(), **extra} for key in keys]}


def test_metadata_is_looked_up_where_the_spec_has_clients_look() -> None:
    assert metadata_urls(ISSUER) == [
        "https://login.example.com/.well-known/oauth-authorization-server/realms/lynn",
        "https://login.example.com/.well-known/openid-configuration/realms/lynn",
        "https://login.example.com/realms/lynn/.well-known/openid-configuration",
    ]
    assert metadata_urls("https://tenant.auth0.example/") == [
        "https://tenant.auth0.example/.well-known/oauth-authorization-server",
        "https://tenant.auth0.example/.well-known/openid-configuration",
    ]


async def test_discovery_takes_only_the_issuers_own_metadata() -> None:
    """Keycloak answers OpenID discovery, path appended; a document for another issuer is passed over."""
    key = SigningKey.new()
    documents = Documents(
        {
            metadata_urls(ISSUER)[0]: {
                "issuer": "https://login.example.com/realms/other",
                "jwks_uri": "https://x/",
            },
            metadata_urls(ISSUER)[2]: {"issuer": ISSUER, "jwks_uri": JWKS_URL},
            JWKS_URL: key_set(key),
        }
    )
    keys = SigningKeys(ISSUER, fetch=documents)
    found = await keys.find(key.kid)
    assert found is not None
    assert found["kid"] == key.kid
    assert documents.asked == [*metadata_urls(ISSUER), JWKS_URL]


async def test_a_jwks_uri_over_plain_http_is_refused() -> None:
    documents = Documents(
        {metadata_urls(ISSUER)[0]: {"issuer": ISSUER, "jwks_uri": "http://login.example.com/k"}}
    )
    assert await SigningKeys(ISSUER, fetch=documents).find("any") is None
    assert "http://login.example.com/k" not in documents.asked


async def test_only_signature_keys_are_kept() -> None:
    signing, encrypting = SigningKey.new(), SigningKey.new()
    document = {
        "keys": [
            {**encrypting.jwk(), "use": "enc"},
            {"kty": "oct", "kid": "shared", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "broken", "e": "AQAB"},
            {"kty": "EC", "kid": "odd-curve", "crv": "P-999", "x": "AA", "y": "AA"},
            "not a key",
            signing.jwk(),
        ]
    }
    keys = SigningKeys(ISSUER, JWKS_URL, fetch=Documents({JWKS_URL: document}))
    assert await keys.find(signing.kid) is not None
    for kid in (encrypting.kid, "shared", "broken", "odd-curve"):
        assert await keys.find(kid) is None
    assert await keys.find(None) is not None  # a token without a key id: the only key there is


async def test_a_failed_refresh_keeps_the_keys_held_and_old_keys_expire() -> None:
    clock = Clock()
    first, second = SigningKey.new(), SigningKey.new()
    documents = Documents({JWKS_URL: key_set(first)})
    keys = SigningKeys(ISSUER, JWKS_URL, fetch=documents, clock=clock, max_age_s=600)
    assert await keys.find(first.kid) is not None
    del documents.documents[JWKS_URL]  # the authorization server is down
    clock.now += 601
    assert await keys.find(first.kid) is not None
    assert len(documents.asked) == 2
    documents.documents[JWKS_URL] = key_set(second)  # back, with the first key withdrawn
    clock.now += REFETCH_COOLDOWN_S
    assert await keys.find(first.kid) is None
    assert await keys.find(second.kid) is not None
    assert len(documents.asked) == 3


async def test_concurrent_unknown_key_ids_share_one_fetch() -> None:
    key = SigningKey.new()
    documents = Documents({JWKS_URL: key_set(key)})
    keys = SigningKeys(ISSUER, JWKS_URL, fetch=documents)
    async with anyio.create_task_group() as group:
        for index in range(20):
            group.start_soon(keys.find, f"unknown-{index}")
    assert documents.asked == [JWKS_URL]
