"""scripts/mutation.py deletes inside its work directory (sync removes what the checkout lacks,
`--fresh` removes the directory): it must only ever touch a directory it made itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "mutation.py"


def run(command: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 # this interpreter on our own script, no shell
        [sys.executable, str(SCRIPT), command, str(REPO), str(workdir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_directory_it_did_not_make_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.txt").write_text("years of work")
    for command in ("claim", "sync"):
        done = run(command, home)
        assert done.returncode != 0
        assert "not made by this script" in done.stderr
    assert [path.name for path in home.iterdir()] == ["thesis.txt"]


def test_the_checkout_itself_is_refused(tmp_path: Path) -> None:
    for workdir in (REPO, REPO / "lynn_mcp", REPO.parent):
        done = run("claim", workdir)
        assert done.returncode != 0
        assert "the checkout" in done.stderr


def test_a_new_directory_becomes_a_copy_and_stale_files_go_only_there(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    assert run("sync", workdir).returncode == 0
    assert (workdir / "lynn_mcp" / "__init__.py").read_bytes() == (
        REPO / "lynn_mcp" / "__init__.py"
    ).read_bytes()
    (workdir / "stale.py").write_text("gone next sync")
    (workdir / "mutants").mkdir(exist_ok=True)
    (workdir / "mutants" / "kept.meta").write_text("{}")
    assert run("sync", workdir).returncode == 0
    assert not (workdir / "stale.py").exists()
    assert (workdir / "mutants" / "kept.meta").exists()
    assert (workdir / ".lynn-mcp-mutation").is_file()
