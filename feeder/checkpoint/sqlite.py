"""The durable checkpoint store: one SQLite file in WAL mode, one transaction per page.

sqlite3 blocks, so every call runs on one dedicated worker thread (a connection must stay on
the thread that uses it); the event loop never waits on disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
import struct
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson

from feeder.checkpoint.reports import StoreDescription, StoreSize
from feeder.core.state import FeedPosition, Moments, SessionState, version_fingerprint
from feeder.core.timestamps import from_micros, to_micros, utc_now
from feeder.errors import CheckpointUnavailableError, ConfigError
from feeder.typing import Clock

_T = TypeVar("_T")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS session_state (
    session_id      TEXT PRIMARY KEY,
    updated_at_us   INTEGER NOT NULL,  -- the greatest updatedAt applied
    entered_at_us   INTEGER,           -- moments as the version applied last showed them
    exited_at_us    INTEGER,
    scanned_at_us   INTEGER,
    suspected_fraud INTEGER NOT NULL,
    status          TEXT,
    expires_at_us   INTEGER,
    prune_at_us     INTEGER NOT NULL   -- SessionState.prunable_from
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS session_state_prune ON session_state (prune_at_us);
CREATE TABLE IF NOT EXISTS feed_position (
    singleton     INTEGER PRIMARY KEY CHECK (singleton = 1),
    feed_start_us INTEGER NOT NULL,
    live_us       INTEGER NOT NULL,
    trailing_us   INTEGER NOT NULL     -- the oldest re-read cursor
);
CREATE TABLE IF NOT EXISTS reread_position (
    delay_ms  INTEGER PRIMARY KEY,
    cursor_us INTEGER NOT NULL
) WITHOUT ROWID;
"""
# Added after the first release: ALTER TABLE adds them to older checkpoints, whose rows read
# back as if their last version were the only one (its fingerprint is derived from its fields).
_ADDED_COLUMNS = (
    ("entered_latest_us", "INTEGER"),  # the greatest value each moment ever had
    ("exited_latest_us", "INTEGER"),
    ("scanned_latest_us", "INTEGER"),
    ("fingerprints", "BLOB"),  # the last versions applied, newest first, 8 bytes each
    ("toggle_counts", "TEXT"),  # JSON: publications per fraud flag / status value
)
_COLUMNS = (
    "session_id, updated_at_us, entered_at_us, exited_at_us, scanned_at_us, suspected_fraud, "
    "status, expires_at_us, entered_latest_us, exited_latest_us, scanned_latest_us, "
    "fingerprints, toggle_counts"
)
_UPSERT = (
    f"INSERT OR REPLACE INTO session_state ({_COLUMNS}, prune_at_us) "  # noqa: S608 - constants only
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
# A checkpoint written before re-read passes existed has one trailing cursor; as a pass longer
# than any, every pass of the settings starts from it (FeedPosition.aligned).
BEFORE_REREAD_PASSES_DELAY_S = float("inf")



def _micros(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


def _moment(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


def _write_position(connection: sqlite3.Connection, position: FeedPosition) -> None:
    """Replace the position: the live cursor, and one row per re-read pass (inside the caller's
    transaction). ``trailing_us`` keeps the oldest cursor for readers of the first layout."""
    connection.execute(
        _WRITE_POSITION,
        (
            to_micros(position.feed_start),
            to_micros(position.live),
            to_micros(position.oldest),
        ),
    )
    connection.execute("DELETE FROM reread_position")
    connection.executemany(
        "INSERT INTO reread_position VALUES (?, ?)",
        [(round(delay_s * 1000), to_micros(cursor)) for delay_s, cursor in position.rereads],
    )


def _row(state: SessionState) -> tuple[object, ...]:
    current, latest = state.current, state.latest
    return session_row(
        session_id=state.session_id,
        updated_us=to_micros(state.updated_at),
        current_us=(
            _micros(current.entered_at),
            _micros(current.exited_at),
            _micros(current.scanned_at),
        ),
        latest_us=(
            _micros(latest.entered_at),
            _micros(latest.exited_at),
            _micros(latest.scanned_at),
        ),
        suspected_fraud=state.suspected_fraud,
        status=state.status,
        expires_us=_micros(state.expires_at),
        fingerprints=state.fingerprints,
        toggle_counts=dict(state.toggle_counts),
    )


def session_row(
    *,
    session_id: str,
    updated_us: int,
    current_us: Sequence[int | None],
    latest_us: Sequence[int | None],
    suspected_fraud: bool,
    status: str | None,
    expires_us: int | None,
    fingerprints: Sequence[int],
    toggle_counts: Mapping[str, int],
) -> tuple[object, ...]:
    """A ``session_state`` row (for ``apply_rows``) from a state's fields in microseconds: the
    Kafka store's rebuild builds rows straight from its records, without datetimes."""
    # SessionState.prunable_from, in microseconds
    prune_us = updated_us if expires_us is None else max(expires_us, updated_us)
    return (
        session_id,
        updated_us,
        *current_us,
        int(suspected_fraud),
        status,
        expires_us,
        *latest_us,
        struct.pack(f">{len(fingerprints)}q", *fingerprints),
        orjson.dumps(dict(toggle_counts)).decode() if toggle_counts else None,
        prune_us,
    )


def _state(row: Any) -> SessionState:  # an sqlite3 row
    (sid, updated, entered, exited, scanned, fraud, status, expires) = row[:8]
    (entered_latest, exited_latest, scanned_latest, prints, toggles) = row[8:]
    current = Moments(_moment(entered), _moment(exited), _moment(scanned))
    latest = Moments(
        _moment(entered_latest) or current.entered_at,
        _moment(exited_latest) or current.exited_at,
        _moment(scanned_latest) or current.scanned_at,
    )
    status_text = None if status is None else str(status)
    updated_at = from_micros(updated)
    if prints:
        fingerprints = struct.unpack(f">{len(prints) // 8}q", prints)
    else:
        fingerprints = (version_fingerprint(updated_at, current, bool(fraud), status_text),)
    return SessionState(
        session_id=str(sid),
        updated_at=updated_at,
        current=current,
        latest=latest,
        suspected_fraud=bool(fraud),
        status=status_text,
        expires_at=_moment(expires),
        fingerprints=tuple(fingerprints),
        toggle_counts=tuple(sorted(orjson.loads(toggles).items())) if toggles else (),
    )


def bytes_on_disk(path: Path) -> int:
    """The size of the checkpoint file and its write-ahead log."""
    return sum(
        candidate.stat().st_size
        for candidate in (path, path.with_name(path.name + "-wal"))
        if candidate.exists()
    )


def _migrate(connection: sqlite3.Connection) -> None:
    present = {row[1] for row in connection.execute("PRAGMA table_info(session_state)")}
    for name, kind in _ADDED_COLUMNS:
        if name not in present:
            connection.execute(f"ALTER TABLE session_state ADD COLUMN {name} {kind}")


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


def read_position(connection: sqlite3.Connection) -> FeedPosition | None:
    """The committed position, read through ``connection`` (read-only is enough), or ``None``.

    A checkpoint from before re-read passes has one trailing cursor: it reads back as the
    cursor of a pass longer than any (``BEFORE_REREAD_PASSES_DELAY_S``)."""
    row = connection.execute(
        "SELECT feed_start_us, live_us, trailing_us FROM feed_position"
    ).fetchone()
    if row is None:
        return None
    feed_start, live, trailing = (from_micros(value) for value in row)
    tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}
    cursors = (
        tuple(
            (delay_ms / 1000, from_micros(cursor_us))
            for delay_ms, cursor_us in connection.execute(
                "SELECT delay_ms, cursor_us FROM reread_position ORDER BY delay_ms"
            )
        )
        if "reread_position" in tables  # absent from an old file opened read-only
        else ()
    )
    return FeedPosition(feed_start, live, cursors or ((BEFORE_REREAD_PASSES_DELAY_S, trailing),))


def read_only_view(path: Path) -> tuple[FeedPosition | None, StoreDescription]:
    """The position and description of the checkpoint at ``path``, through a read-only
    connection (:func:`connect_read_only`): what ``feeder status`` shows, read while a feeder
    may be writing. Raises ``ConfigError`` if it cannot be read."""
    connection = connect_read_only(path)
    try:
        return read_position(connection), describe_connection(connection, path)
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot read the checkpoint at {path}: {exc}") from exc
    finally:
        connection.close()


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
                connection.executescript(_SCHEMA)
                _migrate(connection)
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
        committed_us = to_micros(self._clock())

        def write(connection: sqlite3.Connection) -> None:
            with connection:
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany(_UPSERT, rows)
                _write_position(connection, position)
                connection.execute(_WRITE_LAST_COMMIT, (committed_us,))

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
                connection.executemany(_UPSERT, upserts)
                connection.executemany("DELETE FROM session_state WHERE session_id = ?", gone)
                if position is not None:
                    _write_position(connection, position)
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
                for offset in range(0, len(ids), _IDS_PER_QUERY):
                    chunk = ids[offset : offset + _IDS_PER_QUERY]
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
                _write_position(connection, position)
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
