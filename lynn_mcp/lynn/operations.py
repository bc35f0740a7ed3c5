"""THE operation table: every Lynn operation's verb and path, and the only place URLs are built.

Lynn publishes operation names but not most verbs and paths (see docs/lynn-api-contract.md), so a
deployment that differs describes itself in a TOML dialect file (`LYNN_OPERATIONS_FILE`):

    [GetCampaigns]
    method = "POST"
    path = "/api/LynnService/GetCampaigns/{tenant}"

and, keyed by the contract's wire names, renamed fields and values (`[fields.Shape]`,
`[values."Shape.field"]`: read by `dialect.py`, carried by the table as `OperationTable.wire`).

Path parameters are checked against a strict pattern and percent-encoded as exactly one segment
before any request exists, so no argument can steer a request to another path.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from lynn_mcp.errors import ConfigError, InvalidArgument
from lynn_mcp.lynn.dialect import PLAIN, Where, WireDialect, parse_dialect, toml_key

Method = Literal["GET", "POST", "PUT", "DELETE"]
METHODS: tuple[Method, ...] = ("GET", "POST", "PUT", "DELETE")

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TENANT = re.compile(r"[0-9]{1,10}")
DIALECT_TABLES = frozenset({"fields", "values"})


@dataclass(frozen=True, slots=True)
class Operation:
    """One Lynn operation: its wire name, verb and path template."""

    name: str
    method: Method
    path: str

    @property
    def parameters(self) -> frozenset[str]:
        """Placeholders in the path template, e.g. {"tenant", "campaignId"}."""
        return frozenset(field for _, field, _, _ in string.Formatter().parse(self.path) if field)


_BASE = "/api/LynnService"
DEFAULT_OPERATIONS: tuple[Operation, ...] = (
    Operation("CreateToken", "POST", f"{_BASE}/CreateToken"),
    Operation("GetCampaigns", "GET", f"{_BASE}/GetCampaigns/{{tenant}}"),
    Operation("GetCampaign", "GET", f"{_BASE}/GetCampaign/{{tenant}}/{{campaignId}}"),
    Operation("PostCampaign", "POST", f"{_BASE}/PostCampaign/{{tenant}}"),
    Operation("PutCampaign", "PUT", f"{_BASE}/PutCampaign/{{tenant}}/{{campaignId}}"),
    Operation("DeleteCampaign", "DELETE", f"{_BASE}/DeleteCampaign/{{tenant}}/{{campaignId}}"),
    Operation("StartCampaignExecution", "POST", f"{_BASE}/StartCampaignExecution/{{tenant}}/{{campaignId}}"),
    Operation("StopCampaignExecution", "POST", f"{_BASE}/StopCampaignExecution/{{tenant}}/{{campaignId}}"),
    Operation("GetContacts", "GET", f"{_BASE}/GetContacts/{{tenant}}"),
    Operation("GetContact", "GET", f"{_BASE}/GetContact/{{tenant}}/{{contactId}}"),
    Operation("PostContact", "POST", f"{_BASE}/PostContact/{{tenant}}"),
    Operation("PutContact", "PUT", f"{_BASE}/PutContact/{{tenant}}/{{contactId}}"),
    Operation("DeleteContact", "DELETE", f"{_BASE}/DeleteContact/{{tenant}}/{{contactId}}"),
    Operation("GetDnDContact", "GET", f"{_BASE}/GetDnDContact/{{tenant}}/{{contactId}}"),
    Operation("SetDnDContactByCampaign", "POST", f"{_BASE}/SetDnDContactByCampaign/{{tenant}}"),
    Operation("SetDnDContactByCategory", "POST", f"{_BASE}/SetDnDContactByCategory/{{tenant}}"),
    Operation("ManageDnDByCampaign", "POST", f"{_BASE}/ManageDnDByCampaign/{{tenant}}"),
    Operation("GetDndTaskStatus", "GET", f"{_BASE}/GetDndTaskStatus/{{tenant}}/{{taskId}}"),
    Operation("UploadCampaignDataByTenant", "POST", f"{_BASE}/UploadCampaignDataByTenant/{{tenant}}"),
    Operation("AddCampaingData", "POST", f"{_BASE}/AddCampaingData/{{tenant}}"),
    Operation("GetTaskStatus", "GET", f"{_BASE}/GetTaskStatus/{{tenant}}/{{taskId}}"),
)


def check_id(value: str, what: str = "id") -> str:
    """Return `value` if it is a uuid or a plain id (`[A-Za-z0-9_-]{1,64}`), else raise InvalidArgument."""
    if isinstance(value, str) and (_UUID.fullmatch(value) or _PLAIN_ID.fullmatch(value)):
        return value
    shown = value[:40] + "…" if isinstance(value, str) and len(value) > 40 else value
    raise InvalidArgument(
        f"{what} {shown!r} is not a valid id",
        hint="Ids are uuids or 1-64 letters, digits, '-' or '_'; take them from the list tools.",
    )


class OperationTable:
    """Operation name → Operation, with safe URL-path building, and the deployment's wire renames."""

    def __init__(
        self, operations: Mapping[str, Operation], source: str = "built-in", wire: WireDialect = PLAIN
    ) -> None:
        self._operations = dict(operations)
        self.source = source
        self.wire = wire
        """The deployment's field and value renames (`dialect.py`); PLAIN when there are none."""

    def __getitem__(self, name: str) -> Operation:
        return self._operations[name]

    def __iter__(self) -> object:
        return iter(self._operations.values())

    def names(self) -> list[str]:
        return list(self._operations)

    def build_path(self, name: str, params: Mapping[str, str | int]) -> str:
        """The request path for `name`, every parameter validated and encoded as one segment."""
        operation = self._operations[name]
        if set(params) != operation.parameters:
            raise InvalidArgument(f"{name} needs parameters {sorted(operation.parameters)}")
        encoded: dict[str, str] = {}
        for key, raw in params.items():
            value = str(raw)
            if key == "tenant":
                if not _TENANT.fullmatch(value):
                    raise InvalidArgument(f"tenant {value[:20]!r} is not a tenant number")
            else:
                check_id(value, key)
            encoded[key] = quote(value, safe="")
        return operation.path.format(**encoded)


