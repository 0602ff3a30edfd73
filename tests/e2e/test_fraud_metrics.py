"""The fraud user's metrics move as a simulated late fraud flag says they should.

Two customers are in a store; one leaves. Then both sessions are flagged, the one who left by a
write the API makes visible only later. The freshness of both flags is observed under their
type, the late one's at least as late as the API hid it, and only the flag on the customer who
had left counts as published after the exit. `feeder status` shows the recent quantiles.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from feeder_devkit.simulator.engine import Simulator
from feeder_devkit.simulator.server import run_simulator_in_thread
from prometheus_client import CollectorRegistry

from tests.e2e.feeder_process import run_feeder
from tests.e2e.harness import feeder_settings, now, running_feed, wait_caught_up, wait_until
from tests.e2e.test_verify_and_rewind import paused_store

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio, pytest.mark.timeout(180)]

FRAUD = "session.suspected_fraud_changed"
HIDDEN_S = 1.5  # how long the API keeps the late flag invisible


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_a_late_fraud_flag_on_a_customer_who_left_moves_the_fraud_metrics(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    with run_simulator_in_thread(paused_store()) as sim:

        def customers(simulator: Simulator) -> tuple[str, str]:
            left, inside = simulator.create_session(), simulator.create_session()
            entered = simulator.clock()
            for session_id in (left, inside):
                simulator.update_session(session_id, customer_last_entered_at=entered)
            exited = entered + timedelta(milliseconds=20)
            simulator.update_session(left, customer_last_exited_at=exited)
            return left, inside

        left, inside = sim.call(customers)
        settings = feeder_settings(
            sim.base_url,
            sim.token,
            kafka_bootstrap,
            tmp_path / "cp.sqlite3",
            lookback_s=HIDDEN_S * 2,  # the re-read that finds the late flag
        )
        async with running_feed(settings) as app:
            await wait_caught_up(app, now())
            registry = app.metrics.registry
            assert sample(registry, "feeder_event_freshness_seconds_count", type=FRAUD) == 0
            assert sample(registry, "feeder_event_freshness_seconds_count", type="session.exited")

            def flag(simulator: Simulator) -> None:
                simulator.update_session(left, suspected_fraud=True, visible_after_s=HIDDEN_S)
                simulator.update_session(inside, suspected_fraud=True)

            sim.call(flag)
            await wait_until(
                lambda: sample(registry, "feeder_event_freshness_seconds_count", type=FRAUD) == 2,
                timeout_s=60,
                what="both fraud flags to be published",
            )
            after_exit = sample(registry, "feeder_fraud_flags_after_exit_total")
            within_1s = registry.get_sample_value(
                "feeder_event_freshness_seconds_bucket", {"type": FRAUD, "le": "1.0"}
            )
            total_s = sample(registry, "feeder_event_freshness_seconds_sum", type=FRAUD)
            status = await run_feeder(
                settings,
                "status",
                "--metrics-url",
                f"http://127.0.0.1:{app.metrics_port}/metrics",
                "--json",
            )

    assert after_exit == 1  # the customer still inside does not count
    assert within_1s is not None
    assert within_1s <= 1  # the late flag was at least HIDDEN_S old when Kafka had it
    assert total_s >= HIDDEN_S
    assert status.returncode == 0, status.stderr
    recent = json.loads(status.stdout)["metrics"]["recent_freshness_s"]
    assert set(recent[FRAUD]) == {"p50", "p99"}
    assert recent[FRAUD]["p99"] >= HIDDEN_S
