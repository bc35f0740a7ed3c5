"""A deployment's dialect of the wire: renamed fields and values, applied in both directions.

The dialect file (`LYNN_OPERATIONS_FILE`, read by `operations.py`) may hold, next to its
`[OperationName]` tables, two kinds of table keyed by the contract's wire names (`shapes.py`):

    [fields.Campaign]          # contract wire name = this deployment's wire name
    name = "campaignName"
    [values."Task.state"]      # contract value = this deployment's value
    Completed = "Finished"

`WireDialect.to_lynn` turns a body we built in contract names into the deployment's; `from_lynn`
turns an answer into contract names before any model reads it. With no renames for a shape (or the
shapes it holds) both return their argument itself: a plain deployment pays one dict lookup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from lynn_mcp.errors import ConfigError
from lynn_mcp.lynn.shapes import SHAPES, nested_shapes

FieldRenames = Mapping[str, Mapping[str, str]]
"""Shape -> {contract field: deployment field}."""
ValueRenames = Mapping[tuple[str, str], Mapping[str, str]]
"""(shape, contract field) -> {contract value: deployment value}."""

_WIRE_NAME = re.compile(r"[^\s\"\\]{1,64}")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to rewrite one object of a shape in one direction; keys are the source side's names."""

    keys: Mapping[str, str]
    values: Mapping[str, Mapping[str, str]]
    nested: Mapping[str, str]  # field -> item shape, only where the item shape is rewritten too
    dropped: frozenset[str] = field(default_factory=frozenset)


class WireDialect:
    """The renames of one deployment (empty: the contract as documented)."""

    def __init__(self, fields: FieldRenames | None = None, values: ValueRenames | None = None) -> None:
        self.fields: dict[str, dict[str, str]] = {
            shape: {k: v for k, v in renames.items() if k != v}
            for shape, renames in (fields or {}).items()
            if any(k != v for k, v in renames.items())
        }
        self.values: dict[tuple[str, str], dict[str, str]] = {
            key: {k: v for k, v in mapping.items() if k != v}
            for key, mapping in (values or {}).items()
            if any(k != v for k, v in mapping.items())
        }
        self._to_lynn = self._plans(outgoing=True)
        self._from_lynn = self._plans(outgoing=False)

    @property
    def is_plain(self) -> bool:
        return not self.fields and not self.values

    def rewrites(self, shape: str) -> bool:
        """Whether `shape` (or a shape it holds) reads differently on this deployment."""
        return shape in self._from_lynn

    def to_lynn(self, shape: str, document: Any) -> Any:
        """A body (or a list of bodies) in contract names, in this deployment's names."""
        return _rewrite(self._to_lynn, shape, document)

    def from_lynn(self, shape: str, document: Any) -> Any:
        """An answer (or a list of them) in this deployment's names, in contract names."""
        return _rewrite(self._from_lynn, shape, document)

    def wire_name(self, shape: str, contract_field: str) -> str:
        return self.fields.get(shape, {}).get(contract_field, contract_field)

    def merged(self, fields: FieldRenames, values: ValueRenames | None = None) -> WireDialect:
        """This dialect with more renames (the contract check's inferred ones) on top."""
        all_fields = {shape: dict(renames) for shape, renames in self.fields.items()}
        for shape, renames in fields.items():
            all_fields.setdefault(shape, {}).update(renames)
        all_values = {key: dict(mapping) for key, mapping in self.values.items()}
        for key, mapping in (values or {}).items():
            all_values.setdefault(key, {}).update(mapping)
        return WireDialect(all_fields, all_values)

    def toml(self) -> str:
        """The renames as dialect-file tables (empty text when there are none)."""
        return render_toml(self.fields, self.values)

    def _plans(self, *, outgoing: bool) -> dict[str, _Plan]:
        plans: dict[str, _Plan] = {}
        changed = self._changed_shapes()
        for shape in changed:
            renames = self.fields.get(shape, {})  # contract -> deployment

            def source(contract: str, renames: Mapping[str, str] = renames) -> str:
                """How the object being rewritten spells a contract field."""
                return contract if outgoing else renames.get(contract, contract)

            keys = dict(renames) if outgoing else {wire: contract for contract, wire in renames.items()}
            values = {
                source(contract_field): mapping if outgoing else {v: k for k, v in mapping.items()}
                for (value_shape, contract_field), mapping in self.values.items()
                if value_shape == shape
            }
            nested = {source(f): item for f, item in nested_shapes(shape).items() if item in changed}
            # An answer's key spelled like a contract field this deployment renames away is not that
            # field (the deployment spells it otherwise): drop it rather than let it shadow the real one.
            dropped = frozenset() if outgoing else frozenset(set(renames) - set(renames.values()))
            plans[shape] = _Plan(keys, values, nested, dropped)
        return plans

    def _changed_shapes(self) -> set[str]:
        changed = set(self.fields) | {shape for shape, _ in self.values}
        grew = True
        while grew:  # a shape holding a changed shape is changed too
            grew = False
            for shape in SHAPES:
                if shape not in changed and any(item in changed for item in nested_shapes(shape).values()):
                    changed.add(shape)
                    grew = True
        return changed


PLAIN: Final = WireDialect()
"""The contract as documented: no renames."""


