"""The secrets we hold (the first layer of :mod:`lynn_mcp.redaction`), and :func:`redact`, which hides
them and secret-looking text (:mod:`lynn_mcp.redaction.patterns`) alike.

The values actually in use are registered at runtime with :func:`register_secret`; tokens are
refreshed, so registration is dynamic and thread-safe. Each value is also registered in its
percent-encoded and JSON-escaped forms, because that is how it shows up inside logged URLs and bodies.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, quote_plus

from pydantic import SecretStr

from lynn_mcp.redaction.patterns import PATTERN_GATES, REDACTED, redact_patterns

__all__ = [
    "MIN_SECRET_CHARS",
    "ROTATING_SLOT_HISTORY",
    "SecretRegistry",
    "map_strings",
    "redact",
    "redact_json_body",
    "register_secret",
    "secret_registry",
]

#: How many past values a rotating slot remembers: a refreshed bearer token must stay redacted while
#: requests that were sent with it are still being logged, but the registry must not grow forever.
ROTATING_SLOT_HISTORY: Final = 4


def _encoded_forms(secret: str) -> set[str]:
    """The secret plus the spellings it takes inside URLs and JSON bodies."""
    return {
        secret,
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }


def _json_escaped(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


MIN_SECRET_CHARS: Final = 8


@dataclass(frozen=True, slots=True, repr=False)
class _Spellings:
    """Every spelling of every registered secret, in the shapes the three search paths need.

    Replaced whole under the registry's lock and read without it, so a reader always sees one
    consistent set.
    """

    #: Replaces every spelling in text; longest first, so a secret containing another goes whole.
    regex: re.Pattern[str] | None = None
    #: Finds a spelling in text, also in a JSON document of that text (each spelling JSON-escaped
    #: once more: a string holding a secret's ``\"`` spelling shows it as ``\\\"`` there).
    text: tuple[str, ...] = ()
    #: Finds a spelling in a raw UTF-8 JSON body, with C-level substring searches.
    utf8: tuple[bytes, ...] = ()

    def __repr__(self) -> str:  # a traceback showing locals must not print the values
        return f"<{len(self.utf8)} secret spelling(s) withheld>"


class SecretRegistry:
    """The set of secret values currently in use; :meth:`redact` hides all of them (and patterns).

    Thread-safe. Readers never take the lock: they read one immutable :class:`_Spellings` snapshot
    that writers replace under the lock. The values live only here and in that snapshot; nothing
    is written elsewhere.

    Cost when nothing matches (the common case): a few substring searches per text or body (one
    per distinct spelling, ~10 for a typical configuration), plus the gated pattern pass for
    :meth:`redact`. The regex runs only on text that holds a spelling.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._static: set[str] = set()
        self._slots: dict[str, deque[str]] = {}
        self._spellings = _Spellings()

    def __repr__(self) -> str:  # never show the values, not even in a debugger or a traceback
        return f"<SecretRegistry with {len(self)} secret(s)>"

    def register(self, secret: str | SecretStr | None, *, slot: str | None = None) -> None:
        """Start redacting ``secret``; ``None`` and values under ``MIN_SECRET_CHARS`` are ignored.

        A value that short would turn every occurrence of a common letter or word in every log line
        and error into ``***`` (a test token ``"t"`` did exactly that), and as a credential it
        protects nothing; the secret-looking patterns still apply to it.

        Without ``slot`` the value is redacted for the life of the process (static credentials).
        With ``slot`` (e.g. ``"lynn_bearer"``), the slot keeps its last
        ``ROTATING_SLOT_HISTORY`` values, so refreshed tokens do not accumulate forever.
        """
        value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        if not value or len(value) < MIN_SECRET_CHARS:
            return
        with self._lock:
            if slot is None:
                self._static.add(value)
            else:
                history = self._slots.setdefault(slot, deque(maxlen=ROTATING_SLOT_HISTORY))
                if value in history:
                    return
                history.append(value)
            self._rebuild()

    def clear(self) -> None:
        """Forget every registered value (tests; a process reusing the registry)."""
        with self._lock:
            self._static.clear()
            self._slots.clear()
            self._rebuild()

    def __len__(self) -> int:
        with self._lock:
            return len(self._all_values())

    def _all_values(self) -> set[str]:
        values = set(self._static)
        for history in self._slots.values():
            values.update(history)
        return values

    def _rebuild(self) -> None:
        forms: set[str] = set()
        for value in self._all_values():
            forms.update(_encoded_forms(value))
        forms.discard("")
        if not forms:
            self._spellings = _Spellings()
            return
        longest_first = sorted(forms, key=len, reverse=True)
        self._spellings = _Spellings(
            regex=re.compile("|".join(re.escape(form) for form in longest_first)),
            text=tuple({*forms, *(_json_escaped(form) for form in forms)}),
            utf8=tuple(form.encode("utf-8", "surrogatepass") for form in longest_first),
        )

    def redact(self, text: str) -> str:
        """Return ``text`` with every registered secret and every secret-looking pattern as ``***``."""
        # Registered values first, in their own pass: a pattern's value class stops at characters
        # such as ',' that a registered secret may contain, and must not cut a secret in two.
        return redact_patterns(self.redact_registered(text))

    def redact_registered(self, text: str) -> str:
        """Return ``text`` with every registered secret as ``***`` (no patterns)."""
        spellings = self._spellings
        if spellings.regex is None or not any(spelling in text for spelling in spellings.text):
            return text
        return spellings.regex.sub(REDACTED, text)

    def needs_redaction(self, text: str) -> bool:
        """False when :meth:`redact` would leave ``text`` and every string inside it unchanged.

        "Inside" includes a string that ``text`` holds JSON-escaped (``json.dumps(...,
        ensure_ascii=False)``), so one test over a serialised document stands for all its strings:
        every spelling is also searched for escaped once more, and the pattern gates are plain
        words that escaping leaves alone. True may be a false alarm (a gate word such as "key").
        """
        if any(spelling in text for spelling in self._spellings.text):
            return True
        lowered = text.lower()
        return any(gate in lowered for gate in PATTERN_GATES)

    def redact_json_body(self, body: bytes) -> bytes:
        """Return a JSON answer body with every registered secret inside it as ``***``.

        The body stays valid JSON: a body holding a secret is parsed, every string in it (keys
        included) redacted, and serialised again. A body that does not parse has each spelling
        replaced in its bytes. When no spelling occurs, which is nearly always, this costs one
        C-level substring search per spelling and returns ``body`` itself.
        """
        spellings = self._spellings
        if not any(spelling in body for spelling in spellings.utf8):
            return body
        try:
            document = map_strings(json.loads(body), self.redact_registered)
        except (ValueError, RecursionError):  # not JSON (or not UTF-8, or nested too deep)
            for spelling in spellings.utf8:
                body = body.replace(spelling, REDACTED.encode())
            return body
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8", "surrogatepass")


def map_strings(value: Any, transform: Callable[[str], str], *, keep: Collection[str] = ()) -> Any:
    """A copy of a JSON-like value with every string, dictionary keys included, passed through
    ``transform``; the values of keys in ``keep`` are copied as they are."""
    if isinstance(value, str):
        return transform(value)
    if isinstance(value, Mapping):
        return {
            (transform(key) if isinstance(key, str) else key): (
                item if key in keep else map_strings(item, transform, keep=keep)
            )
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [map_strings(item, transform, keep=keep) for item in value]
    return value


#: The process-wide registry that logging uses.
secret_registry: Final = SecretRegistry()


def register_secret(secret: str | SecretStr | None, *, slot: str | None = None) -> None:
    """Register a secret with the process-wide registry (see :meth:`SecretRegistry.register`)."""
    secret_registry.register(secret, slot=slot)


def redact(text: str) -> str:
    """Redact ``text`` with the process-wide registry (see :meth:`SecretRegistry.redact`)."""
    return secret_registry.redact(text)


def redact_json_body(body: bytes) -> bytes:
    """Scrub a JSON answer body with the process-wide registry (see
    :meth:`SecretRegistry.redact_json_body`)."""
    return secret_registry.redact_json_body(body)
