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
        topic(topics.state, **{"cleanup.policy": "compact"}),
        topic(topics.dead_letter),
    ]


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
