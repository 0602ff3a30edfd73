"""Where a feeder's CPU goes: py-spy over a real ``feeder backfill`` or ``feeder run``, by stage.

    python bench/profile.py backfill --sessions 50000            # a backfill of a preloaded store
    python bench/profile.py live --rate 1000 --seconds 30        # a live feed at 1,000 changes/s
    python bench/profile.py backfill --feeder-python /other/checkout/.venv/bin/python   # before

The simulator and the feeder run as children (``bench/processes.py``); py-spy samples the
feeder (every thread, idle samples left out) and each sample is put in the stage of its
innermost frame that names one: parse (the body's JSON), validation, dedupe/diff, event ids,
encoding, Kafka hand-off (the sink and aiokafka), checkpoint (SQLite), HTTP client, metrics
(prometheus-client and the feeder's observers), start-up (imports), sweep loop (the sweeper's
own lines, mostly freeing the previous page), asyncio, other. Prints the shares and writes the
raw stacks beside ``--out``.
Needs the Kafka broker of ``bench/run.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from backfill import feeder_env
from kafka_io import bench_topics, create_topics, topic_env
from live import CHANGES_PER_SESSION, SHAPES, SPEEDUP, _free_port, tie_share_for
from processes import start_feeder, start_simulator, stop

from feeder.core.timestamps import format_timestamp, utc_now

# (stage, substrings of a frame; any one matches). Checked innermost frame first.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("event ids", ("event_id (", "uuid5_text (")),
    ("validation", ("feeder/core/snapshot.py", "parse_page (", "parse_timestamp (")),
    ("parse", ("decode_page (",)),
    (
        "encoding",
        (
            "feeder/core/records.py",
            "feeder/core/oversize.py",
            "feeder/core/events.py",
            "feeder/core/field_policy.py",
            "format_timestamp (",
        ),
    ),
    ("dedupe/diff", ("feeder/core/page_plan.py", "feeder/core/diff.py", "feeder/core/state.py")),
    ("Kafka hand-off", ("aiokafka/", "feeder/kafka/", "feeder/sink/")),
    ("checkpoint", ("feeder/checkpoint/", "sqlite3")),
    ("HTTP client", ("httpx/", "httpcore/", "h11/", "anyio/", "feeder/source/")),
    ("metrics", ("prometheus_client/", "feeder/observability/")),
    ("start-up (imports)", ("<frozen importlib", "importlib/")),
    # The sweep's own lines: mostly freeing the previous page when the next one arrives.
    ("sweep loop", ("feeder/sweep/sweeper.py",)),
    ("asyncio", ("asyncio/", "selectors.py")),
)


# Leaf frames that are waits py-spy's idle detection misses: the SQLite thread waiting for work,
# the event loop waiting for sockets.
IDLE_LEAVES = ("_worker (concurrent/futures/thread.py:81)", "select (selectors.py")


def stage_of(stack: str) -> str | None:
    """The stage of one sample's stack (``None``: a wait, not CPU)."""
    frames = stack.split(";")
    if any(needle in frames[-1] for needle in IDLE_LEAVES) or "(" not in frames[-1]:
        return None
    for frame in reversed(frames):
        for stage, needles in STAGES:
            if any(needle in frame for needle in needles):
                return stage
    return "other"


