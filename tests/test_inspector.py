"""Interop with a client nobody on this team wrote: the official MCP Inspector CLI, over stdio and HTTP.

Needs Node >= 22.19 and the Inspector, which `scripts/ensure_node22.sh` installs from the npm
registry (into LYNN_NODE22_DIR, by default ~/.cache/lynn-mcp/node22). Skipped, saying so, only when
no such Node is found; with Node but no installed Inspector it is fetched by `npx`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from lynn_mcp.sandbox import (
    SEED_ACCESS_TOKEN,
    SEED_ACCESS_TOKEN_SECRET,
    SEED_CAMPAIGN_ID,
    SEED_TENANT,
    SandboxServer,
)

INSPECTOR_SPEC = "@modelcontextprotocol/inspector@2.12.0"
MIN_NODE = (22, 19)
CALL_TIMEOUT_S = 90


def node22_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lynn-mcp" / "node22"
    return Path(os.environ.get("LYNN_NODE22_DIR") or default)


def node_version(node: str) -> tuple[int, int] | None:
    try:
        done = subprocess.run(  # noqa: S603 # a node binary we located, asked for its version
            [node, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    out = done.stdout
    match = re.match(r"v(\d+)\.(\d+)", out.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def find_inspector() -> tuple[list[str], str] | None:
    """(command prefix for the Inspector CLI, directory to put first on PATH), or None without Node 22."""
    bin_dir = node22_dir() / "node_modules" / ".bin"
    candidates = [str(bin_dir / "node"), shutil.which("node")]
    for node in [c for c in candidates if c]:
        version = node_version(node)
        if version is None or version < MIN_NODE:
            continue
        node_bin = str(Path(node).parent)
        installed = Path(node_bin) / "mcp-inspector"
        if installed.exists():
            return [str(installed), "--cli"], node_bin
        npx = Path(node_bin) / "npx" if (Path(node_bin) / "npx").exists() else shutil.which("npx")
        if npx:
            return [str(npx), "-y", INSPECTOR_SPEC, "--cli"], node_bin
    return None


INSPECTOR = find_inspector()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        INSPECTOR is None,
        reason=f"Node >= {MIN_NODE[0]}.{MIN_NODE[1]} is unavailable (run scripts/ensure_node22.sh)",
    ),
]


def run_inspector(
    tmp_path: Path, target: list[str], method: str, *options: str
) -> subprocess.CompletedProcess[str]:
    """Run one Inspector CLI call."""
    assert INSPECTOR is not None
    command, node_bin = INSPECTOR
    env = {key: value for key, value in os.environ.items() if not key.startswith("LYNN_")}
    # The Inspector's launcher runs `node` from PATH; its catalog would be written under HOME.
    env.update(PATH=f"{node_bin}{os.pathsep}{env.get('PATH', '')}", HOME=str(tmp_path))
    return subprocess.run(  # noqa: S603 # the Inspector with arguments built here
        [*command, *target, "--method", method, *options],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=CALL_TIMEOUT_S,
        check=False,
    )


def inspector(tmp_path: Path, target: list[str], method: str, *options: str) -> Any:
    """Run one Inspector CLI call and return its JSON output."""
    done = run_inspector(tmp_path, target, method, *options)
    assert done.returncode == 0, (
        f"{method}: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    )
    return json.loads(done.stdout)


LINKED_VIEWS = {
    "load_campaign_data": "ui://lynn/load-report.html", "upload_campaign_file": "ui://lynn/load-report.html",
    "bulk_set_dnd": "ui://lynn/load-report.html", "get_task_status": "ui://lynn/load-report.html",
    "get_dnd_task_status": "ui://lynn/load-report.html", "list_campaigns": "ui://lynn/campaigns.html",
    "get_campaign": "ui://lynn/campaigns.html",
}  # fmt: skip
NO_OUTSIDE_DOMAIN = {"connectDomains": [], "resourceDomains": [], "frameDomains": [], "baseUriDomains": []}


def check_apps(tmp_path: Path, target: list[str], *era: str) -> None:
    """`--app-info`: a client that advertises MCP Apps finds the views of the linked tools (their
    resource read, its MIME type and CSP); the Inspector's own default (no apps) finds none."""
    done = run_inspector(tmp_path, target, "tools/list", "--app-info", "--advertise-apps", *era)
    assert done.returncode == 0, done.stderr[-2000:]
    infos = {info["toolName"]: info for info in map(json.loads, done.stdout.splitlines())}
    assert {name for name, info in infos.items() if info["hasApp"]} == set(LINKED_VIEWS)
    for name, uri in LINKED_VIEWS.items():
        assert infos[name] == {
            "hasApp": True, "toolName": name, "resourceUri": uri, "csp": NO_OUTSIDE_DOMAIN,
            "prefersBorder": True, "resourceMimeType": "text/html;profile=mcp-app",
        }, infos[name]  # fmt: skip
    plain = run_inspector(tmp_path, target, "tools/call", "--tool-name", "list_campaigns", "--app-info")
    assert plain.returncode == 2, plain.stdout + plain.stderr  # the CLI's exit code for "no app"
    assert json.loads(plain.stdout.splitlines()[0]) == {"hasApp": False, "toolName": "list_campaigns"}


