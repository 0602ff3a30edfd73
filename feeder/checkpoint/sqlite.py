"""The durable checkpoint store: one SQLite file in WAL mode, one transaction per page.

sqlite3 blocks, so every call runs on one dedicated worker thread (a connection must stay on
the thread that uses it); the event loop never waits on disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from feeder.checkpoint.protocol import StoreDescription, StoreSize
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
_WRITE_POSITION = "INSERT OR REPLACE INTO feed_position VALUES (1, ?, ?, ?)"
# Facts about the store itself, beside the feed's tables so those stay as they are.
_META_SCHEMA = """
CREATE TABLE IF NOT EXISTS store_meta (
    singleton      INTEGER PRIMARY KEY CHECK (singleton = 1),
    last_commit_us INTEGER NOT NULL
);
"""
_WRITE_LAST_COMMIT = "INSERT OR REPLACE INTO store_meta VALUES (1, ?)"
# SQLite's default limit on host parameters is 32766; pages hold at most 200 ids anyway.
_IDS_PER_QUERY = 500
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _micros(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


def _moment(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


def _position_row(position: FeedPosition) -> tuple[int, ...]:
    return (
        to_micros(position.feed_start),
        to_micros(position.live),
        to_micros(position.trailing),
    )


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


def bytes_on_disk(path: Path) -> int:
    """The size of the checkpoint file and its write-ahead log."""
    return sum(
        candidate.stat().st_size
        for candidate in (path, path.with_name(path.name + "-wal"))
        if candidate.exists()
    )


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot write, to a checkpoint a feeder may be writing right now.

    SQLite's ``mode=ro`` writes nothing to the file. When no ``-wal`` file exists (no writer
    has the file open) it is opened ``immutable`` too, so not even the ``-shm``/``-wal`` side
    files are created. Raises ``ConfigError`` when there is no file at ``path``.
    """
    if not path.is_file():
        raise ConfigError(f"no checkpoint file at {path}; check FEEDER_CHECKPOINT__PATH")
    immutable = "" if path.with_name(path.name + "-wal").exists() else "&immutable=1"
    try:
        return sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro{immutable}", uri=True, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot read the checkpoint at {path}: {exc}") from exc


def describe_connection(connection: sqlite3.Connection, path: Path) -> StoreDescription:
    """The store's description, read through ``connection`` (read-only is enough)."""
    tracked, flagged, oldest, newest = connection.execute(
        "SELECT count(*), coalesce(sum(suspected_fraud), 0), min(updated_at_us), "
        "max(updated_at_us) FROM session_state"
    ).fetchone()
    has_meta = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'store_meta'"
    ).fetchone()
    meta = (
        connection.execute("SELECT last_commit_us FROM store_meta").fetchone() if has_meta else None
    )
    return StoreDescription(
        tracked_sessions=int(tracked),
        flagged_sessions=int(flagged),
        bytes_on_disk=bytes_on_disk(path),
        oldest_updated_at=_moment(oldest),
        newest_updated_at=_moment(newest),
        last_commit_at=None if meta is None else from_micros(meta[0]),
    )


class SqliteCheckpointStore:
    """Open with ``await SqliteCheckpointStore.open(path)``, or ``open_read_only(path)`` to look
    at a checkpoint without writing to it (every write then fails)."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        executor: ThreadPoolExecutor,
        path: Path,
        clock: Clock = _utc_now,
    ):
        self._connection: sqlite3.Connection | None = connection
        self._executor = executor
        self._path = path
        self._clock = clock

    @classmethod
    async def open(cls, path: Path, *, clock: Clock = _utc_now) -> SqliteCheckpointStore:
        """Open (creating it if needed) the checkpoint at ``path``; ``clock`` stamps commits."""

        def connect() -> sqlite3.Connection:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                connection.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode survives process crashes; a power loss may undo the last
                # commits, which only re-sends events with the same ids.
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.executescript(_SCHEMA)
                connection.executescript(_META_SCHEMA)
            except (OSError, sqlite3.Error) as exc:
                raise ConfigError(
                    f"cannot open the checkpoint store at {path}: {exc}; check "
                    "FEEDER_CHECKPOINT__PATH and the folder's permissions"
                ) from exc
            return connection

        return await cls._connected(path, connect, clock)

    @classmethod
    async def open_read_only(cls, path: Path) -> SqliteCheckpointStore:
        """The checkpoint at ``path`` through a read-only connection (``connect_read_only``)."""
        return await cls._connected(path, lambda: connect_read_only(path), _utc_now)

    @classmethod
    async def _connected(
        cls, path: Path, connect: Callable[[], sqlite3.Connection], clock: Clock
    ) -> SqliteCheckpointStore:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="feeder-sqlite")
        loop = asyncio.get_running_loop()
        try:
            connection = await loop.run_in_executor(executor, connect)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(connection, executor, path, clock)

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
        position_row = _position_row(position)
        committed_us = to_micros(self._clock())

        def write(connection: sqlite3.Connection) -> None:
            with connection:
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany(_UPSERT, rows)
                connection.execute(_WRITE_POSITION, position_row)
                connection.execute(_WRITE_LAST_COMMIT, (committed_us,))

        await self._run(write)

    async def prune(self, expired_before: datetime) -> StoreSize:
        cutoff = to_micros(expired_before)

        def delete(connection: sqlite3.Connection) -> StoreSize:
            with connection:
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("DELETE FROM session_state WHERE prune_at_us < ?", (cutoff,))
            (tracked,) = connection.execute("SELECT count(*) FROM session_state").fetchone()
            return StoreSize(tracked_sessions=int(tracked), bytes_on_disk=bytes_on_disk(self._path))

        return await self._run(delete)

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, connection.close)
        self._executor.shutdown(wait=True)

    async def describe(self) -> StoreDescription:
        return await self._run(lambda connection: describe_connection(connection, self._path))

    async def rewind(self, position: FeedPosition, *, forget_since: datetime | None) -> int:
        position_row = _position_row(position)
        cutoff = None if forget_since is None else to_micros(forget_since)

        def write(connection: sqlite3.Connection) -> int:
            with connection:
                connection.execute("BEGIN IMMEDIATE")
                forgotten = 0
                if cutoff is not None:
                    forgotten = connection.execute(
                        "DELETE FROM session_state WHERE updated_at_us >= ?", (cutoff,)
                    ).rowcount
                connection.execute(_WRITE_POSITION, position_row)
            return forgotten

        return await self._run(write)

    async def reset(self) -> None:
        def write(connection: sqlite3.Connection) -> None:
            with connection:
                connection.execute("BEGIN IMMEDIATE")
                for table in ("session_state", "feed_position", "store_meta"):
                    connection.execute(f"DELETE FROM {table}")  # noqa: S608 - constants only
            # Give the space back: the file shrinks to its schema, and the log to nothing.
            connection.execute("VACUUM")
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        await self._run(write)
