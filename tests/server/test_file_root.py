"""LYNN_FILE_ROOT: the file tools read only under it (after symlinks and `..`), and over HTTP only
with it; a refused path is never opened, and no error quotes a file from outside it.

Through the SDK client in both protocol eras against the sandbox, in memory (`served_over="http"`
is what `lynn-mcp --http` builds) and through a real `lynn-mcp --http` subprocess. A path that must
be refused without being opened or stat'ed points at a FIFO: opening it would hang the call, and a
stat would answer "not a regular file" instead of `forbidden`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from server_helpers import request_count, sandbox_settings
from test_confirm import Human, code_of, text_of
from test_http import HttpServer, lynn_env

from lynn_mcp.bulk.file_access import ServedOver
from lynn_mcp.config import InvalidSettings, load_settings
from lynn_mcp.sandbox import SEED_CAMPAIGN_ID, SEED_TEMPLATE_COLUMNS, SEED_TEMPLATE_ID, SandboxServer
from lynn_mcp.server import build_server

pytestmark = pytest.mark.anyio

SECRET = "SECRET-first-line-7f3a9c"
TOOL_TARGETS: dict[str, dict[str, Any]] = {
    "load_campaign_data": {"template_id": SEED_TEMPLATE_ID},
    "bulk_set_dnd": {"campaign_id": SEED_CAMPAIGN_ID},
    "upload_campaign_file": {"template_id": SEED_TEMPLATE_ID},
}
SUFFIX = {"load_campaign_data": ".csv", "bulk_set_dnd": ".csv", "upload_campaign_file": ".cpg"}


def template_file(path: Path, first_phone: int, n: int = 2) -> Path:
    """`n` template rows (`;`-separated, so the same text serves as .csv and .cpg)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [";".join(SEED_TEMPLATE_COLUMNS)]
    for i in range(n):
        values = dict.fromkeys(SEED_TEMPLATE_COLUMNS, "x") | {"Name": f"P{i}", "Phone": str(first_phone + i)}
        lines.append(";".join(values[column] for column in SEED_TEMPLATE_COLUMNS))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def lifting_dnd_file(path: Path, first_phone: int = 56975550001, n: int = 2) -> Path:
    """Blacklist rows that lift a block: reading them is what makes bulk_set_dnd ask the human."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{first_phone + i},false\n" for i in range(n))
    path.write_text("identifier,do_not_disturb\n" + rows, encoding="utf-8")
    return path


def secret_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{SECRET}\n56970000001\n", encoding="utf-8")
    return path


def fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def arguments(tool: str, file_path: str | Path) -> dict[str, Any]:
    return {**TOOL_TARGETS[tool], "file_path": str(file_path)}


async def ok(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return dict(result.structured_content)


@asynccontextmanager
async def served(
    sandbox: SandboxServer,
    mode: str,
    served_over: ServedOver = "stdio",
    human: Human | None = None,
    **settings: Any,
) -> AsyncIterator[Client]:
    server = build_server(sandbox_settings(sandbox, **settings), served_over=served_over)
    async with Client(server, mode=mode, elicitation_callback=human or Human()) as client:  # type: ignore[arg-type]
        yield client


@pytest.fixture
def root(tmp_path: Path) -> Path:
    directory = tmp_path / "root"
    directory.mkdir()
    return directory


# -- configuration -------------------------------------------------------------------------------


def test_file_root_must_be_an_existing_directory_and_is_shown_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no developer .env
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    for bad in (tmp_path / "missing", a_file):
        with pytest.raises(InvalidSettings, match="LYNN_FILE_ROOT") as caught:
            load_settings({"file_root": str(bad)})
        assert f"{bad} is not an existing directory" in str(caught.value)

    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("LYNN_FILE_ROOT", "~/link")
    settings = load_settings({})
    assert settings.file_root == real  # `~` expanded, the symlink resolved: what paths are checked against
    assert settings.masked()["LYNN_FILE_ROOT"] == str(real)

    monkeypatch.setenv("LYNN_FILE_ROOT", "  ")  # blank is unset, not the working directory
    unset = load_settings({})
    assert unset.file_root is None
    assert unset.masked()["LYNN_FILE_ROOT"].startswith("not set")


def test_lynn_mcp_refuses_to_start_with_a_root_that_is_not_a_directory(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    completed = subprocess.run(
        [sys.executable, "-m", "lynn_mcp"],
        env=lynn_env("http://127.0.0.1:9", LYNN_FILE_ROOT=str(missing)),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=False,
    )
    stderr = completed.stderr.decode(errors="replace")
    assert completed.returncode == 2, stderr
    assert (
        f"invalid configuration: LYNN_FILE_ROOT: Value error, {missing} is not an existing directory"
        in stderr
    )
    assert "Traceback" not in stderr


# -- reading under the root ----------------------------------------------------------------------


async def test_relative_paths_are_taken_from_the_root_and_symlinks_inside_it_are_followed(
    sandbox: SandboxServer, mode: str, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the working directory is not the root
    template_file(root / "in" / "data.csv", 56975100001)
    template_file(root / "in" / "data.cpg", 56975200001)
    lifting_dnd_file(root / "dnd.csv", 56975300001)
    (root / "alias.csv").symlink_to(root / "in" / "data.csv")
    async with served(sandbox, mode, file_root=str(root)) as client:
        loaded = await ok(client, "load_campaign_data", **arguments("load_campaign_data", "in/data.csv"))
        assert (loaded["submitted"], loaded["accepted"]) == (2, 2)
        again = await ok(client, "load_campaign_data", **arguments("load_campaign_data", "alias.csv"))
        assert again["submitted"] == 2  # a symlink that stays inside the root is fine
        absolute = await ok(
            client, "load_campaign_data", **arguments("load_campaign_data", root / "in/data.csv")
        )
        assert absolute["submitted"] == 2
        uploaded = await ok(
            client, "upload_campaign_file", **arguments("upload_campaign_file", "in/data.cpg")
        )
        assert (uploaded["state"], uploaded["accepted"]) == ("Completed", 2)
        lifted = await ok(client, "bulk_set_dnd", **arguments("bulk_set_dnd", "dnd.csv"))
        assert (lifted["submitted"], lifted["accepted"]) == (2, 2)


async def test_paths_outside_the_root_are_forbidden_without_being_opened(
    sandbox: SandboxServer, mode: str, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "outside"
    target = fifo(outside / "pipe.csv")
    (root / "link.csv").symlink_to(target)
    (root / "dangling.csv").symlink_to(outside / "not-there.csv")
    (root / "sub").mkdir()
    (root / "sub" / "up").symlink_to(outside)
    monkeypatch.setenv("HOME", str(outside))
    tried = {  # file_path -> the absolute path the error must name
        str(target): target,
        "../outside/pipe.csv": root / "../outside/pipe.csv",
        "link.csv": root / "link.csv",
        "dangling.csv": root / "dangling.csv",
        "sub/up/pipe.csv": root / "sub/up/pipe.csv",
        "~/pipe.csv": target,
    }
    async with served(sandbox, mode, file_root=str(root)) as client:
        await ok(client, "list_campaigns")  # the token exchange is not part of what we count
        httpx2.delete(f"{sandbox.base_url}/sandbox/stats").raise_for_status()
        for tool in TOOL_TARGETS:
            for file_path, absolute in tried.items():
                refused = await client.call_tool(tool, arguments(tool, file_path))
                text = text_of(refused)
                assert code_of(refused) == "forbidden", (tool, file_path, text)
                assert f"file_path {absolute} is outside LYNN_FILE_ROOT {root}" in text
                if file_path in ("link.csv", "dangling.csv", "sub/up/pipe.csv"):
                    assert str(outside) not in text  # where a link points is not told
        assert request_count(sandbox) == 0


async def test_errors_name_the_absolute_path_tried(
    sandbox: SandboxServer, mode: str, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(root))
    with_root = {"missing.csv": root / "missing.csv", "~/gone.csv": root / "gone.csv"}
    without_root = {"missing.csv": work / "missing.csv", "~/gone.csv": root / "gone.csv"}
    for settings, cases in (({"file_root": str(root)}, with_root), ({}, without_root)):
        async with served(sandbox, mode, **settings) as client:
            for tool in TOOL_TARGETS:
                for file_path, absolute in cases.items():
                    refused = await client.call_tool(tool, arguments(tool, file_path))
                    assert code_of(refused) == "invalid_argument"
                    assert f"file_path {absolute} does not exist" in text_of(refused), text_of(refused)
                nul = await client.call_tool(tool, arguments(tool, "data\x00.csv"))
                assert code_of(nul) == "invalid_argument"  # was internal_error: "embedded null byte"
                assert "file_path contains a NUL character" in text_of(nul)


async def test_over_stdio_without_a_root_any_readable_file_loads(
    sandbox: SandboxServer, mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    template_file(tmp_path / "anywhere" / "data.csv", 56975400001)
    async with served(sandbox, mode) as client:
        report = await ok(
            client, "load_campaign_data", **arguments("load_campaign_data", "anywhere/data.csv")
        )
        assert report["accepted"] == 2


# -- over HTTP -----------------------------------------------------------------------------------


async def test_over_http_file_path_needs_a_root_and_inline_rows_keep_working(
    sandbox: SandboxServer, mode: str, root: Path, tmp_path: Path
) -> None:
    files = {
        "load_campaign_data": template_file(root / "data.csv", 56975500001),
        "bulk_set_dnd": lifting_dnd_file(root / "dnd.csv", 56975600001),
        "upload_campaign_file": template_file(root / "data.cpg", 56975700001),
    }
    human = Human()
    async with served(sandbox, mode, served_over="http", human=human) as client:
        for tool, path in files.items():
            refused = await client.call_tool(tool, arguments(tool, path))
            assert code_of(refused) == "forbidden"
            assert "file_path is refused over HTTP because the server has no LYNN_FILE_ROOT" in text_of(
                refused
            )
        assert human.shown == []  # bulk_set_dnd's consent resolver did not read the lifting rows either
        rows = [dict.fromkeys(SEED_TEMPLATE_COLUMNS, "x") | {"Phone": "56975500009"}]
        inline = await ok(client, "load_campaign_data", template_id=SEED_TEMPLATE_ID, rows=rows)
        assert inline["accepted"] == 1
        blocked = await ok(
            client, "bulk_set_dnd", campaign_id=SEED_CAMPAIGN_ID, rows=[{"identifier": "56975600009"}]
        )
        assert blocked["accepted"] == 1
    async with served(sandbox, mode, served_over="http", file_root=str(root)) as client:
        for tool, path in files.items():
            report = await ok(client, tool, **arguments(tool, path.name))
            assert report["accepted"] == 2, tool
        outside = template_file(tmp_path / "outside.csv", 56975800001)
        refused = await client.call_tool("load_campaign_data", arguments("load_campaign_data", outside))
        assert code_of(refused) == "forbidden"


# -- bulk_set_dnd's consent resolver -------------------------------------------------------------


async def test_bulk_set_dnd_consent_reads_the_file_through_the_same_policy_and_limits(
    sandbox: SandboxServer, mode: str, root: Path, tmp_path: Path
) -> None:
    """The resolver counts lifted rows before the tool body runs: a file the tool may not read must
    not be read (nor shown to the human as a count) by the resolver either."""
    outside = lifting_dnd_file(tmp_path / "outside" / "lift.csv")
    human = Human()
    async with served(sandbox, mode, human=human, file_root=str(root)) as client:
        refused = await client.call_tool("bulk_set_dnd", arguments("bulk_set_dnd", outside))
        assert code_of(refused) == "forbidden", text_of(refused)
    big = lifting_dnd_file(root / "big.csv", 56976000001, n=80_000)
    assert 1_000_000 < big.stat().st_size < 2_000_000
    async with served(sandbox, mode, human=human, file_root=str(root), max_file_mb=1) as client:
        refused = await client.call_tool("bulk_set_dnd", arguments("bulk_set_dnd", "big.csv"))
        assert code_of(refused) == "invalid_argument"
        assert "the limit is 1 MB" in text_of(refused)
    assert human.shown == []  # nobody was asked to approve rows the tool would not read


# -- the real `lynn-mcp --http` --------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(task_delay_ms=1) as server:
        yield server


@pytest.fixture(scope="module")
def http_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("http-files")
    root = base / "root"
    template_file(root / "data.csv", 56977100001)
    secrets_dir = base / "secrets"
    for suffix in (".txt", ".csv", ".json", ".cpg"):
        secret_file(secrets_dir / f"secret{suffix}")
    (root / "secret-link.csv").symlink_to(secrets_dir / "secret.csv")
    return {"root": root, "secrets": secrets_dir, "work": base}


def start_http(sandbox: SandboxServer, workdir: Path, **extra: str) -> Iterator[HttpServer]:
    workdir.mkdir(exist_ok=True)
    server = HttpServer(lynn_env(sandbox.base_url, **extra), workdir)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def http_without_root(module_sandbox: SandboxServer, http_dirs: dict[str, Path]) -> Iterator[HttpServer]:
    yield from start_http(module_sandbox, http_dirs["work"] / "no-root")


@pytest.fixture(scope="module")
def http_with_root(module_sandbox: SandboxServer, http_dirs: dict[str, Path]) -> Iterator[HttpServer]:
    yield from start_http(
        module_sandbox, http_dirs["work"] / "with-root", LYNN_FILE_ROOT=str(http_dirs["root"])
    )


@asynccontextmanager
async def http_client(server: HttpServer, mode: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(timeout=30) as http,
        Client(streamable_http_client(f"{server.url}/mcp", http_client=http), mode=mode) as client,  # type: ignore[arg-type]
    ):
        yield client


def secret_attempts(secrets_dir: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every file tool on every secret file, by absolute path and by a relative path that climbs out."""
    for tool in TOOL_TARGETS:
        for secret in sorted(secrets_dir.iterdir()):
            yield tool, arguments(tool, secret)
            yield tool, arguments(tool, f"../secrets/{secret.name}")


