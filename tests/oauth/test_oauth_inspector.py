"""A client nobody here wrote, the official MCP Inspector CLI, against lynn-mcp signing people in
with OAuth: it calls a tool with a bearer token the throwaway authorization server issued, is told to
sign in without one, and signs a person in by itself, as a host's connector does: from the challenge
to the Protected Resource Metadata, the authorization server, the browser (played by the test, whose
user approves at once) and back with a token for this server.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import IO

import httpx2
import pytest
from oauth_helpers import AuthorizationServer, LynnOverOAuth
from ops.ops_helpers import free_port
from test_inspector import CALL_TIMEOUT_S, INSPECTOR, MIN_NODE, run_inspector

from lynn_mcp.sandbox import SEED_CAMPAIGN_ID

AUTH_REQUIRED_EXIT = 3  # the Inspector CLI's exit code for "this server needs you to sign in"
NAVIGATE = re.compile(r"Please navigate to: (?P<url>\S+)")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        INSPECTOR is None,
        reason=f"Node >= {MIN_NODE[0]}.{MIN_NODE[1]} is unavailable (run scripts/ensure_node22.sh)",
    ),
]


def test_the_inspector_calls_a_tool_with_a_token_from_the_authorization_server(
    lynn: LynnOverOAuth, authorization: AuthorizationServer, tmp_path: Path
) -> None:
    secret = authorization.register("inspector", scope="lynn:read lynn:write", subject="tester")
    token = authorization.token_for("inspector", secret, resource=lynn.public_url)
    bearer = ["--header", f"Authorization: Bearer {token}"]

    listed = run_inspector(tmp_path, [lynn.public_url, *bearer], "tools/list")
    assert listed.returncode == 0, listed.stderr[-2000:]
    names = {tool["name"] for tool in json.loads(listed.stdout)["tools"]}
    assert {"get_campaign", "create_campaign"} <= names
    assert not names & {"start_campaign", "delete_campaign", "delete_contact"}  # lynn:admin was not granted

    called = run_inspector(
        tmp_path,
        [lynn.public_url, *bearer],
        "tools/call",
        "--tool-name",
        "get_campaign",
        "--tool-arg",
        f"campaign_id={SEED_CAMPAIGN_ID}",
    )
    assert called.returncode == 0, called.stderr[-2000:]
    result = json.loads(called.stdout)
    assert result["isError"] is False, result
    assert result["structuredContent"]["id"] == SEED_CAMPAIGN_ID

    anonymous = run_inspector(tmp_path, [lynn.public_url, "--stored-auth-only"], "tools/list")
    assert anonymous.returncode == AUTH_REQUIRED_EXIT, anonymous.stdout + anonymous.stderr


def read_lines(stream: IO[str] | None, into: queue.Queue[str]) -> None:
    for line in stream or ():
        into.put(line)


def play_the_browser(stderr: queue.Queue[str], seen: list[str]) -> None:
    """Wait for the sign-in URL the Inspector prints, open it (the user approves at once) and follow
    the redirect back to the Inspector's callback, as a browser would."""
    deadline = time.monotonic() + CALL_TIMEOUT_S
    while True:
        line = stderr.get(timeout=max(0.0, deadline - time.monotonic()))
        seen.append(line)
        found = NAVIGATE.search(line)
        if found:
            break
    approved = httpx2.get(found["url"], timeout=10)
    assert approved.status_code == 302, approved.text
    back = httpx2.get(approved.headers["location"], timeout=10)
    assert back.status_code == 200, back.text


def test_the_inspector_signs_a_person_in_by_itself(
    lynn: LynnOverOAuth, authorization: AuthorizationServer, tmp_path: Path
) -> None:
    assert INSPECTOR is not None
    command, node_bin = INSPECTOR
    secret = authorization.register("inspector-ui", scope="lynn:read lynn:write", subject="pat")
    # The browser is this test: a stand-in `xdg-open` and BROWSER keep the Inspector from starting one.
    stand_in = tmp_path / "bin"
    stand_in.mkdir()
    (stand_in / "xdg-open").write_text("#!/bin/sh\nexit 0\n")
    (stand_in / "xdg-open").chmod(0o755)
    env = {key: value for key, value in os.environ.items() if not key.startswith("LYNN_")}
    env.update(
        PATH=os.pathsep.join([str(stand_in), node_bin, env.get("PATH", "")]),
        HOME=str(tmp_path),
        BROWSER="true",
        MCP_AUTO_OPEN_ENABLED="true",  # sign in interactively although no terminal is attached
    )
    callback = f"http://127.0.0.1:{free_port()}/oauth/callback"
    out_path = tmp_path / "tools.json"
    with out_path.open("w") as out:
        process = subprocess.Popen(  # noqa: S603 # the Inspector with arguments built here
            [
                *command,
                lynn.public_url,
                "--method",
                "tools/list",
                "--client-id",
                "inspector-ui",
                "--client-secret",
                secret,
                "--callback-url",
                callback,
            ],
            stdout=out,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=tmp_path,
            env=env,
        )
        stderr: queue.Queue[str] = queue.Queue()
        threading.Thread(target=read_lines, args=(process.stderr, stderr), daemon=True).start()
        seen: list[str] = []
        try:
            play_the_browser(stderr, seen)
            assert process.wait(timeout=CALL_TIMEOUT_S) == 0, "".join(seen)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    names = {tool["name"] for tool in json.loads(out_path.read_text())["tools"]}
    assert {"list_campaigns", "create_campaign"} <= names
    assert "start_campaign" not in names  # asked for every scope, granted what the client may have
    # The Inspector asked for this server (RFC 8707) and the scopes its metadata lists.
    asked = NAVIGATE.search("".join(seen))
    assert asked is not None
    query = httpx2.URL(asked["url"]).params
    assert query["resource"] == lynn.public_url
    assert query["scope"].split() == ["lynn:read", "lynn:write", "lynn:admin"]
