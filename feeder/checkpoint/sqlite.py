"""The durable checkpoint store: one SQLite file in WAL mode, one transaction per page.

sqlite3 blocks, so every call runs on one dedicated worker thread (a connection must stay on
the thread that uses it); the event loop never waits on disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from feeder.checkpoint.reports import StoreDescription, StoreSize
from feeder.checkpoint.sqlite_file import (
    COLUMNS,
    IDS_PER_QUERY,
    META_SCHEMA,
    SCHEMA,
    UPSERT,
    WRITE_LAST_COMMIT,
    bytes_on_disk,
    connect_read_only,
    describe_connection,
    migrate,
    read_position,
    row_of,
    state_of,
    write_position,
)
from feeder.core.state import FeedPosition, SessionState
from feeder.core.timestamps import to_micros, utc_now
from feeder.errors import CheckpointUnavailableError, ConfigError
from feeder.typing import Clock

_T = TypeVar("_T")


class SqliteCheckpointStore:
    """Open with ``await SqliteCheckpointStore.open(path)``, or ``open_read_only(path)`` to look
    at a checkpoint without writing to it (every write then fails)."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        executor: ThreadPoolExecutor,
        path: Path,
        clock: Clock = utc_now,
    ):
        self._connection: sqlite3.Connection | None = connection
        self._executor = executor
        self._path = path
        self._clock = clock

    @classmethod
    async def open(cls, path: Path, *, clock: Clock = utc_now) -> SqliteCheckpointStore:
        """Open (creating it if needed) the checkpoint at ``path``; ``clock`` stamps commits."""

        def connect() -> sqlite3.Connection:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                connection.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode survives process crashes; a power loss may undo the last
                # commits, which only re-sends events with the same ids.
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.executescript(SCHEMA)
                migrate(connection)
                connection.executescript(META_SCHEMA)
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
        return await cls._connected(path, lambda: connect_read_only(path), utc_now)

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
        return await self._run(read_position)

    async def load_states(self, session_ids: Collection[str]) -> dict[str, SessionState]:
        ids = list(session_ids)

        def read(connection: sqlite3.Connection) -> dict[str, SessionState]:
            found: dict[str, SessionState] = {}
            for offset in range(0, len(ids), IDS_PER_QUERY):
                chunk = ids[offset : offset + IDS_PER_QUERY]
                marks = ",".join("?" * len(chunk))
                rows = connection.execute(
                    f"SELECT {COLUMNS} FROM session_state WHERE session_id IN ({marks})",  # noqa: S608 - only placeholders are interpolated
                    chunk,
                )
                for row in rows:
                    state = state_of(row)
                    found[state.session_id] = state
            return found

        return await self._run(read)

    async def commit(self, states: Iterable[SessionState], position: FeedPosition) -> None:
        rows = [row_of(state) for state in states]
        committed_us = to_micros(self._clock())

        def write(connection: sqlite3.Connection) -> None:
            with connection:
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany(UPSERT, rows)
                write_position(connection, position)
                connection.execute(WRITE_LAST_COMMIT, (committed_us,))

        await self._run_write(write)

    async def _run_write(self, write: Callable[[sqlite3.Connection], None]) -> None:
        try:
            await self._run(write)
        except sqlite3.OperationalError as exc:
            # SQLITE_FULL (and a write past the file size limit, which SQLite reports as an I/O
            # error) roll the transaction back: the checkpoint stays as it was, and the page
            # is written again once the write succeeds (same event ids).
            raise CheckpointUnavailableError(
                f"cannot write the checkpoint at {self._path}: {exc}; free space on its disk "
                "(FEEDER_CHECKPOINT__PATH); the feed retries and resumes where it stopped"
            ) from exc

    async def apply_rows(
        self,
        rows: Mapping[str, tuple[object, ...] | None],
        position: FeedPosition | None,
        *,
        clear_position: bool = False,
    ) -> None:
        """Store the given rows (``session_row``), forget the sessions mapped to ``None`` and
        replace the position (if given) or clear it, in one transaction: the Kafka store's
        cache."""
        gone = [(sid,) for sid, row in rows.items() if row is None]
        upserts = [row for row in rows.values() if row is not None]

        def write(connection: sqlite3.Connection) -> None:
            with connection:
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany(UPSERT, upserts)
                connection.executemany("DELETE FROM session_state WHERE session_id = ?", gone)
                if position is not None:
                    write_position(connection, position)
                elif clear_position:
                    connection.execute("DELETE FROM feed_position")
                    connection.execute("DELETE FROM reread_position")

        await self._run_write(write)

    async def session_ids(self, *, updated_since: datetime | None = None) -> list[str]:
        """Every tracked session, or those whose last ``updatedAt`` is at or after
        ``updated_since``."""
        cutoff = None if updated_since is None else to_micros(updated_since)

        def read(connection: sqlite3.Connection) -> list[str]:
            if cutoff is None:
                rows = connection.execute("SELECT session_id FROM session_state")
            else:
                rows = connection.execute(
                    "SELECT session_id FROM session_state WHERE updated_at_us >= ?", (cutoff,)
                )
            return [str(sid) for (sid,) in rows]

        return await self._run(read)

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
                for offset in range(0, len(ids), IDS_PER_QUERY):
                    chunk = ids[offset : offset + IDS_PER_QUERY]
                    marks = ",".join("?" * len(chunk))
                    connection.execute(
                        f"DELETE FROM session_state WHERE session_id IN ({marks}) "  # noqa: S608 - only placeholders are interpolated
                        "AND prune_at_us < ?",
                        [*chunk, cutoff],
                    )
            (tracked,) = connection.execute("SELECT count(*) FROM session_state").fetchone()
            return StoreSize(tracked_sessions=int(tracked), bytes_on_disk=bytes_on_disk(self._path))

        return await self._run(delete)

    async def describe(self) -> StoreDescription:
        return await self._run(lambda connection: describe_connection(connection, self._path))

    async def rewind(self, position: FeedPosition, *, forget_since: datetime | None) -> int:
        cutoff = None if forget_since is None else to_micros(forget_since)

        def write(connection: sqlite3.Connection) -> int:
            with connection:
                connection.execute("BEGIN IMMEDIATE")
                forgotten = 0
                if cutoff is not None:
                    forgotten = connection.execute(
                        "DELETE FROM session_state WHERE updated_at_us >= ?", (cutoff,)
                    ).rowcount
                write_position(connection, position)
            return forgotten

        return await self._run(write)

    async def reset(self) -> None:
        def write(connection: sqlite3.Connection) -> None:
            with connection:
                connection.execute("BEGIN IMMEDIATE")
                for table in ("session_state", "feed_position", "reread_position", "store_meta"):
                    connection.execute(f"DELETE FROM {table}")  # noqa: S608 - constants only
            # Give the space back: the file shrinks to its schema, and the log to nothing.
            connection.execute("VACUUM")
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        await self._run(write)
