"""The compacted state topic holds exactly the live sessions once pruned sessions are
tombstoned and the broker compacted it: simulator, FeedApp, SQLite and a real Kafka broker."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.partitioner import DefaultPartitioner
from feeder_devkit.simulator.server import run_simulator_in_thread
from feeder_devkit.simulator.settings import SimulatorSettings

from feeder.kafka.topics import state_topic_configs
from feeder.runtime.feed import FeedApp
from feeder.settings import FeederSettings
from feeder.sink import KafkaSink
from tests.e2e.harness import feeder_settings, now, running_feed, wait_caught_up, wait_until
from tests.kafka_reading import ReadRecord, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio, pytest.mark.timeout(240)]

# Compaction on demand, for the test only: a segment rolls on the first write 100 ms after it
# was opened, and any dirty data makes a partition worth cleaning.
FAST_COMPACTION = {"segment.ms": "100", "min.cleanable.dirty.ratio": "0.01"}


async def _create_topics_compacting_fast(settings: FeederSettings) -> None:
    """feeder creates its topics (with its own configs); then the state topic compacts fast."""
    sink = await KafkaSink.open(settings.kafka)
    await sink.aclose()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        # AlterConfigs replaces a topic's whole config: keep feeder's own settings in it.
        configs = {**state_topic_configs(settings.kafka), **FAST_COMPACTION}
        await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, settings.kafka.topics.state, configs)]
        )
    finally:
        await admin.close()


def tombstones_published(app: FeedApp) -> float | None:
    return app.metrics.registry.get_sample_value("feeder_tombstones_published_total")


async def _read_once_compacted(
    bootstrap: str, topic: str, removed: list[str], timeout_s: float = 120
) -> dict[str, list[bytes | None]]:
    """The topic's records by key once the broker's log cleaner left nothing but a tombstone of
    each of ``removed`` (the cleaner runs on its own schedule: wait for it, bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        by_key = _by_key(await read_topic(bootstrap, topic))
        if all(by_key.get(key) == [None] for key in removed):
            return by_key
        if loop.time() > deadline:
            sizes = {
                key: [v if v is None else len(v) for v in values] for key, values in by_key.items()
            }
            raise AssertionError(
                f"{topic} was not compacted within {timeout_s} s; value sizes by key: {sizes}"
            )


def _by_key(records: list[ReadRecord]) -> dict[str, list[bytes | None]]:
    values: dict[str, list[bytes | None]] = defaultdict(list)
    for record in records:
        assert record.key is not None
        values[record.key.decode()].append(record.value)
    return values


async def test_pruned_sessions_leave_the_compacted_state_topic(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    quiet = SimulatorSettings.model_validate(
        {"server": {"port": 0}, "traffic": {"seed": 5, "start_paused": True}}
    )
    with run_simulator_in_thread(quiet) as sim:
        settings = feeder_settings(
            sim.base_url,
            sim.token,
            kafka_bootstrap,
            tmp_path / "cp.sqlite3",
            session_retention_s=3.0,
            prune_interval_s=0.2,
            lookback_s=2.0,  # the retention must outlast the lookback pass
            reread_delays_s=(0.5, 1.0),
        )
        partitions = settings.kafka.partitions
        in_an_hour = now() + timedelta(hours=1)
        ids = [sim.call(lambda s: s.create_session(expires_at=in_an_hour)) for _ in range(16)]
        doomed, live = ids[:6], ids[6:]
        partition_of = DefaultPartitioner()
        assert {
            partition_of(sid.encode(), list(range(partitions)), list(range(partitions)))
            for sid in live
        } == set(range(partitions)), "touching the live sessions must roll every partition"
        await _create_topics_compacting_fast(settings)

        async with running_feed(settings) as app:
            await wait_caught_up(app, now())
            expired = now() - timedelta(hours=1)
            for sid in doomed:  # a second state record each, then the store prunes them
                sim.call(lambda s, sid=sid: s.update_session(sid, expires_at=expired))
            for sid in live:
                sim.call(lambda s, sid=sid: s.update_session(sid, customer_last_entered_at=now()))
            await wait_until(
                lambda: tombstones_published(app) == len(doomed),
                timeout_s=60,
                what="a tombstone for each expired session",
            )
            # Later writes roll the segments that hold the tombstones, so they can be compacted.
            for sid in live:
                sim.call(lambda s, sid=sid: s.update_session(sid, customer_last_exited_at=now()))
            await wait_caught_up(app, now())
            assert app.metrics.registry.get_sample_value("feeder_checkpoint_tracked_sessions") == 10

    # Each doomed session had two state records (as created, then expired) before its
    # tombstone: only compaction leaves nothing but the tombstone.
    compacted = await _read_once_compacted(
        kafka_bootstrap, settings.kafka.topics.state, removed=doomed
    )
    holding_a_state = {key for key, values in compacted.items() if values[-1] is not None}
    assert holding_a_state == set(live)
    assert set(compacted) - set(live) == set(doomed), "only tombstones are left of the others"
