"""``feeder check``, ``feeder run`` with bad settings and ``feeder backfill`` as real processes
against the simulator and the broker."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from feeder_devkit.simulator.server import run_simulator_in_thread
from feeder_devkit.simulator.settings import SimulatorSettings

from tests.e2e.harness import now, published_events
from tests.feeder_command import feeder

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]


def quiet_store(preload: int = 0) -> SimulatorSettings:
    return SimulatorSettings.model_validate(
        {
            "server": {"port": 0},
            "traffic": {
                "seed": 4,
                "start_paused": True,
                "preload_sessions": preload,
                "preload_span_s": 3600,
            },
        }
    )


def test_check_passes_against_a_reachable_api_and_kafka(kafka_bootstrap: str) -> None:
    with run_simulator_in_thread(quiet_store()) as sim:
        result = feeder(
            "check",
            env={
                "FEEDER_API__BASE_URL": sim.base_url,
                "FEEDER_API__TOKEN": sim.token,
                "FEEDER_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
            },
        )
    assert result.returncode == 0, result.stderr
    assert "accepts our credentials" in result.stdout
    assert "Kafka at" in result.stdout


def test_check_names_what_to_fix(kafka_bootstrap: str) -> None:
    with run_simulator_in_thread(quiet_store()) as sim:
        result = feeder(
            "check",
            env={
                "FEEDER_API__BASE_URL": sim.base_url,
                "FEEDER_API__TOKEN": "wrong-token",
                "FEEDER_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:9",
                "FEEDER_KAFKA__SEND_TIMEOUT_S": "3",
            },
        )
    assert result.returncode == 1
    assert "FEEDER_API__TOKEN" in result.stderr
    assert "FEEDER_KAFKA__BOOTSTRAP_SERVERS" in result.stderr
    assert "wrong-token" not in result.stderr + result.stdout


def test_invalid_settings_are_named_before_anything_starts() -> None:
    result = feeder(
        "run",
        env={
            "FEEDER_API__TOKEN": "x",
            "FEEDER_SWEEP__POLL_INTERVAL_S": "-1",
            "FEEDER_SWEEP__LOOK_BACK_S": "10",  # a typo
        },
    )
    assert result.returncode == 2
    assert "FEEDER_SWEEP__POLL_INTERVAL_S: Input should be greater than 0" in result.stderr
    assert "FEEDER_SWEEP__LOOK_BACK_S" in result.stderr


def test_a_field_policy_naming_a_field_the_feed_needs_stops_the_feed_at_start_up() -> None:
    result = feeder(
        "run",
        env={
            "FEEDER_API__TOKEN": "x",
            "FEEDER_EVENTS__DROP_FIELDS": '["customer.firstName", "suspectedFraud"]',
        },
    )
    assert result.returncode == 2
    assert "FEEDER_EVENTS__DROP_FIELDS: 'suspectedFraud' would drop a field the feed needs" in (
        result.stderr
    )


def test_backfill_publishes_a_past_window_and_resumes_without_the_live_checkpoint(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = f"backfill-events-{os.getpid()}-{tmp_path.name}"
    with run_simulator_in_thread(quiet_store(preload=500)) as sim:
        start, end = now() - timedelta(hours=2), now()
        env = {
            "FEEDER_API__BASE_URL": sim.base_url,
            "FEEDER_API__TOKEN": sim.token,
            "FEEDER_API__REQUESTS_PER_S": "50",
            "FEEDER_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
            "FEEDER_KAFKA__TOPICS__EVENTS": topic,
            "FEEDER_CHECKPOINT__PATH": str(tmp_path / "live.sqlite3"),
        }
        window = ("--from", start.isoformat(), "--to", end.isoformat())
        first = feeder("backfill", *window, env=env)
        again = feeder("backfill", *window, env=env)
    assert first.returncode == 0, first.stderr
    assert "500 records" in first.stdout, first.stdout
    assert again.returncode == 0, again.stderr
    assert "0 records" in again.stdout, again.stdout  # resumed from its own state: nothing left
    assert not (tmp_path / "live.sqlite3").exists()
    assert list(tmp_path.glob("backfill-*.sqlite3"))
    events = await_events(kafka_bootstrap, topic)
    assert sum(event.type == "session.created" for event in events) == 500


def await_events(bootstrap: str, topic: str) -> list:  # type: ignore[type-arg]
    import asyncio  # noqa: PLC0415

    return asyncio.run(published_events(bootstrap, topic))