class _Lines:
    """The line each table and key of a TOML text is defined on, so errors can name it."""

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            path = _toml_path(stripped)  # each line parsed on its own: a header, or `key = value`
            if path is None:
                continue
            if stripped.startswith("["):
                table = path
                self._lines.setdefault(path, number)
            else:
                self._lines.setdefault(table + path, number)

    def where(self, source: Path, *path: str) -> str:
        """`LYNN_OPERATIONS_FILE f.toml line 4 [fields.Campaign] nmae`: the nearest line known."""
        line = next((self._lines[path[:n]] for n in range(len(path), 0, -1) if path[:n] in self._lines), None)
        depth = 2 if path[:1] and path[0] in DIALECT_TABLES else 1  # [fields.Campaign], [GetCampaigns]
        label = "[" + ".".join(toml_key(part) for part in path[:depth]) + "]"
        label += "".join(f" {key}" for key in path[depth:])
        return f"LYNN_OPERATIONS_FILE {source}{f' line {line}' if line else ''} {label}"


def _toml_path(line: str) -> tuple[str, ...] | None:
    """The key path a single TOML line defines (`[a."b.c"]` -> ("a", "b.c"), `k = 1` -> ("k",))."""
    try:
        node: object = tomllib.loads(line)
    except tomllib.TOMLDecodeError:
        return None  # part of a multi-line value, or not a definition
    path: list[str] = []
    while isinstance(node, dict) and len(node) == 1:
        key, node = next(iter(node.items()))
        path.append(key)
        if not line.startswith("["):
            break  # `k = {a = 1}` defines k, not k.a
    return tuple(path) or None


def _read(path: Path) -> tuple[dict[str, object], _Lines]:
    try:
        text = path.read_text(encoding="utf-8")
        return tomllib.loads(text), _Lines(text)
    except FileNotFoundError:
        raise ConfigError(f"LYNN_OPERATIONS_FILE {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"LYNN_OPERATIONS_FILE {path} cannot be read ({type(exc).__name__})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"LYNN_OPERATIONS_FILE {path} is not valid TOML: {exc}") from None


def _operation(name: str, entry: object, default: Operation, where: Where) -> Operation:
    """One `[OperationName]` table, checked."""
    if not isinstance(entry, dict) or not set(entry) <= {"method", "path"}:
        raise ConfigError(f"{where(name)}: an operation table may only set `method` and `path`")
    method = str(entry.get("method", default.method)).upper()
    if method not in METHODS:
        raise ConfigError(f"{where(name, 'method')}: method must be one of {', '.join(METHODS)}")
    op_path = entry.get("path", default.path)
    here = where(name, "path")
    if not isinstance(op_path, str) or not op_path.startswith("/") or "//" in op_path:
        raise ConfigError(f"{here}: path must be an absolute path such as {default.path}")
    if any(ch in op_path for ch in "?#\\ \r\n\t") or ".." in op_path:
        raise ConfigError(f"{here}: path must not contain a query, fragment, '..' or whitespace")
    try:
        candidate = Operation(name, method, op_path)
        placeholders = candidate.parameters
    except ValueError:
        raise ConfigError(f"{here}: path has unbalanced braces") from None
    if placeholders != default.parameters:
        expected = ", ".join("{" + p + "}" for p in sorted(default.parameters)) or "none"
        raise ConfigError(f"{here}: path must use exactly the placeholders {expected}")
    return candidate


def load_operations(override_file: Path | None = None) -> OperationTable:
    """The built-in table, with entries replaced and wire renames read from `override_file` (the
    dialect file; validated: a ConfigError names the line of the first problem)."""
    table = {op.name: op for op in DEFAULT_OPERATIONS}
    if override_file is None:
        return OperationTable(table)
    data, lines = _read(override_file)

    def where(*path: str) -> str:
        return lines.where(override_file, *path)

    for name, entry in data.items():
        if name in DIALECT_TABLES:
            continue
        if name not in table:
            raise ConfigError(
                f"{where(name)}: not a Lynn operation (nor `fields` or `values`); known: "
                + ", ".join(sorted(table))
            )
        table[name] = _operation(name, entry, table[name], where)
    wire = parse_dialect(data.get("fields"), data.get("values"), where)
    return OperationTable(table, source=str(override_file), wire=wire)
