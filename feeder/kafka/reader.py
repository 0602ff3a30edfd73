"""Reading feeder's topics: what ``tail``, ``verify``, ``status``, the start-up guards and the
Kafka checkpoint store read with.

Every reader here is a group-less ``read_committed`` consumer (no group, no committed offsets)
through the same secured connection the sinks use. ``Consumer``, ``TopicPartition`` and
``KafkaError`` are aiokafka's, named here so that no module outside this package imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from feeder.errors import ConfigError, SinkUnavailableError
from feeder.kafka.admin import topic_partitions
from feeder.kafka.connection import KafkaConnection
from feeder.kafka.diagnosis import start_within_deadline

__all__ = [
    "Consumer",
    "ConsumerRecord",
    "KafkaError",
    "TopicPartition",
    "assigned_consumer",
    "latest_value_of_key",
    "read_partition",
    "stop_consumer",
]

Consumer = AIOKafkaConsumer
STOP_TIMEOUT_S = 5.0
_T = TypeVar("_T")


def _consumer(connection: KafkaConnection) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        **connection.options,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )


async def stop_consumer(consumer: AIOKafkaConsumer, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Stop ``consumer`` within ``timeout_s``, quietly: a reader that is done has nothing left
    to lose, and a broker that went away must not turn its end into an error."""
    with contextlib.suppress(TimeoutError, KafkaError):
        async with asyncio.timeout(timeout_s):
            await consumer.stop()


async def assigned_consumer(
    connection: KafkaConnection, topics: list[str]
) -> tuple[AIOKafkaConsumer, list[TopicPartition]]:
    """A started ``read_committed`` consumer (no group, no commits) with every partition of
    ``topics`` assigned; the caller seeks and stops it. Errors name the settings to fix."""
    consumer = _consumer(connection)
    try:
        await start_within_deadline(connection, consumer.start(), "connecting the consumer")
        partitions = await topic_partitions(connection, topics)
        consumer.assign(partitions)
    except BaseException:
        await consumer.stop()
        raise
    return consumer, partitions


def _unreadable(connection: KafkaConnection, what: str, exc: BaseException) -> SinkUnavailableError:
    settings = connection.settings
    return SinkUnavailableError(
        f"could not read {what} at {settings.bootstrap_servers} within "
        f"{settings.send_timeout_s} s ({exc!r}); check FEEDER_KAFKA__BOOTSTRAP_SERVERS"
    )


async def latest_value_of_key(
    connection: KafkaConnection, topic: str, key: bytes, *, tail: int = 50
) -> bytes | None:
    """The value of the newest record with ``key`` among the last ``tail`` records of each
    partition of ``topic`` (``None``: none there, or no such topic), within the connection's
    deadline."""
    try:
        consumer, partitions = await assigned_consumer(connection, [topic])
    except ConfigError:
        return None  # the topic does not exist: nothing was ever published to it
    try:
        async with asyncio.timeout(connection.settings.send_timeout_s):
            ends = await consumer.end_offsets(partitions)
            newest: tuple[int, bytes | None] | None = None
            for partition in partitions:
                end = ends[partition]
                if end == 0:
                    continue
                consumer.seek(partition, max(0, end - tail))
                while await consumer.position(partition) < end:
                    batch = await consumer.getmany(partition, timeout_ms=500)
                    for record in batch.get(partition, []):
                        if record.key == key and (newest is None or record.timestamp >= newest[0]):
                            newest = (record.timestamp, record.value)
            return None if newest is None else newest[1]
    except (TimeoutError, KafkaError) as exc:
        raise _unreadable(connection, topic, exc) from exc
    finally:
        await consumer.stop()


async def read_partition(
    connection: KafkaConnection,
    partition: TopicPartition,
    *,
    from_offset: int,
    what: str,
    connecting: str,
    on_batch: Callable[[Sequence[ConsumerRecord], int], Awaitable[None]],
) -> int:
    """Read ``partition`` from ``from_offset`` to its committed end (as it is when the read
    starts), handing each batch to ``on_batch`` with that end offset; return the end offset.

    The read takes as long as it takes; no single step may take longer than ``send_timeout_s``
    (``SinkUnavailableError`` naming ``what``); ``connecting`` names the start in its errors.
    """
    timeout_s = connection.settings.send_timeout_s

    async def bounded(step: Awaitable[_T]) -> _T:
        try:
            async with asyncio.timeout(timeout_s):
                return await step
        except (TimeoutError, KafkaError) as exc:
            raise _unreadable(connection, what, exc) from exc

    consumer = _consumer(connection)
    await start_within_deadline(connection, consumer.start(), connecting)
    try:
        consumer.assign([partition])
        end_offset: int = (await bounded(consumer.end_offsets([partition])))[partition]
        consumer.seek(partition, from_offset)
        while await bounded(consumer.position(partition)) < end_offset:
            batch = await bounded(
                consumer.getmany(partition, timeout_ms=500, max_records=5000)
            )
            await on_batch(batch.get(partition, []), end_offset)
    finally:
        await stop_consumer(consumer)
    return end_offset
