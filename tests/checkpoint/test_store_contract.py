"""The same contract over every checkpoint store backend: real SQLite on disk, memory, and the
Kafka store (a compacted topic on the real broker, with its SQLite cache)."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from feeder.checkpoint import (
    CheckpointStore,
    MemoryCheckpointStore,
    SqliteCheckpointStore,
    StoreDescription,
)
from feeder.core.state import FeedPosition, Moments, SessionState, version_fingerprint
from feeder.core.timestamps import to_micros
from feeder.errors import ConfigError
from tests.checkpoint.kafka_store import open_kafka_store

pytestmark = pytest.mark.asyncio
T0 = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _state(
    sid: str, updated_s: float, *, expires_s: float | None = None, fraud: bool = True
) -> SessionState:
    return SessionState(
        session_id=sid,
        updated_at=T0 + timedelta(seconds=updated_s),
        current=Moments(T0, None, T0 + timedelta(milliseconds=1)),
        latest=Moments(T0 + timedelta(seconds=3), None, T0 + timedelta(milliseconds=1)),
        suspected_fraud=fraud,
        status="some-undocumented-status",
        expires_at=None if expires_s is None else T0 + timedelta(seconds=expires_s),
        fingerprints=(-(2**63), 2**63 - 1, 12345),
        toggle_counts=(("status=some-undocumented-status", 1), ("suspectedFraud=true", 2)),
    )


def _position(live_s: float) -> FeedPosition:
    return FeedPosition(
        T0,
        T0 + timedelta(seconds=live_s),
        ((1.5, T0 + timedelta(seconds=live_s / 2)), (300.0, T0 + timedelta(seconds=live_s / 4))),
    )


class SteppedClock:
    """The store's clock: ``now`` until a test moves it."""

    def __init__(self) -> None:
        self.now = T0 + timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest_asyncio.fixture(params=["sqlite", "memory", "kafka"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: SteppedClock
) -> AsyncIterator[CheckpointStore]:
    if request.param == "kafka":
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        async with open_kafka_store(bootstrap, f"cp-{uuid.uuid4().hex[:8]}", tmp_path, clock) as (
            kafka_store,
            _,
            _,
        ):
            yield kafka_store
            await kafka_store.aclose()
        return
    if request.param == "sqlite":
        opened: CheckpointStore = await SqliteCheckpointStore.open(
            tmp_path / "cp.sqlite3", clock=clock
        )
    else:
        opened = MemoryCheckpointStore(clock)
    yield opened
    await opened.aclose()
    await opened.aclose()  # idempotent


async def test_a_new_store_has_no_position_and_no_states(store: CheckpointStore) -> None:
    assert await store.load_position() is None
    assert await store.load_states(["a"]) == {}


async def test_commit_round_trips_states_and_position_exactly(store: CheckpointStore) -> None:
    states = [_state("a", 1, expires_s=100), _state("b", 2)]
    await store.commit(states, _position(10))
    assert await store.load_position() == _position(10)
    assert await store.load_states(["a", "b", "missing"]) == {"a": states[0], "b": states[1]}


async def test_later_commits_replace_states(store: CheckpointStore) -> None:
    await store.commit([_state("a", 1)], _position(1))
    await store.commit([_state("a", 5)], _position(5))
    assert (await store.load_states(["a"]))["a"] == _state("a", 5)
    assert await store.load_position() == _position(5)


async def test_expired_sessions_lists_the_longest_expired_first_in_bounded_batches(
    store: CheckpointStore,
) -> None:
    await store.commit(
        [
            _state("live", 1, expires_s=1000),
            _state("second", 1, expires_s=20),
            _state("noexp", 30),  # no expiresAt: its updatedAt counts
            _state("first", 1, expires_s=10),
        ],
        _position(30),
    )
    cutoff = T0 + timedelta(seconds=60)
    assert await store.expired_sessions(cutoff, limit=10) == ["first", "second", "noexp"]
    assert await store.expired_sessions(cutoff, limit=2) == ["first", "second"]
    assert await store.expired_sessions(T0 + timedelta(seconds=10), limit=10) == []
    assert set(await store.load_states(["first", "second", "noexp", "live"])) == {
        "first",
        "second",
        "noexp",
        "live",
    }, "listing forgets nothing"


async def test_forget_drops_the_given_sessions_unless_they_came_back(
    store: CheckpointStore,
) -> None:
    await store.commit(
        [
            _state("gone", 1, expires_s=10),
            _state("revived", 1, expires_s=10),
            _state("unlisted", 1, expires_s=10),
            _state("live", 1, expires_s=1000),
        ],
        _position(1),
    )
    cutoff = T0 + timedelta(seconds=60)
    listed = await store.expired_sessions(cutoff, limit=2)
    assert listed == ["gone", "revived"]
    # the sweeper commits a newer state (a later expiresAt) between listing and forgetting
    await store.commit([_state("revived", 40, expires_s=2000)], _position(40))
    size = await store.forget([*listed, "live", "never-known"], cutoff)
    assert size.tracked_sessions == 3
    assert set(await store.load_states(["gone", "revived", "unlisted", "live"])) == {
        "revived",
        "unlisted",
        "live",
    }
    assert await store.expired_sessions(cutoff, limit=10) == ["unlisted"]


async def test_a_session_updated_after_it_expired_stays_until_the_update_is_old(
    store: CheckpointStore,
) -> None:
    # expired at 10, then changed at 100 (a late status change): the re-read passes read that
    # change again later, so the store must still know it by then
    await store.commit([_state("late", 100, expires_s=10)], _position(100))
    assert await store.expired_sessions(T0 + timedelta(seconds=60), limit=10) == []
    assert await store.expired_sessions(T0 + timedelta(seconds=101), limit=10) == ["late"]


async def test_forget_handles_more_ids_than_one_statement_takes(store: CheckpointStore) -> None:
    await store.commit([_state(str(i), i, expires_s=i) for i in range(1200)], _position(1))
    cutoff = T0 + timedelta(seconds=2000)
    expired = await store.expired_sessions(cutoff, limit=5000)
    assert len(expired) == 1200
    assert (await store.forget(expired, cutoff)).tracked_sessions == 0


async def test_many_ids_in_one_lookup(store: CheckpointStore) -> None:
    states = [_state(str(i), i) for i in range(1200)]
    await store.commit(states, _position(1))
    assert len(await store.load_states([str(i) for i in range(1300)])) == 1200


async def test_sqlite_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "cp.sqlite3"
    first = await SqliteCheckpointStore.open(path)
    await first.commit([_state("a", 1)], _position(3))
    await first.aclose()
    second = await SqliteCheckpointStore.open(path)
    try:
        assert await second.load_position() == _position(3)
        assert await second.load_states(["a"]) == {"a": _state("a", 1)}
        assert (await second.forget([], T0)).bytes_on_disk > 0
    finally:
        await second.aclose()


async def test_a_second_feeder_on_the_same_checkpoint_is_fenced(tmp_path: Path) -> None:
    from feeder.errors import FencedError  # noqa: PLC0415
    from feeder.runtime.root import open_store  # noqa: PLC0415
    from feeder.settings import CheckpointSettings  # noqa: PLC0415

    settings = CheckpointSettings(backend="sqlite", path=tmp_path / "cp.sqlite3")
    async with open_store(settings):
        with pytest.raises(FencedError, match="only one instance"):
            async with open_store(settings):
                pass
    async with open_store(settings):  # released on close
        pass


async def test_sqlite_reads_a_checkpoint_written_before_reread_passes(tmp_path: Path) -> None:
    """Upgrading: old rows read back as if their last version were the only one, and every
    re-read pass starts from the old trailing cursor."""
    path = tmp_path / "old.sqlite3"
    connection = sqlite3.connect(path)
    connection.executescript(
        """
        CREATE TABLE session_state (
            session_id TEXT PRIMARY KEY, updated_at_us INTEGER NOT NULL, entered_at_us INTEGER,
            exited_at_us INTEGER, scanned_at_us INTEGER, suspected_fraud INTEGER NOT NULL,
            status TEXT, expires_at_us INTEGER, prune_at_us INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE feed_position (
            singleton INTEGER PRIMARY KEY CHECK (singleton = 1), feed_start_us INTEGER NOT NULL,
            live_us INTEGER NOT NULL, trailing_us INTEGER NOT NULL
        );
        """
    )
    micros = to_micros(T0)
    connection.execute(
        "INSERT INTO session_state VALUES ('a', ?, ?, NULL, NULL, 1, 'active', NULL, ?)",
        (micros + 10_000_000, micros, micros),
    )
    connection.execute(
        "INSERT INTO feed_position VALUES (1, ?, ?, ?)", (micros, micros + 60_000_000, micros)
    )
    connection.commit()
    connection.close()
    store = await SqliteCheckpointStore.open(path)
    try:
        state = (await store.load_states(["a"]))["a"]
        position = await store.load_position()
    finally:
        await store.aclose()
    updated = T0 + timedelta(seconds=10)
    assert state.current == state.latest == Moments(T0, None, None)
    assert state.fingerprints == (version_fingerprint(updated, state.current, True, "active"),)
    assert state.toggle_counts == ()
    assert position is not None
    assert position.aligned([4.0, 300.0]).rereads == ((4.0, T0), (300.0, T0))


async def test_a_new_store_describes_itself_as_empty(store: CheckpointStore) -> None:
    description = await store.describe()
    assert (description.tracked_sessions, description.flagged_sessions) == (0, 0)
    assert description.oldest_updated_at is None
    assert description.newest_updated_at is None
    assert description.last_commit_at is None


async def test_describe_counts_sessions_and_spans_their_updated_at(
    store: CheckpointStore, clock: SteppedClock
) -> None:
    await store.commit([_state("a", 30), _state("b", 10, fraud=False)], _position(30))
    clock.now += timedelta(seconds=7)
    await store.commit([_state("c", 20)], _position(30))
    description = await store.describe()
    assert description == StoreDescription(
        tracked_sessions=3,
        flagged_sessions=2,
        bytes_on_disk=description.bytes_on_disk,
        oldest_updated_at=T0 + timedelta(seconds=10),
        newest_updated_at=T0 + timedelta(seconds=30),
        last_commit_at=clock.now,
    )


async def test_rewind_replaces_the_position_and_keeps_every_session(
    store: CheckpointStore, clock: SteppedClock
) -> None:
    await store.commit([_state("a", 1), _state("b", 9)], _position(10))
    committed_at = clock.now
    clock.now += timedelta(seconds=60)
    assert await store.rewind(_position(4), forget_since=None) == 0
    assert await store.load_position() == _position(4)
    assert set(await store.load_states(["a", "b"])) == {"a", "b"}
    assert (await store.describe()).last_commit_at == committed_at  # a rewind is no commit


async def test_rewind_forgets_the_sessions_updated_at_or_after_the_moment(
    store: CheckpointStore,
) -> None:
    await store.commit([_state("a", 1), _state("b", 5), _state("c", 9)], _position(10))
    forgotten = await store.rewind(_position(5), forget_since=T0 + timedelta(seconds=5))
    assert forgotten == 2
    assert set(await store.load_states(["a", "b", "c"])) == {"a"}
    assert await store.load_position() == _position(5)


async def test_reset_forgets_everything_and_the_store_stays_usable(store: CheckpointStore) -> None:
    await store.commit([_state("a", 1), _state("b", 2)], _position(10))
    await store.reset()
    assert await store.load_position() is None
    assert await store.load_states(["a", "b"]) == {}
    assert await store.describe() == StoreDescription(
        0, 0, (await store.describe()).bytes_on_disk, None, None, None
    )
    await store.commit([_state("a", 3)], _position(3))
    assert await store.load_position() == _position(3)


async def test_sqlite_read_only_sees_what_a_writer_commits_and_cannot_write(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cp.sqlite3"
    writer = await SqliteCheckpointStore.open(path)
    reader: SqliteCheckpointStore | None = None
    try:
        await writer.commit([_state("a", 1)], _position(3))
        reader = await SqliteCheckpointStore.open_read_only(path)
        assert await reader.load_position() == _position(3)
        await writer.commit([_state("b", 2)], _position(5))
        assert await reader.load_position() == _position(5)
        description = await reader.describe()
        assert description.tracked_sessions == 2
        assert description.bytes_on_disk > 0
        assert description.last_commit_at is not None
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await reader.reset()
        assert (await writer.describe()).tracked_sessions == 2
    finally:
        await writer.aclose()
        if reader is not None:
            await reader.aclose()


async def test_sqlite_read_only_refuses_a_missing_file_without_creating_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.sqlite3"
    with pytest.raises(ConfigError, match="FEEDER_CHECKPOINT__PATH"):
        await SqliteCheckpointStore.open_read_only(path)
    assert os.listdir(tmp_path) == []


async def test_sqlite_reset_gives_the_space_back(tmp_path: Path) -> None:
    store = await SqliteCheckpointStore.open(tmp_path / "cp.sqlite3")
    try:
        await store.commit([_state(str(i), i) for i in range(3000)], _position(1))
        full = (await store.describe()).bytes_on_disk
        await store.reset()
        assert (await store.describe()).bytes_on_disk < full / 4
    finally:
        await store.aclose()
