"""Restarting a replica under load: how many calls fail, plain restart against the drained one of
docs/deploy.md. Two replicas behind nginx (bench/http_deploy.py), a steady load of get_campaign
calls through nginx, and one replica restarted `--restarts` times per way:

- plain: SIGTERM, start again (what `systemctl restart` does), with the documented site;
- plain, no upstream keep-alive: the same with `keepalive` removed from the site;
- drained: marked `down` in nginx and reloaded (old workers gone), SIGTERM, start, back in nginx.

    .venv/bin/python bench/http_restarts.py [--restarts 30] [--ways plain,no-keepalive,drained]

A failed call is one that did not end in the campaign (a 502 from nginx, a cut connection); each
is printed with the replica nginx had tried. A replica still running 30 s after its SIGTERM is
counted and killed (uvicorn waits for every open connection to close). Bounded by the restarts
asked for (each waits at most 20 s for the replica to answer again); everything on loopback,
stopping by itself.
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import free_port, loadavg, print_table, sandbox_env, sandbox_process
from bench.http_deploy import (
    REPLICA_ADDRESSES,
    UPSTREAM_DIRECTIVE,
    Load,
    Nginx,
    Replica,
    free_replica_port,
    render_site,
)

WAYS = ("plain", "no-keepalive", "drained")
SETTLE_S = 0.5  # load on both replicas between restarts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--restarts", type=int, default=30, help="restarts per way (default 30)")
    p.add_argument("--ways", default=",".join(WAYS), help=f"comma-separated, of {', '.join(WAYS)}")
    args = p.parse_args()
    ways = [way.strip() for way in args.ways.split(",")]
    if unknown := set(ways) - set(WAYS):
        sys.exit(f"unknown ways: {', '.join(sorted(unknown))} (known: {', '.join(WAYS)})")
    load_before = loadavg()
    bearer = secrets.token_urlsafe(32)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        work = Path(tmp)
        base_url = stack.enter_context(sandbox_process(work / "sandbox.sqlite3"))
        env = sandbox_env(base_url, LYNN_SIGNING_KEY=secrets.token_urlsafe(32), LYNN_HTTP_TOKEN=bearer)
        lynn_mcp = [str(Path(sys.executable).parent / "lynn-mcp")]
        port = free_replica_port()
        replicas = []
        for address in REPLICA_ADDRESSES:
            (work / address).mkdir()
            replica = Replica(lynn_mcp, address, port, env, work / address / "replica.log")
            stack.callback(replica.stop)
            replicas.append(replica.start())
        restarted = replicas[1]
        listen_port = free_port()

        def site(*, down: bool = False, keepalive: bool = True) -> str:
            text = render_site(
                listen_port=listen_port,
                replica_port=port,
                down=[restarted.address] if down else [],
                mcp_directives=[UPSTREAM_DIRECTIVE],
            )
            return (
                text
                if keepalive
                else "".join(
                    line
                    for line in text.splitlines(keepends=True)
                    if not line.strip().startswith("keepalive")
                )
            )

        nginx = stack.enter_context(Nginx(work / "nginx", site(), listen_port=listen_port))
        for way in ways:
            keepalive = way != "no-keepalive"
            nginx.reload(site(keepalive=keepalive))
            hung = 0
            with Load(nginx.url, bearer, max_calls=10**6) as load:
                time.sleep(SETTLE_S)
                for _ in range(args.restarts):
                    started = time.monotonic()
                    if way == "drained":
                        nginx.reload(site(down=True, keepalive=keepalive))
                    try:
                        restarted.terminate()
                    except subprocess.TimeoutExpired:  # counted: see the docstring
                        hung += 1
                        restarted.kill()
                    restarted.start()
                    if way == "drained":
                        nginx.reload(site(keepalive=keepalive))
                    load.wait_until_served_by(restarted.upstream, after=started)
                    time.sleep(SETTLE_S)
            failures = load.failures()
            rows.append([way, str(args.restarts), f"{len(load.calls):,}", str(len(failures)), str(hung)])
            for call in failures:
                tried = ", ".join(call.upstreams) or "-"
                print(f"  {way}: failed call, nginx tried {tried}: {call.failure[:90]}")
    print(f"restarting one of two replicas behind nginx under load ({Load.workers} workers, one connection "
          f"per call); load average before {load_before}, after {loadavg()}")  # fmt: skip
    print_table(["way", "restarts", "calls", "failed calls", "replica not stopped in 30 s"], rows)


if __name__ == "__main__":
    main()
