"""The same contract over every checkpoint store backend (real SQLite on disk, and memory)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from feeder.checkpoint import CheckpointStore, MemoryCheckpointStore, SqliteCheckpointStore
from feeder.core.state import FeedPosition, SessionState

pytestmark = pytest.mark.asyncio
T0 = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _state(sid: str, updated_s: float, *, expires_s: float | None = None) -> SessionState:
    return SessionState(
        session_id=sid,
        updated_at=T0 + timedelta(seconds=updated_s),
        customer_last_entered_at=T0,
        customer_last_exited_at=None,
        code_last_scanned_at=T0 + timedelta(milliseconds=1),
        suspected_fraud=True,
        status="some-undocumented-status",
        expires_at=None if expires_s is None else T0 + timedelta(seconds=expires_s),
    )


def _position(live_s: float) -> FeedPosition:
    return FeedPosition(T0, T0 + timedelta(seconds=live_s), T0 + timedelta(seconds=live_s / 2))


@pytest_asyncio.fixture(params=["sqlite", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CheckpointStore]:
    if request.param == "sqlite":
        opened: CheckpointStore = await SqliteCheckpointStore.open(tmp_path / "cp.sqlite3")
    else:
        opened = MemoryCheckpointStore()
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


async def test_prune_forgets_expired_sessions_only(store: CheckpointStore) -> None:
    await store.commit(
        [_state("old", 1, expires_s=10), _state("live", 1, expires_s=1000), _state("noexp", 50)],
        _position(50),
    )
    size = await store.prune(T0 + timedelta(seconds=60))
    assert size.tracked_sessions == 1
    assert set(await store.load_states(["old", "live", "noexp"])) == {"live"}


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
        assert (await second.prune(T0)).bytes_on_disk > 0
    finally:
        await second.aclose()


async def test_a_second_feeder_on_the_same_checkpoint_is_fenced(tmp_path: Path) -> None:
    from feeder.app import open_store  # noqa: PLC0415
    from feeder.errors import FencedError  # noqa: PLC0415
    from feeder.settings import CheckpointSettings  # noqa: PLC0415

    settings = CheckpointSettings(backend="sqlite", path=tmp_path / "cp.sqlite3")
    async with open_store(settings):
        with pytest.raises(FencedError, match="only one instance"):
            async with open_store(settings):
                pass
    async with open_store(settings):  # released on close
        pass
