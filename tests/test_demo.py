"""`lynn-mcp demo` end to end, as a person runs it: a subprocess, a real stdio MCP session inside."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each runs the whole demo in a subprocess

DEMO_TIMEOUT_S = 240


def run_demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LYNN_")}
    env.update(COLUMNS="200", TERM="dumb")  # a wide terminal: the demo must still keep to 100 columns
    return subprocess.run(  # noqa: S603 # this interpreter on our own entry point
        [sys.executable, "-m", "lynn_mcp", "demo", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )


def test_quiet_demo_is_a_smoke_test(tmp_path: Path) -> None:
    done = run_demo(tmp_path, "--quiet")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "lynn-mcp demo: ok (6 steps)"


def test_demo_walks_the_session_readably(tmp_path: Path) -> None:
    done = run_demo(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    widest = max(out.splitlines(), key=len)
    assert len(widest) <= 100, widest
    for tool in ("list_campaigns", "create_campaign", "set_dnd_for_campaign", "get_contact_dnd",
                 "load_campaign_data", "start_campaign", "stop_campaign"):  # fmt: skip
        assert f"→ {tool}" in out, tool
    # The sample's construction (scripts/make_sample.py) fixes the report.
    assert "│ 5000      │ 4949     │ 51       │ 0           │" in out
    for reason, rows in (("403: blacklisted for this campaign", 1), ("duplicate_in_file", 20),
                         ("invalid_phone", 25), ("missing_phone", 5)):  # fmt: skip
        assert any(reason in line and f" {rows} " in line for line in out.splitlines()), reason
    assert "the server asks the human" in out
    assert "status: Started" in out
    assert "status: Stopped" in out
    config, _ = json.JSONDecoder().raw_decode(out[out.rindex('{\n  "mcpServers"') :])
    assert config["mcpServers"]["lynn"]["args"][-1] == "--sandbox"
    assert Path(config["mcpServers"]["lynn"]["command"]).exists()
    assert "sandbox-secret" not in out
    # It ends with the URL of the sandbox's console (tests/apps/test_console_in_browser.py shows it).
    assert re.search(r"sandbox console: http://127\.0\.0\.1:\d+/\n", out), out[-600:]
