"""What users install, built and run with the tools they use: the sdist and wheel (`uv build`), the
wheel started by `uvx` over stdio, the MCP Bundle validated, packed and unpacked by `mcpb` and
started the way its manifest tells a host to.

Needs uv (from PyPI; .ci/run installs it into .venv) and mcpb (from npm; scripts/ensure_mcpb.sh);
a test skips, saying which, when its tool is missing. Like a user's machine, uv installs the
server's dependencies from PyPI (into its cache, so only the first run downloads them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from settings_factory import sandbox_settings

import lynn_mcp
from lynn_mcp.sandbox import (
    SEED_ACCESS_TOKEN,
    SEED_ACCESS_TOKEN_SECRET,
    SEED_CAMPAIGN_ID,
    SEED_TENANT,
    SandboxServer,
)
from lynn_mcp.server import build_server

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_COPY = Path(__file__).resolve().parent / "schemas" / "mcpb-manifest-v0.4.schema.json"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.]*)\}")
TOOL_TIMEOUT_S = 300  # the first uv run downloads the dependencies


def find_uv_tool(name: str) -> str | None:
    """`uv`/`uvx` beside this interpreter (where .ci/run installs them), else on PATH."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name)


def find_mcpb() -> str | None:
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lynn-mcp" / "mcpb"
    installed = Path(os.environ.get("LYNN_MCPB_DIR") or default) / "node_modules" / ".bin" / "mcpb"
    found = str(installed) if installed.exists() else shutil.which("mcpb")
    return found if found and shutil.which("node") else None


UV, UVX, MCPB = find_uv_tool("uv"), find_uv_tool("uvx"), find_mcpb()
needs_uv = pytest.mark.skipif(
    UV is None or UVX is None, reason="uv is not installed (.ci/run installs it: pip install uv)"
)
needs_mcpb = pytest.mark.skipif(
    MCPB is None, reason="mcpb or node is not installed (run scripts/ensure_mcpb.sh)"
)
pytestmark = [pytest.mark.slow, pytest.mark.anyio]


def run(command: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 # uv, uvx and mcpb, located above, on this repository's files
        command, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False, **options
    )


def child_env(**lynn: str) -> dict[str, str]:
    """This environment without LYNN_* and the test's venv, uv first on PATH, plus `lynn`.

    uv builds its environments from this interpreter (UV_PYTHON) and downloads none: the machine has
    no Python download site, and the test should not depend on which Python uv would pick."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LYNN_") and k != "VIRTUAL_ENV"}
    assert UV is not None
    env["PATH"] = os.pathsep.join([str(Path(UV).parent), env.get("PATH", "")])
    env.update(UV_PYTHON=sys.executable, UV_PYTHON_DOWNLOADS="never", **lynn)
    return env


def sandbox_env(sandbox: SandboxServer) -> dict[str, str]:
    return {
        "LYNN_BASE_URL": sandbox.base_url,
        "LYNN_TENANT": str(SEED_TENANT),
        "LYNN_ACCESS_TOKEN": SEED_ACCESS_TOKEN,
        "LYNN_ACCESS_TOKEN_SECRET": SEED_ACCESS_TOKEN_SECRET,
    }


async def tool_names(sandbox: SandboxServer, **overrides: Any) -> set[str]:
    """The tools the server in this process lists for the same settings."""
    async with Client(build_server(sandbox_settings(sandbox, **overrides))) as client:
        return {tool.name for tool in (await client.list_tools()).tools}


async def check_session(client: Client, sandbox: SandboxServer, **overrides: Any) -> None:
    """The started server is this version, lists this checkout's tools and reaches the sandbox."""
    assert client.server_info is not None
    assert client.server_info.version == lynn_mcp.__version__
    listed = {tool.name for tool in (await client.list_tools()).tools}
    assert listed == await tool_names(sandbox, **overrides)
    result = await client.call_tool("list_campaigns", {})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert SEED_CAMPAIGN_ID in {campaign["id"] for campaign in result.structured_content["campaigns"]}


# --- sdist and wheel --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    sdist: Path
    wheel: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """`uv build`: the sdist, then the wheel built from the sdist (so the sdist must be complete)."""
    out = tmp_path_factory.mktemp("dist")
    assert UV is not None
    done = run([UV, "build", "--out-dir", str(out), str(ROOT)], env=child_env())
    assert done.returncode == 0, done.stderr[-3000:]
    (sdist,) = out.glob("lynn_mcp-*.tar.gz")
    (wheel,) = out.glob("lynn_mcp-*-py3-none-any.whl")
    return Built(sdist, wheel)