def breakdown(raw: Path) -> dict[str, int]:
    """Samples per stage, from py-spy's ``--format raw`` (collapsed stacks); waits left out."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        stage = stage_of(stack) if stack and count.isdigit() else None
        if stage is not None:
            counts[stage] += int(count)
    return {stage: counts[stage] for stage, _ in (*STAGES, ("other", ()))}


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: pip install -e '.[bench]'")
    return found


def _record(command: list[str], env: dict[str, str], out: Path, rate: int) -> int:
    """Run ``command`` under py-spy; returns its exit code."""
    spy = [_py_spy(), "record", "--format", "raw", "--threads", "--rate", str(rate)]
    spy += ["--output", str(out), "--", *command]
    with out.with_suffix(".log").open("wb") as log:
        return subprocess.run(spy, env=env, stdout=log, stderr=log, check=False).returncode  # noqa: S603


def profile_backfill(args: argparse.Namespace, workdir: Path) -> Path:
    simulator, base_url = start_simulator(
        args.sessions, extra_args=["--start-paused", "--rate-limit-per-s", "0"]
    )
    try:
        end = utc_now()
        start = end - timedelta(days=8)
        topics = bench_topics("profile")
        asyncio.run(create_topics(args.bootstrap, topics))
        env = {
            **_base_env(),
            **feeder_env(base_url, args.bootstrap, workdir),
            **topic_env(topics),
            **dict(kv.split("=", 1) for kv in args.env),
        }
        command = [args.feeder_python, "-m", "feeder", "backfill", "--from"]
        command += [format_timestamp(start), "--to", format_timestamp(end)]
        command += ["--state", str(workdir / "backfill.sqlite3")]
        code = _record(command, env, args.out, args.rate)
        if code != 0:
            raise SystemExit(f"the backfill exited {code}; see {args.out.with_suffix('.log')}")
    finally:
        simulator.terminate()
        simulator.wait(timeout=60)
    return args.out


def profile_live(args: argparse.Namespace, workdir: Path) -> Path:
    traffic = [
        "--new-sessions-per-s",
        f"{args.rate_changes / CHANGES_PER_SESSION:.3f}",
        "--speedup",
        str(SPEEDUP),
        "--tie-share",
        f"{tie_share_for(args.rate_changes):.3f}",
        *SHAPES,
    ]
    simulator, base_url = start_simulator(0, extra_args=["--rate-limit-per-s", "20", *traffic])
    try:
        topics = bench_topics("profile-live")
        asyncio.run(create_topics(args.bootstrap, topics))
        env = {
            **_base_env(),
            **feeder_env(base_url, args.bootstrap, workdir),
            **topic_env(topics),
            "FEEDER_API__REQUESTS_PER_S": "20",
            "FEEDER_OBSERVABILITY__PORT": str(_free_port()),
            **dict(kv.split("=", 1) for kv in args.env),
        }
        feeder = start_feeder(["run"], env, args.out.with_suffix(".feeder.log"), args.feeder_python)
        try:
            time.sleep(10)  # start-up and the first sweeps are not what a running feed costs
            spy = [_py_spy(), "record", "--format", "raw", "--threads", "--rate", str(args.rate)]
            spy += ["--duration", str(args.seconds), "--output", str(args.out)]
            spy += ["--pid", str(feeder.pid)]
            with args.out.with_suffix(".log").open("wb") as log:
                subprocess.run(spy, stdout=log, stderr=log, check=True, timeout=args.seconds + 60)  # noqa: S603
        finally:
            stop(feeder)
    finally:
        simulator.terminate()
        simulator.wait(timeout=60)
    return args.out


def _base_env() -> dict[str, str]:
    import os  # noqa: PLC0415

    return {**os.environ, "PYTHONSAFEPATH": "1"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("backfill", "live", "show"))
    parser.add_argument("--sessions", type=int, default=50_000)
    parser.add_argument("--rate-changes", type=int, default=1000, help="live: changes/s")
    parser.add_argument("--seconds", type=int, default=30, help="live: how long to sample")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--bootstrap", default="127.0.0.1:39092")
    parser.add_argument("--feeder-python", default=sys.executable)
    parser.add_argument("--out", type=Path, default=Path("profile.txt"))
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the feeder")
    args = parser.parse_args()
    if args.mode != "show":
        with tempfile.TemporaryDirectory() as directory:
            run = profile_backfill if args.mode == "backfill" else profile_live
            run(args, Path(directory))
    counts = breakdown(args.out)
    total = sum(counts.values()) or 1
    # A sample stands for 1/rate s of one thread's CPU; per session for a backfill.
    per = 1e6 / args.rate / args.sessions if args.mode != "live" else None
    print(f"{'stage':<20} {'share':>6}  {'us/session' if per else 'cpu s':>10}")
    for stage, count in counts.items():
        amount = count * per if per else count / args.rate
        print(f"{stage:<20} {count / total:6.1%}  {amount:10.1f}")
    print(f"{'total':<20} {1:6.1%}  {total * per if per else total / args.rate:10.1f}")


if __name__ == "__main__":
    main()