async def test_http_without_a_root_refuses_every_file_path_and_quotes_no_file(
    http_without_root: HttpServer, http_dirs: dict[str, Path], mode: str
) -> None:
    async with http_client(http_without_root, mode) as client:
        for tool, args in secret_attempts(http_dirs["secrets"]):
            refused = await client.call_tool(tool, args)
            text = " ".join(getattr(block, "text", "") for block in refused.content)
            assert SECRET not in text, (tool, args)
            assert code_of(refused) == "forbidden", (tool, args, text)
            assert "LYNN_FILE_ROOT" in text
        phone = {"auto": "56977200001", "legacy": "56977200002"}[mode]  # one sandbox serves both eras
        rows = [dict.fromkeys(SEED_TEMPLATE_COLUMNS, "x") | {"Phone": phone}]
        inline = await ok(client, "load_campaign_data", template_id=SEED_TEMPLATE_ID, rows=rows)
        assert inline["accepted"] == 1
    assert "LYNN_FILE_ROOT is not set" in http_without_root.stderr_path.read_text(errors="replace")


async def test_http_with_a_root_reads_under_it_only_and_quotes_no_outside_file(
    http_with_root: HttpServer, http_dirs: dict[str, Path], mode: str
) -> None:
    root = http_dirs["root"]
    async with http_client(http_with_root, mode) as client:
        attempts = [*secret_attempts(http_dirs["secrets"])]
        attempts += [(tool, arguments(tool, "secret-link.csv")) for tool in TOOL_TARGETS]
        for tool, args in attempts:
            refused = await client.call_tool(tool, args)
            text = " ".join(getattr(block, "text", "") for block in refused.content)
            assert SECRET not in text, (tool, args)
            assert code_of(refused) == "forbidden", (tool, args, text)
            assert f"is outside LYNN_FILE_ROOT {root}" in text
        report = await ok(client, "load_campaign_data", **arguments("load_campaign_data", "data.csv"))
        assert report["submitted"] == 2
