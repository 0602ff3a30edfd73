"""Create feeder's topics when they are missing; refuse existing ones whose cleanup policy would
lose data."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from feeder.errors import ConfigError
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
        topic(topics.heartbeat, **HEARTBEAT_TOPIC_CONFIGS),
    ]


def checkpoint_topic(settings: KafkaSettings) -> NewTopic:
    """The checkpoint topic as created: one partition (one ordered log), compacted."""
    return NewTopic(
        settings.topics.checkpoint,
        1,
        settings.replication_factor,
        topic_configs={"cleanup.policy": "compact", "min.compaction.lag.ms": "0"},
    )


HEARTBEAT_TOPIC_CONFIGS = {"cleanup.policy": "delete", "retention.ms": str(24 * 3600 * 1000)}
"""A created heartbeat topic keeps a day of heartbeats: they matter while they are fresh."""


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


def _compacted_by_setting(settings: KafkaSettings) -> dict[str, tuple[str, bool]]:
    """Topic name -> (the setting naming it, whether it must be compacted)."""
    topics = settings.topics
    return {
        topics.events: ("FEEDER_KAFKA__TOPICS__EVENTS", False),
        topics.fraud: ("FEEDER_KAFKA__TOPICS__FRAUD", False),
        topics.state: ("FEEDER_KAFKA__TOPICS__STATE", True),
        topics.dead_letter: ("FEEDER_KAFKA__TOPICS__DEAD_LETTER", False),
        topics.checkpoint: ("FEEDER_KAFKA__TOPICS__CHECKPOINT", True),
    }


def cleanup_policy_problems(policies: dict[str, str], settings: KafkaSettings) -> list[str]:
    """What is wrong with the ``cleanup.policy`` of the existing topics in ``policies``.

    The state topic must be compacted (it is the latest state per session); the others must
    not be (compaction keeps one record per key, i.e. one event per session).
    """
    problems = []
    for name, (setting, compacted) in _compacted_by_setting(settings).items():
        if name not in policies:
            continue
        policy = policies[name]
        has_compact = "compact" in {part.strip() for part in policy.split(",")}
        if compacted and not has_compact:
            problems.append(
                f"topic {name} ({setting}) has cleanup.policy={policy}, but it holds the latest "
                "record per key and must be compacted: alter it to cleanup.policy=compact or "
                "name another topic"
            )
        elif not compacted and has_compact:
            problems.append(
                f"topic {name} ({setting}) has cleanup.policy={policy}: compaction would keep "
                "only the last record of each session; alter it to cleanup.policy=delete or "
                "name another topic"
            )
    return problems


async def check_cleanup_policies(admin: AIOKafkaAdminClient, settings: KafkaSettings) -> None:
    """Raise ``ConfigError`` naming the setting when an existing topic's cleanup policy is wrong."""
    existing = set(await admin.list_topics())
    names = [name for name in _compacted_by_setting(settings) if name in existing]
    if not names:
        return
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name, {"cleanup.policy": None}) for name in names]
    )
    policies = {
        str(resource[3]): str(entry[1])
        for response in responses
        for resource in response.resources
        for entry in resource[4]
        if entry[0] == "cleanup.policy"
    }
    problems = cleanup_policy_problems(policies, settings)
    if problems:
        raise ConfigError("; ".join(problems))
