"""A sliced backfill on the real broker, against the simulator that answers like a remote API,
serves its progress on /metrics while it runs: scraped mid-way, then once more when the last
slice is done, the numbers are the final summary's; after it, nothing listens."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from feeder_devkit.simulator.server import run_simulator_in_thread
from prometheus_client.parser import text_string_to_metric_families

from feeder.commands.backfill import BackfillProgress
from feeder.listening import bind_tcp
from feeder.observability.backfill_metrics import backfill_metrics_served
from feeder.runtime.backfill import run_backfill
from tests.e2e.harness import feeder_settings, now
from tests.e2e.test_sliced_backfill import PAGE_SIZE, SESSIONS, remote_store

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio, pytest.mark.timeout(180)]

SLICES = 6

Metrics = dict[str, float]


async def scrape(http: httpx.AsyncClient, url: str) -> Metrics:
    """Each sample of ``url``, named ``name`` or ``name{label=value}``."""
    response = await http.get(url)
    response.raise_for_status()
    return {
        sample.name + "".join(f"{{{k}={v}}}" for k, v in sorted(sample.labels.items())): (
            sample.value
        )
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def scrape_until(
    http: httpx.AsyncClient,
    url: str,
    condition: Callable[[Metrics], bool],
    running: asyncio.Task[object],
    timeout_s: float = 60,
) -> Metrics:
    """Scrape until ``condition`` holds; fail if ``running`` ends first or after ``timeout_s``
    (a bounded wait, not a speed assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        metrics = await scrape(http, url)
        if condition(metrics):
            return metrics
        if running.done():
            raise AssertionError(f"the backfill ended before the metrics showed it: {metrics}")
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s; last scrape: {metrics}")
        await asyncio.sleep(0.02)


def under_way(metrics: Metrics) -> bool:
    """Records published, and slices still to sweep."""
    return (
        metrics["feeder_backfill_records_total"] > 0
        and metrics["feeder_backfill_slices{state=done}"] < SLICES
    )


async def test_a_backfill_serves_its_progress_on_metrics_while_it_runs(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    with run_simulator_in_thread(remote_store()) as sim:
        start, end = now() - timedelta(hours=2), now()
        settings = feeder_settings(
            sim.base_url,
            sim.token,
            kafka_bootstrap,
            tmp_path / "live.sqlite3",
            page_size=PAGE_SIZE,
        )
        progress = BackfillProgress(start, end, io.StringIO())
        listener = bind_tcp("127.0.0.1", 0)
        base = f"http://127.0.0.1:{listener.getsockname()[1]}"
        async with httpx.AsyncClient(timeout=10) as http:
            async with backfill_metrics_served(progress, listener):
                backfilling = asyncio.create_task(
                    run_backfill(
                        settings,
                        start=start,
                        end=end,
                        state_path=tmp_path / "backfill.sqlite3",
                        observer=progress,
                        slices=SLICES,
                        concurrency=2,
                    )
                )
                try:
                    during = await scrape_until(http, f"{base}/metrics", under_way, backfilling)
                    ready = await http.get(f"{base}/readyz")
                    healthy = await http.get(f"{base}/healthz")
                finally:
                    await backfilling
                final = await scrape(http, f"{base}/metrics")
            with pytest.raises(httpx.ConnectError):
                await http.get(f"{base}/metrics")  # the server stopped with the backfill

    assert ready.status_code == healthy.status_code == 200
    assert 0 < during["feeder_backfill_records_total"] <= final["feeder_backfill_records_total"]
    assert during["feeder_backfill_done_ratio"] < 1.0
    # At the end the metrics are the summary the command prints.
    assert final["feeder_backfill_records_total"] == progress.records == SESSIONS
    assert final["feeder_backfill_events_total"] == progress.events > 0
    assert final["feeder_backfill_dead_letters_total"] == progress.dead_letters
    assert final["feeder_backfill_done_ratio"] == 1.0
    assert final["feeder_backfill_slices{state=done}"] == SLICES
    assert final["feeder_backfill_slices{state=total}"] == SLICES
    assert final["feeder_backfill_eta_seconds"] == 0.0
    assert final["feeder_backfill_records_per_second"] > 0
