"""Secret hygiene: the secrets we hold, and how every path out of the process hides them.

Logs: every log record is scrubbed before any handler sees it (:func:`install_redaction`).
Everything else that leaves (tool results, resources, prompts, error texts, the audit line) goes
through :func:`redact` on its way out (see :mod:`lynn_mcp.server.outbound`), and Lynn's answers are
scrubbed of registered secrets before they are parsed (:func:`redact_json_body`), so text built
from them (results files, previews, reports) is clean from the start.

Two layers, so a leak needs both to fail:

1. **Registered secrets.** The values actually in use are registered at runtime with
   :func:`register_secret`: the CLI registers every configured secret before anything can log
   (``LYNN_HTTP_TOKEN`` and ``LYNN_SIGNING_KEY`` included), and the Lynn client what it sends
   (``LYNN_TOKEN``, the access token and its secret, the subscription key) and the bearer tokens
   Lynn issues; tokens are refreshed, so registration is dynamic and thread-safe. Each value is
   also registered in its percent-encoded and JSON-escaped forms, because that is how it shows up
   inside logged URLs and bodies.
2. **Patterns** (defence in depth, for secrets nobody registered): ``Authorization`` headers,
   ``bearer <token>``, ``"token": "..."``-style keys, ``token=...`` in query strings and forms,
   ``Ocp-Apim-Subscription-Key``/``X-Api-Key`` headers.

:func:`install_redaction` wires this into :mod:`logging` at two points (see its docstring): a log
record factory that redacts every record when it is created, and a :class:`RedactingFilter` on
every handler that exists at install time.

Modules: ``patterns`` (layer 2 and the ``***`` mark), ``registry`` (layer 1, and :func:`redact`,
which applies both), ``logs`` (the wiring into :mod:`logging`). Import from this package.
"""

from lynn_mcp.redaction.logs import COVERED_LOGGERS, RedactingFilter, install_redaction, redact_record
from lynn_mcp.redaction.patterns import REDACTED
from lynn_mcp.redaction.registry import (
    ROTATING_SLOT_HISTORY,
    SecretRegistry,
    map_strings,
    redact,
    redact_json_body,
    register_secret,
    secret_registry,
)

__all__ = [
    "COVERED_LOGGERS",
    "REDACTED",
    "ROTATING_SLOT_HISTORY",
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
