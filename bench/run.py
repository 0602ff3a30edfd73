"""The feeder benchmark: component floor, backfill, live freshness and idle cost, in one run.

Needs a Kafka broker (``deploy/local/kafka run --port 39092 --controller-port 39093``). The
simulator and the feeder each run in a child process, so the feeder's CPU is its own. Prints a
table with the targets and writes every number to JSON. No asserts: the numbers are the result.

    python bench/run.py [--quick] [--sessions N] [--json out.json] [--only floor,backfill,...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import orjson
from backfill import feeder_env, measure_backfill
from floor import measure_floor
from kafka_io import bench_topics, create_topics, topic_env
from live import SHAPES, measure_live
from processes import start_simulator

from feeder.core.timestamps import format_timestamp, utc_now

SCENARIOS = ("floor", "backfill", "backfill_api_limited", "live", "idle")
API_LIMIT = [  # the real API: 20 requests/s per client, 100-300 ms a page
    "--rate-limit-per-s",
    "20",
    "--fault-latency-ms",
    "100",
    "--fault-latency-jitter-ms",
    "200",
]
PRELOAD_SPAN = timedelta(days=7)  # the simulator's default preload span


def _machine() -> dict[str, object]:
    model = "?"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def _sweep_and_backfill(
    args: argparse.Namespace, workdir: Path, results: dict[str, object]
) -> None:
    """Floor and backfill share one preloaded simulator (its pages are the floor's input); the
    backfill at the API's limits has one of its own."""
    if args.only & {"floor", "backfill"}:
        _unlimited(args, workdir, results)
    if "backfill_api_limited" in args.only:
        _api_limited_backfill(args, workdir, results)


def _unlimited(args: argparse.Namespace, workdir: Path, results: dict[str, object]) -> None:
    simulator, base_url = start_simulator(
        args.sessions, extra_args=["--start-paused", "--rate-limit-per-s", "0"]
    )
    try:
        end = utc_now()
        start = end - PRELOAD_SPAN - timedelta(days=1)
        topics = bench_topics("backfill")
        asyncio.run(create_topics(args.bootstrap, topics))
        if "floor" in args.only:
            print("floor ...", flush=True)
            results["floor"] = measure_floor(
                base_url,
                start=start,
                end=end,
                bootstrap=args.bootstrap,
                topics=topics,
                pages=args.floor_pages,
            )
        if "backfill" in args.only:
            print(f"backfill of {args.sessions:,} sessions ...", flush=True)
            env = {**feeder_env(base_url, args.bootstrap, workdir), **topic_env(topics)}
            results["backfill"] = measure_backfill(
                base_url,
                simulator.pid,
                env=env,
                start=start,
                end=end,
                workdir=workdir,
                extra_args=tuple(args.backfill_args.split()),
                feeder_python=args.feeder_python,
            )
            results["backfill"]["window"] = [format_timestamp(start), format_timestamp(end)]  # type: ignore[index]
    finally:
        simulator.terminate()
        simulator.wait(timeout=60)


def _api_limited_backfill(
    args: argparse.Namespace, workdir: Path, results: dict[str, object]
) -> None:
    """The same backfill against a simulator at the real API's limits, with the client's budget
    at 20 requests/s too: the feeder can go no faster than 20 x 200 = 4,000 sessions/s."""
    simulator, base_url = start_simulator(args.sessions, extra_args=["--start-paused", *API_LIMIT])
    try:
        end = utc_now()
        start = end - PRELOAD_SPAN - timedelta(days=1)
        topics = bench_topics("backfill-api")
        asyncio.run(create_topics(args.bootstrap, topics))
        print(f"backfill of {args.sessions:,} sessions at the API's limits ...", flush=True)
        env = {
            **feeder_env(base_url, args.bootstrap, workdir),
            **topic_env(topics),
            "FEEDER_API__REQUESTS_PER_S": "20",
        }
        results["backfill_api_limited"] = measure_backfill(
            base_url,
            simulator.pid,
            env=env,
            start=start,
            end=end,
            workdir=workdir,
            extra_args=tuple(args.backfill_args.split()),
            feeder_python=args.feeder_python,
            name="backfill-api",
        )
        results["backfill_api_limited"]["simulator"] = API_LIMIT  # type: ignore[index]
    finally:
        simulator.terminate()
        simulator.wait(timeout=60)


def _live_and_idle(args: argparse.Namespace, workdir: Path, results: dict[str, object]) -> None:
    env = feeder_env("unset", args.bootstrap, workdir)
    shapes = () if args.no_shapes else SHAPES
    results["live_settings"] = {
        "poll_interval_s": 1.0,
        "shapes": list(shapes),
        "feeder_python": args.feeder_python,
        "sweep": "defaults of the feeder measured",
    }
    if "live" in args.only:
        live = []
        for budget in args.budgets:
            for rate in args.rates:
                print(
                    f"live at {rate:,} changes/s, budget {budget:g} requests/s, "
                    f"for {args.live_s:.0f} s (+{args.tail_s:.0f} s) ...",
                    flush=True,
                )
                live.append(
                    measure_live(
                        changes_per_s=rate,
                        duration_s=args.live_s,
                        warmup_s=args.warmup_s,
                        tail_s=args.tail_s,
                        bootstrap=args.bootstrap,
                        workdir=workdir,
                        env=env,
                        sweep_env={},
                        shapes=shapes,
                        requests_per_s=budget,
                        feeder_python=args.feeder_python,
                    )
                )
        results["live"] = live
    if "idle" in args.only:
        print(f"idle for {args.live_s:.0f} s ...", flush=True)
        # A feed an hour old: every re-read pass has a window open, as in any steady state.
        hour_ago = format_timestamp(utc_now() - timedelta(hours=1))
        results["idle"] = measure_live(
            changes_per_s=0,
            duration_s=args.live_s,
            warmup_s=args.warmup_s,
            tail_s=0,
            bootstrap=args.bootstrap,
            workdir=workdir,
            env=env,
            sweep_env={"FEEDER_SWEEP__START_POSITION": hour_ago},
            feeder_python=args.feeder_python,
        )


def _fmt(value: object, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def print_table(results: dict[str, object]) -> None:
    rows: list[tuple[str, str, str]] = []
    floor = results.get("floor")
    if isinstance(floor, dict):
        rows += [
            ("floor: orjson parse", f"{floor['parse_us']:.1f} µs/session", ""),
            ("floor: edge validation", f"{floor['validate_us']:.1f} µs/session", ""),
            ("floor: event encoding", f"{floor['encode_us']:.1f} µs/session", ""),
            (
                "floor: aiokafka sends",
                f"{floor['kafka_send_us']:.1f} µs/session "
                f"({floor['kafka_send_us_per_kafka_record']:.1f}/Kafka record)",
                "",
            ),
            (
                "(per Kafka record: send / batch)",
                f"{floor['kafka_one_send_per_record_us_per_kafka_record']:.1f} / "
                f"{floor['kafka_batch_per_partition_us_per_kafka_record']:.1f} µs",
                "",
            ),
            ("floor: total", f"{floor['floor_us']:.1f} µs/session", ""),
            ("(diff, not in floor)", f"{floor['diff_us_not_in_floor']:.1f} µs/session", ""),
            (
                "Kafka records, events / session",
                f"{floor['kafka_records'] / floor['sessions']:.2f}, "
                f"{floor['events'] / floor['sessions']:.2f}",
                "",
            ),
        ]
    backfill = results.get("backfill")
    if isinstance(backfill, dict):
        ratio = (
            backfill["feeder_cpu_us_per_record"] / floor["floor_us"]
            if isinstance(floor, dict)
            else None
        )
        rows += [
            ("backfill: sessions", f"{backfill['records']:,}", ""),
            (
                "backfill: sessions/s",
                f"{backfill['records_per_s']:,.0f}",
                "≥ 8,000 " + ("✓" if backfill["records_per_s"] >= 8_000 else "✗"),
            ),
            (
                "backfill: Kafka records/s",
                _fmt(
                    backfill["records_per_s"]
                    * (floor["kafka_records"] / floor["sessions"] if isinstance(floor, dict) else 0)
                ),
                "",
            ),
            (
                "backfill: feeder CPU/session",
                f"{backfill['feeder_cpu_us_per_record']:.1f} µs",
                "≤ 120 " + ("✓" if backfill["feeder_cpu_us_per_record"] <= 120 else "✗"),
            ),
            (
                "backfill: ratio to floor",
                _fmt(ratio, ".2f"),
                "≤ 1.2 " + ("" if ratio is None else "✓" if ratio <= 1.2 else "✗"),
            ),
            ("backfill: feeder CPU share", f"{backfill['feeder_cpu_share']:.2f} cores", ""),
            (
                "backfill: peak RSS",
                f"{backfill['peak_rss_bytes'] / 2**20:,.0f} MiB",
                "≤ 200 MB " + ("✓" if backfill["peak_rss_bytes"] <= 200e6 else "✗"),
            ),
            ("backfill: store on disk", f"{backfill['store_bytes'] / 2**20:,.0f} MiB", ""),
        ]
    limited = results.get("backfill_api_limited")
    if isinstance(limited, dict):
        rows += [
            (
                "backfill at the API's limits: sessions/s",
                f"{limited['sessions_per_s']:,.0f}",
                "≥ 3,600 " + ("✓" if limited["sessions_per_s"] >= 3_600 else "✗"),
            ),
            (
                "backfill at the API's limits: CPU/session, share",
                f"{limited['feeder_cpu_us_per_session']:.1f} µs, "
                f"{limited['feeder_cpu_share']:.2f} cores",
                "",
            ),
            (
                "backfill at the API's limits: peak RSS",
                f"{limited['peak_rss_bytes'] / 2**20:,.0f} MiB",
                "",
            ),
        ]
    settings = results.get("live_settings", {})
    assert isinstance(settings, dict)
    budget_s = settings.get("poll_interval_s", 1.0) + 0.5
    for live in results.get("live", []):  # type: ignore[attr-defined]
        name = f"live {live['target_changes_per_s']:,.0f}/s @{live['requests_per_s_budget']:g}"
        visible = live["visible_to_kafka"]
        p99 = visible["p99_s"]
        mark = "" if p99 is None else f"p99 ≤ {budget_s:.1f} s " + ("✓" if p99 <= budget_s else "✗")
        rows += [
            (f"{name}: changes/s seen", f"{live['changes_per_s']:,.0f}", ""),
            (
                f"{name}: visible→Kafka p50/p99/max",
                " / ".join(_fmt(visible[k], ".2f") for k in ("p50_s", "p99_s", "max_s"))
                + f" s ({visible['transitions']:,} transitions, {visible['unmatched']:,} without"
                " event)",
                mark,
            ),
        ]
        for bucket, numbers in visible["late_by_lateness"].items():
            rows.append(
                (
                    f"{name}: late {bucket}: after visible p50/p99/max",
                    " / ".join(_fmt(numbers[k], ".2f") for k in ("p50_s", "p99_s", "max_s"))
                    + f" s ({numbers['transitions']})",
                    "",
                )
            )
        rows += [
            (
                f"{name}: API req/s, per 1,000 changes, 503/s",
                f"{live['api_requests_per_s']:.1f}, "
                f"{_fmt(live['api_requests_per_1000_changes'], '.1f')}, "
                f"{live['api_503_per_s']:.2f}",
                "",
            ),
            (
                f"{name}: CPU feeder/sim",
                f"{live['feeder_cpu_share']:.0%} / {live['simulator_cpu_share']:.0%}",
                "",
            ),
            (
                f"{name}: append - change time p50/p99",
                " / ".join(_fmt(live[f"freshness_{p}_s"], ".2f") for p in ("p50", "p99")) + " s",
                "",
            ),
        ]
    idle = results.get("idle")
    if isinstance(idle, dict):
        per_poll = idle["api_requests_per_s"] * settings.get("poll_interval_s", 1.0)
        rows += [
            (
                "idle: API requests / poll",
                f"{per_poll:.2f}",
                "≤ 1 " + ("✓" if per_poll <= 1.0 else "✗"),
            ),
            ("idle: feeder CPU", f"{idle['feeder_cpu_share']:.1%}", ""),
        ]
    width = max(len(name) for name, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>{value_width}}  {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 sessions, 15 s windows")
    parser.add_argument("--sessions", type=int, default=None)
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"))
    parser.add_argument("--bootstrap", default="127.0.0.1:39092")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma list of scenarios")
    parser.add_argument("--rates", default="200,1000", help="live changes/s, comma list")
    parser.add_argument("--live-s", type=float, default=None, help="measured window per level")
    parser.add_argument(
        "--budgets", default="20,10", help="FEEDER_API__REQUESTS_PER_S of the live levels"
    )
    parser.add_argument("--tail-s", type=float, default=None, help="run on after each window")
    parser.add_argument("--no-shapes", action="store_true", help="no hot sessions, no late commits")
    parser.add_argument(
        "--feeder-python",
        default=sys.executable,
        help="the interpreter of another feeder installation to measure (e.g. an older commit)",
    )
    parser.add_argument("--floor-pages", type=int, default=50)
    parser.add_argument(
        "--backfill-args",
        default="",
        help="more arguments for feeder backfill, e.g. '--slices 1 --concurrency 1'",
    )
    args = parser.parse_args()
    args.only = set(args.only.split(","))
    args.rates = [float(rate) for rate in args.rates.split(",")]
    args.budgets = [float(budget) for budget in args.budgets.split(",")]
    args.sessions = args.sessions or (100_000 if args.quick else 1_000_000)
    args.live_s = args.live_s or (15.0 if args.quick else 60.0)
    args.warmup_s = 5.0 if args.quick else 10.0
    args.tail_s = args.tail_s if args.tail_s is not None else 40.0  # past the 30 s lateness

    results: dict[str, object] = {
        "date": format_timestamp(utc_now()),
        "machine": _machine(),
        "load_average_before": os.getloadavg(),
        "arguments": {k: sorted(v) if isinstance(v, set) else v for k, v in vars(args).items()},
    }
    started_s = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="feeder-bench-") as workdir:
        if args.only & {"floor", "backfill", "backfill_api_limited"}:
            _sweep_and_backfill(args, Path(workdir), results)
        if args.only & {"live", "idle"}:
            _live_and_idle(args, Path(workdir), results)
    results["load_average_after"] = os.getloadavg()
    results["bench_wall_s"] = time.perf_counter() - started_s
    args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2, default=str))
    print(f"\nload average before {results['load_average_before']}, after {os.getloadavg()}")
    print_table(results)
    print(f"\nwritten to {args.json}")


if __name__ == "__main__":
    main()
