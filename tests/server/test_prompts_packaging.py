"""The wheel carries the prompts (as lynn_mcp/_prompts) and the demo's sample, and reads them there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json
from lynn_mcp.demo import sample_file
from lynn_mcp.server.prompts import load_prompts, prompts_dir
print(json.dumps({"dir": str(prompts_dir()), "names": [p.name for p in load_prompts()],
                  "sample": str(sample_file()), "sample_exists": sample_file().exists()}))
"""


@pytest.mark.slow
def test_wheel_ships_prompts_and_sample_and_uses_them(tmp_path: Path) -> None:
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
        names = set(archive.namelist())
        archive.extractall(tmp_path / "site")
    repo_prompts = sorted(path.name for path in (ROOT / "prompts").glob("*.md"))
    assert len(repo_prompts) >= 4
    assert {f"lynn_mcp/_prompts/{name}" for name in repo_prompts} <= names
    assert "lynn_mcp/data/sample_contacts.csv" in names

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
    assert found["dir"] == str(tmp_path / "site" / "lynn_mcp" / "_prompts")
    assert len(found["names"]) == len(repo_prompts)
    assert found["sample"].startswith(str(tmp_path / "site"))
    assert found["sample_exists"] is True
