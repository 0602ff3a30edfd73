"""Apache Kafka's console consumer, run by :mod:`tests.kafka_console_consumer`, tells committed
records from aborted ones and reads keys, headers, values and tombstones as aiokafka wrote them.

These tests are what lets later tests trust the judge: the records are written here with
aiokafka (a committed transaction, an aborted one, and plain records after them), so what the
judge must print is known exactly, down to the offsets the broker acknowledged.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.kafka_console_consumer import (
    ConsoleConsumerError,
    ConsoleOutputError,
    ConsoleRecord,
    read_with_console_consumer,
)

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio]

# A JVM start, a group join and the idle pause that ends a full read fit in this many times over.
_RUN_TIMEOUT_S = 90.0


@dataclass(frozen=True, slots=True)
class WrittenTopic:
    """What the fixture wrote, as the console consumer must print it, in offset order."""

    committed: list[ConsoleRecord]
    aborted: list[ConsoleRecord]
    everything: list[ConsoleRecord]


async def _create_topic(bootstrap: str, topic: str, partitions: int = 1) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


def _expected(
    partition: int,
    offset: int,
    key: bytes | None,
    headers: list[tuple[str, bytes | None]],
    value: bytes | None,
) -> ConsoleRecord:
    return ConsoleRecord(
        partition=partition,
        offset=offset,
        key=None if key is None else key.decode(),
        headers=[(name, None if header is None else header.decode()) for name, header in headers],
        value=None if value is None else value.decode(),
    )


async def _send(
    producer: AIOKafkaProducer,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes | None]],
    *,
    partition: int | None = None,
) -> ConsoleRecord:
    metadata = await producer.send_and_wait(
        topic, value, key=key, headers=headers or None, partition=partition
    )
    return _expected(metadata.partition, metadata.offset, key, headers, value)


@pytest_asyncio.fixture
async def written_topic(kafka_bootstrap: str, topic_name: str) -> WrittenTopic:
    """One committed transaction, one aborted, then plain records: one with no key and headers
    (an empty value, a null value), a JSON ``null`` value (text, not a tombstone) and a
    tombstone."""
    await _create_topic(kafka_bootstrap, topic_name)
    transactional = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=f"judge-{uuid.uuid4().hex}"
    )
    await transactional.start()
    try:
        async with transactional.transaction():
            committed = [
                await _send(
                    transactional,
                    topic_name,
                    b"session-1",
                    b'{"n": 1, "text": "tab\\t, colon: and comma"}',
                    [("ce_type", b"session.entered"), ("ce_id", b"id:1,2")],
                ),
                await _send(transactional, topic_name, b"session-2", b'{"n": 2}', []),
            ]
        await transactional.begin_transaction()
        aborted = [
            await _send(
                transactional,
                topic_name,
                b"session-1",
                b'{"n": "aborted"}',
                [("ce_type", b"session.left")],
            )
        ]
        await transactional.abort_transaction()
    finally:
        await transactional.stop()
    plain = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await plain.start()
    try:
        after = [
            await _send(
                plain,
                topic_name,
                None,
                b'{"n": 3}',
                [("ce_type", b"fraud"), ("empty", b""), ("absent", None)],
            ),
            await _send(plain, topic_name, b"null", b"null", []),
            await _send(plain, topic_name, b"session-2", None, []),
        ]
    finally:
        await plain.stop()
    everything = sorted([*committed, *aborted, *after], key=lambda record: record.offset)
    return WrittenTopic(committed=[*committed, *after], aborted=aborted, everything=everything)


async def test_read_committed_returns_exactly_the_committed_records(
    kafka_bootstrap: str, topic_name: str, written_topic: WrittenTopic
) -> None:
    read = await asyncio.to_thread(
        read_with_console_consumer,
        kafka_bootstrap,
        topic_name,
        isolation_level="read_committed",
        expected_count=None,
        timeout_s=_RUN_TIMEOUT_S,
    )
    assert read == written_topic.committed
    tombstone = read[-1]
    assert tombstone.key == "session-2"
    assert tombstone.value is None
    assert read[-2].value == "null"  # the JSON literal, told apart from the tombstone


async def test_read_uncommitted_also_returns_the_aborted_records(
    kafka_bootstrap: str, topic_name: str, written_topic: WrittenTopic
) -> None:
    read = await asyncio.to_thread(
        read_with_console_consumer,
        kafka_bootstrap,
        topic_name,
        isolation_level="read_uncommitted",
        expected_count=None,
        timeout_s=_RUN_TIMEOUT_S,
    )
    assert read == written_topic.everything
    assert [record for record in read if record not in written_topic.committed] == (
        written_topic.aborted
    )


async def test_expected_count_stops_the_read_at_that_many_records(
    kafka_bootstrap: str, topic_name: str, written_topic: WrittenTopic
) -> None:
    read = await asyncio.to_thread(
        read_with_console_consumer,
        kafka_bootstrap,
        topic_name,
        isolation_level="read_committed",
        expected_count=2,
        timeout_s=_RUN_TIMEOUT_S,
    )
    assert read == written_topic.committed[:2]


async def test_records_of_every_partition_carry_their_partition_and_offset(
    kafka_bootstrap: str, topic_name: str
) -> None:
    await _create_topic(kafka_bootstrap, topic_name, partitions=3)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        written = [
            await _send(
                producer,
                topic_name,
                f"k{n}".encode(),
                f'{{"n": {n}}}'.encode(),
                [],
                partition=n % 3,
            )
            for n in range(7)
        ]
    finally:
        await producer.stop()
    read = await asyncio.to_thread(
        read_with_console_consumer,
        kafka_bootstrap,
        topic_name,
        isolation_level="read_committed",
        expected_count=None,
        timeout_s=_RUN_TIMEOUT_S,
    )
    # Partitions interleave in any order; within one, offsets ascend.
    assert sorted(read, key=lambda record: (record.partition, record.offset)) == sorted(
        written, key=lambda record: (record.partition, record.offset)
    )
    assert {record.partition for record in read} == {0, 1, 2}


async def test_a_value_holding_a_separator_is_refused_not_misread(
    kafka_bootstrap: str, topic_name: str
) -> None:
    await _create_topic(kafka_bootstrap, topic_name)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic_name, b"left\x1fright", key=b"k")
    finally:
        await producer.stop()
    with pytest.raises(ConsoleOutputError, match="columns, not 5"):
        await asyncio.to_thread(
            read_with_console_consumer,
            kafka_bootstrap,
            topic_name,
            isolation_level="read_committed",
            expected_count=1,
            timeout_s=_RUN_TIMEOUT_S,
        )


async def test_a_read_past_its_deadline_fails(kafka_bootstrap: str, topic_name: str) -> None:
    await _create_topic(kafka_bootstrap, topic_name)
    # A read without expected_count ends only after a minute without records: a second's
    # deadline cannot be met, whatever the machine's speed.
    with pytest.raises(ConsoleConsumerError, match=r"did not finish within 1\.0 s"):
        await asyncio.to_thread(
            read_with_console_consumer,
            kafka_bootstrap,
            topic_name,
            isolation_level="read_committed",
            expected_count=None,
            idle_timeout_ms=60_000,
            timeout_s=1.0,
        )
