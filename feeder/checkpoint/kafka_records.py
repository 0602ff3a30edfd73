"""The records of the Kafka checkpoint topic: one per session (its state), one for the position.

Keys: ``s/<session id>`` holds a session's last state and ``position`` the feed position; a
forgotten session gets a tombstone. The topic is compacted, so it holds exactly the tracked
sessions and the newest position. Values are JSON with a format version ``v``; a record of an
unknown version stops the rebuild instead of being guessed at.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from feeder.checkpoint.sqlite_file import session_row
from feeder.core.records import OutgoingRecord
from feeder.core.state import FeedPosition, Moments, SessionState
from feeder.core.timestamps import from_micros, to_micros
from feeder.errors import ConfigError

FORMAT_VERSION = 1
POSITION_KEY = b"position"
_SESSION_PREFIX = b"s/"
_HEADERS = (("content-type", b"application/json"),)


def _micros(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


def _moments(moments: Moments) -> tuple[datetime | None, ...]:
    return (moments.entered_at, moments.exited_at, moments.scanned_at)


def encode_state(state: SessionState) -> bytes:
    current, latest = state.current, state.latest
    return orjson.dumps(
        {
            "v": FORMAT_VERSION,
            "u": to_micros(state.updated_at),
            "c": [
                _micros(current.entered_at),
                _micros(current.exited_at),
                _micros(current.scanned_at),
            ],
            "l": [
                _micros(latest.entered_at),
                _micros(latest.exited_at),
                _micros(latest.scanned_at),
            ],
            "f": state.suspected_fraud,
            "s": state.status,
            "x": _micros(state.expires_at),
            "p": list(state.fingerprints),
            "t": dict(state.toggle_counts),
        }
    )


def state_row(session_id: str, value: bytes) -> tuple[object, ...]:
    """The checkpoint cache's row for a state record (``sqlite.session_row``)."""
    fields = _versioned(value, session_id)
    return session_row(
        session_id=session_id,
        updated_us=fields["u"],
        current_us=fields["c"],
        latest_us=fields["l"],
        suspected_fraud=bool(fields["f"]),
        status=fields["s"],
        expires_us=fields["x"],
        fingerprints=fields["p"],
        toggle_counts=fields["t"],
    )


def encode_position(position: FeedPosition) -> bytes:
    return orjson.dumps(
        {
            "v": FORMAT_VERSION,
            "start": to_micros(position.feed_start),
            "live": to_micros(position.live),
            "rereads": [[delay_s, to_micros(cursor)] for delay_s, cursor in position.rereads],
        }
    )


def decode_position(value: bytes) -> FeedPosition:
    fields = _versioned(value, "the position")
    return FeedPosition(
        from_micros(fields["start"]),
        from_micros(fields["live"]),
        tuple((float(delay_s), from_micros(cursor)) for delay_s, cursor in fields["rereads"]),
    )


def _versioned(value: bytes, what: str) -> dict[str, Any]:
    fields = orjson.loads(value)
    if not isinstance(fields, dict) or fields.get("v") != FORMAT_VERSION:
        raise ConfigError(
            f"the checkpoint topic holds a record for {what} this feeder cannot read (format "
            f"{fields.get('v') if isinstance(fields, dict) else '?'}, expected "
            f"{FORMAT_VERSION}); check FEEDER_KAFKA__TOPICS__CHECKPOINT"
        )
    return fields


def session_key(session_id: str) -> bytes:
    return _SESSION_PREFIX + session_id.encode()


def session_id_of(key: bytes) -> str | None:
    """The session a key belongs to, or ``None`` for the position's key."""
    if key.startswith(_SESSION_PREFIX):
        return key[len(_SESSION_PREFIX) :].decode()
    return None


def checkpoint_records(
    topic: str, states: Iterable[SessionState], position: FeedPosition | None
) -> list[OutgoingRecord]:
    """The records that store ``states`` and (if given) ``position``."""
    records = [
        OutgoingRecord(topic, session_key(state.session_id), encode_state(state), _HEADERS)
        for state in states
    ]
    if position is not None:
        records.append(OutgoingRecord(topic, POSITION_KEY, encode_position(position), _HEADERS))
    return records


def forget_records(
    topic: str, session_ids: Iterable[str], *, position_too: bool = False
) -> list[OutgoingRecord]:
    """Tombstones: the sessions (and, with ``position_too``, the position) leave the
    (compacted) topic."""
    records = [OutgoingRecord(topic, session_key(sid), None, ()) for sid in session_ids]
    if position_too:
        records.append(OutgoingRecord(topic, POSITION_KEY, None, ()))
    return records


@dataclass(slots=True)
class CheckpointChanges:
    """What a stretch of the topic says, newest wins: the cache's rows by session (``None``:
    forgotten) and the newest position."""

    states: dict[str, tuple[object, ...] | None]
    position: FeedPosition | None = None
    position_cleared: bool = False  # the newest position record is a tombstone (a reset)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        session_id = session_id_of(key)
        if session_id is None:
            if key == POSITION_KEY:
                self.position = None if value is None else decode_position(value)
                self.position_cleared = value is None
            return
        self.states[session_id] = None if value is None else state_row(session_id, value)
