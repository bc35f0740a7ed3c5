"""Redaction wired into :mod:`logging`: every log record is scrubbed (with
:func:`lynn_mcp.redaction.registry.redact`) before any handler prints it; see :func:`install_redaction`.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TextIO

from lynn_mcp.redaction.registry import redact

__all__ = ["COVERED_LOGGERS", "RedactingFilter", "install_redaction", "redact_record"]

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
