"""Live and idle: ``feeder run`` (a child process) against a simulator making changes at a rate.

After a warm-up, a window of ``duration_s`` is measured from outside: the feeder's CPU from
``/proc``, its API attempts from its ``/metrics``, the simulator's changes from its ground-truth
sequence. The feed then runs ``tail_s`` longer, so what became visible late in the window can be
caught. Afterwards the events are read back: *visible → Kafka* of every transition that became
visible in the window (the simulator's ground truth against the broker's append time, see
:mod:`visibility`), by lateness for late commits; and, as before, append time minus the
CloudEvent ``time`` of the events appended in the window.

Traffic shapes (``shapes``): a share of hot sessions (changed every 500 ms) and a share of
commits visible 1-30 s late, as production has.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from kafka_io import bench_topics, create_topics, percentile, read_freshness, topic_env
from processes import (
    AdminClient,
    cpu_seconds,
    has_exited,
    rss_bytes,
    start_feeder,
    start_simulator,
    stop,
)
from prometheus_client.parser import text_string_to_metric_families
from visibility import measure as measure_visibility

# A session's life in the traffic model makes about this many changes (created, scan, enter,
# exit, re-entries, checkout, complete); the measured rate is reported, this only aims.
CHANGES_PER_SESSION = 6.5
SPEEDUP = 60.0  # lives of seconds, so the change rate is steady within the warm-up
# The simulator stamps updatedAt strictly increasing in whole milliseconds unless a change is a
# tie, so it cannot make more than ~1,000 untied changes per second: beyond that its stamps run
# ahead of the clock and the changes stay invisible until the clock catches up. Higher rates
# therefore need a larger tie share (several changes in one millisecond, as a busy API has).
DISTINCT_STAMPS_PER_S = 600.0
DEFAULT_TIE_SHARE = 0.05


def tie_share_for(changes_per_s: float) -> float:
    return max(DEFAULT_TIE_SHARE, 1.0 - DISTINCT_STAMPS_PER_S / changes_per_s)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _metrics(port: int) -> dict[str, float]:
    """The feeder's counters and gauges we read: API attempts by outcome, live watermark lag."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    found: dict[str, float] = {
        "requests": 0.0,
        "requests_ok": 0.0,
        "requests_503": 0.0,
        "live_lag_s": 0.0,
    }
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "feeder_api_requests_total":
                found["requests"] += sample.value
                if sample.labels["outcome"] == "ok":
                    found["requests_ok"] += sample.value
                if sample.labels.get("status") == "503":
                    found["requests_503"] += sample.value
            elif sample.name == "feeder_records_fetched_total":
                found[f"fetched_{sample.labels['sweep']}"] = sample.value
            elif sample.name == "feeder_watermark_lag_seconds" and sample.labels["sweep"] == "live":
                found["live_lag_s"] = sample.value
    return found


def _wait_ready(
    feeder: subprocess.Popen[bytes], port: int, log: Path, timeout_s: float = 60.0
) -> None:
    deadline_s = time.monotonic() + timeout_s
    while time.monotonic() < deadline_s:
        if has_exited(feeder):
            raise RuntimeError(
                f"feeder run exited before serving /metrics: {log.read_text()[-2000:]}"
            )
        try:
            _metrics(port)
        except OSError:
            time.sleep(0.2)
            continue
        return
    raise RuntimeError(
        f"the feeder did not serve /metrics in {timeout_s:.0f} s: {log.read_text()[-2000:]}"
    )


SHAPES = (
    "--hot-share",
    "0.05",
    "--hot-interval-ms",
    "500",
    "--fault-late-visible-share",
    "0.1",
    "--fault-late-visible-delay-s",
    "1",
    "--fault-late-visible-delay-max-s",
    "30",
)
"""5 % hot sessions (a change every 500 ms), 10 % of commits visible 1-30 s late."""


