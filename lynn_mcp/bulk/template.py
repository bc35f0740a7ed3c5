"""A WhatsApp template's columns: the spec rows are checked against, how a file's header matches it,
which column holds the phone, and the "Json Request" body Lynn's template button copies.

Pure and synchronous (no HTTP, no MCP, no files). Lynn has no GetTemplate operation, so a template's
columns are known only from its Json Request (`parse_json_request`); otherwise a load takes them from
the file's header (`lynn_mcp.bulk.sources.template_target`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

__all__ = [
    "PHONE_COLUMN_HINTS",
    "HeaderReport",
    "JsonRequest",
    "JsonRequestError",
    "TemplateSpec",
    "check_header",
    "guess_phone_column",
    "is_phone_column_name",
    "parse_json_request",
]

# Words people use for the phone column (a workbook's data sheet is the one whose header has one).
PHONE_COLUMN_HINTS: Final = (
    "phone",
    "telefono",
    "teléfono",
    "celular",
    "movil",
    "móvil",
    "mobile",
    "whatsapp",
)


def is_phone_column_name(name: str) -> bool:
    """True when a column name contains phone/telefono/celular/movil/mobile/whatsapp (any case)."""
    folded = name.casefold()
    return any(hint in folded for hint in PHONE_COLUMN_HINTS)


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    """A WhatsApp template's columns (in the template's order) and which one holds the phone."""

    columns: tuple[str, ...]
    phone_column: str

    def __post_init__(self) -> None:
        if not self.columns:
            raise ValueError("a template needs at least one column")
        if len(set(self.columns)) != len(self.columns):
            raise ValueError(f"template columns repeat: {list(self.columns)}")
        if self.phone_column not in self.columns:
            raise ValueError(
                f"phone column {self.phone_column!r} is not a template column {list(self.columns)}"
            )

    @classmethod
    def from_columns(cls, columns: Sequence[str], phone_column: str | None = None) -> TemplateSpec:
        """Build a spec, guessing the phone column by name when it is not given.

        Raises `ValueError` when no column looks like a phone column.
        """
        chosen = phone_column or guess_phone_column(columns)
        if chosen is None:
            raise ValueError(f"cannot tell which of {list(columns)} is the phone column; name it explicitly")
        return cls(tuple(columns), chosen)


def guess_phone_column(columns: Iterable[str]) -> str | None:
    """The first column whose name contains phone/telefono/celular/movil/mobile/whatsapp, or None."""
    return next((column for column in columns if is_phone_column_name(column)), None)


@dataclass(frozen=True, slots=True)
class HeaderReport:
    """How a file's header matches a template.

    `missing`: template columns the file lacks (every row would be rejected: do not send).
    `unknown`: file columns the template lacks (dropped from every row; a warning).
    `suggested_column_map`: file header -> template column for names that differ only in case,
    spaces, dashes or underscores (e.g. `phone` -> `Phone`), to offer as `column_map`.
    """

    missing: tuple[str, ...]
    unknown: tuple[str, ...]
    suggested_column_map: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every template column is present (unknown columns are only a warning)."""
        return not self.missing

    def messages(self) -> list[str]:
        """The report as sentences for a user."""
        lines = []
        if self.missing:
            lines.append(f"Missing template column(s): {', '.join(self.missing)}.")
        if self.unknown:
            lines.append(f"Column(s) not in the template, ignored: {', '.join(self.unknown)}.")
        if self.suggested_column_map:
            pairs = ", ".join(f"{k!r}: {v!r}" for k, v in self.suggested_column_map.items())
            lines.append(f"Did you mean column_map {{{pairs}}}?")
        return lines


def _loose(name: str) -> str:
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def check_header(header: Sequence[str], spec: TemplateSpec) -> HeaderReport:
    """Compare a (column-mapped) header with the template's columns."""
    present = set(header)
    missing = tuple(column for column in spec.columns if column not in present)
    template = set(spec.columns)
    unknown = tuple(name for name in header if name not in template)
    by_loose = {_loose(name): name for name in unknown}
    suggestions = {by_loose[_loose(column)]: column for column in missing if _loose(column) in by_loose}
    return HeaderReport(missing, unknown, suggestions)


# --------------------------------------------------------------------------- "Json Request" text


class JsonRequestError(ValueError):
    """The text is not a usable `AddCampaingData` body (the message says what to fix)."""


class JsonRequest(NamedTuple):
    """What a template's "Json Request" body tells us. `campaign_id` is None when it is empty."""

    template_id: str
    campaign_id: str | None
    columns: tuple[str, ...]


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise JsonRequestError(f"key(s) {', '.join(map(repr, repeated))} appear twice in one object")
    return dict(pairs)


def parse_json_request(text: str) -> JsonRequest:
    """Read template id, campaign id and column names from the body Lynn's "Json Request" copies.

    Accepts the body with or without its outer braces (the vendor's page shows it without). The
    columns are the keys of the first `data` object, in order. Invalid JSON, including a trailing
    comma, is an error naming the line and column, never silently repaired.
    """
    body = text.strip()
    if not body:
        raise JsonRequestError("the Json Request text is empty; paste what the template's button copied")
    if not body.startswith("{"):
        body = "{" + body + "}"
    try:
        parsed = json.loads(body, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        hint = " (a trailing comma before } or ] is not valid JSON)" if _trailing_comma_at(exc) else ""
        raise JsonRequestError(
            f"the Json Request is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}{hint}"
        ) from exc
    if not isinstance(parsed, dict):
        raise JsonRequestError("the Json Request must be a JSON object")
    template_id = parsed.get("templateId")
    if not isinstance(template_id, str) or not template_id.strip():
        raise JsonRequestError('the Json Request has no "templateId" string')
    campaign_id = parsed.get("campaingId", parsed.get("campaignId", ""))  # vendor's spelling first
    if campaign_id is not None and not isinstance(campaign_id, str):
        raise JsonRequestError('"campaingId" must be a string (empty for the template\'s own campaign)')
    data = parsed.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], dict) or not data[0]:
        raise JsonRequestError('"data" must be a list whose first element is an object of template columns')
    columns = tuple(str(key) for key in data[0])
    return JsonRequest(template_id.strip(), (campaign_id or "").strip() or None, columns)


def _trailing_comma_at(error: json.JSONDecodeError) -> bool:
    before = error.doc[: error.pos].rstrip()
    after = error.doc[error.pos :].lstrip()
    return before.endswith(",") and after[:1] in ("}", "]")
