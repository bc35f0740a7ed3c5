"""Context budget: cl100k tokens of the full `tools/list` reply, per tool and in total.

    .venv/bin/python bench/context_tokens.py [--json figures.json] [--markdown]

Spawns `python -m lynn_mcp` over stdio exactly as an IDE does (2025-11-25 handshake), takes the
tools/list `result` as the bytes on the wire, and counts its tokens with the npm `gpt-tokenizer`
package (cl100k_base, offline; installed into bench/node_modules on first use, from the npm
registry only). Every conversation with the server pays this many tokens before the first word.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    APPS_HOST_CAPABILITIES,
    Figure,
    clean_env,
    print_table,
    stdio_handshake_and_list,
    write_figures,
)

BENCH = Path(__file__).resolve().parent
TOKENIZER = "gpt-tokenizer@4.0.0"
GOAL_TOKENS = 4000
OPENAPI_BASELINE = 4832  # a server generated from an OpenAPI document of the same operations
TIMEOUT_S = 120


def ensure_tokenizer() -> None:
    """Install gpt-tokenizer into bench/node_modules once (npm registry; no other network)."""
    if (BENCH / "node_modules" / "gpt-tokenizer" / "package.json").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("context_tokens: npm is needed to install gpt-tokenizer (Node 18+)")
    subprocess.run(  # npm with fixed arguments
        [npm, "install", "--prefix", str(BENCH), "--no-save", "--no-package-lock", "--no-audit", "--no-fund",
         TOKENIZER],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=TIMEOUT_S,
    )  # fmt: skip


def tools_list_wire(*, apps_host: bool = False) -> tuple[str, list[str]]:
    """The tools/list result as sent on the wire, and each tool's own JSON in it; `apps_host`: as a
    host that renders MCP Apps sees it (with the tools' links to their views)."""
    # No developer .env file is read (cwd); stderr goes to a file, so a chatty server never blocks.
    with tempfile.TemporaryDirectory() as cwd, tempfile.TemporaryFile() as stderr:
        # stdin stays open until the reply is read: a server told EOF may end before it answers.
        server = subprocess.Popen(  # this interpreter on our own entry point
            [sys.executable, "-m", "lynn_mcp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=cwd,
            env=clean_env(),
        )
        assert server.stdin is not None
        assert server.stdout is not None
        watchdog = threading.Timer(TIMEOUT_S, server.kill)
        watchdog.start()
        try:
            server.stdin.write(stdio_handshake_and_list(APPS_HOST_CAPABILITIES if apps_host else None))
            server.stdin.flush()
            for line in iter(server.stdout.readline, b""):
                reply = json.loads(line)
                if reply.get("id") == 2:
                    text = line.decode()
                    raw = text[text.index('"result":') + len('"result":') :].rsplit("}", 1)[0]
                    tools = [
                        json.dumps(tool, separators=(",", ":"), ensure_ascii=False)
                        for tool in reply["result"]["tools"]
                    ]
                    # The server's own separators are kept for the total; per tool, compact JSON of
                    # the same content.
                    return raw, tools
        finally:
            watchdog.cancel()
            server.stdin.close()
            server.wait(timeout=TIMEOUT_S)
            server.stdout.close()
        stderr.seek(0)
        said = stderr.read()
    raise SystemExit(f"context_tokens: no tools/list reply; stderr:\n{said.decode()[-2000:]}")


def count(texts: dict[str, str]) -> dict[str, int]:
    ensure_tokenizer()
    node = shutil.which("node")
    if node is None:
        raise SystemExit("context_tokens: node is needed to count tokens")
    done = subprocess.run(  # node on our own script
        [node, str(BENCH / "context_tokens.mjs")],
        input=json.dumps(texts).encode(),
        capture_output=True,
        cwd=BENCH,
        timeout=TIMEOUT_S,
        check=True,
    )
    counts: dict[str, int] = json.loads(done.stdout)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", help="write the figures here (for bench/run.py)")
    parser.add_argument("--markdown", action="store_true", help="print the per-tool table as Markdown")
    args = parser.parse_args()
    total_text, tool_texts = tools_list_wire()
    apps_total_text, _ = tools_list_wire(apps_host=True)
    names = [json.loads(text)["name"] for text in tool_texts]
    counts = count(
        {"__total__": total_text, "__apps__": apps_total_text, **dict(zip(names, tool_texts, strict=True))}
    )
    total, apps_total = counts.pop("__total__"), counts.pop("__apps__")
    rows = sorted(counts.items(), key=lambda item: -item[1])
    if args.markdown:
        print("| tool | tokens |\n|---|---:|")
        for name, tokens in rows:
            print(f"| `{name}` | {tokens:,} |")
        print(f"| **tools/list total ({len(names)} tools)** | **{total:,}** |")
        print(f"| **the same, for a host that renders MCP Apps** | **{apps_total:,}** |")
    else:
        print_table(["tool", "tokens"], [[name, f"{tokens:,}"] for name, tokens in rows])
        print(f"\ntools/list: {total:,} cl100k tokens for {len(names)} tools, {apps_total:,} for a host "
              f"that renders MCP Apps (goal <= {GOAL_TOKENS:,} for both; OpenAPI-generated server: "
              f"{OPENAPI_BASELINE:,})")  # fmt: skip
    write_figures(
        args.json,
        [
            Figure(
                bench="context",
                measure=f"tools/list tokens ({len(names)} tools)",
                value=total,
                unit="tokens",
                baseline="OpenAPI-generated",
                baseline_value=OPENAPI_BASELINE,
                ratio=total / OPENAPI_BASELINE,
                goal=f"<= {GOAL_TOKENS:,}",
                met=total <= GOAL_TOKENS,
            ),
            Figure(
                bench="context",
                measure=f"tools/list tokens for an MCP Apps host ({len(names)} tools)",
                value=apps_total,
                unit="tokens",
                baseline="OpenAPI-generated",
                baseline_value=OPENAPI_BASELINE,
                ratio=apps_total / OPENAPI_BASELINE,
                goal=f"<= {GOAL_TOKENS:,}",
                met=apps_total <= GOAL_TOKENS,
            ),
        ],
    )
    if max(total, apps_total) > GOAL_TOKENS:  # .ci/run runs this: a change that blows the budget fails CI
        raise SystemExit(f"context_tokens: over the {GOAL_TOKENS:,}-token goal")


if __name__ == "__main__":
    main()
