"""The authorization server's signing keys: where they are, fetched, cached, refreshed, rate-limited.

Where: LYNN_OAUTH_JWKS_URL, or the `jwks_uri` of the issuer's metadata, looked up at the places the
MCP authorization spec has clients look (RFC 8414 `oauth-authorization-server`, then OpenID
Connect discovery, path inserted and appended), taking only a document whose `issuer` is exactly
LYNN_OAUTH_ISSUER. The key set is fetched on the first token, kept, and fetched again when a token
names a key id it does not hold (the authorization server rotated its keys) or when it is older than
`MAX_KEY_AGE_S` (a key the server withdrew stops working). Fetches, successful or not, are at least
`REFETCH_COOLDOWN_S` apart, however many tokens with unknown key ids arrive: a stream of forged
tokens costs the authorization server one request per cooldown, and a failed fetch keeps the keys
already held.

Only asymmetric keys meant for signatures are kept (`kty` RSA, EC or OKP; `use` absent or `sig`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import anyio
import httpx2
import jwt

from lynn_mcp.config import url_problem

__all__ = ["KeySourceError", "SigningKeys", "fetch_json", "metadata_urls"]

REFETCH_COOLDOWN_S: Final = 30.0
MAX_KEY_AGE_S: Final = 3600.0
FETCH_TIMEOUT_S: Final = 5.0
MAX_DOCUMENT_BYTES: Final = 256 * 1024
SIGNING_KEY_TYPES: Final = frozenset({"RSA", "EC", "OKP"})

logger = logging.getLogger(__name__)

Jwk = Mapping[str, Any]
FetchJson = Callable[[str], Awaitable[Any]]


class KeySourceError(Exception):
    """The metadata or the key set could not be had; the message says why (no secrets in it)."""


async def fetch_json(url: str) -> Any:
    """GET `url` and parse its JSON body (at most `MAX_DOCUMENT_BYTES`, no redirects followed)."""
    try:
        async with (
            httpx2.AsyncClient(timeout=FETCH_TIMEOUT_S, follow_redirects=False) as http,
            http.stream("GET", url, headers={"Accept": "application/json"}) as response,
        ):
            if response.status_code != 200:
                raise KeySourceError(f"{url} answered HTTP {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise KeySourceError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
    except httpx2.HTTPError as exc:
        raise KeySourceError(f"{url} could not be fetched ({type(exc).__name__})") from None
    try:
        return json.loads(body)
    except ValueError:
        raise KeySourceError(f"{url} did not answer JSON") from None


def metadata_urls(issuer: str) -> list[str]:
    """Where an issuer's metadata may be, in the order the MCP authorization spec has clients try."""
    parts = urlsplit(issuer)
    origin = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    if not path:
        return [
            f"{origin}/.well-known/oauth-authorization-server",
            f"{origin}/.well-known/openid-configuration",
        ]
    return [
        f"{origin}/.well-known/oauth-authorization-server{path}",
        f"{origin}/.well-known/openid-configuration{path}",
        f"{origin}{path}/.well-known/openid-configuration",
    ]


def _signing_keys(document: Any) -> list[Jwk]:
    """The usable signature keys of a JWKS document (RFC 7517); KeySourceError if it is not one."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeySourceError("the key set is not a JWKS document (no `keys` list)")
    usable: list[Jwk] = []
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("kty") not in SIGNING_KEY_TYPES:
            continue
        if jwk.get("use", "sig") != "sig":
            continue
        try:
            jwt.PyJWK(jwk)
        except jwt.PyJWTError:
            continue  # a key type or curve this server cannot use; the others still can be
        usable.append(jwk)
    return usable


class SigningKeys:
    """The JWKS of one issuer, held between tokens (see the module docstring).

    `fetch` and `clock` are seams for tests; production uses `fetch_json` and `time.monotonic`.
    """

    def __init__(
        self,
        issuer: str,
        jwks_url: str | None = None,
        *,
        fetch: FetchJson = fetch_json,
        clock: Callable[[], float] = time.monotonic,
        cooldown_s: float = REFETCH_COOLDOWN_S,
        max_age_s: float = MAX_KEY_AGE_S,
    ) -> None:
        self.issuer = issuer
        self._jwks_url = jwks_url
        self._fetch = fetch
        self._clock = clock
        self._cooldown_s = cooldown_s
        self._max_age_s = max_age_s
        self._keys: list[Jwk] = []
        self._fetched_at: float | None = None
        self._tried_at: float | None = None
        self._lock = anyio.Lock()

    async def find(self, kid: str | None) -> Jwk | None:
        """The key that signed a token naming `kid` (a token without one: the only key), or None."""
        if self._fetched_at is None or self._clock() - self._fetched_at >= self._max_age_s:
            await self._refresh()
        key = self._lookup(kid)
        if key is None:
            await self._refresh()
            key = self._lookup(kid)
        return key

    def _lookup(self, kid: str | None) -> Jwk | None:
        if kid is None:
            return self._keys[0] if len(self._keys) == 1 else None
        return next((jwk for jwk in self._keys if jwk.get("kid") == kid), None)

    async def _refresh(self) -> None:
        """Fetch the key set again, unless a fetch was tried less than a cooldown ago."""
        async with self._lock:
            now = self._clock()
            if self._tried_at is not None and now - self._tried_at < self._cooldown_s:
                return  # also covers the callers that waited on the lock for the fetch just done
            self._tried_at = now
            try:
                keys = _signing_keys(await self._fetch(await self._key_set_url()))
            except KeySourceError as exc:
                held = f"keeping the {len(self._keys)} key(s) held" if self._keys else "no key is held"
                logger.warning("OAuth: could not fetch the keys of %s: %s; %s", self.issuer, exc, held)
                return
            if not keys:
                logger.warning("OAuth: the key set of %s holds no usable signature key", self.issuer)
            self._keys = keys
            self._fetched_at = now

    async def _key_set_url(self) -> str:
        if self._jwks_url is None:
            self._jwks_url = await self._discover()
        return self._jwks_url

    async def _discover(self) -> str:
        """The issuer's `jwks_uri`, from the first metadata document that names this issuer."""
        reasons: list[str] = []
        for url in metadata_urls(self.issuer):
            try:
                metadata = await self._fetch(url)
            except KeySourceError as exc:
                reasons.append(str(exc))
                continue
            if not isinstance(metadata, dict) or metadata.get("issuer") != self.issuer:
                reasons.append(f"{url} describes another issuer")
                continue
            jwks_uri = metadata.get("jwks_uri")
            if not isinstance(jwks_uri, str):
                raise KeySourceError(f"{url} names no jwks_uri")
            problem = url_problem(jwks_uri)
            if problem:
                raise KeySourceError(f"the jwks_uri of {url} {problem}")
            return jwks_uri
        raise KeySourceError("no metadata for this issuer: " + "; ".join(reasons))
