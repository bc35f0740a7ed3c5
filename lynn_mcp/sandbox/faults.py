"""Fault injection for ``/api/`` routes: latency, rate limiting, error statuses, dropped
connections, and answers that echo credentials (``echoSecrets``, applied by echo.py).
``/sandbox/`` routes are never faulted so tests can always reconfigure."""

from __future__ import annotations

import json
import math
import random
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import anyio
import anyio.lowlevel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lynn_mcp.sandbox.errors import ApiError

TRANSPORT_KEY = "lynn.transport"  # scope extension set by the runner's protocol (see runner.py)


class DroppedConnection(ConnectionError):
    """Raised in-process (no socket to close) where a real server would drop the connection."""


@dataclass(frozen=True)
class Faults:
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 503)
    latency_ms: int = 0
    rate_limit_per_second: int | None = None
    drop_rate: float = 0.0
    seed: int | None = None
    echo_secrets: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {
            "errorRate": data["error_rate"],
            "errorStatuses": list(data["error_statuses"]),
            "latencyMs": data["latency_ms"],
            "rateLimitPerSecond": data["rate_limit_per_second"],
            "dropRate": data["drop_rate"],
            "seed": data["seed"],
            "echoSecrets": data["echo_secrets"],
        }

    @classmethod
    def from_json(cls, body: Any) -> Faults:
        """Validate a ``POST /sandbox/faults`` body; missing keys take their defaults."""
        if not isinstance(body, dict):
            raise ApiError(400, "faults must be a JSON object")
        known = {
            "errorRate",
            "errorStatuses",
            "latencyMs",
            "rateLimitPerSecond",
            "dropRate",
            "seed",
            "echoSecrets",
        }
        if unknown := sorted(set(body) - known):
            raise ApiError(400, f"unknown fault settings: {', '.join(unknown)}")
        statuses = body.get("errorStatuses", [500, 503])
        if (
            not isinstance(statuses, list)
            or not statuses
            or not all(_is_int(s) and 400 <= s <= 599 for s in statuses)
        ):
            raise ApiError(400, "errorStatuses must be a non-empty list of integers 400..599")
        return cls(
            error_rate=_rate(body, "errorRate"),
            error_statuses=tuple(statuses),
            latency_ms=_int(body, "latencyMs", 0, 0, 60_000),
            rate_limit_per_second=_optional_int(body, "rateLimitPerSecond", 1),
            drop_rate=_rate(body, "dropRate"),
            seed=_optional_int(body, "seed", None),
            echo_secrets=_bool(body, "echoSecrets"),
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bool(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise ApiError(400, f"{key} must be true or false")
    return value


def _rate(body: dict[str, Any], key: str) -> float:
    value = body.get(key, 0.0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ApiError(400, f"{key} must be a number between 0 and 1")
    return float(value)


def _int(body: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = body.get(key, default)
    if not _is_int(value) or not low <= value <= high:
        raise ApiError(400, f"{key} must be an integer between {low} and {high}")
    return int(value)


def _optional_int(body: dict[str, Any], key: str, low: int | None) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not _is_int(value) or (low is not None and value < low):
        raise ApiError(400, f"{key} must be null or an integer" + (f" >= {low}" if low else ""))
    return int(value)


class FaultInjector:
    """The current faults plus the random source and rate-limit window they need."""

    def __init__(self, faults: Faults | None = None) -> None:
        self._lock = threading.Lock()
        self.configure(faults or Faults())

    def configure(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._rng = random.Random(faults.seed)  # noqa: S311 - fault dice, not security
            self._window = 0.0
            self._count = 0

    def roll(self, probability: float) -> bool:
        if probability <= 0.0:
            return False
        with self._lock:
            return self._rng.random() < probability

    def pick_status(self) -> int:
        with self._lock:
            return self._rng.choice(self.faults.error_statuses)

    def retry_after(self) -> int | None:
        """Seconds to wait if this request exceeds the per-second limit, else None."""
        limit = self.faults.rate_limit_per_second
        if limit is None:
            return None
        with self._lock:
            now = time.monotonic()
            if now - self._window >= 1.0:
                self._window, self._count = now, 0
            self._count += 1
            if self._count <= limit:
                return None
            return max(1, math.ceil(self._window + 1.0 - now))


class FaultMiddleware:
    def __init__(self, app: ASGIApp, injector: FaultInjector) -> None:
        self.app = app
        self.injector = injector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        inj = self.injector
        faults = inj.faults
        if faults.latency_ms:
            await anyio.sleep(faults.latency_ms / 1000)
        retry = inj.retry_after()
        if retry is not None:
            await _send_json(send, 429, "rate limit exceeded (sandbox fault)", {"retry-after": str(retry)})
            return
        if inj.roll(faults.error_rate):
            status = inj.pick_status()
            await _send_json(send, status, f"injected fault {status} (sandbox)")
            return
        if inj.roll(faults.drop_rate):
            if inj.roll(0.5):
                await self.app(scope, receive, _swallow)  # processed and committed, answer lost
            await _drop(scope)
            return
        await self.app(scope, receive, send)


async def _swallow(message: Message) -> None:
    return None


async def _drop(scope: Scope) -> None:
    transport = scope.get("extensions", {}).get(TRANSPORT_KEY)
    if transport is None:
        raise DroppedConnection("sandbox dropped the connection")
    transport.close()
    # Let the server notice the lost connection before we return, so it neither logs
    # "returned without response" nor tries to answer 500.
    for _ in range(3):
        await anyio.lowlevel.checkpoint()


async def _send_json(send: Send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"message": message}).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
