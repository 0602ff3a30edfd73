"""The exact ground-truth check at a benchmark's rate: ``python bench/exact.py [--rate 1000]``.

The live benchmark matches events to transitions approximately; this runs the same traffic
shapes (hot sessions, 1-30 s late commits) through a real feed and broker and judges the events
topic with the test suite's oracle (``tests/e2e/oracle.py``: every version the simulator served
is known, so every transition a poller could see must be published exactly once, nothing else),
at rates the tests do not reach. It starts its own local broker. Prints what the oracle found.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' oracle and harness

from feeder_devkit.localkafka import LocalKafkaBroker
from feeder_devkit.simulator.server import run_simulator_in_thread
from feeder_devkit.simulator.settings import SimulatorSettings

from tests.e2e.harness import (
    feed_expectations,
    feeder_settings,
    published_events,
    quiesce,
    running_feed,
    traffic_until,
)
from tests.e2e.tally import tally

CHANGES_PER_SESSION = 6.5
DISTINCT_STAMPS_PER_S = 600.0


def simulator(rate: float, seed: int) -> SimulatorSettings:
    return SimulatorSettings.model_validate(
        {
            "server": {"port": 0, "rate_limit_per_s": 20},
            "traffic": {
                "seed": seed,
                "stores": 20,
                "new_sessions_per_s": rate / CHANGES_PER_SESSION,
                "speedup": 60,
                "tie_share": max(0.05, 1 - DISTINCT_STAMPS_PER_S / rate),
                "hot_share": 0.05,
                "hot_interval_ms": 500,
            },
            "faults": {
                "late_visible_share": 0.1,
                "late_visible_delay_s": 1,
                "late_visible_delay_max_s": 30,
            },
            "ground_truth": {"track_served": True},
        }
    )


async def check(bootstrap: str, rate: float, seconds: float, seed: int) -> str:
    with run_simulator_in_thread(simulator(rate, seed)) as sim:
        settings = feeder_settings(
            sim.base_url,
            sim.token,
            bootstrap,
            Path(tempfile.mkdtemp()) / "cp.sqlite3",
            reread_delays_s=(1, 4, 8, 12, 16, 20, 24, 28, 32, 60),
            lookback_s=90,  # the default 300 s would only lengthen the wait at the end
            poll_interval_s=1.0,
        )
        api = settings.api.model_copy(update={"requests_per_s": 20})
        settings = settings.model_copy(update={"api": api})
        async with running_feed(settings) as app:
            await traffic_until(sim, int(rate * seconds))
            await quiesce(sim, app)
        expect = feed_expectations(sim, settings)
    events = await published_events(bootstrap, settings.kafka.topics.events)
    result = tally(f"{rate:g} changes/s for {seconds:g} s", events, expect)
    return "\n".join(
        [
            result.line(),
            *(f"  missing: {t}" for t in result.missing[:10]),
            *(f"  unexcusable: {x}" for x in expect.unexcusable[:10]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="changes per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="of traffic")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    with LocalKafkaBroker() as broker:
        print(asyncio.run(check(broker.bootstrap_servers, args.rate, args.seconds, args.seed)))


if __name__ == "__main__":
    main()
