"""THE operation table: every Lynn operation's verb and path, and the only place URLs are built.

Lynn publishes operation names but not most verbs and paths (see docs/lynn-api-contract.md), so a
deployment that differs overrides entries with a TOML file (`LYNN_OPERATIONS_FILE`):

    [GetCampaigns]
    method = "POST"
    path = "/api/LynnService/GetCampaigns/{tenant}"

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

Method = Literal["GET", "POST", "PUT", "DELETE"]
METHODS: tuple[Method, ...] = ("GET", "POST", "PUT", "DELETE")

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_PLAIN_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TENANT = re.compile(r"[0-9]{1,10}")


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
    """Operation name → Operation, with safe URL-path building."""

    def __init__(self, operations: Mapping[str, Operation], source: str = "built-in") -> None:
        self._operations = dict(operations)
        self.source = source

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


def _load_override(path: Path) -> dict[str, Operation]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"LYNN_OPERATIONS_FILE {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"LYNN_OPERATIONS_FILE {path} cannot be read ({type(exc).__name__})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"LYNN_OPERATIONS_FILE {path} is not valid TOML: {exc}") from None
    defaults = {op.name: op for op in DEFAULT_OPERATIONS}
    overrides: dict[str, Operation] = {}
    for name, entry in data.items():
        where = f"LYNN_OPERATIONS_FILE {path}: [{name}]"
        if name not in defaults:
            raise ConfigError(f"{where} is not a Lynn operation; known: {', '.join(sorted(defaults))}")
        if not isinstance(entry, dict) or not set(entry) <= {"method", "path"}:
            raise ConfigError(f"{where} may only set `method` and `path`")
        method = str(entry.get("method", defaults[name].method)).upper()
        if method not in METHODS:
            raise ConfigError(f"{where} method must be one of {', '.join(METHODS)}")
        op_path = entry.get("path", defaults[name].path)
        if not isinstance(op_path, str) or not op_path.startswith("/") or "//" in op_path:
            raise ConfigError(f"{where} path must be an absolute path such as {defaults[name].path}")
        if any(ch in op_path for ch in "?#\\ \r\n\t") or ".." in op_path:
            raise ConfigError(f"{where} path must not contain a query, fragment, '..' or whitespace")
        try:
            candidate = Operation(name, method, op_path)
            placeholders = candidate.parameters
        except ValueError:
            raise ConfigError(f"{where} path has unbalanced braces") from None
        if placeholders != defaults[name].parameters:
            expected = ", ".join("{" + p + "}" for p in sorted(defaults[name].parameters)) or "none"
            raise ConfigError(f"{where} path must use exactly the placeholders {expected}")
        overrides[name] = candidate
    return overrides


def load_operations(override_file: Path | None = None) -> OperationTable:
    """The built-in table, with entries replaced from `override_file` (validated; ConfigError if bad)."""
    table = {op.name: op for op in DEFAULT_OPERATIONS}
    if override_file is None:
        return OperationTable(table)
    table.update(_load_override(override_file))
    return OperationTable(table, source=str(override_file))
