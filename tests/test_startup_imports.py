"""The stdio start path (`python -m lynn_mcp`) stays lean: an IDE pays for every import on each spawn.

Not a timing test: it checks *which* modules the real entry point loads, from start to the end of a
stdio session (stdin at EOF), against a bare MCPServer doing the same (the SDK's own floor).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# The bulk engine and its row readers load on a bulk tool's first call, not at start-up.
HEAVY = (
    "rich",
    "lynn_mcp.sandbox",
    "python_calamine",
    "openpyxl",
    "sqlite3",
    "lynn_mcp.bulk.loader",
    "lynn_mcp.bulk.readers",
    "opentelemetry.sdk",  # telemetry loads the SDK and its exporter only when OTEL_* ask for them
    "opentelemetry.exporter",
)
SDK_OWN = ("uvicorn", "starlette")  # the SDK imports these itself; we must add none of theirs

LYNN = """
import json, sys
from lynn_mcp.cli import main
main([])
with open(sys.argv[1], "w") as out:
    json.dump(sorted(sys.modules), out)
"""

BARE = """
import json, sys
from mcp.server.mcpserver import MCPServer
server = MCPServer("bare")
@server.tool()
def ping() -> str:
    return "pong"
server.run("stdio")
with open(sys.argv[1], "w") as out:
    json.dump(sorted(sys.modules), out)
"""


def _modules(code: str, tmp_path: Path, name: str) -> set[str]:
    out = tmp_path / f"{name}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LYNN_")}
    subprocess.run(  # noqa: S603 # runs this interpreter on our own fixed code
        [sys.executable, "-c", code, str(out)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=True,
    )
    return set(json.loads(out.read_text()))


@pytest.mark.slow
def test_stdio_start_path_imports_nothing_heavy(tmp_path: Path) -> None:
    lynn = _modules(LYNN, tmp_path, "lynn")
    bare = _modules(BARE, tmp_path, "bare")
    assert "lynn_mcp.server.build" in lynn  # the session really ran through build_server
    heavy = sorted(m for m in lynn if m.split(".")[0] in HEAVY or m.startswith(HEAVY))
    assert heavy == []
    beyond_sdk = sorted(m for m in lynn - bare if m.split(".")[0] in SDK_OWN)
    assert beyond_sdk == []
