"""Row checks: each row against a template (`RowChecker`) or the blacklist's columns
(`DndRowChecker`), before anything is sent; a rejected row becomes its results-file line.

Pure and synchronous (no HTTP, no MCP). Files are read by `lynn_mcp.bulk.readers` and the template and
its header check are `lynn_mcp.bulk.template`; this module checks the rows a source yields. A typical
load::

    spec = TemplateSpec(columns=parsed.columns, phone_column="Phone")
    source = iter_file_rows(path, column_map=column_map)
    report = check_header(source.header, spec)       # refuse to send if report.missing
    checker = RowChecker(spec)
    for row_no, row in source:
        checked = checker.check(row_no, row)         # accepted (checked.data) or rejected (reason)

Row rules (the sandbox's 400 rules, applied before anything is sent):

- every template column must be present in the row (values may be empty, except the phone);
  columns the template lacks are dropped (reported once by `check_header`, not per row);
- the phone is normalised without changing what the cell means (`normalize_phone`): a plain
  decimal number with a zero fraction, as a spreadsheet writes an integer (`56912345679.00`,
  `56912345679,0`), is that integer; spaces, tabs, non-breaking spaces, dashes, dots and
  parentheses used as separators (`+56 9 6666-6666`, `56.9.6666.6666`) are removed; then one
  leading `+` or `00`. It must then be 8-15 ASCII digits (E.164 without `+`). A plain decimal
  number with a non-zero fraction (`56912345679.5`) and scientific notation (`5.69E+10`: the
  spreadsheet dropped digits) are `invalid_phone`, with a detail that says how to fix the export;
  the phone as written is never guessed at;
- a phone already accepted earlier in the same load is a duplicate (the first one is sent).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, cast

from lynn_mcp.bulk.readers import MalformedRow
from lynn_mcp.bulk.results_file import RowOutcome
from lynn_mcp.bulk.template import TemplateSpec

__all__ = [
    "MAX_PHONE_DIGITS",
    "MIN_PHONE_DIGITS",
    "CheckedRow",
    "DndRowChecker",
    "PhoneFormatError",
    "RejectReason",
    "RowChecker",
    "normalize_phone",
    "rejection_outcome",
]

MIN_PHONE_DIGITS: Final = 8
MAX_PHONE_DIGITS: Final = 15
# Characters people put in phone numbers for readability; deleted in one C-level pass per row.
_PHONE_PUNCTUATION: Final = str.maketrans("", "", " \t\u00a0-.()")
# A whole cell that is a number as a spreadsheet writes one: digits, one decimal separator, digits.
_DECIMAL_NUMBER: Final = re.compile(r"(\+?[0-9]+)[.,]([0-9]+)")
_SCIENTIFIC_NUMBER: Final = re.compile(r"\+?[0-9]+(?:[.,][0-9]*)?[eE][+-]?[0-9]+")
_EXPORT_FIX: Final = (
    "format the phone column as Text (or as Number with 0 decimals) in the spreadsheet and export it again"
)
_DECIMAL_DETAIL: Final = (
    f"the phone cell looks like a decimal number, so its digits are uncertain; {_EXPORT_FIX}"
)
_SCIENTIFIC_DETAIL: Final = (
    f"the phone cell is in scientific notation: the spreadsheet lost digits of the number; {_EXPORT_FIX}"
)
_LENGTH_DETAIL: Final = f"a phone needs {MIN_PHONE_DIGITS}-{MAX_PHONE_DIGITS} digits with country code"


class RejectReason(StrEnum):
    """Stable codes for rows rejected before sending (they appear in results files and reports)."""

    MALFORMED_ROW = "malformed_row"
    """The line could not be read as a row (bad JSON, not an object, too many fields, a cell over
    `lynn_mcp.bulk.readers.MAX_CELL_CHARS`)."""
    MISSING_COLUMN = "missing_column"
    """A template column is absent from the row."""
    MISSING_PHONE = "missing_phone"
    """The phone column is empty."""
    INVALID_PHONE = "invalid_phone"
    """After normalisation the phone is not 8-15 digits."""
    DUPLICATE_IN_FILE = "duplicate_in_file"
    """The same normalised phone was already accepted earlier in this load."""
    INVALID_VALUE = "invalid_value"
    """A value other than the phone is unusable (e.g. a do_not_disturb that is not true/false)."""


class PhoneFormatError(ValueError):
    """The phone cell is a number in a form whose digits cannot be trusted (decimal with a fraction,
    scientific notation); the message says how to fix the export."""


def normalize_phone(raw: str) -> str:
    """The phone's digits, without changing what the cell means: `+56 9 6666-6666` -> `56966666666`.

    A plain decimal number (optional `+`, digits, one `.` or `,`, digits) is a spreadsheet's
    number: with a zero fraction it is that integer (`56912345679.00` -> `56912345679`), with any
    other fraction it raises `PhoneFormatError`, as does scientific notation (`5.69E+10`).
    Otherwise readability punctuation goes (a trailing `.0` first, as before), then a leading `+`
    or `00`. The result is not validated; `RowChecker` checks it is 8-15 ASCII digits.
    """
    if "." in raw or "," in raw or "e" in raw or "E" in raw:
        number = raw.strip()
        if decimal := _DECIMAL_NUMBER.fullmatch(number):
            integer, fraction = decimal.groups()
            if fraction.strip("0"):
                raise PhoneFormatError(_DECIMAL_DETAIL)
            raw = integer
        elif _SCIENTIFIC_NUMBER.fullmatch(number):
            raise PhoneFormatError(_SCIENTIFIC_DETAIL)
        elif raw.endswith(".0"):
            raw = raw[:-2]  # "+56 9 6666-6666.0": a float's tail on a formatted number
    phone = raw.translate(_PHONE_PUNCTUATION)
    if phone.startswith("+"):
        return phone[1:]
    if phone.startswith("00"):
        return phone[2:]
    return phone


def _valid_phone(phone: str) -> bool:
    return MIN_PHONE_DIGITS <= len(phone) <= MAX_PHONE_DIGITS and phone.isdigit() and phone.isascii()


# Not frozen: a frozen dataclass's __init__ is ~4x slower, and one is built per row. Treat as read-only.
@dataclass(slots=True)
class CheckedRow:
    """One row after checking (treat as read-only).

    Accepted: `reason is None` and `data` is the row restricted to the template's columns, in
    template order, with the phone normalised: ready for `AddCampaingData`'s `data` list. It may be
    the checked row itself (when that needed no change), so do not modify either afterwards.
    Rejected: `reason` is the code, `detail` a sentence, `data` is None.
    `phone` is the normalised phone when valid, otherwise the phone as written in the file.
    """

    row_no: int
    phone: str
    data: dict[str, str] | None = None
    reason: RejectReason | None = None
    detail: str = ""


class RowChecker:
    """Checks rows of one load against a template, remembering accepted phones to find duplicates.

    Memory is O(unique accepted phones): each is kept as one int (about 60-70 bytes with its set
    slot), so 100,000 rows cost about 7 MB and millions stay practical. Use one checker per load;
    a dry run and the real send each need a fresh one.
    """

    __slots__ = ("_column_list", "_columns", "_phone_column", "_seen")

    def __init__(self, spec: TemplateSpec) -> None:
        self._columns = spec.columns
        self._column_list = list(spec.columns)
        self._phone_column = spec.phone_column
        self._seen: set[int] = set()

    def check(self, row_no: int, row: Mapping[str, str]) -> CheckedRow:
        """Validate one row read from a file (see the module docstring for the rules)."""
        raw_phone = row.get(self._phone_column, "")
        kind = type(row)
        if kind is MalformedRow:
            detail = cast("MalformedRow", row).detail
            return CheckedRow(row_no, raw_phone, reason=RejectReason.MALFORMED_ROW, detail=detail)
        # Per-row hot path (100,000-row loads): a plain dict with exactly the template's columns, in
        # its order (the usual file), is used as it is, with no copy; a copy is made only if its
        # phone needs normalising, so `row` is never modified.
        data: dict[str, str]
        shared = kind is dict and list(row) == self._column_list
        if shared:
            data = cast("dict[str, str]", row)
        else:
            try:
                data = {column: row[column] for column in self._columns}
            except KeyError:
                absent = [column for column in self._columns if column not in row]
                return CheckedRow(
                    row_no,
                    raw_phone,
                    reason=RejectReason.MISSING_COLUMN,
                    detail=f"missing {', '.join(absent)}",
                )
        # Plain digits of a valid length (the usual phone) are already normal and valid, unless
        # they start with the 00 prefix.
        if (
            MIN_PHONE_DIGITS <= len(raw_phone) <= MAX_PHONE_DIGITS
            and raw_phone.isdigit()
            and raw_phone.isascii()
            and not raw_phone.startswith("00")
        ):
            phone = raw_phone
        else:
            try:
                phone = normalize_phone(raw_phone)
            except PhoneFormatError as exc:
                return CheckedRow(row_no, raw_phone, reason=RejectReason.INVALID_PHONE, detail=str(exc))
            if not phone:
                return CheckedRow(
                    row_no, raw_phone, reason=RejectReason.MISSING_PHONE, detail="the phone is empty"
                )
            if not _valid_phone(phone):
                return CheckedRow(row_no, raw_phone, reason=RejectReason.INVALID_PHONE, detail=_LENGTH_DETAIL)
            if shared:
                data = dict(data)
            data[self._phone_column] = phone
        # A leading 1 keeps leading zeros distinct ("0912..." vs "912...") in the int key.
        key = int("1" + phone)
        if key in self._seen:
            return CheckedRow(
                row_no,
                phone,
                reason=RejectReason.DUPLICATE_IN_FILE,
                detail="the same phone appears earlier in this load",
            )
        self._seen.add(key)
        return CheckedRow(row_no, phone, data)


_TRUE_WORDS: Final = frozenset({"true", "1", "yes", "y", "si", "sí", "x"})
_FALSE_WORDS: Final = frozenset({"false", "0", "no", "n"})
DND_FIELDS: Final = ("identifier", "do_not_disturb", "name", "channel")
_PHONE_CHANNELS: Final = frozenset({"", "WhatsApp", "SMS", "Voice"})
_CHANNELS: Final = frozenset({"WhatsApp", "SMS", "Voice", "Email"})


class DndRowChecker:
    """Checks rows for ManageDnDByCampaign (bulk_set_dnd).

    A row has `identifier` (or a phone-like column named by `identifier_column`), and optionally
    `do_not_disturb` (true/false, yes/no, 1/0; empty means true), `name` and `channel`. Phone
    identifiers (channel empty, WhatsApp, SMS or Voice) are normalised and checked like template
    phones; repeated identifiers are duplicates. Accepted rows carry `data` with the keys of
    `DND_FIELDS` that are set, `do_not_disturb` as "true"/"false".
    """

    __slots__ = ("_seen", "identifier_column")

    def __init__(self, identifier_column: str = "identifier") -> None:
        self.identifier_column = identifier_column
        self._seen: set[str] = set()

    def check(self, row_no: int, row: Mapping[str, str]) -> CheckedRow:
        raw = row.get(self.identifier_column, "").strip()
        if type(row) is MalformedRow:
            return CheckedRow(row_no, raw, reason=RejectReason.MALFORMED_ROW, detail=row.detail)
        channel = row.get("channel", "").strip()
        flag = row.get("do_not_disturb", "").strip().casefold()
        if channel and channel not in _CHANNELS:
            return CheckedRow(
                row_no, raw, reason=RejectReason.INVALID_VALUE, detail=f"unknown channel {channel!r}"
            )
        if flag and flag not in _TRUE_WORDS and flag not in _FALSE_WORDS:
            return CheckedRow(
                row_no, raw, reason=RejectReason.INVALID_VALUE, detail="do_not_disturb must be true or false"
            )
        if not raw:
            return CheckedRow(
                row_no, raw, reason=RejectReason.MISSING_PHONE, detail="the identifier is empty"
            )
        identifier = raw
        if channel in _PHONE_CHANNELS:
            try:
                identifier = normalize_phone(raw)
            except PhoneFormatError as exc:
                return CheckedRow(row_no, raw, reason=RejectReason.INVALID_PHONE, detail=str(exc))
            if not _valid_phone(identifier):
                return CheckedRow(row_no, raw, reason=RejectReason.INVALID_PHONE, detail=_LENGTH_DETAIL)
        key = f"{channel}\x00{identifier}"
        if key in self._seen:
            return CheckedRow(
                row_no,
                identifier,
                reason=RejectReason.DUPLICATE_IN_FILE,
                detail="the same contact appears earlier",
            )
        self._seen.add(key)
        data = {"identifier": identifier, "do_not_disturb": "false" if flag in _FALSE_WORDS else "true"}
        name = row.get("name", "").strip()
        if name:
            data["name"] = name
        if channel:
            data["channel"] = channel
        return CheckedRow(row_no, identifier, data)


def rejection_outcome(checked: CheckedRow) -> RowOutcome:
    """The results-file line for a row rejected locally (status is the reason code).

    Raises `ValueError` for an accepted row: its outcome comes from Lynn's task records.
    """
    if checked.reason is None:
        raise ValueError(f"row {checked.row_no} was accepted; its outcome comes from Lynn")
    return RowOutcome(checked.row_no, checked.phone, "rejected", checked.reason.value, checked.detail)
