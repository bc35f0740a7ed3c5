"""One answer from Lynn held against the contract's shape: what differs, and the renames it suggests.

`read_answer` compares a parsed answer with `shapes.SHAPES`: fields the contract has and the answer
lacks (missing: a difference), fields the answer has and the contract does not (unknown: a note,
the contract allows extra fields), values of the wrong JSON type, and values outside a field's
closed set. Where one missing field and one unknown field of a compatible type look alike (one name
holds the other: `name` and `campaignName`), or are the only such pair in their object, it infers
the rename, reads the field under its new name, and offers the dialect line that would fix it.

Pure functions: `contract_check.py` calls Lynn and feeds the answers in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lynn_mcp.lynn.shapes import SHAPES, WireField


@dataclass(frozen=True, slots=True)
class Difference:
    """One way an answer differs from the contract. `fails` is False for a note (an extra field)."""

    where: str
    """`Campaign.name`, `Task.records[].Status`, or the operation itself for a status."""
    what: str
    fails: bool = True


@dataclass
class Reading:
    """An answer read against its shape."""

    view: Any
    """The answer in contract names, as far as they are known or inferred (what callers read ids and
    states from)."""
    differences: list[Difference] = field(default_factory=list)
    renames: dict[str, dict[str, str]] = field(default_factory=dict)
    """Inferred: shape -> {contract field: this deployment's field}."""
    unknown_values: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    """(shape, contract field) -> values outside the field's closed set."""

    def add(self, difference: Difference) -> None:
        if difference not in self.differences:  # a list of 1,000 records says each thing once
            self.differences.append(difference)


def read_answer(shape: str, document: Any, *, as_list: bool = False) -> Reading:
    """`document` (parsed JSON, already in contract names as far as a configured dialect knows them)
    held against `shape`, or against a list of it when `as_list`."""
    reading = Reading(view=None)
    if as_list:
        if not isinstance(document, list):
            reading.add(Difference(shape, f"is {_json_type(document)}, the contract has a list of {shape}"))
            reading.view = []
            return reading
        reading.view = [_read_object(reading, shape, item, shape) for item in document]
    else:
        reading.view = _read_object(reading, shape, document, shape)
    return reading


def _read_object(reading: Reading, shape: str, document: Any, where: str) -> Any:
    if not isinstance(document, dict):
        reading.add(Difference(where, f"is {_json_type(document)}, the contract has an object"))
        return None
    spec = SHAPES[shape]
    missing = [name for name in spec if name not in document]
    unknown = [key for key in document if key not in spec]
    paired = _pairs(spec, document, missing, unknown)
    view: dict[str, Any] = {}
    for name, wire_field in spec.items():
        key = name if name in document else paired.get(name)
        if key is None:
            reading.add(Difference(f"{where}.{name}", "missing"))
            continue
        if key != name:
            reading.renames.setdefault(shape, {}).setdefault(name, key)
            reading.add(Difference(f"{where}.{name}", f"missing; the answer has `{key}` instead"))
        view[name] = _read_value(reading, shape, name, wire_field, document[key], f"{where}.{name}")
    taken = set(paired.values())
    for key in unknown:
        if key not in taken:
            what = f"not in the contract ({_json_type(document[key])}); ignored"
            reading.add(Difference(f"{where}.{key}", what, fails=False))
    return view


def _read_value(reading: Reading, shape: str, name: str, spec: WireField, value: Any, where: str) -> Any:
    if value is None:
        if not spec.nullable:
            reading.add(Difference(where, "is null, the contract has a value"))
        return None
    if not _compatible(spec, value):
        reading.add(Difference(where, f"is {_json_type(value)}, the contract has {_kind_text(spec)}"))
        return value
    if spec.kind == "datetime" and not _is_datetime(value):
        reading.add(Difference(where, "is not an ISO 8601 date-time"))
    if spec.values and value not in spec.values:
        reading.unknown_values.setdefault((shape, name), set()).add(value)
        reading.add(Difference(where, f"has the value {value!r}, not one of {', '.join(spec.values)}"))
    if spec.kind == "objects" and spec.items is not None:
        return [_read_object(reading, spec.items, item, f"{where}[]") for item in value]
    return value


def _pairs(
    spec: Mapping[str, WireField], document: dict[str, Any], missing: list[str], unknown: list[str]
) -> dict[str, str]:
    """Contract field -> the unknown key that is most likely it: names that hold one another first,
    then a missing field and an unknown key that are each other's only candidate by type."""
    pairs: dict[str, str] = {}
    free = list(unknown)
    for name in missing:
        alike = [key for key in free if _alike(name, key) and _compatible(spec[name], document[key])]
        if len(alike) == 1:
            pairs[name] = alike[0]
            free.remove(alike[0])
    open_fields = [name for name in missing if name not in pairs]
    for name in open_fields:
        candidates = [key for key in free if _compatible(spec[name], document[key], typed=True)]
        if len(candidates) != 1:
            continue
        rivals = [
            other for other in open_fields if _compatible(spec[other], document[candidates[0]], typed=True)
        ]
        if rivals == [name]:
            pairs[name] = candidates[0]
            free.remove(candidates[0])
    return pairs


def _alike(contract: str, key: str) -> bool:
    a, b = _letters(contract), _letters(key)
    return bool(a and b) and (a in b or b in a)


def _letters(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _compatible(spec: WireField, value: Any, *, typed: bool = False) -> bool:
    """Whether `value` can be the field's. `typed`: a null says nothing of its type, so it pairs
    with nothing."""
    if value is None:
        return spec.nullable and not typed
    if spec.kind in ("string", "datetime", "file"):
        return isinstance(value, str)
    if spec.kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if spec.kind == "boolean":
        return isinstance(value, bool)
    if spec.kind == "strings":
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    return isinstance(value, list)  # objects


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _kind_text(spec: WireField) -> str:
    return {
        "string": "a string",
        "datetime": "a date-time string",
        "integer": "an integer",
        "boolean": "true or false",
        "strings": "a list of strings",
        "objects": "a list of objects",
        "file": "a file",
    }[spec.kind]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
