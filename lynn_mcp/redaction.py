"""Secret hygiene: the secrets we hold, and how every path out of the process hides them.

Logs: every log record is scrubbed before any handler sees it (:func:`install_redaction`).
Everything else that leaves (tool results, resources, prompts, error texts, the audit line) goes
through :func:`redact` on its way out (see :mod:`lynn_mcp.server.outbound`), and Lynn's answers are
scrubbed of registered secrets before they are parsed (:func:`redact_json_body`), so text built
from them (results files, previews, reports) is clean from the start.

Two layers, so a leak needs both to fail:

1. **Registered secrets.** The values actually in use (access token secret, bearer tokens obtained
   from Lynn, ``LYNN_TOKEN``, ``LYNN_HTTP_TOKEN``, subscription key) are registered at runtime with
   :func:`register_secret`; tokens are refreshed, so registration is dynamic and thread-safe. Each
   value is also registered in its percent-encoded and JSON-escaped forms, because that is how it
   shows up inside logged URLs and bodies.
2. **Patterns** (defence in depth, for secrets nobody registered): ``Authorization`` headers,
   ``bearer <token>``, ``"token": "..."``-style keys, ``token=...`` in query strings and forms,
   ``Ocp-Apim-Subscription-Key``/``X-Api-Key`` headers.

:func:`install_redaction` wires this into :mod:`logging` at two points (see its docstring): a log
record factory that redacts every record when it is created, and a :class:`RedactingFilter` on
every handler that exists at install time.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TextIO
from urllib.parse import quote, quote_plus

from pydantic import SecretStr

__all__ = [
    "COVERED_LOGGERS",
    "REDACTED",
    "RedactingFilter",
    "SecretRegistry",
    "install_redaction",
    "map_strings",
    "redact",
    "redact_json_body",
    "redact_record",
    "register_secret",
    "secret_registry",
]

REDACTED: Final = "***"

#: Loggers that we and our libraries log to. Their handlers (uvicorn's are non-propagating) get
#: the filter at install time; the record factory covers them and any other logger regardless.
COVERED_LOGGERS: Final = (
    "lynn_mcp",
    "httpx2",
    "httpcore2",
    "httpx",
    "httpcore",
    "mcp",
    "uvicorn",
    "uvicorn.access",
    "uvicorn.error",
    "starlette",
)

#: How many past values a rotating slot remembers: a refreshed bearer token must stay redacted while
#: requests that were sent with it are still being logged, but the registry must not grow forever.
ROTATING_SLOT_HISTORY: Final = 4

# --- patterns (defence in depth) -------------------------------------------------------------------
# Each pattern is (gate, kept prefix, redacted value). The prefix stays so logs still say *what* was
# hidden. Patterns are lower-case and run on the lower-cased text; each runs only when its gate
# word occurs in it (a substring test, ~0.1 µs), because one case-insensitive alternation of all of
# them cost 40-80 µs per log line, and this runs on every record.
# The S105 ignores below: these are regexes that find secrets, not secrets.
_SECRET_KEYWORD = r"(?:token|secret|passw(?:or)?d|api[_-]?key|subscription[_-]?key|signature)"  # noqa: S105
# The rest of a key name from its keyword on: token, accessToken, access_token, accessTokenSecret,
# client_secret. The match starts at the keyword (what precedes it is kept anyway).
_SECRET_KEY_NAME = rf"{_SECRET_KEYWORD}[\w.-]*"
# Separators between a key and its quoted value: JSON/dict repr ("k": "v"), kwargs (k='v'), and
# header tuples as httpx-style libraries print them ((b'k', b'v')).
_QUOTED_SEPARATOR = r"""(?:["']?\s*[:=]\s*b?["']|["']\s*,\s*b?["'])"""
_AUTH_SCHEMES = r"(?:bearer|basic|token|digest|negotiate|apikey|hawk|sharedaccesssignature)"
_TOKEN_CHARS = r"[^\s\"',;&#)}\]]+"  # noqa: S105  (a character class)
_PATTERNS: Final[tuple[tuple[tuple[str, ...], str, str], ...]] = (
    # Authorization: Bearer x / {'authorization': 'Bearer x'} / (b'authorization', b'Bearer x').
    (
        ("authorization",),
        rf"authorization(?:{_QUOTED_SEPARATOR}|[\"']?\s*[:=]\s*)(?:{_AUTH_SCHEMES}\s+)?",
        _TOKEN_CHARS,
    ),
    # A bare "Bearer <token>". RFC 6750 token characters; 16+ of them so prose ("bearer token",
    # "bearer authentication") is left alone while real tokens, which are long, are caught.
    (("bearer",), r"bearer\s+", r"[\w\-.~+/]{16,}=*"),
    # Header names that carry a key, unquoted: Ocp-Apim-Subscription-Key: x, X-Api-Key: x.
    (
        ("key", "token"),
        r"(?:ocp-apim-subscription-key|x-api-key|api-key|x-[\w-]*-token)\s*:\s*",
        _TOKEN_CHARS,
    ),
    # Quoted values under a secret-looking key: "token": "x", "accessTokenSecret": "x", token='x'.
    (
        ("token", "secret", "passw", "key", "signature"),
        rf"{_SECRET_KEY_NAME}{_QUOTED_SEPARATOR}",
        r"[^\"'\r\n]+",
    ),
    # Unquoted values: ?token=x, &accessToken=x, form bodies, LYNN_TOKEN=x.
    (("token", "secret", "passw", "key", "signature"), rf"{_SECRET_KEY_NAME}\s*=\s*", _TOKEN_CHARS),
)
#: Every gate word: text whose lower-cased form contains none of them matches no pattern.
_PATTERN_GATES: Final = frozenset(gate for gates, _, _ in _PATTERNS for gate in gates)
_GATED_PATTERNS: Final = tuple(
    (gates, re.compile(f"(?P<keep>{prefix}){value}"), re.compile(f"(?P<keep>{prefix}){value}", re.IGNORECASE))
    for gates, prefix, value in _PATTERNS
)


def _redact_patterns(text: str) -> str:
    lowered = text.lower()
    # lower() maps code point to code point except for a few letters (İ); only when the lengths
    # agree do positions in ``lowered`` equal positions in ``text``.
    same_positions = len(lowered) == len(text)
    spans: list[tuple[int, int]] = []
    for gates, lowercase_regex, ignorecase_regex in _GATED_PATTERNS:
        if not any(gate in lowered for gate in gates):
            continue
        matches = lowercase_regex.finditer(lowered) if same_positions else ignorecase_regex.finditer(text)
        spans.extend((match.end("keep"), match.end()) for match in matches)
    if not spans:
        return text
    # Several patterns may find the same value (Authorization: Bearer x); merge overlapping spans.
    pieces: list[str] = []
    position = 0
    for start, end in sorted(spans):
        if end <= position:
            continue
        pieces.append(text[position : max(start, position)])
        if start >= position:
            pieces.append(REDACTED)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


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
        return _redact_patterns(self.redact_registered(text))

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
        return any(gate in lowered for gate in _PATTERN_GATES)

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


# --- log records ---------------------------------------------------------------------------------
# Marks a record already scrubbed, so the handler filters do not do the work a second time.
_REDACTED_MARK: Final = "_lynn_redacted"
_DROPPED_MESSAGE: Final = "<log message dropped: it could not be redacted>"
# Attributes every LogRecord has; anything else came from ``extra=`` and may be printed by a formatter.
_STANDARD_RECORD_ATTRIBUTES: Final = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class _RedactedArgument:
    """Stands in for a log argument whose str() or repr() contained a secret; prints redacted."""

    __slots__ = ("_repr", "_str")

    def __init__(self, value: object) -> None:
        self._str = redact(str(value))
        self._repr = redact(repr(value))

    def __str__(self) -> str:
        return self._str

    def __repr__(self) -> str:
        return self._repr


def _redact_argument(value: object) -> object:
    if value is None or isinstance(value, bool | int | float):
        return value  # numbers carry no secret, and keeping them keeps %d formats working
    if isinstance(value, str):
        return redact(value)
    return _RedactedArgument(value)


def _redact_arguments(args: Any) -> Any:
    if isinstance(args, Mapping):  # logger.info("%(a)s", {"a": ...}) keeps a mapping in record.args
        return {key: _redact_argument(value) for key, value in args.items()}
    return tuple(_redact_argument(value) for value in args)


def _redact_message(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:
        # The caller's format string and arguments do not match. The handler will hit the same
        # error and print msg and args through logging.handleError, so redact both in place.
        record.msg = redact(str(record.msg))
        if record.args:
            record.args = _redact_arguments(record.args)
        return
    if redact(message) == message:
        return  # the common case: nothing to hide, record left exactly as the library made it
    # Keep the (msg, args) shape when that suffices: some formatters need it (uvicorn's access
    # formatter unpacks record.args; its colour formatter re-applies args to extra color_message).
    try:
        candidate_msg = record.msg if isinstance(record.msg, str) else str(record.msg)
        candidate_msg = redact(candidate_msg)
        candidate_args = _redact_arguments(record.args) if record.args else record.args
        candidate = candidate_msg % candidate_args if candidate_args else candidate_msg
        shape_is_safe = redact(candidate) == candidate
    except Exception:
        shape_is_safe = False
    if shape_is_safe:
        record.msg, record.args = candidate_msg, candidate_args
        return
    # The secret only appears once message and arguments are combined: keep the combined text.
    record.msg, record.args = redact(message), ()
    record.__dict__.pop("color_message", None)  # uvicorn would re-apply the original args to it


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Scrub a record in place: message and arguments, exception, stack, string ``extra`` fields.

    An attached exception is formatted now, redacted, cached in ``record.exc_text`` and
    ``exc_info`` is cleared, so no formatter can render the raw traceback later. Never raises: a
    record that cannot be scrubbed loses its message instead.
    """
    if getattr(record, _REDACTED_MARK, False):
        return record
    try:
        _redact_message(record)
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD_RECORD_ATTRIBUTES and isinstance(value, str):
                setattr(record, name, redact(value))
    except Exception:
        # Fail closed: losing one log line beats leaking a credential into it.
        record.msg, record.args, record.exc_info, record.exc_text = _DROPPED_MESSAGE, (), None, None
        record.stack_info = None
    setattr(record, _REDACTED_MARK, True)
    return record


class RedactingFilter(logging.Filter):
    """A handler or logger filter that scrubs each record (see :func:`redact_record`); drops none."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_RecordFactory = Callable[..., logging.LogRecord]
_FACTORY_MARK: Final = "_lynn_redacting_factory"


def _install_record_factory() -> None:
    current: _RecordFactory = logging.getLogRecordFactory()
    if getattr(current, _FACTORY_MARK, False):
        return  # already installed (idempotent); a factory set later that wraps ours also counts

    def redacting_record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(current(*args, **kwargs))

    setattr(redacting_record_factory, _FACTORY_MARK, True)
    logging.setLogRecordFactory(redacting_record_factory)


def _add_filter_once(handlers: Iterable[logging.Handler]) -> None:
    for handler in handlers:
        if not any(isinstance(existing, RedactingFilter) for existing in handler.filters):
            handler.addFilter(RedactingFilter())


_HANDLER_MARK: Final = "_lynn_redaction_handler"
_LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def install_redaction(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send all logging to ``stream`` (default: the current ``sys.stderr``), with secrets redacted.

    Coverage, and why it reaches loggers we do not control:

    * **A log record factory** (``logging.setLogRecordFactory``) redacts every record when it is
      created, before logger filters, propagation or any handler see it. That is the layer that
      makes a handler added *later* by a library (uvicorn's ``dictConfig`` replaces the handlers of
      ``uvicorn.*`` at start-up) unable to print a registered secret, and it also covers
      ``logging.lastResort``. The previous factory is wrapped, not replaced.
    * **A RedactingFilter on every handler present now**: the root handler(s) and the handlers of
      :data:`COVERED_LOGGERS` and of every other existing logger, propagating or not. It catches
      records that bypass the factory (``logging.makeLogRecord``, a logger class with its own
      ``makeRecord``); for records the factory already scrubbed it is a no-op.

    Idempotent: one root handler is ever added (a second call updates its stream and level).
    ``stream`` defaults to stderr at call time; stdout is refused because on the stdio transport it
    carries the MCP protocol.
    """
    target = sys.stderr if stream is None else stream
    if target is sys.stdout or target is sys.__stdout__:
        raise ValueError("logs must not go to stdout: it carries the MCP protocol on the stdio transport")
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        raise ValueError(f"unknown log level {level!r}")

    _install_record_factory()
    root = logging.getLogger()
    own_handler = next((h for h in root.handlers if getattr(h, _HANDLER_MARK, False)), None)
    if isinstance(own_handler, logging.StreamHandler):
        own_handler.setStream(target)
    else:
        own_handler = logging.StreamHandler(target)
        own_handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        setattr(own_handler, _HANDLER_MARK, True)
        root.addHandler(own_handler)
    root.setLevel(numeric_level)

    _add_filter_once(root.handlers)
    existing_names = [
        name for name, node in logging.root.manager.loggerDict.items() if isinstance(node, logging.Logger)
    ]
    for name in {*COVERED_LOGGERS, *existing_names}:
        _add_filter_once(logging.getLogger(name).handlers)
