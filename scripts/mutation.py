"""The mutation run's helper (scripts/mutation.sh): which code is mutated, where the run happens, and
the score per module.

    python scripts/mutation.py modules                   the module names and what of each is mutated
    python scripts/mutation.py sync REPO WORKDIR         copy the checkout into the work directory
    python scripts/mutation.py claim REPO WORKDIR        check (and mark) a directory as a work directory
    python scripts/mutation.py globs MODULE...           mutmut's mutant-name patterns for the modules
    python scripts/mutation.py score WORKDIR MODULE...   the table, the survivors, stale equivalents

The run happens in a copy of the checkout (WORKDIR), so mutmut's `mutants/` folder and its caches
never appear in the work tree. A file whose content changed since the last sync gets a fresh
modification time there: that is how mutmut notices it must mutate the file again.

Score = killed / mutants in scope. A mutant listed in scripts/mutation_equivalents.toml (it cannot
change behaviour) is shown, with its reason, but is not counted as killed. A timeout (the mutant made
a test hang until mutmut stopped it) counts as killed: the suite noticed.
"""

# ruff: noqa: T201  # a command-line tool: its table and lists are its output

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

EQUIVALENTS_FILE = Path(__file__).with_name("mutation_equivalents.toml")


@dataclass(frozen=True)
class Module:
    path: str
    functions: tuple[str, ...] = ()
    """mutmut's names of the functions in scope (`x_name`, `xǁClassǁmethod`); empty: all of them."""

    @property
    def dotted(self) -> str:
        return self.path.removesuffix(".py").replace("/", ".")

    def in_scope(self, mutant: str) -> bool:
        function = mutant.partition("__mutmut_")[0].rpartition(".")[2]
        return mutant.startswith(self.dotted + ".") and (not self.functions or function in self.functions)


# The code that guards users (issue 17). Where only part of a file guards users, the functions named.
MODULES: dict[str, Module] = {
    "redaction/registry": Module("lynn_mcp/redaction/registry.py"),
    "redaction/patterns": Module("lynn_mcp/redaction/patterns.py"),
    "signing": Module("lynn_mcp/signing.py"),
    "server/consent": Module("lynn_mcp/server/consent.py"),
    # The guard classes, the allowlists, the app that stacks them, and the refusal to serve a
    # non-loopback address without a way to sign clients in. Not GracefulServer (the shutdown): its
    # tests signal a real `lynn-mcp --http` process, which a mutation run cannot see into.
    "server/http": Module(
        "lynn_mcp/server/http.py",
        (
            "xǁBearerGuardǁ__init__",
            "xǁBearerGuardǁ__call__",
            "xǁCaseInsensitiveHostǁ__init__",
            "xǁCaseInsensitiveHostǁ__call__",
            "x_security_for",
            "x_build_http_app",
            "x_unprotected_bind",
            "x_run_http",
        ),
    ),
    "bulk/ledger": Module("lynn_mcp/bulk/ledger.py"),
    "bulk/report": Module("lynn_mcp/bulk/report.py"),
    # The accounting: what is sent and whether it may have landed, how a chunk settles, why a load
    # stops, and the rows left when it does. Not the scheduling (semaphores, progress, gc).
    "bulk/loader": Module(
        "lynn_mcp/bulk/loader.py",
        (
            "xǁBulkLoadǁ_skip",
            "xǁBulkLoadǁ_run_chunk",
            "xǁBulkLoadǁ_send",
            "xǁBulkLoadǁ_settle_from_task",
            "xǁBulkLoadǁ_stop_file_changed",
            "xǁBulkLoadǁ_stop_unreadable",
            "xǁBulkLoadǁ_stop_unread",
            "xǁBulkLoadǁ_finish",
        ),
    ),
    "bulk/checks": Module("lynn_mcp/bulk/checks.py"),
    "lynn/retry": Module("lynn_mcp/lynn/retry.py"),
    # The token handling: the bearer, its renewal, the exchange, and the one re-exchange on a 401.
    "lynn/client": Module(
        "lynn_mcp/lynn/client.py",
        ("xǁLynnClientǁ_bearer", "xǁLynnClientǁ_refresh", "xǁLynnClientǁ_exchange", "xǁLynnClientǁcall"),
    ),
}


