"""What only the Kafka checkpoint store does: rebuild from its topic, fence older instances of
the feed, and ignore what a crashed instance left uncommitted. Real broker throughout."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from feeder.checkpoint.kafka_records import checkpoint_records
from feeder.core.records import OutgoingRecord
from feeder.core.state import FeedPosition, Moments, SessionState
from feeder.errors import FencedError, SinkUnavailableError
from tests.checkpoint.kafka_store import open_kafka_store

pytestmark = pytest.mark.asyncio
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _clock() -> datetime:
    return T0


def _state(sid: str, updated_s: float, *, expires_s: float = 60) -> SessionState:
    return SessionState(
        session_id=sid,
        updated_at=T0 + timedelta(seconds=updated_s),
        current=Moments(T0, None, None),
        latest=Moments(T0, None, None),
        suspected_fraud=False,
        status="active",
        expires_at=T0 + timedelta(seconds=expires_s),
        fingerprints=(int(updated_s),),
    )


def _position(live_s: float) -> FeedPosition:
    return FeedPosition(T0, T0 + timedelta(seconds=live_s), ((4.0, T0), (300.0, T0)))


@pytest.fixture
def topic() -> str:
    return f"cp-{uuid.uuid4().hex[:8]}"


async def test_a_reopened_store_rebuilds_what_was_committed_and_forgotten(
    kafka_bootstrap: str, topic: str, tmp_path: Path
) -> None:
    async with open_kafka_store(kafka_bootstrap, topic, tmp_path, _clock) as (store, _, _):
        await store.commit([_state(f"s{n}", n) for n in range(300)], _position(10))
        await store.commit([_state("s1", 50)], _position(20))
        size = await store.forget(["s2", "s3", "s299"], T0 + timedelta(seconds=70))
        assert size.tracked_sessions == 298  # s299 was updated after the cutoff: it stays
        await store.aclose()
    async with open_kafka_store(kafka_bootstrap, topic, tmp_path, _clock) as (store, progress, _):
        try:
            assert await store.load_position() == _position(20)
            states = await store.load_states([f"s{n}" for n in range(300)])
            assert set(states) == {f"s{n}" for n in range(300)} - {"s2", "s3"}
            assert states["s1"] == _state("s1", 50)
            assert states["s7"] == _state("s7", 7)
        finally:
            await store.aclose()
    last = progress.steps[-1]
    assert last.done
    assert last.records_read == (300 + 1) + (1 + 1) + 2  # every record, tombstones too
    assert last.records_total >= last.records_read  # transaction markers take offsets too


async def test_a_second_instance_fences_the_first_and_sees_its_commits(
    kafka_bootstrap: str, topic: str, tmp_path: Path
) -> None:
    async with open_kafka_store(kafka_bootstrap, topic, tmp_path / "a", _clock) as (first, _, _):
        await first.commit([_state("a", 1)], _position(1))
        async with open_kafka_store(kafka_bootstrap, topic, tmp_path / "b", _clock) as (
            second,
            _,
            _,
        ):
            try:
                with pytest.raises(FencedError, match="FEEDER_FEED_NAME"):
                    await first.commit([_state("a", 2)], _position(2))
                with pytest.raises(FencedError):  # for good
                    await first.commit([], _position(3))
                assert await second.load_states(["a"]) == {"a": _state("a", 1)}
                await second.commit([_state("b", 5)], _position(5))
            finally:
                await second.aclose()
                await first.aclose()
    async with open_kafka_store(kafka_bootstrap, topic, tmp_path / "c", _clock) as (third, _, _):
        try:
            assert set(await third.load_states(["a", "b"])) == {"a", "b"}
            assert await third.load_position() == _position(5)
        finally:
            await third.aclose()


async def test_what_a_crashed_instance_left_in_an_open_transaction_is_not_rebuilt(
    kafka_bootstrap: str, topic: str, tmp_path: Path
) -> None:
    async with open_kafka_store(kafka_bootstrap, topic, tmp_path / "a", _clock) as (store, _, _):
        await store.commit([_state("kept", 1)], _position(1))
        await store.aclose()
    # A "crashed" instance: its transaction is open, never committed or aborted, and the
    # transaction timeout (10 minutes) is far away: only fencing can end it.
    crashed = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap,
        transactional_id=f"feeder-{topic}",
        transaction_timeout_ms=600_000,
    )
    await crashed.start()
    try:
        await crashed.begin_transaction()
        for record in checkpoint_records(topic, [_state("uncommitted", 9)], _position(9)):
            await crashed.send_and_wait(record.topic, record.value, key=record.key)
        async with asyncio.timeout(60):  # far below the transaction timeout
            async with open_kafka_store(kafka_bootstrap, topic, tmp_path / "b", _clock) as (
                rebuilt,
                _,
                _,
            ):
                try:
                    assert set(await rebuilt.load_states(["kept", "uncommitted"])) == {"kept"}
                    assert await rebuilt.load_position() == _position(1)
                finally:
                    await rebuilt.aclose()
    finally:
        await crashed.stop()


async def test_after_a_transaction_of_unknown_outcome_the_store_reads_what_kafka_committed(
    kafka_bootstrap: str, topic: str, tmp_path: Path
) -> None:
    """A commit that went through although this process never learned it did (the producer
    failed after it) must not be forgotten: the next lookup reads the topic again first."""
    async with open_kafka_store(kafka_bootstrap, topic, tmp_path, _clock) as (
        store,
        progress,
        writer,
    ):
        try:
            await store.commit([_state(f"s{n}", n) for n in range(1000)], _position(1))
            await store.commit([_state("known", 1)], _position(1))
            # committed behind the store's back: its cache does not know
            await writer.publish(checkpoint_records(topic, [_state("unknown", 2)], _position(2)))
            # a failed transaction: the writer replaces its producer
            too_big = OutgoingRecord(topic, b"k", os.urandom(3_000_000), ())  # incompressible
            with pytest.raises(SinkUnavailableError):
                await writer.publish([too_big])
            assert set(await store.load_states(["known", "unknown"])) == {"known", "unknown"}
            assert await store.load_position() == _position(2)
            # it read again from its own last commit on, not its whole history
            assert progress.steps[-1].records_read == 2 + 2
        finally:
            await store.aclose()
