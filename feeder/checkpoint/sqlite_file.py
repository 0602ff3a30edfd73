"""The SQLite checkpoint file: its tables, how a row holds a session's state, and reading it
through any connection, a read-only one included (``feeder status`` reads a file a running feeder
writes). The store that writes it is :mod:`feeder.checkpoint.sqlite`.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from feeder.checkpoint.reports import StoreDescription
from feeder.core.state import FeedPosition, Moments, SessionState, version_fingerprint
from feeder.core.timestamps import from_micros, to_micros
from feeder.errors import ConfigError

SCHEMA = """
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
COLUMNS = (
    "session_id, updated_at_us, entered_at_us, exited_at_us, scanned_at_us, suspected_fraud, "
    "status, expires_at_us, entered_latest_us, exited_latest_us, scanned_latest_us, "
    "fingerprints, toggle_counts"
)
UPSERT = (
    f"INSERT OR REPLACE INTO session_state ({COLUMNS}, prune_at_us) "  # noqa: S608 - constants only
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_WRITE_POSITION = "INSERT OR REPLACE INTO feed_position VALUES (1, ?, ?, ?)"
# Facts about the store itself, beside the feed's tables so those stay as they are.
META_SCHEMA = """
CREATE TABLE IF NOT EXISTS store_meta (
    singleton      INTEGER PRIMARY KEY CHECK (singleton = 1),
    last_commit_us INTEGER NOT NULL
);
"""
WRITE_LAST_COMMIT = "INSERT OR REPLACE INTO store_meta VALUES (1, ?)"
# SQLite's default limit on host parameters is 32766; pages hold at most 200 ids anyway.
IDS_PER_QUERY = 500
# A checkpoint written before re-read passes existed has one trailing cursor; as a pass longer
# than any, every pass of the settings starts from it (FeedPosition.aligned).
BEFORE_REREAD_PASSES_DELAY_S = float("inf")



def _micros(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


def _moment(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


def write_position(connection: sqlite3.Connection, position: FeedPosition) -> None:
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


def row_of(state: SessionState) -> tuple[object, ...]:
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


def state_of(row: Any) -> SessionState:  # an sqlite3 row
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


def migrate(connection: sqlite3.Connection) -> None:
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