def _names(arguments: list[str]) -> list[str]:
    unknown = [name for name in arguments if name not in MODULES]
    if unknown:
        sys.exit(f"unknown module(s) {', '.join(unknown)}; known: {', '.join(MODULES)}")
    return arguments or list(MODULES)


def globs(names: list[str]) -> list[str]:
    """mutmut's patterns: `module.function*` also matches the function's own name, which is how
    mutmut picks the tests of its clean run (a `__mutmut_*` pattern would pick none, so all)."""
    patterns: list[str] = []
    for name in _names(names):
        module = MODULES[name]
        patterns += [f"{module.dotted}.{function}*" for function in module.functions] or [
            f"{module.dotted}.*"
        ]
    return patterns


WORKDIR_MARK = ".lynn-mcp-mutation"
"""Written into every work directory: `sync` deletes what the checkout lacks and `--fresh` deletes the
whole directory, so both act only on a directory this script made (not a $MUTATION_WORKDIR set to
a home directory or the checkout by mistake)."""


def claim_workdir(repo: Path, workdir: Path) -> None:
    """Make `workdir` a work directory, or exit saying why it cannot be one."""
    if workdir == repo or workdir in repo.parents or repo in workdir.parents:
        sys.exit(f"refusing work directory {workdir}: it is, holds or lies inside the checkout {repo}")
    if workdir.exists() and any(workdir.iterdir()) and not (workdir / WORKDIR_MARK).is_file():
        sys.exit(
            f"refusing work directory {workdir}: it is not empty and was not made by this script "
            f"(no {WORKDIR_MARK}); choose another MUTATION_WORKDIR or remove it yourself"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / WORKDIR_MARK).touch()


def sync(repo: Path, workdir: Path) -> None:
    """Copy the checkout's files (tracked and untracked, not ignored) into `workdir`; remove the ones
    it no longer has. mutmut's own folder, `mutants/`, is kept: it holds the mutants and the caches."""
    claim_workdir(repo, workdir)
    command = ["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    # S603: git from PATH (as every developer command runs it), on our own checkout, no shell.
    listed = subprocess.run(command, check=True, capture_output=True).stdout.decode()  # noqa: S603
    files = {name for name in listed.split("\0") if name and (repo / name).is_file()}
    for name in sorted(files):
        source, target = repo / name, workdir / name
        if target.is_file() and target.read_bytes() == source.read_bytes():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)  # a fresh mtime: mutmut mutates a changed file again
        shutil.copymode(source, target)
    for root, dirs, names in os.walk(workdir):
        relative = Path(root).relative_to(workdir)
        if relative == Path("."):
            dirs[:] = [d for d in dirs if d != "mutants"]
        for filename in names:
            if str(relative / filename) not in files and str(relative / filename) != WORKDIR_MARK:
                (Path(root) / filename).unlink()


def load_equivalents() -> dict[str, dict[str, str]]:
    data = tomllib.loads(EQUIVALENTS_FILE.read_text(encoding="utf-8"))
    return {entry["mutant"]: entry for entry in data.get("equivalent", [])}


def _diff(mutant: str, path: str) -> str:
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    return get_diff_for_mutant(mutant, path=path)


def _change(diff: str) -> str:
    """The mutated lines of a diff; for a mutant that only deletes, `removed: ` and the deleted lines."""
    lines = diff.splitlines()
    added = [line[1:].strip() for line in lines if line.startswith("+") and not line.startswith("+++")]
    if added:
        return " ".join(added)
    removed = [line[1:].strip() for line in lines if line.startswith("-") and not line.startswith("---")]
    return "removed: " + " ".join(removed)


KILLED = {1, 3, 24, -24, 152, 255, 36}  # failed tests, pytest's internal error, timeouts (SIGXCPU)
TIMEOUTS = {24, -24, 152, 255, 36}


