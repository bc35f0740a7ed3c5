"""Readiness for load balancers: can this replica serve calls now?

Ready means Lynn answers and a bearer token is held or can be obtained. One probe answers that: a
single-attempt GetCampaigns through the server's own Lynn client, which exchanges credentials for a
token first when it holds none (and keeps it, as for any call). Any answer other than 401 proves
both (a 403 or a 429 is Lynn answering a caller it knows); no answer, a 5xx, a refused token or
missing settings mean not ready. The verdict is kept for `READY_TTL_S`, and concurrent probes wait
for the one in flight, so however often load balancers ask, Lynn sees at most one request per
replica per `READY_TTL_S`.

The answer names a reason code only (`not_configured`, `unauthorized`, `upstream_unavailable`,
`timeout`, `starting`): never a message, a URL or a setting's value. Liveness (`/healthz`) needs no
check: the process answering is the proof.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import anyio

from lynn_mcp.errors import ConfigError, LynnError, Timeout, Unauthorized, UpstreamUnavailable

__all__ = ["PROBE_TIMEOUT_S", "READY_TTL_S", "Readiness", "Verdict"]

READY_TTL_S: Final = 5.0
"""How long a verdict is served before Lynn is asked again."""
PROBE_TIMEOUT_S: Final = 5.0
"""A probe that takes longer is `timeout`: a load balancer's own probe timeout is often this short."""

Probe = Callable[[], Awaitable[object]]
"""Asks Lynn one question with our token (a LynnError says why it could not)."""

_NOT_READY: Final[dict[type[LynnError], str]] = {
    ConfigError: "not_configured",
    Unauthorized: "unauthorized",
    UpstreamUnavailable: "upstream_unavailable",
    Timeout: "timeout",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    ready: bool
    reason: str | None = None
    """Why not, as a code (None when ready)."""

    def as_json(self) -> dict[str, str]:
        if self.ready:
            return {"status": "ready"}
        return {"status": "not_ready", "reason": self.reason or "unknown"}


STARTING: Final = Verdict(ready=False, reason="starting")


class Readiness:
    """The cached verdict of `probe` (see the module docstring)."""

    def __init__(
        self,
        probe: Probe,
        *,
        ttl_s: float = READY_TTL_S,
        timeout_s: float = PROBE_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probe = probe
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._clock = clock
        self._lock = anyio.Lock()
        self._verdict: Verdict | None = None
        self._expires = 0.0

    async def check(self) -> Verdict:
        async with self._lock:
            if self._verdict is None or self._clock() >= self._expires:
                self._verdict = await self._ask()
                self._expires = self._clock() + self._ttl_s
            return self._verdict

    async def _ask(self) -> Verdict:
        try:
            with anyio.fail_after(self._timeout_s):
                await self._probe()
        except TimeoutError:
            return Verdict(ready=False, reason="timeout")
        except LynnError as exc:
            for kind, reason in _NOT_READY.items():
                if isinstance(exc, kind):
                    return Verdict(ready=False, reason=reason)
        return Verdict(ready=True)
