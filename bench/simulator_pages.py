"""Benchmark: how fast the simulator serves a cursor sweep over 1,000,000 sessions.

Starts ``feeder simulate`` in a child process with a bulk preload (traffic paused, no faults, no
rate limit), then sweeps ``GET /api/admin/v2/sessions?orderBy=updatedAt&count=200`` following
``pagination.next.after`` over real HTTP from this process (a keep-alive ``http.client``
connection that parses only the ``pagination`` tail of each body, so the client costs little).
Prints the preload time and memory, the end-to-end sweep rate, and the server's records per
CPU-second (its one-core rate, excluding this client's time). No asserts: the numbers are the
result. ``--full-parse`` parses every page completely with orjson instead.

    python bench/simulator_pages.py [--sessions 1000000] [--count 200] [--max-pages N]
"""

from __future__ import annotations

import argparse
import http.client
import time
from urllib.parse import urlencode, urlsplit

import orjson
from processes import start_simulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--max-pages", type=int, default=None, help="stop after N pages")
    parser.add_argument("--full-parse", action="store_true", help="parse every page whole")
    args = parser.parse_args()

    started_s = time.perf_counter()
    server, base_url = start_simulator(
        args.sessions, extra_args=["--start-paused", "--rate-limit-per-s", "0"]
    )
    ready_s = time.perf_counter() - started_s
    address = urlsplit(base_url)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port)
    headers = {"authorization": "Bearer sim-token"}

    def get(path: str) -> bytes:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}: {body[:200]!r}")
        return body

    try:
        before = orjson.loads(get("/_simulator/status"))
        records = pages = 0
        params: dict[str, str | int] = {"orderBy": "updatedAt", "count": args.count}
        sweep_started_s = time.perf_counter()
        while args.max_pages is None or pages < args.max_pages:
            body = get(f"/api/admin/v2/sessions?{urlencode(params)}")
            if args.full_parse:
                page = orjson.loads(body)
                records += len(page["data"])
                pagination = page["pagination"]
            else:
                records += body.count(b'"createdAt":')
                pagination = orjson.loads(body[body.rindex(b'"pagination":') + 13 : -1])
            pages += 1
            following = pagination["next"]
            if following is None:
                break
            params["after"] = following["after"]
        sweep_s = time.perf_counter() - sweep_started_s
        after = orjson.loads(get("/_simulator/status"))
    finally:
        connection.close()
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
