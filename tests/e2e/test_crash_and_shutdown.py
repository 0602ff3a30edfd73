"""``feeder run`` as a real process: killed with SIGKILL mid-run it loses nothing and re-sends
only with the same ids; SIGTERM stops it cleanly with exit code 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from feeder.commands.status_sources import read_checkpoint
from feeder.localkafka.broker import free_port
from feeder.settings import FeederSettings
from feeder.simulator.server import run_simulator_in_thread
from tests.e2e.harness import (
    LOOKBACK_S,
    REREAD_DELAYS_S,
    assert_exactly_once,
    busy_store,
    live_gap_bound_s,
    now,
    published_events,
    timing,
    traffic_until,
    wait_until,
)
from tests.e2e.oracle import expectations

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio, pytest.mark.timeout(300)]
KILLED_PAGE_S = 2.0
"""A page the killed process fetched this long before the kill may not have been committed."""


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
        "FEEDER_SWEEP__REREAD_DELAYS_S": orjson.dumps(REREAD_DELAYS_S).decode(),
        "FEEDER_SWEEP__LOOKBACK_S": str(LOOKBACK_S),
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


def samples(port: int) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of a live /metrics, or [] while it is not up."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return []
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def scrape(port: int) -> dict[str, float]:
    """Sum of each metric's samples from a live /metrics, or {} while it is not up."""
    totals: Counter[str] = Counter()
    for name, labels, value in samples(port):
        totals[name + str(sorted(labels.items()))] += value
        totals[name] += value
    return dict(totals)


def caught_up(checkpoint: Path, port: int, moment: datetime) -> bool:
    """The running feeder read everything visible at ``moment`` and re-read all it read."""
    live_read = scrape(port).get("feeder_watermark_timestamp_seconds[('sweep', 'live')]", 0)
    if live_read < moment.timestamp():
        return False
    status = read_checkpoint(checkpoint)
    return status.live is not None and all(c >= status.live for c in status.rereads.values())


async def test_sigkill_mid_run_loses_nothing_and_sigterm_exits_cleanly(
    kafka_bootstrap: str, tmp_path: Path, ground_truth_report: list[str]
) -> None:
    log = tmp_path / "feeder.log"
    checkpoint = tmp_path / "cp.sqlite3"
    with run_simulator_in_thread(busy_store(seed=33)) as sim:
        port = free_port()
        env = feeder_env(sim.base_url, sim.token, kafka_bootstrap, checkpoint, port)
        first = start_feeder(env, log)
        try:
            await wait_until(
                lambda: scrape(port).get("feeder_events_published_total", 0) >= 40,
                timeout_s=60,
                what=f"the first feeder to publish events ({log.read_text()[-2000:]})",
            )
            first_gaps = samples(port)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        # What it fetched in its last moments may never have been committed: it is lost to it.
        killed_at = now()
        await traffic_until(sim, 50)  # changes keep happening while no feeder runs
        second = start_feeder(env, log)
        try:
            await wait_until(
                lambda: scrape(port).get("feeder_read_duration_seconds_count", 0) > 0,
                timeout_s=60,
                what=f"the restarted feeder's first read ({log.read_text()[-2000:]})",
            )
            seeing_again_at = now()
            await traffic_until(sim, 100)
            sim.call(lambda s: s.pause())
            await wait_until(
                lambda: sim.call(lambda s: s.held_changes) == 0, timeout_s=30, what="held"
            )
            paused_at = now()
            await wait_until(
                lambda: caught_up(checkpoint, port, paused_at),
                timeout_s=60,
                what="the restarted feeder to catch up",
            )
            second_gaps = samples(port)
            second.send_signal(signal.SIGTERM)
            exit_code = second.wait(30)
        finally:
            if second.poll() is None:
                second.kill()
        transitions = sim.call(lambda s: s.ground_truth())
        versions = sim.call(lambda s: s.versions())
    assert first.returncode == -signal.SIGKILL
    assert exit_code == 0, log.read_text()[-3000:]
    settings = load_settings_from(env)
    gap_s = max(live_gap_bound_s(first_gaps), live_gap_bound_s(second_gaps))
    blind = [(killed_at - timedelta(seconds=KILLED_PAGE_S), seeing_again_at)]
    expect = expectations(transitions, versions, timing(settings, gap_s), blind_spans=blind)
    events = await published_events(kafka_bootstrap, env["FEEDER_KAFKA__TOPICS__EVENTS"])
    resent = len(events) - len({event.id for event in events})
    ground_truth_report.append(f"{expect.summary()}; {resent} records re-sent with the same id")
    assert_exactly_once(events, expect, first_times=False, resends_allowed=True)


def load_settings_from(env: dict[str, str]) -> FeederSettings:
    """The settings the feeder processes read from ``env``."""
    feeder_vars = {key: value for key, value in env.items() if key.startswith("FEEDER_")}
    saved = {key: os.environ.get(key) for key in feeder_vars}
    os.environ.update(feeder_vars)
    try:
        return FeederSettings()
    finally:
        for key, value in saved.items():
            if value is None:
                del os.environ[key]
            else:
                os.environ[key] = value
