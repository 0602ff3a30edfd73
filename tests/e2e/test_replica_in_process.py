"""A replica of a config with no FEEDER_FEEDS (one feed: the settings themselves, as the
Kubernetes overlay has it) runs that feed and serves its metrics on the replica's port."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from feeder_devkit.localkafka.broker import free_port
from feeder_devkit.simulator.server import run_simulator_in_thread

from feeder.core.timestamps import utc_now
from feeder.runtime.replicas import Replica
from tests.e2e.harness import busy_store, feeder_settings

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio, pytest.mark.timeout(180)]


async def test_a_replica_of_one_feed_runs_it_and_serves_its_metrics(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    with run_simulator_in_thread(busy_store(seed=61)) as sim:
        settings = feeder_settings(
            sim.base_url,
            sim.token,
            kafka_bootstrap,
            tmp_path / "cache.sqlite3",
            checkpoint_backend="kafka",
            delivery={"mode": "exactly-once"},
        )
        suffix = uuid.uuid4().hex[:8]
        settings = settings.model_copy(
            update={
                # a fixed port, as in production: the replica's, not the feed's too
                "observability": settings.observability.model_copy(update={"port": free_port()}),
                "replicas": settings.replicas.model_copy(
                    update={
                        "enabled": True,
                        "group_id": f"group-{suffix}",
                        "control_topic": f"control-{suffix}",
                        "replica_name": "solo",
                    }
                ),
            }
        )
        replica = Replica(settings, [settings], clock=utc_now)
        running = asyncio.create_task(replica.run(install_signal_handlers=False))

        async def metrics() -> str:
            if replica.metrics_port is None:
                return ""
            async with httpx.AsyncClient(timeout=2) as client:
                response = await client.get(f"http://127.0.0.1:{replica.metrics_port}/metrics")
                return response.text

        try:
            reads = 'feeder_read_duration_seconds_count{feed="' + settings.feed_name
            text = ""
            for _ in range(600):
                text = await metrics()
                if reads in text:
                    break
                await asyncio.sleep(0.1)
            assert reads in text, "the feed never read"
            assert (
                f'feeder_replica_feed_running{{feed="{settings.feed_name}",replica="solo"}} 1.0'
                in text
            )
        finally:
            replica.stopping.set()
            await asyncio.wait_for(running, timeout=60)
