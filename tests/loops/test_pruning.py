"""Pruning: tombstones for the state topic first, then the store forgets (real SQLite store)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry

from feeder.checkpoint import SqliteCheckpointStore
from feeder.core.records import OutgoingRecord, TopicNames
from feeder.core.state import FeedPosition, Moments, SessionState
from feeder.errors import SinkUnavailableError
from feeder.observability.metrics import FeederMetrics
from feeder.sink import MemorySink
from feeder.sweep.loops import TOMBSTONES_PER_BATCH, prune_expired, prune_forever

pytestmark = pytest.mark.asyncio
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
TOPICS = TopicNames("events", "fraud", "state", "dlq")


def _state(sid: str, expires_s: float) -> SessionState:
    return SessionState(
        session_id=sid,
        updated_at=T0,
        current=Moments(),
        latest=Moments(),
        suspected_fraud=False,
        status="active",
        expires_at=T0 + timedelta(seconds=expires_s),
        fingerprints=(1,),
    )


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteCheckpointStore]:
    opened = await SqliteCheckpointStore.open(tmp_path / "cp.sqlite3")
    yield opened
    await opened.aclose()


async def _track(store: SqliteCheckpointStore, expired: int, live: int) -> None:
    states = [_state(f"old-{i}", i) for i in range(expired)]
    states += [_state(f"live-{i}", 10**6) for i in range(live)]
    await store.commit(states, FeedPosition(T0, T0))


def _metrics() -> FeederMetrics:
    return FeederMetrics(CollectorRegistry(), lambda: T0)


def _sample(metrics: FeederMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


class AckThenFail:
    """Kafka acknowledges, then the process dies before the store forgets (or a sink refuses)."""

    def __init__(self, *, acknowledge: bool) -> None:
        self.acknowledge = acknowledge
        self.records: list[OutgoingRecord] = []

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        if self.acknowledge:
            self.records.extend(records)
        raise SinkUnavailableError("no acknowledgement")

    async def aclose(self) -> None:
        return None


async def test_expired_sessions_get_a_tombstone_each_in_bounded_batches_then_leave_the_store(
    store: SqliteCheckpointStore,
) -> None:
    expired = 2 * TOMBSTONES_PER_BATCH + 7
    await _track(store, expired=expired, live=3)
    sink = MemorySink()
    metrics = _metrics()
    size = await prune_expired(
        store,
        sink,
        topics=TOPICS,
        expired_before=T0 + timedelta(seconds=expired),
        stopping=asyncio.Event(),
        observer=metrics,
    )
    assert size.tracked_sessions == 3
    assert [(r.topic, r.value, r.headers) for r in sink.records] == [("state", None, ())] * expired
    assert sorted(r.key for r in sink.records) == sorted(
        f"old-{i}".encode() for i in range(expired)
    )
    assert _sample(metrics, "feeder_tombstones_published_total") == expired
    assert _sample(metrics, "feeder_kafka_records_published_total", topic="state") == expired
    assert await store.expired_sessions(T0 + timedelta(days=1), limit=10) == []


async def test_a_session_is_forgotten_only_after_its_tombstone_was_acknowledged(
    store: SqliteCheckpointStore,
) -> None:
    await _track(store, expired=5, live=1)
    cutoff = T0 + timedelta(seconds=10)
    refused = AckThenFail(acknowledge=False)
    with pytest.raises(SinkUnavailableError):
        await prune_expired(
            store,
            refused,
            topics=TOPICS,
            expired_before=cutoff,
            stopping=asyncio.Event(),
            observer=_metrics(),
        )
    assert len(await store.expired_sessions(cutoff, limit=10)) == 5, "nothing forgotten"

    # acknowledged, then a crash before forgetting: the next round sends the same tombstones
    crashed = AckThenFail(acknowledge=True)
    with pytest.raises(SinkUnavailableError):
        await prune_expired(
            store,
            crashed,
            topics=TOPICS,
            expired_before=cutoff,
            stopping=asyncio.Event(),
            observer=_metrics(),
        )
    resent = MemorySink()
    await prune_expired(
        store,
        resent,
        topics=TOPICS,
        expired_before=cutoff,
        stopping=asyncio.Event(),
        observer=_metrics(),
    )
    assert resent.records == crashed.records
    assert len(resent.records) == 5
    assert await store.expired_sessions(cutoff, limit=10) == []


async def test_stopping_ends_pruning_after_the_batch_in_flight(
    store: SqliteCheckpointStore,
) -> None:
    await _track(store, expired=TOMBSTONES_PER_BATCH + 1, live=0)
    stopping = asyncio.Event()
    stopping.set()
    sink = MemorySink()
    size = await prune_expired(
        store,
        sink,
        topics=TOPICS,
        expired_before=T0 + timedelta(days=1),
        stopping=stopping,
        observer=_metrics(),
    )
    assert len(sink.records) == TOMBSTONES_PER_BATCH
    assert size.tracked_sessions == 1


async def test_the_prune_loop_survives_a_kafka_outage_and_prunes_next_round(
    store: SqliteCheckpointStore,
) -> None:
    await _track(store, expired=3, live=2)
    metrics = _metrics()
    stopping = asyncio.Event()

    class RecoveringSink(MemorySink):
        """Refuses the first round, acknowledges later ones; stops the loop once it has."""

        rounds = 0

        async def publish(self, records: Sequence[OutgoingRecord]) -> None:
            self.rounds += 1
            if self.rounds == 1:
                raise SinkUnavailableError("Kafka is down")
            await super().publish(records)
            stopping.set()

    sink = RecoveringSink()
    await asyncio.wait_for(
        prune_forever(
            store,
            sink,
            topics=TOPICS,
            stopping=stopping,
            clock=lambda: T0 + timedelta(seconds=100),
            retention_s=10,
            interval_s=0.01,
            observer=metrics,
        ),
        timeout=30,
    )
    assert _sample(metrics, "feeder_prune_failures_total", error="SinkUnavailableError") == 1
    assert len(sink.records) == 3
    assert _sample(metrics, "feeder_checkpoint_tracked_sessions") == 2
