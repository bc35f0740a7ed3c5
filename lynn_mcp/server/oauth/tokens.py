"""Access tokens (JWT) checked the way a resource server must: signature, issuer, audience, time.

A token is accepted only when all of these hold:

* it is a JWT signed with an asymmetric algorithm (`ALGORITHMS`; never `none` or a shared-secret
  HMAC) by a key of the issuer's key set (oauth/keys.py), the key's own `alg`, if it names one,
  being the token's;
* `iss` is exactly LYNN_OAUTH_ISSUER, `aud` names this server (LYNN_OAUTH_AUDIENCE, else
  LYNN_PUBLIC_URL; a trailing slash aside), and `sub` says who is calling;
* `exp` has not passed and `nbf`/`iat` are not in the future, give or take `CLOCK_SKEW_S`.

Anything else is refused (the HTTP layer answers 401 with the challenge); the reason is logged at
INFO without the token. What the rest of the server learns is the SDK's `AccessToken`: the caller's
scopes (`scope`, or `scp` as Entra ID and Okta write it), `subject` (`sub`), `client_id` (RFC 9068
`client_id`, else `azp`, `appid` or `cid`, as providers name the client) and the issuer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

import jwt
from mcp.server.auth.provider import AccessToken

from lynn_mcp.server.oauth.keys import SigningKeys

__all__ = ["ALGORITHMS", "CLOCK_SKEW_S", "JwtVerifier"]

ALGORITHMS: Final = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
CLOCK_SKEW_S: Final = 30
MAX_TOKEN_CHARS: Final = 16_384
REQUIRED_CLAIMS: Final = ["exp", "iss", "aud", "sub"]
CLIENT_ID_CLAIMS: Final = ("client_id", "azp", "appid", "cid")
UNKNOWN_CLIENT: Final = "unknown"

logger = logging.getLogger(__name__)


class _Refused(Exception):
    """Why a token is not accepted, in words fit for the log (never the token)."""


def _scopes(claims: Mapping[str, Any]) -> list[str]:
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            return value.split()
        if isinstance(value, list):
            return [item for item in value if isinstance(item, str)]
    return []


def _client_id(claims: Mapping[str, Any]) -> str:
    named = (claims.get(name) for name in CLIENT_ID_CLAIMS)
    return next((value for value in named if isinstance(value, str) and value), UNKNOWN_CLIENT)


_REASONS: Final[tuple[tuple[type[jwt.PyJWTError], str], ...]] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not valid yet"),
    (jwt.InvalidAudienceError, "issued for another audience"),
    (jwt.InvalidIssuerError, "issued by another issuer"),
    (jwt.MissingRequiredClaimError, "a required claim (exp, iss, aud, sub) is missing"),
    (jwt.InvalidSignatureError, "the signature does not verify"),
)


class JwtVerifier:
    """The SDK's `TokenVerifier` for JWT access tokens of one issuer (see the module docstring)."""

    def __init__(self, *, keys: SigningKeys, audience: str, leeway_s: float = CLOCK_SKEW_S) -> None:
        self.keys = keys
        self.audience = audience
        self._audiences = [audience.rstrip("/"), audience.rstrip("/") + "/"]
        self._leeway_s = leeway_s

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            return await self._verify(token)
        except _Refused as exc:
            logger.info("OAuth: bearer token refused: %s", exc)
            return None

    async def _verify(self, token: str) -> AccessToken:
        if len(token) > MAX_TOKEN_CHARS:
            raise _Refused(f"longer than {MAX_TOKEN_CHARS} characters")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _Refused("not a JWT") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ALGORITHMS:
            raise _Refused("not signed with an accepted algorithm")
        if kid is not None and not isinstance(kid, str):
            raise _Refused("its key id is not a string")
        jwk = await self.keys.find(kid)
        if jwk is None:
            raise _Refused("signed with a key the issuer does not publish")
        if jwk.get("alg", algorithm) != algorithm:
            raise _Refused("its algorithm is not the one its key is for")
        try:
            key = jwt.PyJWK(dict(jwk), algorithm=algorithm)
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._audiences,
                issuer=self.keys.issuer,
                leeway=self._leeway_s,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            reason = next((words for kind, words in _REASONS if isinstance(exc, kind)), "invalid")
            raise _Refused(reason) from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise _Refused("its sub claim is not a name")
        return AccessToken(
            token=token,
            client_id=_client_id(claims),
            scopes=_scopes(claims),
            # When this server stops accepting it: the SDK's bearer check compares without any skew.
            expires_at=int(claims["exp"]) + int(self._leeway_s),
            resource=self.audience,
            subject=subject,
            claims={"iss": claims["iss"]},
        )
