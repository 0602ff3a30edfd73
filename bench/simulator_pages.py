"""Benchmark: how fast the simulator serves a cursor sweep over 1,000,000 sessions.

Starts ``feeder simulate`` in a child process with a bulk preload (traffic paused, no faults, no
rate limit), then sweeps ``GET /api/admin/v2/sessions?orderBy=updatedAt&count=200`` following
``pagination.next.after`` over real HTTP from this process. Prints the preload time and memory,
the end-to-end sweep rate, and the server's records per CPU-second (its one-core rate, which
excludes this client's own time). No asserts: the numbers are the result.

    python bench/simulator_pages.py [--sessions 1000000] [--count 200] [--max-pages N]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time

import httpx
import orjson


def _start_server(sessions: int) -> tuple[subprocess.Popen[str], str]:
    command = [
        sys.executable,
        "-m",
        "feeder",
        "simulate",
        "--port",
        "0",
        "--seed",
        "42",
        "--preload-sessions",
        str(sessions),
        "--start-paused",
        "--rate-limit-per-s",
        "0",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=os.environ.copy())  # noqa: S603
    assert server.stdout is not None
    for line in server.stdout:
        match = re.search(r"serving (http://\S+)/api/admin/v2/sessions", line)
        if match:
            return server, match.group(1)
    raise RuntimeError(f"the simulator exited with {server.wait()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--max-pages", type=int, default=None, help="stop after N pages")
    args = parser.parse_args()

    started_s = time.perf_counter()
    server, base_url = _start_server(args.sessions)
    ready_s = time.perf_counter() - started_s
    try:
        with httpx.Client(
            base_url=base_url, headers={"authorization": "Bearer sim-token"}
        ) as client:
            before = client.get("/_simulator/status").json()
            records = pages = 0
            params: dict[str, str | int] = {"orderBy": "updatedAt", "count": args.count}
            sweep_started_s = time.perf_counter()
            while args.max_pages is None or pages < args.max_pages:
                response = client.get("/api/admin/v2/sessions", params=params)
                response.raise_for_status()
                page = orjson.loads(response.content)
                records += len(page["data"])
                pages += 1
                following = page["pagination"]["next"]
                if following is None:
                    break
                params["after"] = following["after"]
            sweep_s = time.perf_counter() - sweep_started_s
            after = client.get("/_simulator/status").json()
    finally:
        server.terminate()
        server.wait(timeout=60)

    server_cpu_s = after["cpu_s"] - before["cpu_s"]
    rows = [
        ("sessions preloaded", f"{before['sessions']:,}"),
        ("server start incl. preload", f"{ready_s:.1f} s"),
        ("server RSS after preload", f"{before['rss_bytes'] / 2**20:,.0f} MiB"),
        ("server RSS after sweep", f"{after['rss_bytes'] / 2**20:,.0f} MiB"),
        ("pages / records swept", f"{pages:,} / {records:,}"),
        ("sweep wall time", f"{sweep_s:.2f} s"),
        ("end-to-end records/s (client incl.)", f"{records / sweep_s:,.0f}"),
        ("server CPU during sweep", f"{server_cpu_s:.2f} s"),
        ("server records per CPU-second", f"{records / max(server_cpu_s, 1e-9):,.0f}"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