def exercise(tmp_path: Path, target: list[str]) -> None:
    """What any client does first: list and call tools, list prompts and resources, read one."""
    tools = {tool["name"]: tool for tool in inspector(tmp_path, target, "tools/list")["tools"]}
    assert {"list_campaigns", "get_campaign", "start_campaign", "load_campaign_data"} <= set(tools)
    assert tools["get_campaign"]["annotations"]["readOnlyHint"] is True

    called = inspector(
        tmp_path,
        target,
        "tools/call",
        "--tool-name",
        "get_campaign",
        "--tool-arg",
        f"campaign_id={SEED_CAMPAIGN_ID}",
    )
    assert called["isError"] is False, called
    assert called["structuredContent"]["id"] == SEED_CAMPAIGN_ID

    prompts = {prompt["name"] for prompt in inspector(tmp_path, target, "prompts/list")["prompts"]}
    assert {"launch_campaign_from_file", "campaign_health_report"} <= prompts
    rendered = inspector(
        tmp_path,
        target,
        "prompts/get",
        "--prompt-name",
        "campaign_health_report",
        "--prompt-args",
        "period_days=14",
    )
    assert "last and next 14 days" in rendered["messages"][0]["content"]["text"]

    resources = inspector(tmp_path, target, "resources/list")["resources"]
    assert [resource["uri"] for resource in resources] == ["lynn://campaigns"]
    templates = inspector(tmp_path, target, "resources/templates/list")["resourceTemplates"]
    assert "lynn://campaigns/{id}" in {template["uriTemplate"] for template in templates}
    read = inspector(tmp_path, target, "resources/read", "--uri", f"lynn://campaigns/{SEED_CAMPAIGN_ID}")
    document = json.loads(read["contents"][0]["text"])
    assert document["id"] == SEED_CAMPAIGN_ID
    assert read["contents"][0]["mimeType"] == "application/json"

    # Over stateless HTTP only the 2026-07-28 era says what the client supports (in every request);
    # a 2025-11-25 client's initialize is not remembered there, so it is a plain host.
    check_apps(tmp_path, target, *(("--protocol-era", "auto") if target[0].startswith("http") else ()))


def test_inspector_over_stdio(sandbox: SandboxServer, tmp_path: Path) -> None:
    server_env = {
        "LYNN_BASE_URL": sandbox.base_url,
        "LYNN_TENANT": str(SEED_TENANT),
        "LYNN_ACCESS_TOKEN": SEED_ACCESS_TOKEN,
        "LYNN_ACCESS_TOKEN_SECRET": SEED_ACCESS_TOKEN_SECRET,
    }
    env_options = [part for key, value in server_env.items() for part in ("-e", f"{key}={value}")]
    exercise(tmp_path, [*env_options, sys.executable, "-m", "lynn_mcp"])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    """`lynn-mcp --http --sandbox` on a free loopback port; yields its MCP URL."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LYNN_")}
    process = subprocess.Popen(  # noqa: S603 # this interpreter on our own entry point
        [sys.executable, "-m", "lynn_mcp", "--http", "--sandbox", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"lynn-mcp --http exited with {process.returncode}"
            assert time.monotonic() < deadline, "lynn-mcp --http did not answer /health within 60 s"
            try:
                if httpx2.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx2.TransportError:
                time.sleep(0.1)
        yield f"{base}/mcp"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def test_inspector_over_http(http_server: str, tmp_path: Path) -> None:
    exercise(tmp_path, [http_server])
