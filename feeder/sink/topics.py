"""Create feeder's topics when they are missing."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from feeder.settings import KafkaSettings

logger = logging.getLogger("feeder.sink")


def wanted_topics(settings: KafkaSettings) -> list[NewTopic]:
    topics = settings.topics

    def topic(name: str, **configs: str) -> NewTopic:
        return NewTopic(
            name, settings.partitions, settings.replication_factor, topic_configs=configs or None
        )

    return [
        topic(topics.events),
        topic(topics.fraud),
        topic(topics.state, **state_topic_configs(settings)),
        topic(topics.dead_letter),
    ]


def state_topic_configs(settings: KafkaSettings) -> dict[str, str]:
    """The latest-state topic's configs: compacted, with the lags that let tombstones work.

    A tombstone (``tombstone_record``) removes a session once its segment is compacted:
    ``max.compaction.lag.ms`` bounds how long that takes even on a topic too quiet to reach
    ``min.cleanable.dirty.ratio``, and ``delete.retention.ms`` keeps the tombstone itself
    readable long enough for consumers that were offline to see it.
    """
    return {
        "cleanup.policy": "compact",
        "delete.retention.ms": str(settings.state_delete_retention_ms),
        "min.compaction.lag.ms": str(settings.state_min_compaction_lag_ms),
        "max.compaction.lag.ms": str(settings.state_max_compaction_lag_ms),
    }


async def ensure_topics(admin: AIOKafkaAdminClient, settings: KafkaSettings) -> list[str]:
    """Create the missing topics; return the names created."""
    existing = set(await admin.list_topics())
    missing = [topic for topic in wanted_topics(settings) if topic.name not in existing]
    if not missing:
        return []
    try:
        await admin.create_topics(missing)
    except TopicAlreadyExistsError:
        logger.info("another process created the topics first")
    names = [topic.name for topic in missing]
    logger.info("created topics %s", ", ".join(names))
    return names
