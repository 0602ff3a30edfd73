"""Hand a page of records to aiokafka as one batch per partition instead of one send per record.

``AIOKafkaProducer.send`` costs about twice the CPU of appending the same record to a batch
builder (a future, a metadata check and an accumulator lookup per record), and a page holds
over a thousand records. Partitions are chosen by aiokafka's own default partitioner over the
same metadata ``send`` uses, so every key lands where ``send`` would put it; records of one
partition keep their page order (a full batch is submitted before the next one starts, and
aiokafka sends one partition's batches in submission order).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner, murmur2

from feeder.core.oversize import record_bytes
from feeder.core.records import OutgoingRecord

_partitioner = DefaultPartitioner()


async def send_in_batches(
    producer: AIOKafkaProducer, records: Sequence[OutgoingRecord]
) -> list[asyncio.Future[object]]:
    """Submit ``records``; returns one delivery future per submitted batch."""
    partitions: dict[str, tuple[list[int], list[int]]] = {}
    for topic in {record.topic for record in records}:
        await producer.partitions_for(topic)  # waits for the topic's metadata, like ``send``
        cluster = producer.client.cluster
        partitions[topic] = (
            sorted(cluster.partitions_for_topic(topic)),
            list(cluster.available_partitions_for_topic(topic)),
        )
    builders: dict[tuple[str, int], object] = {}
    deliveries: list[asyncio.Future[object]] = []
    for record, partition in _placed(records, partitions):
        builder = builders.get((record.topic, partition))
        if builder is None or not _append(builder, record):
            if builder is not None:  # full: submit it, then start the next one
                deliveries.append(
                    await producer.send_batch(builder, record.topic, partition=partition)
                )
            builder = builders[(record.topic, partition)] = producer.create_batch()
            if not _append(builder, record):
                raise MessageSizeTooLargeError(
                    f"a record of {record_bytes(record)} bytes does not fit in an empty batch; "
                    "raise FEEDER_KAFKA__MAX_BATCH_BYTES"
                )
    for (topic, partition), builder in builders.items():
        deliveries.append(await producer.send_batch(builder, topic, partition=partition))
    return deliveries


def _placed(
    records: Sequence[OutgoingRecord], partitions: dict[str, tuple[list[int], list[int]]]
) -> Iterator[tuple[OutgoingRecord, int]]:
    """Each record with its partition; a record ``to_every_partition`` once per partition.

    Keyed records go where aiokafka's ``DefaultPartitioner`` puts them (murmur2 of the key over
    all partitions); its murmur2 is pure Python, and a page repeats each key for every event and
    the state of a session, so each key is hashed once per call.
    """
    hashes: dict[bytes, int] = {}
    for record in records:
        every, available = partitions[record.topic]
        if record.to_every_partition:
            for partition in every:
                yield record, partition
            continue
        key = record.key
        if key is None:
            yield record, _partitioner(key, every, available)
            continue
        hashed = hashes.get(key)
        if hashed is None:
            hashed = hashes[key] = murmur2(key) & 0x7FFFFFFF
        yield record, every[hashed % len(every)]


def _append(builder: object, record: OutgoingRecord) -> bool:
    """False when the batch is full."""
    appended = builder.append(  # type: ignore[attr-defined]
        timestamp=None, key=record.key, value=record.value, headers=list(record.headers)
    )
    return appended is not None
