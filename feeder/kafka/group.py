"""Membership of a Kafka consumer group, for the replicas (:mod:`feeder.runtime.replicas`).

Joining the group on the control topic is all a replica does with it: nothing is read or
committed; which partitions the group coordinator assigns is the answer.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from feeder.kafka.connection import KafkaConnection
from feeder.kafka.diagnosis import start_within_deadline
from feeder.kafka.reader import stop_consumer


class GroupMembership:
    """A member of the group; ``hold`` keeps the membership alive (call it in a loop)."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer

    async def hold(self, *, timeout_ms: int = 500) -> None:
        """Serve the group's heartbeats and rebalances for up to ``timeout_ms``."""
        await self._consumer.getmany(timeout_ms=timeout_ms)  # nothing is sent to the topic


@contextlib.asynccontextmanager
async def group_membership(
    connection: KafkaConnection,
    *,
    group_id: str,
    topic: str,
    session_timeout_s: float,
    heartbeat_interval_s: float,
    on_assigned: Callable[[set[int]], None],
) -> AsyncIterator[GroupMembership]:
    """Join ``group_id`` on ``topic``; ``on_assigned`` gets the partitions of every new
    assignment. Leaving the context leaves the group (the others take over at once)."""
    consumer = AIOKafkaConsumer(
        **connection.options,
        group_id=group_id,
        enable_auto_commit=False,
        session_timeout_ms=round(session_timeout_s * 1000),
        heartbeat_interval_ms=round(heartbeat_interval_s * 1000),
    )
    consumer.subscribe([topic], listener=_Listener(on_assigned))
    await start_within_deadline(connection, consumer.start(), "joining the replica group")
    try:
        yield GroupMembership(consumer)
    finally:
        await stop_consumer(consumer, connection.settings.send_timeout_s)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, on_assigned: Callable[[set[int]], None]) -> None:
        self._on_assigned = on_assigned

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        """Eager rebalancing revokes everything first; feeds go on running until the new
        assignment says which of them moved."""

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._on_assigned({tp.partition for tp in assigned})
