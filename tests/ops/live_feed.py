"""A real feed for the operations tests: the simulator and a FeedApp, each on its own thread.

Threads (not the test's event loop) keep the feed and its metrics server running while plain
synchronous tests scrape it, read Kafka or run ``feeder`` as a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from feeder_devkit.simulator.server import ThreadedSimulator, run_simulator_in_thread

from feeder.runtime.feed import FeedApp
from feeder.settings import FeederSettings
from tests.e2e.harness import busy_store, feeder_settings

START_TIMEOUT_S = 90.0


@dataclass(frozen=True, slots=True)
class LiveFeed:
    settings: FeederSettings
    app: FeedApp
    simulator: ThreadedSimulator
    metrics_url: str

    def scrape(self) -> str:
        return httpx.get(self.metrics_url, timeout=10).text


@contextlib.contextmanager
def feed_app_in_thread(settings: FeederSettings) -> Iterator[FeedApp]:
    """Run a FeedApp on a private loop until the block ends; re-raise its failure."""
    started = threading.Event()
    holder: list[tuple[FeedApp, asyncio.AbstractEventLoop]] = []
    failed: list[BaseException] = []

    async def main() -> None:
        app = FeedApp(settings)
        holder.append((app, asyncio.get_running_loop()))
        waiter = asyncio.create_task(app.started.wait())
        waiter.add_done_callback(lambda _: started.set())
        try:
            await app.run(install_signal_handlers=False)
        finally:
            waiter.cancel()

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            failed.append(exc)
        finally:
            started.set()

    thread = threading.Thread(target=target, name="feeder-app", daemon=True)
    thread.start()
    started.wait(START_TIMEOUT_S)
    if failed or not holder:
        thread.join(5)
        raise RuntimeError("the feed did not start") from (failed[0] if failed else None)
    app, loop = holder[0]
    try:
        yield app
    finally:
        loop.call_soon_threadsafe(app.stopping.set)
        thread.join(60)
        if failed:
            raise RuntimeError("the feed failed") from failed[0]


def wait_for(condition: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    """Poll until ``condition`` holds; fail naming ``what`` (a bound, not a speed assertion)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.2)


# Samples that show every kind of metric in use: events of several types, a dead letter, a
# retry, and the live pass and a re-read pass completed a read.
WANTED_SAMPLES = (
    'feeder_events_published_total{topic="events-',
    'feeder_events_published_total{topic="fraud-',
    'type="session.entered"',
    'type="session.suspected_fraud_changed"',
    "feeder_dead_letters_total{",
    "feeder_api_retries_total{",
    'feeder_last_successful_sweep_timestamp_seconds{sweep="live"}',
    'feeder_last_successful_sweep_timestamp_seconds{sweep="reread_',
)


@contextlib.contextmanager
def live_feed(bootstrap: str, checkpoint: Path) -> Iterator[LiveFeed]:
    faults = {"error_share": 0.05, "malformed_share": 0.02}
    with run_simulator_in_thread(busy_store(seed=606, **faults)) as simulator:
        settings = feeder_settings(simulator.base_url, simulator.token, bootstrap, checkpoint)
        with feed_app_in_thread(settings) as app:
            feed = LiveFeed(
                settings, app, simulator, f"http://127.0.0.1:{app.metrics_port}/metrics"
            )

            def everything_seen() -> bool:
                text = feed.scrape()
                return all(wanted in text for wanted in WANTED_SAMPLES)

            wait_for(everything_seen, timeout_s=120, what=f"samples {WANTED_SAMPLES}")
            yield feed
