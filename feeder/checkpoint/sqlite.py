"""The durable checkpoint store: one SQLite file in WAL mode, one transaction per page.

sqlite3 blocks, so every call runs on one dedicated worker thread (a connection must stay on
the thread that uses it); the event loop never waits on disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from feeder.checkpoint.protocol import StoreSize
from feeder.core.state import FeedPosition, SessionState
from feeder.core.timestamps import from_micros, to_micros
from feeder.errors import ConfigError

_T = TypeVar("_T")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS session_state (
    session_id      TEXT PRIMARY KEY,
    updated_at_us   INTEGER NOT NULL,
    entered_at_us   INTEGER,
    exited_at_us    INTEGER,
    scanned_at_us   INTEGER,
    suspected_fraud INTEGER NOT NULL,
    status          TEXT,
    expires_at_us   INTEGER,
    prune_at_us     INTEGER NOT NULL  -- expires_at_us, or updated_at_us when expiresAt is null
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS session_state_prune ON session_state (prune_at_us);
CREATE TABLE IF NOT EXISTS feed_position (
    singleton     INTEGER PRIMARY KEY CHECK (singleton = 1),
    feed_start_us INTEGER NOT NULL,
    live_us       INTEGER NOT NULL,
    trailing_us   INTEGER NOT NULL
);
"""
_COLUMNS = (
    "session_id, updated_at_us, entered_at_us, exited_at_us, scanned_at_us, suspected_fraud, "
    "status, expires_at_us"
)
_UPSERT = (
    f"INSERT OR REPLACE INTO session_state ({_COLUMNS}, prune_at_us) "  # noqa: S608 - constants only
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# SQLite's default limit on host parameters is 32766; pages hold at most 200 ids anyway.
_IDS_PER_QUERY = 500


def _micros(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


def _moment(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


def _row(state: SessionState) -> tuple[object, ...]:
    updated_us = to_micros(state.updated_at)
    expires_us = _micros(state.expires_at)
    return (
        state.session_id,
        updated_us,
        _micros(state.customer_last_entered_at),
        _micros(state.customer_last_exited_at),
        _micros(state.code_last_scanned_at),
        int(state.suspected_fraud),
        state.status,
        expires_us,
        updated_us if expires_us is None else expires_us,
    )


def _state(row: Any) -> SessionState:  # an sqlite3 row
    sid, updated, entered, exited, scanned, fraud, status, expires = row
    return SessionState(
        session_id=str(sid),
        updated_at=from_micros(updated),
        customer_last_entered_at=_moment(entered),
        customer_last_exited_at=_moment(exited),
        code_last_scanned_at=_moment(scanned),
        suspected_fraud=bool(fraud),
        status=None if status is None else str(status),
        expires_at=_moment(expires),
    )


class SqliteCheckpointStore:
    """Open with ``await SqliteCheckpointStore.open(path)``."""

    def __init__(self, connection: sqlite3.Connection, executor: ThreadPoolExecutor, path: Path):
        self._connection: sqlite3.Connection | None = connection
        self._executor = executor
        self._path = path

    @classmethod
    async def open(cls, path: Path) -> SqliteCheckpointStore:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feeder-sqlite")

        def connect() -> sqlite3.Connection:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                connection.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode survives process crashes; a power loss may undo the last
                # commits, which only re-sends events with the same ids.
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.executescript(_SCHEMA)
            except (OSError, sqlite3.Error) as exc:
                raise ConfigError(
                    f"cannot open the checkpoint store at {path}: {exc}; check "
                    "FEEDER_CHECKPOINT__PATH and the folder's permissions"
                ) from exc
            return connection

        loop = asyncio.get_running_loop()
        try:
            connection = await loop.run_in_executor(executor, connect)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(connection, executor, path)

    async def _run(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        connection = self._connection
        if connection is None:
            raise RuntimeError("the checkpoint store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, work, connection)

    async def load_position(self) -> FeedPosition | None:
        def read(connection: sqlite3.Connection) -> FeedPosition | None:
            row = connection.execute(
                "SELECT feed_start_us, live_us, trailing_us FROM feed_position"
            ).fetchone()
            if row is None:
                return None
            return FeedPosition(*(from_micros(value) for value in row))

        return await self._run(read)

    async def load_states(self, session_ids: Collection[str]) -> dict[str, SessionState]:
        ids = list(session_ids)

        def read(connection: sqlite3.Connection) -> dict[str, SessionState]:
            found: dict[str, SessionState] = {}
            for offset in range(0, len(ids), _IDS_PER_QUERY):
                chunk = ids[offset : offset + _IDS_PER_QUERY]
                marks = ",".join("?" * len(chunk))
                rows = connection.execute(
                    f"SELECT {_COLUMNS} FROM session_state WHERE session_id IN ({marks})",  # noqa: S608 - only placeholders are interpolated
                    chunk,
                )
                for row in rows:
                    state = _state(row)
                    found[state.session_id] = state
            return found

        return await self._run(read)

    async def commit(self, states: Iterable[SessionState], position: FeedPosition) -> None:
        rows = [_row(state) for state in states]
        position_row = (
            to_micros(position.feed_start),
            to_micros(position.live),
            to_micros(position.trailing),
        )

        def write(connection: sqlite3.Connection) -> None:
            with connection:
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany(_UPSERT, rows)
                connection.execute(
                    "INSERT OR REPLACE INTO feed_position VALUES (1, ?, ?, ?)", position_row
                )

        await self._run(write)

    async def prune(self, expired_before: datetime) -> StoreSize:
        cutoff = to_micros(expired_before)

        def delete(connection: sqlite3.Connection) -> StoreSize:
            with connection:
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("DELETE FROM session_state WHERE prune_at_us < ?", (cutoff,))
            (tracked,) = connection.execute("SELECT count(*) FROM session_state").fetchone()
            size = sum(
                candidate.stat().st_size
                for candidate in (self._path, self._path.with_name(self._path.name + "-wal"))
                if candidate.exists()
            )
            return StoreSize(tracked_sessions=int(tracked), bytes_on_disk=size)

        return await self._run(delete)

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, connection.close)
        self._executor.shutdown(wait=True)

    async def expired_sessions(self, expired_before: datetime, limit: int) -> list[str]:
        cutoff = to_micros(expired_before)

        def read(connection: sqlite3.Connection) -> list[str]:
            rows = connection.execute(
                "SELECT session_id FROM session_state WHERE prune_at_us < ? "
                "ORDER BY prune_at_us LIMIT ?",
                (cutoff, limit),
            )
            return [str(sid) for (sid,) in rows]

        return await self._run(read)

    async def forget(self, session_ids: Collection[str], expired_before: datetime) -> StoreSize:
        ids = list(session_ids)
        cutoff = to_micros(expired_before)

        def delete(connection: sqlite3.Connection) -> StoreSize:
            with connection:
                connection.execute("BEGIN IMMEDIATE")
                for offset in range(0, len(ids), _IDS_PER_QUERY):
                    chunk = ids[offset : offset + _IDS_PER_QUERY]
                    marks = ",".join("?" * len(chunk))
                    connection.execute(
                        f"DELETE FROM session_state WHERE session_id IN ({marks}) "  # noqa: S608 - only placeholders are interpolated
                        "AND prune_at_us < ?",
                        [*chunk, cutoff],
                    )
            return _store_size(connection, self._path)

        return await self._run(delete)


def _store_size(connection: sqlite3.Connection, path: Path) -> StoreSize:
    (tracked,) = connection.execute("SELECT count(*) FROM session_state").fetchone()
    size = sum(
        candidate.stat().st_size
        for candidate in (path, path.with_name(path.name + "-wal"))
        if candidate.exists()
    )
    return StoreSize(tracked_sessions=int(tracked), bytes_on_disk=size)
