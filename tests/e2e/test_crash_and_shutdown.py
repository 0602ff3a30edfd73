"""``feeder run`` as a real process: killed with SIGKILL mid-run it loses nothing and re-sends
only with the same ids; SIGTERM stops it cleanly with exit code 0."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from feeder.localkafka.broker import free_port
from feeder.simulator.server import run_simulator_in_thread
from tests.e2e.harness import (
    assert_feed_matches_ground_truth,
    busy_store,
    now,
    published_events,
    wait_until,
)

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio, pytest.mark.timeout(300)]


def feeder_env(
    base_url: str, token: str, bootstrap: str, checkpoint: Path, port: int
) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {
        **{key: value for key, value in os.environ.items() if not key.startswith("FEEDER_")},
        "FEEDER_API__BASE_URL": base_url,
        "FEEDER_API__TOKEN": token,
        "FEEDER_API__REQUESTS_PER_S": "50",
        "FEEDER_SWEEP__START_POSITION": "earliest",
        "FEEDER_SWEEP__POLL_INTERVAL_S": "0.2",
        "FEEDER_SWEEP__SETTLE_DELAY_S": "0.3",
        "FEEDER_SWEEP__LOOKBACK_S": "2",
        "FEEDER_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "FEEDER_KAFKA__TOPICS__EVENTS": f"events-{suffix}",
        "FEEDER_KAFKA__TOPICS__FRAUD": f"fraud-{suffix}",
        "FEEDER_KAFKA__TOPICS__STATE": f"state-{suffix}",
        "FEEDER_KAFKA__TOPICS__DEAD_LETTER": f"dlq-{suffix}",
        "FEEDER_CHECKPOINT__PATH": str(checkpoint),
        "FEEDER_OBSERVABILITY__PORT": str(port),
    }


def start_feeder(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "feeder", "run"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def scrape(port: int) -> dict[str, float]:
    """Sum of each metric's samples from a live /metrics, or {} while it is not up."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return {}
    totals: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name + str(sorted(sample.labels.items()))] += sample.value
            totals[sample.name] += sample.value
    return dict(totals)


async def test_sigkill_mid_run_loses_nothing_and_sigterm_exits_cleanly(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    log = tmp_path / "feeder.log"
    with run_simulator_in_thread(busy_store(seed=33)) as sim:
        port = free_port()
        env = feeder_env(sim.base_url, sim.token, kafka_bootstrap, tmp_path / "cp.sqlite3", port)
        first = start_feeder(env, log)
        try:
            await wait_until(
                lambda: scrape(port).get("feeder_events_published_total", 0) >= 40,
                timeout_s=60,
                what=f"the first feeder to publish events ({log.read_text()[-2000:]})",
            )
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        await asyncio.sleep(1)  # changes keep happening while no feeder runs
        second = start_feeder(env, log)
        try:
            await asyncio.sleep(2)
            sim.call(lambda s: s.pause())
            paused_at = now().timestamp()
            live_watermark = "feeder_watermark_timestamp_seconds[('sweep', 'live')]"
            await wait_until(
                lambda: scrape(port).get(live_watermark, 0) >= paused_at,
                timeout_s=60,
                what="the restarted feeder to catch up",
            )
            second.send_signal(signal.SIGTERM)
            exit_code = second.wait(30)
        finally:
            if second.poll() is None:
                second.kill()
        transitions = sim.call(lambda s: s.ground_truth())
    assert first.returncode == -signal.SIGKILL
    assert exit_code == 0, log.read_text()[-3000:]
    events = await published_events(kafka_bootstrap, env["FEEDER_KAFKA__TOPICS__EVENTS"])
    assert_feed_matches_ground_truth(events, transitions)
