"""Resume handles: everything a later call needs to finish a load, held by the caller, not the server.

The server is stateless (replicas behind a load balancer), so a handle carries its own state, signed
with the server's key (`ConfirmationSigner.seal`, LYNN_SIGNING_KEY): a fingerprint binding the
source (file path + size + mtime, or a hash of inline rows), template, campaign, column map and chunk
size; one state per chunk (pending / confirmed / outcome unknown); and the Lynn outcomes of the
confirmed chunks so the resumed report can give totals for the whole load. Compressed, a handle for
100 chunks is about 80 characters; it grows by roughly one character per 8 chunks of scattered state.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import Counter
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

from lynn_mcp.errors import InvalidArgument
from lynn_mcp.signing import ConfirmationSigner

__all__ = ["ChunkState", "ResumeState", "fingerprint"]

_PURPOSE: Final = "lynn-mcp resume v1"
_VERSION: Final = 2  # 2: counts carry "d", the rows already in the campaign
_FINGERPRINT_BYTES: Final = 16
MAX_HANDLE_CHARS: Final = 4096


class ChunkState(IntEnum):
    PENDING = 0
    """Never sent, or refused before Lynn acted on it: send it."""
    CONFIRMED = 1
    """Lynn's task finished and every row's outcome is known: never send again."""
    UNKNOWN = 2
    """Maybe processed (no answer, or the wait ended first): send again; its 409s mean accepted."""


def fingerprint(*parts: str | bytes) -> bytes:
    """A short digest of what a handle must match (each part length-prefixed, so parts cannot blur)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.digest()[:_FINGERPRINT_BYTES]


@dataclass(slots=True)
class ResumeState:
    """Per-chunk states of one load, plus the Lynn outcomes of its confirmed chunks."""

    fingerprint: bytes
    chunks: bytearray = field(default_factory=bytearray)
    earlier_accepted: int = 0
    earlier_rejected: Counter[str] = field(default_factory=Counter)
    earlier_already_in_campaign: int = 0

    def state(self, index: int) -> ChunkState:
        return ChunkState(self.chunks[index]) if index < len(self.chunks) else ChunkState.PENDING

    def set(self, index: int, state: ChunkState) -> None:
        if index >= len(self.chunks):
            self.chunks.extend(bytes(index + 1 - len(self.chunks)))
        self.chunks[index] = state

    def seal(self, signer: ConfirmationSigner) -> str:
        counts = {"a": self.earlier_accepted, "r": dict(self.earlier_rejected)}
        counts["d"] = self.earlier_already_in_campaign
        text = json.dumps(counts, separators=(",", ":"))
        body = zlib.compress(text.encode() + b"\n" + bytes(self.chunks), 9)
        return signer.seal(_PURPOSE, bytes([_VERSION]) + self.fingerprint + body)

    @classmethod
    def unseal(cls, signer: ConfirmationSigner, handle: str, expected_fingerprint: bytes) -> ResumeState:
        """The state in `handle`; InvalidArgument if it is altered, foreign or for another load."""
        payload = signer.unseal(_PURPOSE, handle.strip(), max_chars=MAX_HANDLE_CHARS)
        if payload is None or len(payload) < 1 + _FINGERPRINT_BYTES or payload[0] != _VERSION:
            raise InvalidArgument(
                "resume is not a handle this server issued (altered, truncated, or signed with another key)",
                hint="Pass the resume value exactly as a load returned it, or omit it to start over.",
            )
        if payload[1 : 1 + _FINGERPRINT_BYTES] != expected_fingerprint:
            raise InvalidArgument(
                "resume belongs to another load: the file, rows, template, campaign, column_map or "
                "chunk size differ (a file that changed since counts as another file)",
                hint="Pass the same arguments as the load that returned it, or omit resume to start over.",
            )
        try:
            counts_text, chunks = zlib.decompress(payload[1 + _FINGERPRINT_BYTES :]).split(b"\n", 1)
            counts = json.loads(counts_text)
            state = cls(
                expected_fingerprint,
                bytearray(chunks),
                int(counts["a"]),
                Counter({str(k): int(v) for k, v in counts["r"].items()}),
                int(counts["d"]),
            )
            for value in state.chunks:
                ChunkState(value)
        except (ValueError, KeyError, TypeError, AttributeError, zlib.error):
            raise InvalidArgument("resume handle is damaged", hint="Omit resume to start over.") from None
        return state
