"""Backfill: ``feeder backfill`` over every preloaded session, as a child process of its own.

The simulator (another child) already holds the sessions; the feeder sweeps them all into Kafka
with its SQLite state file. Its CPU and peak RSS come from ``os.wait4``, so nothing of the
simulator or of this process is counted. A second, empty-window run of the same command
measures the fixed cost (interpreter, imports, connecting) that is subtracted per record.
"""

from __future__ import annotations

import os
import re
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from processes import AdminClient, cpu_seconds, start_feeder, wait_with_usage

from feeder.core.timestamps import format_timestamp

_SUMMARY = re.compile(rb"backfilled .*?: ([\d,]+) records, ([\d,]+) events")


def feeder_env(base_url: str, bootstrap: str, workdir: Path) -> dict[str, str]:
    """Settings for a benchmark feeder: no client-side rate limit, warnings only."""
    return {
        "FEEDER_API__BASE_URL": base_url,
        "FEEDER_API__TOKEN": "sim-token",
        "FEEDER_API__REQUESTS_PER_S": "1000000",
        "FEEDER_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "FEEDER_CHECKPOINT__PATH": str(workdir / "checkpoint.sqlite3"),
        "FEEDER_OBSERVABILITY__LOG_LEVEL": "WARNING",
    }


def _run_backfill(
    env: dict[str, str],
    start: datetime,
    end: datetime,
    state: Path,
    timeout_s: float,
    *,
    extra_args: tuple[str, ...] = (),
    feeder_python: str = sys.executable,
) -> tuple[float, float, int, bytes]:
    """Wall seconds, CPU seconds, peak RSS bytes and stdout of one ``feeder backfill``."""
    args = ["backfill", "--from", format_timestamp(start), "--to", format_timestamp(end)]
    args += extra_args
    started_s = time.perf_counter()
    log = state.with_suffix(".log")
    child = start_feeder([*args, "--state", str(state)], env, log, python=feeder_python)
    usage = wait_with_usage(child, timeout_s)
    wall_s = time.perf_counter() - started_s
    assert child.stdout is not None
    out = child.stdout.read()
    if usage.returncode != 0:
        raise RuntimeError(f"feeder backfill exited {usage.returncode}: {log.read_text()[-2000:]}")
    return wall_s, usage.cpu_s, usage.max_rss_bytes, out


def measure_backfill(
    base_url: str,
    simulator_pid: int,
    *,
    env: dict[str, str],
    start: datetime,
    end: datetime,
    workdir: Path,
    timeout_s: float = 3600.0,
    extra_args: tuple[str, ...] = (),
    feeder_python: str = sys.executable,
    name: str = "backfill",
) -> dict[str, object]:
    """``extra_args`` go to ``feeder backfill`` (``--slices``, ``--concurrency``);
    ``feeder_python`` measures another installation (an older commit) on the same simulator."""
    empty_end = end + timedelta(days=365)
    _, fixed_cpu_s, fixed_rss, _ = _run_backfill(
        env,
        empty_end,
        empty_end + timedelta(seconds=1),
        workdir / f"{name}-empty.sqlite3",
        120.0,
        feeder_python=feeder_python,
    )
    sessions = int(AdminClient(base_url).call("GET", "status")["sessions"])  # type: ignore[call-overload]
    state = workdir / f"{name}.sqlite3"
    simulator_cpu_before_s = cpu_seconds(simulator_pid)
    load_before = os.getloadavg()
    wall_s, cpu_s, rss, out = _run_backfill(
        env, start, end, state, timeout_s, extra_args=extra_args, feeder_python=feeder_python
    )
    simulator_cpu_s = cpu_seconds(simulator_pid) - simulator_cpu_before_s
    summary = _SUMMARY.search(out)
    if summary is None:
        raise RuntimeError(f"no summary in the backfill's output: {out[-500:]!r}")
    records, events = (int(group.replace(b",", b"")) for group in summary.groups())
    store_bytes = sum(
        path.stat().st_size for path in workdir.glob(f"{name}.*sqlite3*") if path.is_file()
    )
    sweep_cpu_s = cpu_s - fixed_cpu_s
    return {
        "sessions_per_s": records / wall_s,
        "feeder_cpu_us_per_session": sweep_cpu_s * 1e6 / records,
        "arguments": list(extra_args),
        "feeder_python": feeder_python,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "sessions_in_simulator": sessions,
        "records": records,
        "events": events,
        "wall_s": wall_s,
        "records_per_s": records / wall_s,  # API records = sessions read (issue 5's name)
        "feeder_cpu_s": cpu_s,
        "feeder_fixed_cpu_s": fixed_cpu_s,
        "feeder_cpu_us_per_record": sweep_cpu_s * 1e6 / records,
        "feeder_cpu_share": cpu_s / wall_s,
        "simulator_cpu_s": simulator_cpu_s,
        "peak_rss_bytes": rss,
        "empty_run_peak_rss_bytes": fixed_rss,
        "store_bytes": store_bytes,
    }