@needs_uv
def test_sdist_holds_what_builds_the_wheel_and_nothing_of_the_repository(built: Built) -> None:
    assert built.sdist.name == f"lynn_mcp-{lynn_mcp.__version__}.tar.gz"
    with tarfile.open(built.sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    tops = {name.split("/")[0] for name in names}
    assert {"pyproject.toml", "README.md", "PKG-INFO", "lynn_mcp", "prompts"} <= tops
    assert not tops & {"tests", "bench", ".ci", "scripts", "manifest.json", ".venv", "dist"}
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


@needs_uv
def test_wheel_carries_package_data_version_and_entry_point(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as archive:
        names = set(archive.namelist())
        dist_info = f"lynn_mcp-{lynn_mcp.__version__}.dist-info"
        metadata = archive.read(f"{dist_info}/METADATA").decode()
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    prompts = sorted(path.name for path in (ROOT / "prompts").glob("*.md"))
    assert prompts
    assert {f"lynn_mcp/_prompts/{name}" for name in prompts} <= names
    assert {"lynn_mcp/data/sample_contacts.csv", "lynn_mcp/py.typed", "lynn_mcp/sandbox/__init__.py"} <= names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert f"\nVersion: {lynn_mcp.__version__}\n" in metadata
    # PyPI shows the README; the MCP Registry finds the server's name there.
    registry_name = json.loads((ROOT / "server.json").read_text(encoding="utf-8"))["name"]
    assert f"mcp-name: {registry_name}" in metadata
    assert "lynn-mcp = lynn_mcp.cli:main" in entry_points


@needs_uv
async def test_uvx_runs_the_built_wheel_over_stdio(built: Built, sandbox: SandboxServer) -> None:
    assert UVX is not None
    helped = run([UVX, "--from", str(built.wheel), "lynn-mcp", "--help"], env=child_env())
    assert helped.returncode == 0, helped.stderr[-3000:]
    assert helped.stdout.startswith("usage: lynn-mcp")

    params = StdioServerParameters(
        command=UVX, args=["--from", str(built.wheel), "lynn-mcp"], env=child_env(**sandbox_env(sandbox))
    )
    async with Client(params) as client:
        await check_session(client, sandbox)


# --- MCP Bundle -------------------------------------------------------------------------------------


@needs_mcpb
def test_mcpb_validate_accepts_the_manifest_and_refuses_a_broken_one(tmp_path: Path) -> None:
    assert MCPB is not None
    accepted = run([MCPB, "validate", str(ROOT / "manifest.json")])
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    broken = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
    del broken["server"]["mcp_config"]
    (tmp_path / "manifest.json").write_text(json.dumps(broken), encoding="utf-8")
    refused = run([MCPB, "validate", str(tmp_path / "manifest.json")])
    assert refused.returncode != 0
    assert "mcp_config" in refused.stdout


@needs_mcpb
def test_schema_copy_is_the_installed_mcpb_schema() -> None:
    assert MCPB is not None
    package = Path(MCPB).resolve().parents[2]  # node_modules/@anthropic-ai/mcpb/dist/cli/cli.js
    installed = json.loads((package / "dist" / "mcpb-manifest-v0.4.schema.json").read_text(encoding="utf-8"))
    copy = json.loads(SCHEMA_COPY.read_text(encoding="utf-8"))
    assert copy.pop("$comment")
    assert copy == installed, "tests/schemas/mcpb-manifest-v0.4.schema.json is out of date"


def host_substitute(value: str, variables: dict[str, Any]) -> str:
    """`${__dirname}` and `${user_config.key}` replaced as a host does: numbers and booleans as JSON."""

    def one(match: re.Match[str]) -> str:
        found = variables[match.group(1)]
        return found if isinstance(found, str) else json.dumps(found)

    return PLACEHOLDER.sub(one, value)


@needs_mcpb
@needs_uv
async def test_packed_bundle_unpacks_and_serves_the_sandbox(tmp_path: Path, sandbox: SandboxServer) -> None:
    assert MCPB is not None
    bundle = tmp_path / "lynn-mcp.mcpb"
    packed = run([MCPB, "pack", str(ROOT), str(bundle)])
    assert packed.returncode == 0, packed.stdout + packed.stderr
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
    # A uv bundle carries the source and pyproject.toml; the host installs the dependencies.
    assert {name.split("/")[0] for name in names} == {
        "manifest.json",
        "pyproject.toml",
        "README.md",
        "lynn_mcp",
        "prompts",
    }
    assert {"lynn_mcp/__main__.py", "lynn_mcp/data/sample_contacts.csv"} <= names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]

    unpacked = tmp_path / "installed"
    done = run([MCPB, "unpack", str(bundle), str(unpacked)])
    assert done.returncode == 0, done.stdout + done.stderr
    manifest = json.loads((unpacked / "manifest.json").read_text(encoding="utf-8"))
    config = manifest["server"]["mcp_config"]
    answers = {
        "tenant": SEED_TENANT,
        "access_token": SEED_ACCESS_TOKEN,
        "access_token_secret": SEED_ACCESS_TOKEN_SECRET,
        "base_url": sandbox.base_url,
        "read_only": True,
    }
    assert set(answers) == set(manifest["user_config"])
    variables = {"__dirname": str(unpacked), **{f"user_config.{k}": v for k, v in answers.items()}}
    env = child_env(**{name: host_substitute(value, variables) for name, value in config["env"].items()})
    command = shutil.which(config["command"], path=env["PATH"])
    assert command is not None
    args = [host_substitute(arg, variables) for arg in config["args"]]

    params = StdioServerParameters(command=command, args=args, env=env, cwd=tmp_path)
    async with Client(params, mode="legacy") as client:  # the handshake desktop hosts speak today
        await check_session(client, sandbox, read_only=True)
