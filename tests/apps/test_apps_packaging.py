"""The wheel carries the views' and the console's files and serves them from there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATIC_FILES = {
    "lynn_mcp/server/apps/static/bridge.js", "lynn_mcp/server/apps/static/view.html",
    "lynn_mcp/server/apps/static/load-report.js", "lynn_mcp/server/apps/static/campaigns.js",
    "lynn_mcp/sandbox/static/look.css", "lynn_mcp/sandbox/static/dom.js",
    "lynn_mcp/sandbox/static/console.html", "lynn_mcp/sandbox/static/console.js",
}  # fmt: skip
PROBE = """
import json
from starlette.testclient import TestClient
from lynn_mcp.sandbox import create_app
from lynn_mcp.server.apps.views import VIEWS, view_html
import lynn_mcp
with TestClient(create_app()) as client:
    console = [client.get(path).status_code for path in ("/", "/console/console.js", "/console/look.css")]
views = [len(view_html(view)) for view in VIEWS]
print(json.dumps({"package": lynn_mcp.__file__, "views": views, "console": console}))
"""


@pytest.mark.slow
def test_wheel_ships_and_serves_the_views_and_the_console(tmp_path: Path) -> None:
    built = subprocess.run(  # noqa: S603 # pip on this repository
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("lynn_mcp-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert set(archive.namelist()) >= STATIC_FILES
        archive.extractall(tmp_path / "site")
    env = {key: value for key, value in os.environ.items() if not key.startswith("LYNN_")}
    env["PYTHONPATH"] = str(tmp_path / "site")  # the unpacked wheel shadows the editable checkout
    probe = subprocess.run(  # noqa: S603 # this interpreter on a fixed probe
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=True,
    )
    found = json.loads(probe.stdout)
    assert found["package"].startswith(str(tmp_path / "site"))
    assert all(size > 10_000 for size in found["views"])
    assert found["console"] == [200, 200, 200]