def _rewrite(plans: Mapping[str, _Plan], shape: str, document: Any) -> Any:
    plan = plans.get(shape)
    if plan is None:
        return document
    if isinstance(document, list):
        return [_rewrite_object(plans, plan, item) for item in document]
    return _rewrite_object(plans, plan, document)


def _rewrite_object(plans: Mapping[str, _Plan], plan: _Plan, document: Any) -> Any:
    if not isinstance(document, dict):
        return document
    rewritten: dict[str, Any] = {}
    for key, value in document.items():
        if key in plan.dropped:
            continue
        item_shape = plan.nested.get(key)
        if item_shape is not None and isinstance(value, list):
            item_plan = plans[item_shape]
            value = [_rewrite_object(plans, item_plan, item) for item in value]
        elif (mapping := plan.values.get(key)) is not None and isinstance(value, str):
            value = mapping.get(value, value)
        rewritten[plan.keys.get(key, key)] = value
    return rewritten


def render_toml(fields: FieldRenames, values: ValueRenames) -> str:
    """`fields` and `values` as the dialect file's tables."""
    blocks: list[str] = []
    for shape, renames in fields.items():
        lines = [f"[fields.{shape}]"] + [f"{toml_key(k)} = {json.dumps(v)}" for k, v in renames.items()]
        blocks.append("\n".join(lines))
    for (shape, contract_field), mapping in values.items():
        lines = [f'[values."{shape}.{contract_field}"]']
        lines += [f"{toml_key(k)} = {json.dumps(v)}" for k, v in mapping.items()]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def toml_key(name: str) -> str:
    """`name` as a TOML key: bare when it can be, quoted otherwise."""
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name)


Where = Callable[..., str]
"""Names a place in the dialect file for an error message: where("fields", "Campaign", "nmae")."""


def parse_dialect(fields: object, values: object, where: Where) -> WireDialect:
    """The `[fields.*]` and `[values.*]` tables of a dialect file, checked (ConfigError naming the
    line of the first problem). `fields` and `values` are what TOML read, None when absent."""
    return WireDialect(_parse_fields(fields, where), _parse_values(values, where))


def _parse_fields(table: object, where: Where) -> dict[str, dict[str, str]]:
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise ConfigError(f"{where('fields')}: `fields` must hold tables such as [fields.Campaign]")
    parsed: dict[str, dict[str, str]] = {}
    for shape, renames in table.items():
        if shape not in SHAPES:
            here, known_shapes = where("fields", shape), ", ".join(SHAPES)
            raise ConfigError(f"{here}: {shape!r} is not a wire shape; known: {known_shapes}")
        if not isinstance(renames, dict):
            raise ConfigError(f"{where('fields', shape)}: [fields.{shape}] must be a table of renames")
        known = SHAPES[shape]
        taken: dict[str, str] = {}
        for contract, wire in renames.items():
            here = where("fields", shape, contract)
            if contract not in known:
                fields = ", ".join(known)
                raise ConfigError(f"{here}: {shape} has no field {contract!r}; its fields: {fields}")
            if not isinstance(wire, str) or not _WIRE_NAME.fullmatch(wire):
                raise ConfigError(f"{here}: the deployment's name must be 1-64 characters without spaces")
            if wire in taken:
                raise ConfigError(f"{here}: {taken[wire]!r} is already renamed to {wire!r}")
            if wire in known and wire != contract and wire not in renames:
                raise ConfigError(
                    f"{here}: {wire!r} is the contract name of another {shape} field; rename that one too"
                )
            taken[wire] = contract
        parsed[shape] = dict(renames)
    return parsed


def _parse_values(table: object, where: Where) -> dict[tuple[str, str], dict[str, str]]:
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise ConfigError(f'{where("values")}: `values` must hold tables such as [values."Task.state"]')
    mappable = [f"{s}.{f}" for s, fields in SHAPES.items() for f, spec in fields.items() if spec.values]
    parsed: dict[tuple[str, str], dict[str, str]] = {}
    for name, mapping in table.items():
        shape, _, contract_field = name.partition(".")
        spec = SHAPES.get(shape, {}).get(contract_field)
        if spec is None or not spec.values:
            raise ConfigError(
                f"{where('values', name)}: {name!r} is not a field with a closed set of values; "
                f"known: {', '.join(mappable)}"
            )
        if not isinstance(mapping, dict):
            raise ConfigError(f'{where("values", name)}: [values."{name}"] must be a table of values')
        taken: dict[str, str] = {}
        for contract, wire in mapping.items():
            here = where("values", name, contract)
            if contract not in spec.values:
                known_values = ", ".join(spec.values)
                raise ConfigError(f"{here}: {contract!r} is not a value of {name}; values: {known_values}")
            if not isinstance(wire, str) or not wire or len(wire) > 64:
                raise ConfigError(f"{here}: the deployment's value must be a string of 1-64 characters")
            if wire in taken:
                raise ConfigError(f"{here}: {taken[wire]!r} already stands for {wire!r}")
            if wire in spec.values and wire != contract and wire not in mapping:
                raise ConfigError(f"{here}: {wire!r} is another value of {name}; map that one too")
            taken[wire] = contract
        parsed[(shape, contract_field)] = dict(mapping)
    return parsed