def score(workdir: Path, names: list[str], *, show_diffs: bool) -> int:
    """Print the table and the survivors; 1 when a module is under 90 % or an equivalent is stale."""
    os.chdir(workdir)  # mutmut's helpers read `mutants/` relative to here
    equivalents = load_equivalents()
    rows: list[tuple[str, dict[str, int] | None]] = []
    survivors: list[tuple[str, str, str]] = []
    stale: list[str] = []
    listed_equivalents: list[tuple[str, str, str]] = []
    for name in _names(names):
        module = MODULES[name]
        meta = workdir / "mutants" / (module.path + ".meta")
        if not meta.is_file():
            rows.append((name, None))
            continue
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        codes = {key: code for key, code in codes.items() if module.in_scope(key)}
        counts = {"mutants": len(codes), "killed": 0, "timeout": 0, "equivalent": 0, "survived": 0}
        counts |= {"no tests": 0, "not run": 0}
        for key, code in sorted(codes.items(), key=lambda item: _natural(item[0])):
            if code in KILLED:
                counts["killed"] += 1
                counts["timeout"] += code in TIMEOUTS
                if key in equivalents:
                    stale.append(f"{key} is listed as equivalent but a test kills it: remove the entry")
            elif code is None:
                counts["not run"] += 1
            elif key in equivalents:
                counts["equivalent"] += 1
                entry = equivalents[key]
                changed = _change(_diff(key, module.path))
                if entry["change"] not in changed:
                    stale.append(f"{key}: the mutant is now `{changed}`, not `{entry['change']}`: recheck it")
                listed_equivalents.append((key, entry["change"], entry["reason"]))
            else:
                counts["no tests" if code in (5, 33) else "survived"] += 1
                survivors.append((key, "no tests" if code in (5, 33) else "survived", module.path))
        rows.append((name, counts))

    header = (
        "module",
        "mutants",
        "killed",
        "timeout",
        "equivalent",
        "survived",
        "no tests",
        "not run",
        "score",
    )
    print()
    print("  ".join(f"{h:>10}" if i else f"{h:<20}" for i, h in enumerate(header)))
    failing = False
    for name, found in rows:
        if found is None:
            print(f"{name:<20}  (not run yet)")
            failing = True
            continue
        counts = found
        value = counts["killed"] / counts["mutants"] if counts["mutants"] else 1.0
        failing |= value < 0.9 or counts["not run"] > 0
        cells = [f"{counts[h]:>10}" for h in header[1:-1]]
        print(f"{name:<20}  " + "  ".join(cells) + f"  {value:>9.1%}")
    if listed_equivalents:
        print("\nequivalent (listed in scripts/mutation_equivalents.toml, not counted as killed):")
        for key, change, reason in listed_equivalents:
            print(f"  {key}\n      `{change}`: {reason}")
    if survivors:
        print("\nsurvivors (a test is missing, or the mutant is equivalent: say why in the toml):")
        for key, status, path in survivors:
            print(f"  {key} ({status})")
            if show_diffs:
                print("\n".join("      " + line for line in _diff(key, path).splitlines()[2:]))
    for problem in stale:
        print(f"stale: {problem}")
    return 1 if failing or stale else 0


def _natural(key: str) -> tuple[str, int]:
    function, _, number = key.partition("__mutmut_")
    return function, int(number) if number.isdigit() else 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "modules":
        for name, module in MODULES.items():
            print(f"{name:<20} {module.path}: {', '.join(module.functions) or 'every function'}")
    elif command == "sync":
        sync(Path(rest[0]).resolve(), Path(rest[1]).resolve())
    elif command == "claim":
        claim_workdir(Path(rest[0]).resolve(), Path(rest[1]).resolve())
    elif command == "globs":
        print("\n".join(globs(rest)))
    elif command == "score":
        diffs = "--diffs" in rest
        return score(Path(rest[0]).resolve(), [r for r in rest[1:] if r != "--diffs"], show_diffs=diffs)
    else:
        sys.exit(f"unknown command {command}; see --help")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
