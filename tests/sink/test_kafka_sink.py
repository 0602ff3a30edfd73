"""The Kafka sink against a real broker."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from feeder_devkit.localkafka import LocalKafkaBroker

from feeder.core.records import OutgoingRecord
from feeder.errors import SinkUnavailableError
from feeder.kafka.admin import check_kafka
from feeder.settings import KafkaSettings, TopicSettings
from feeder.sink import KafkaSink
from tests.kafka_reading import read_topic, topic_configs
from tests.worker_groups import RESTARTABLE_KAFKA

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio]


def _settings(bootstrap: str, **overrides: object) -> KafkaSettings:
    suffix = uuid.uuid4().hex[:8]
    topics = TopicSettings(
        events=f"ev-{suffix}",
        fraud=f"fr-{suffix}",
        state=f"st-{suffix}",
        dead_letter=f"dl-{suffix}",
        heartbeat=f"hb-{suffix}",
    )
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        topics=topics,
        partitions=2,
        **overrides,  # type: ignore[arg-type]
    )


async def test_topics_are_created_and_the_state_topic_is_compacted(kafka_bootstrap: str) -> None:
    settings = _settings(kafka_bootstrap, state_delete_retention_ms=3_600_000)
    assert len(await check_kafka(settings)) == 5  # events, fraud, state, dead letters, heartbeats
    sink = await KafkaSink.open(settings)
    await sink.aclose()
    assert await check_kafka(settings) == []
    configs = await topic_configs(kafka_bootstrap, [settings.topics.state, settings.topics.events])
    assert {
        name: configs[settings.topics.state][name]
        for name in ("cleanup.policy", "delete.retention.ms", "min.compaction.lag.ms")
    } == {
        "cleanup.policy": "compact",
        "delete.retention.ms": "3600000",
        "min.compaction.lag.ms": "0",
    }
    assert configs[settings.topics.state]["max.compaction.lag.ms"] == "86400000"
    assert configs[settings.topics.events]["cleanup.policy"] == "delete"


async def test_published_records_arrive_in_order_with_keys_and_headers(
    kafka_bootstrap: str,
) -> None:
    settings = _settings(kafka_bootstrap)
    sink = await KafkaSink.open(settings)
    records = [
        OutgoingRecord(settings.topics.events, b"s1", f"v{i}".encode(), (("ce_id", b"%d" % i),))
        for i in range(300)
    ]
    try:
        await sink.publish(records)
        await sink.publish([])
    finally:
        await sink.aclose()
        await sink.aclose()
    landed = await read_topic(kafka_bootstrap, settings.topics.events, at_least=300)
    assert [(r.key, r.value, r.headers) for r in landed] == [
        (b"s1", f"v{i}".encode(), {"ce_id": b"%d" % i}) for i in range(300)
    ]


async def test_an_unreachable_cluster_is_a_retriable_error_within_the_deadline() -> None:
    settings = _settings("127.0.0.1:9", send_timeout_s=3)
    with pytest.raises(SinkUnavailableError, match="FEEDER_KAFKA__BOOTSTRAP_SERVERS"):
        await KafkaSink.open(settings)


@RESTARTABLE_KAFKA
async def test_a_broker_that_goes_away_fails_the_page_instead_of_hanging(
    restartable_kafka: LocalKafkaBroker,
) -> None:
    broker = restartable_kafka
    broker.start()
    settings = _settings(broker.bootstrap_servers, send_timeout_s=4)
    sink = await KafkaSink.open(settings)
    record = OutgoingRecord(settings.topics.events, b"k", b"v", ())
    await sink.publish([record])
    broker.stop()
    with pytest.raises(SinkUnavailableError):
        await sink.publish([record])
    await sink.aclose()
    # The producer that missed its deadline was closed, not left retrying in the background.
    assert [task for task in asyncio.all_tasks() if "aiokafka" in repr(task.get_coro())] == []
