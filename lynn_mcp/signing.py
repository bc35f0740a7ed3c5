"""Fail-closed confirmation tokens for consequential calls.

When a client cannot ask its human (no elicitation), a consequential call (``start_campaign``,
``delete_campaign``, ``delete_contact``, a DnD change to ``doNotDisturb=false``) returns a preview
and a token from :meth:`ConfirmationSigner.mint`; the call is carried out only when repeated with
that token and :meth:`ConfirmationSigner.verify` accepts it.

A token is ``base64url(payload) + "." + base64url(HMAC-SHA256(payload))`` (about 130 characters).
The payload binds digests of the tool name, of the tenant, of the canonical arguments and of the
state of what the call acts on as previewed (a campaign's status and last change, say), an expiry
and a random nonce, so a token confirms exactly one call. It carries no argument values.

Single use is enforced per process by a bounded cache of spent nonces. Across replicas that cache
is not shared (the server stays stateless); what stops a replay there is the state: the caller
re-reads it and a token whose previewed state no longer holds is refused (``state_changed``), so a
token spent on one replica cannot act again on another once its call changed what it acted on.
Replicas accept each other's tokens only when they share ``LYNN_SIGNING_KEY``; without it every
process draws its own key. Surrounding whitespace and quotes (copy-paste) are ignored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from pydantic import SecretStr
from pydantic_core import to_jsonable_python

__all__ = [
    "CONFIRMATION_TOKEN_ARGUMENT",
    "ConfirmationCheck",
    "ConfirmationSigner",
    "RefusalReason",
    "canonical_arguments",
]

#: The tool argument that carries the token; it is never part of what the token binds.
CONFIRMATION_TOKEN_ARGUMENT: Final = "confirmation_token"  # noqa: S105 (an argument name, not a secret)
DEFAULT_TTL_S: Final = 300
MAX_TTL_S: Final = 3600
#: A configured key shorter than this is refused: it would be guessable offline from one token.
MIN_KEY_BYTES: Final = 32
REPLAY_CACHE_SIZE: Final = 10_000

_VERSION: Final = 2  # v2 binds the previewed state; v1 tokens (5 minutes at most) are refused
# version, expiry (unix seconds), nonce, tool digest, tenant digest, arguments digest, state digest
_PAYLOAD: Final = struct.Struct(">BI12s8s8s16s16s")
_MAC_BYTES: Final = hashlib.sha256().digest_size
# Longer input is refused before any decoding work; real tokens are about 130 characters.
_MAX_TOKEN_CHARS: Final = 256
# Quotes copy-paste brings along (the preview quotes the token); none is in the base64url alphabet.
_QUOTES: Final = "\"'`"
_MAC_KEY_LABEL: Final = b"lynn-mcp confirmation token v1"
_SEAL_KEY_LABEL: Final = b"lynn-mcp sealed payload v1"
_SEAL_MAC_BYTES: Final = 16


class RefusalReason(StrEnum):
    """Why a confirmation token was refused."""

    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    WRONG_TOOL = "wrong_tool"
    WRONG_ARGUMENTS = "wrong_arguments"
    WRONG_TENANT = "wrong_tenant"
    STATE_CHANGED = "state_changed"
    REPLAYED = "replayed"


_REFUSAL_MESSAGES: Final = {
    RefusalReason.MALFORMED: "The confirmation token is not one this server issued.",
    RefusalReason.BAD_SIGNATURE: "The confirmation token's signature is invalid; it was altered "
    "or issued by a server with another signing key.",
    RefusalReason.EXPIRED: "The confirmation token has expired; call again without it for a new preview.",
    RefusalReason.WRONG_TOOL: "The confirmation token was issued for another tool.",
    RefusalReason.WRONG_ARGUMENTS: "The confirmation token was issued for different arguments; "
    "call again without it for a preview of these arguments.",
    RefusalReason.WRONG_TENANT: "The confirmation token was issued for another tenant.",
    RefusalReason.STATE_CHANGED: "What the confirmation token approved has changed since its preview "
    "(for example the campaign was started or stopped, or the block was set again), so the approval "
    "no longer applies; call again without it for a preview of the current state and ask the user again.",
    RefusalReason.REPLAYED: "The confirmation token has already been used; each token confirms one call.",
}


@dataclass(frozen=True, slots=True)
class ConfirmationCheck:
    """The outcome of :meth:`ConfirmationSigner.verify`: accepted, or refused with a reason."""

    reason: RefusalReason | None = None

    @property
    def ok(self) -> bool:
        """True when the token confirms this exact call."""
        return self.reason is None

    @property
    def message(self) -> str:
        """One sentence for the caller: what went wrong and what to do (empty when accepted)."""
        return "" if self.reason is None else _REFUSAL_MESSAGES[self.reason]


_ACCEPTED: Final = ConfirmationCheck()


def canonical_arguments(arguments: Mapping[str, Any]) -> bytes:
    """Canonical JSON of a call's arguments: what a token binds.

    Sorted keys, no whitespace, UTF-8. Leaves out the confirmation token itself and every argument
    whose value is ``None``, so an omitted optional argument and an explicit ``null`` agree.
    Pydantic models, dates, UUIDs and enums are converted as pydantic would serialise them.
    """
    bound = {
        str(name): value
        for name, value in arguments.items()
        if name != CONFIRMATION_TOKEN_ARGUMENT and value is not None
    }
    text = json.dumps(
        bound,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=to_jsonable_python,
    )
    return text.encode()


def _digest(label: bytes, data: bytes, size: int) -> bytes:
    # Labelled so a tool name can never produce the same digest as a tenant or an argument set.
    return hashlib.sha256(label + b"\x00" + data).digest()[:size]


def _tool_digest(tool: str) -> bytes:
    return _digest(b"tool", tool.encode(), 8)


def _tenant_digest(tenant: str | int) -> bytes:
    return _digest(b"tenant", str(tenant).encode(), 8)  # 7 and "7" are the same tenant


def _arguments_digest(arguments: Mapping[str, Any]) -> bytes:
    return _digest(b"arguments", canonical_arguments(arguments), 16)


def _state_digest(state: str) -> bytes:
    return _digest(b"state", state.encode("utf-8", "surrogatepass"), 16)


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode(text: str) -> bytes | None:
    """Strict base64url without padding; None unless ``text`` is the one canonical encoding."""
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):  # non-ASCII text, or a length no encoding has
        return None
    # The decoder skips characters outside the alphabet and ignores the unused low bits of the last
    # character; re-encoding rejects both, so each token has exactly one accepted spelling.
    return data if _encode(data) == text else None


class ConfirmationSigner:
    """Mints and verifies confirmation tokens with one HMAC key; keeps the per-process replay cache."""

    __slots__ = ("_lock", "_mac_key", "_seal_key", "_spent_nonces", "is_ephemeral")

    def __init__(self, key: str | bytes | SecretStr | None) -> None:
        """Use ``key`` (``LYNN_SIGNING_KEY``, at least 32 bytes) or, when None, a random per-process key.

        With a random key, tokens are honoured only by the process that minted them: replicas behind
        a load balancer need a shared ``LYNN_SIGNING_KEY`` (see :attr:`is_ephemeral`).
        """
        if isinstance(key, SecretStr):
            key = key.get_secret_value()
        if isinstance(key, str):
            key = key.encode()
        if key is not None and len(key) < MIN_KEY_BYTES:
            raise ValueError(
                f"LYNN_SIGNING_KEY must be at least {MIN_KEY_BYTES} bytes; generate one with "
                '`python -c "import secrets; print(secrets.token_urlsafe(32))"`'
            )
        #: True when the key was drawn at random for this process (no LYNN_SIGNING_KEY).
        self.is_ephemeral: bool = key is None
        root_key = secrets.token_bytes(32) if key is None else key
        # A derived key, so LYNN_SIGNING_KEY could sign something else later without cross-use.
        self._mac_key = hmac.new(root_key, _MAC_KEY_LABEL, hashlib.sha256).digest()
        self._seal_key = hmac.new(root_key, _SEAL_KEY_LABEL, hashlib.sha256).digest()
        self._lock = threading.Lock()
        self._spent_nonces: OrderedDict[bytes, int] = OrderedDict()  # nonce -> token expiry

    def __repr__(self) -> str:
        return f"<ConfirmationSigner ephemeral={self.is_ephemeral}>"

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._mac_key, payload, hashlib.sha256).digest()

    def mint(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        tenant: str | int,
        *,
        state: str = "",
        ttl_s: int = DEFAULT_TTL_S,
        now: float | None = None,
    ) -> str:
        """A URL-safe token confirming one call of ``tool`` with ``arguments`` for ``tenant``, while
        what it acts on is still in ``state`` (the text the preview showed; empty when unbound).

        It expires after ``ttl_s`` seconds (1 to 3600) and is honoured once per process.
        """
        if not 0 < ttl_s <= MAX_TTL_S:
            raise ValueError(f"ttl_s must be between 1 and {MAX_TTL_S} seconds, got {ttl_s}")
        issued_at = time.time() if now is None else now
        payload = _PAYLOAD.pack(
            _VERSION,
            int(issued_at) + ttl_s,
            secrets.token_bytes(12),
            _tool_digest(tool),
            _tenant_digest(tenant),
            _arguments_digest(arguments),
            _state_digest(state),
        )
        return f"{_encode(payload)}.{_encode(self._mac(payload))}"

    def verify(
        self,
        token: str,
        tool: str,
        arguments: Mapping[str, Any],
        tenant: str | int,
        *,
        state: str = "",
        now: float | None = None,
    ) -> ConfirmationCheck:
        """Check that ``token`` confirms this exact call, with what it acts on still in ``state`` (read
        again just now); on success the token is spent.

        Refusals leave the token unspent, so a mistaken retry does not burn a valid confirmation.
        Never raises on a bad token: the reason comes back in the :class:`ConfirmationCheck`.
        """
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS:
            return ConfirmationCheck(RefusalReason.MALFORMED)
        token = token.strip().strip(_QUOTES).strip()
        if token.count(".") != 1:
            return ConfirmationCheck(RefusalReason.MALFORMED)
        encoded_payload, encoded_mac = token.split(".")
        payload, mac = _decode(encoded_payload), _decode(encoded_mac)
        if payload is None or mac is None or len(payload) != _PAYLOAD.size or len(mac) != _MAC_BYTES:
            return ConfirmationCheck(RefusalReason.MALFORMED)
        if not hmac.compare_digest(mac, self._mac(payload)):
            return ConfirmationCheck(RefusalReason.BAD_SIGNATURE)
        version, expires_at, nonce, tool_digest, tenant_digest, arguments_digest, state_digest = (
            _PAYLOAD.unpack(payload)
        )
        if version != _VERSION:
            return ConfirmationCheck(RefusalReason.MALFORMED)
        if tool_digest != _tool_digest(tool):
            return ConfirmationCheck(RefusalReason.WRONG_TOOL)
        if tenant_digest != _tenant_digest(tenant):
            return ConfirmationCheck(RefusalReason.WRONG_TENANT)
        try:
            arguments_match = arguments_digest == _arguments_digest(arguments)
        except (TypeError, ValueError):  # arguments that cannot be canonicalised match no token
            arguments_match = False
        if not arguments_match:
            return ConfirmationCheck(RefusalReason.WRONG_ARGUMENTS)
        current_time = time.time() if now is None else now
        if current_time >= expires_at:
            return ConfirmationCheck(RefusalReason.EXPIRED)
        if state_digest != _state_digest(state):
            return ConfirmationCheck(RefusalReason.STATE_CHANGED)
        return (
            _ACCEPTED
            if self._spend(nonce, expires_at, current_time)
            else ConfirmationCheck(RefusalReason.REPLAYED)
        )

    def seal(self, purpose: str, payload: bytes) -> str:
        """An opaque, tamper-proof handle for ``payload`` (not encrypted: never seal secrets).

        ``base64url(payload) + "." + base64url(16-byte HMAC)``; ``purpose`` is bound into the MAC so a
        handle sealed for one use is refused by :meth:`unseal` for another.
        """
        return f"{_encode(payload)}.{_encode(self._seal_mac(purpose, payload))}"

    def unseal(self, purpose: str, handle: str, *, max_chars: int = 4096) -> bytes | None:
        """The payload of a handle from :meth:`seal` for the same ``purpose``; None if altered or foreign."""
        if not isinstance(handle, str) or len(handle) > max_chars or handle.count(".") != 1:
            return None
        encoded_payload, encoded_mac = handle.split(".")
        payload, mac = _decode(encoded_payload), _decode(encoded_mac)
        if payload is None or mac is None or len(mac) != _SEAL_MAC_BYTES:
            return None
        return payload if hmac.compare_digest(mac, self._seal_mac(purpose, payload)) else None

    def _seal_mac(self, purpose: str, payload: bytes) -> bytes:
        message = purpose.encode() + b"\x00" + payload
        return hmac.new(self._seal_key, message, hashlib.sha256).digest()[:_SEAL_MAC_BYTES]

    def _spend(self, nonce: bytes, expires_at: int, current_time: float) -> bool:
        """Record ``nonce`` as used; False if it already was."""
        with self._lock:
            spent = self._spent_nonces
            if nonce in spent:
                return False
            # Entries arrive roughly in expiry order; drop expired ones from the front.
            while spent and next(iter(spent.values())) <= current_time:
                spent.popitem(last=False)
            if len(spent) >= REPLAY_CACHE_SIZE:
                for old_nonce in [n for n, expiry in spent.items() if expiry <= current_time]:
                    del spent[old_nonce]
            while len(spent) >= REPLAY_CACHE_SIZE:
                # Still full of live tokens: forget the oldest. Its replay would go undetected, the
                # same as across replicas, which the guarded operations tolerate.
                spent.popitem(last=False)
            spent[nonce] = expires_at
            return True