def measure_live(
    *,
    changes_per_s: float,
    duration_s: float,
    warmup_s: float,
    tail_s: float,
    bootstrap: str,
    workdir: Path,
    env: dict[str, str],
    sweep_env: dict[str, str],
    shapes: tuple[str, ...] = SHAPES,
    requests_per_s: float = 20.0,
    feeder_python: str = sys.executable,
) -> dict[str, object]:
    """One level of traffic; ``changes_per_s`` 0 means idle (traffic paused, nothing changes)."""
    if changes_per_s > 0:
        traffic = [
            "--new-sessions-per-s",
            f"{changes_per_s / CHANGES_PER_SESSION:.3f}",
            "--speedup",
            str(SPEEDUP),
            "--tie-share",
            f"{tie_share_for(changes_per_s):.3f}",
            *shapes,
        ]
    else:
        traffic = ["--start-paused"]
    run = f"{int(changes_per_s)}-{requests_per_s:g}-{uuid.uuid4().hex[:6]}"  # a fresh feed each
    ground_truth = workdir / f"ground-truth-{run}.jsonl"
    simulator, base_url = start_simulator(
        0,
        extra_args=[
            "--rate-limit-per-s",
            "20",
            "--ground-truth-path",
            str(ground_truth),
            *traffic,
        ],
    )
    topics = bench_topics("idle" if changes_per_s == 0 else f"live{int(changes_per_s)}")
    asyncio.run(create_topics(bootstrap, topics))
    port = _free_port()
    feeder_env = {
        **env,
        **topic_env(topics),
        **sweep_env,
        "FEEDER_API__BASE_URL": base_url,
        "FEEDER_API__REQUESTS_PER_S": f"{requests_per_s:g}",
        "FEEDER_OBSERVABILITY__PORT": str(port),
        "FEEDER_CHECKPOINT__PATH": str(workdir / f"live-{run}.sqlite3"),
    }
    admin = AdminClient(base_url)
    log = workdir / f"live-{run}.log"
    feeder = start_feeder(["run"], feeder_env, log, python=feeder_python)
    try:
        _wait_ready(feeder, port, log)
        time.sleep(warmup_s)
        seq_0 = int(admin.call("GET", "status")["last_seq"])  # type: ignore[call-overload]
        cpu_0, metrics_0 = cpu_seconds(feeder.pid), _metrics(port)
        simulator_cpu_0 = cpu_seconds(simulator.pid)
        wall_0 = time.time()
        time.sleep(duration_s)
        wall_1 = time.time()
        cpu_1, metrics_1 = cpu_seconds(feeder.pid), _metrics(port)
        simulator_cpu_1 = cpu_seconds(simulator.pid)
        seq_1 = int(admin.call("GET", "status")["last_seq"])  # type: ignore[call-overload]
        rss = rss_bytes(feeder.pid)
        time.sleep(tail_s)  # what became visible late in the window is caught meanwhile
    finally:
        try:
            usage = stop(feeder)
        finally:
            admin.close()
            simulator.terminate()
            simulator.wait(timeout=60)
    if usage.returncode != 0:
        raise RuntimeError(f"feeder run exited {usage.returncode}: {log.read_text()[-2000:]}")
    wall_s = wall_1 - wall_0
    changes = seq_1 - seq_0
    requests = metrics_1["requests"] - metrics_0["requests"]
    visibility = asyncio.run(
        measure_visibility(
            bootstrap,
            topics.events,
            ground_truth,
            from_ms=int(wall_0 * 1000),
            until_ms=int(wall_1 * 1000),
        )
    )
    freshness = asyncio.run(
        read_freshness(
            bootstrap, topics.events, from_ms=int(wall_0 * 1000), until_ms=int(wall_1 * 1000)
        )
    )
    return {
        "feeder_python": feeder_python,
        "requests_per_s_budget": requests_per_s,
        "visible_to_kafka": visibility,
        "api_requests_per_1000_changes": requests / changes * 1000 if changes else None,
        "api_503_per_s": (metrics_1["requests_503"] - metrics_0["requests_503"]) / wall_s,
        "target_changes_per_s": changes_per_s,
        "tie_share": tie_share_for(changes_per_s) if changes_per_s > 0 else None,
        "changes_per_s": changes / wall_s,
        "window_s": wall_s,
        "events_in_window": len(freshness.seconds),
        "events_per_s": len(freshness.seconds) / wall_s,
        "freshness_p50_s": percentile(freshness.seconds, 0.50),
        "freshness_p95_s": percentile(freshness.seconds, 0.95),
        "freshness_p99_s": percentile(freshness.seconds, 0.99),
        "freshness_max_s": freshness.seconds[-1] if freshness.seconds else None,
        "newest_change_events": len(freshness.newest),
        "newest_freshness_p50_s": percentile(freshness.newest, 0.50),
        "newest_freshness_p95_s": percentile(freshness.newest, 0.95),
        "newest_freshness_p99_s": percentile(freshness.newest, 0.99),
        "api_requests_per_s": (metrics_1["requests"] - metrics_0["requests"]) / wall_s,
        "api_ok_per_s": (metrics_1["requests_ok"] - metrics_0["requests_ok"]) / wall_s,
        "live_records_fetched_per_s": (
            metrics_1.get("fetched_live", 0.0) - metrics_0.get("fetched_live", 0.0)
        )
        / wall_s,
        "live_lag_end_s": metrics_1["live_lag_s"],
        "feeder_cpu_share": (cpu_1 - cpu_0) / wall_s,
        "feeder_rss_bytes": rss,
        # A simulator near a full core makes changes late, stamped with their due time: they
        # become visible behind the live cursor and wait for a re-read pass.
        "simulator_cpu_share": (simulator_cpu_1 - simulator_cpu_0) / wall_s,
    }
