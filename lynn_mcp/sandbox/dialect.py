"""The sandbox in a dialect: it answers as a Lynn deployment that differs from the contract.

``lynn-mcp sandbox --dialect FILE`` reads the same TOML a client's ``LYNN_OPERATIONS_FILE`` holds
(docs/lynn-api-contract.md, "Dialect files"): ``[OperationName]`` tables move operations to other
verbs and paths; ``[fields.Shape]`` and ``[values."Shape.field"]`` rename fields and values. The
handlers keep working in the contract's names: a request body is renamed into them before a handler
reads it, an answer out of them after. The sandbox parses the file itself (it imports nothing of
lynn_mcp outside itself), so a client and the sandbox that agree have each read the file on their
own, which is what tests of the dialect loop need.

Shapes are the ``schemas.COMPONENTS`` a route declares, under the names a dialect file uses:
``CampaignInput`` and ``ContactInput`` are ``Campaign`` and ``Contact`` (a rename applies to what is
sent and what is answered alike). The ``/sandbox/...`` routes and ``/openapi.json`` stay in the
contract's field names; only the verbs and paths of moved operations change there.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from lynn_mcp.sandbox.schemas import COMPONENTS

_REF_PREFIX: Final = "#/components/schemas/"
# Dialect shape name -> the components that hold it.
SHAPE_COMPONENTS: Final[Mapping[str, tuple[str, ...]]] = {
    "Credentials": ("Credentials",),
    "Token": ("Token",),
    "Campaign": ("Campaign", "CampaignInput"),
    "Contact": ("Contact", "ContactInput"),
    "Deleted": ("Deleted",),
    "DndEntry": ("DndEntry",),
    "DndByCampaign": ("DndByCampaign",),
    "DndByCategory": ("DndByCategory",),
    "ManageDnd": ("ManageDnd",),
    "DndContact": ("DndContact",),
    "CampaignData": ("CampaignData",),
    "CpgUpload": ("CpgUpload",),
    "TaskRef": ("TaskRef",),
    "Task": ("Task",),
    "TaskRecord": ("TaskRecord",),
}
_SHAPE_OF: Final = {component: shape for shape, names in SHAPE_COMPONENTS.items() for component in names}
METHODS: Final = ("GET", "POST", "PUT", "DELETE")


class DialectError(ValueError):
    """The dialect file is unusable; the message says where and why."""


def _properties(shape: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for component in SHAPE_COMPONENTS[shape]:
        merged.update(COMPONENTS[component]["properties"])
    return merged


@dataclass(frozen=True)
class Dialect:
    """Moved operations, renamed fields and renamed values (all empty: the contract itself)."""

    operations: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """Operation name -> (method, path template)."""
    fields: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Shape -> {contract field: this deployment's field}."""
    values: Mapping[tuple[str, str], Mapping[str, str]] = field(default_factory=dict)
    """(shape, contract field) -> {contract value: this deployment's value}."""

    @property
    def renames(self) -> bool:
        return bool(self.fields or self.values)

    def wire_name(self, shape: str, contract_field: str) -> str:
        return self.fields.get(shape, {}).get(contract_field, contract_field)

    def to_contract(self, schema: Mapping[str, Any] | None, document: Any) -> Any:
        """A request body, from this deployment's names into the contract's."""
        return _walk(self, schema, document, outgoing=False) if schema and self.renames else document

    def to_wire(self, schema: Mapping[str, Any] | None, document: Any) -> Any:
        """An answer, from the contract's names into this deployment's."""
        return _walk(self, schema, document, outgoing=True) if schema and self.renames else document

    @classmethod
    def load(cls, path: Path, known_operations: Mapping[str, tuple[str, str]]) -> Dialect:
        """Read and check ``path``; ``known_operations`` are the contract's (method, path) by name."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise DialectError(f"dialect file {path}: {exc}") from None
        operations: dict[str, tuple[str, str]] = {}
        for name, entry in data.items():
            if name in ("fields", "values"):
                continue
            if name not in known_operations or not isinstance(entry, dict):
                raise DialectError(f"dialect file {path}: [{name}] is not an operation table")
            operations[name] = _operation(path, name, entry, known_operations[name])
        fields = _fields(path, data.get("fields", {}))
        values = _values(path, data.get("values", {}))
        return cls(operations, fields, values)


def _operation(path: Path, name: str, entry: dict[str, Any], contract: tuple[str, str]) -> tuple[str, str]:
    method = str(entry.get("method", contract[0])).upper()
    template = entry.get("path", contract[1])
    if method not in METHODS or not isinstance(template, str) or not template.startswith("/"):
        raise DialectError(f"dialect file {path}: [{name}] needs a method of {METHODS} and an absolute path")
    try:
        placeholders = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    except ValueError:
        raise DialectError(f"dialect file {path}: [{name}] path has unbalanced braces") from None
    if placeholders != set(re.findall(r"{(\w+)}", contract[1])):
        raise DialectError(f"dialect file {path}: [{name}] path must keep the placeholders of {contract[1]}")
    return method, template


def _fields(path: Path, table: Any) -> dict[str, dict[str, str]]:
    if not isinstance(table, dict):
        raise DialectError(f"dialect file {path}: `fields` must hold tables such as [fields.Campaign]")
    fields: dict[str, dict[str, str]] = {}
    for shape, renames in table.items():
        if shape not in SHAPE_COMPONENTS or not isinstance(renames, dict):
            raise DialectError(f"dialect file {path}: [fields.{shape}] is not a table of a wire shape")
        known = _properties(shape)
        for contract, wire in renames.items():
            if contract not in known or not isinstance(wire, str) or not wire:
                raise DialectError(
                    f"dialect file {path}: [fields.{shape}] {contract} is not a field to rename"
                )
        if len(set(renames.values())) != len(renames):
            raise DialectError(f"dialect file {path}: [fields.{shape}] renames two fields to one name")
        fields[shape] = dict(renames)
    return fields


def _values(path: Path, table: Any) -> dict[tuple[str, str], dict[str, str]]:
    if not isinstance(table, dict):
        raise DialectError(f'dialect file {path}: `values` must hold tables such as [values."Task.state"]')
    values: dict[tuple[str, str], dict[str, str]] = {}
    for name, mapping in table.items():
        shape, _, contract_field = name.partition(".")
        enum = _properties(shape).get(contract_field, {}).get("enum") if shape in SHAPE_COMPONENTS else None
        if not enum or not all(isinstance(value, str) for value in enum) or not isinstance(mapping, dict):
            raise DialectError(
                f'dialect file {path}: [values."{name}"] is not a field with a closed set of values'
            )
        for contract, wire in mapping.items():
            if contract not in enum or not isinstance(wire, str) or not wire:
                raise DialectError(
                    f'dialect file {path}: [values."{name}"] {contract} is not a value to rename'
                )
        values[(shape, contract_field)] = dict(mapping)
    return values


def _walk(dialect: Dialect, schema: Mapping[str, Any] | None, value: Any, *, outgoing: bool) -> Any:
    if not schema:
        return value
    component = ""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        component = ref.removeprefix(_REF_PREFIX)
        schema = COMPONENTS[component]
    if isinstance(value, list):
        items = schema.get("items")
        return [_walk(dialect, items, item, outgoing=outgoing) for item in value]
    properties = schema.get("properties")
    if not isinstance(value, dict) or not properties:
        return value
    shape = _SHAPE_OF.get(component, "")
    renames = dialect.fields.get(shape, {})
    contract_of = {wire: contract for contract, wire in renames.items()}
    result: dict[str, Any] = {}
    for key, item in value.items():
        contract = str(key) if outgoing else contract_of.get(str(key), str(key))
        if outgoing:
            target = renames.get(contract, contract)
        elif key in renames and key not in contract_of:
            continue  # the contract's name of a field this deployment spells otherwise: not that field
        else:
            target = contract
        item = _walk(dialect, properties.get(contract), item, outgoing=outgoing)
        mapping = dialect.values.get((shape, contract))
        if mapping is not None and isinstance(item, str):
            item = mapping.get(item, item) if outgoing else {v: k for k, v in mapping.items()}.get(item, item)
        result[target] = item
    return result


def describe(dialect: Dialect) -> str:
    """What the dialect changes, in one line (the sandbox's banner)."""
    moved = ", ".join(dialect.operations) or "no operation"
    fields = sum(len(renames) for renames in dialect.fields.values())
    values = sum(len(mapping) for mapping in dialect.values.values())
    return f"{moved} moved; {fields} field(s) and {values} value(s) renamed"
