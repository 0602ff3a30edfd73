"""Builders of API-shaped session records for core tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from feeder.core.diff import Change, apply_version
from feeder.core.snapshot import SessionSnapshot, parse_session
from feeder.core.state import Moments, SessionState, fingerprint
from feeder.core.timestamps import format_timestamp

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def record(
    session_id: str = "1",
    *,
    updated: float,
    created: float = 0.0,
    entered: float | None = None,
    exited: float | None = None,
    scanned: float | None = None,
    fraud: bool = False,
    status: str = "active",
    **extra: object,
) -> dict[str, object]:
    def stamp(seconds: float | None) -> str | None:
        return None if seconds is None else format_timestamp(at(seconds))

    return {
        "id": session_id,
        "createdAt": stamp(created),
        "updatedAt": stamp(updated),
        "customerLastEnteredAt": stamp(entered),
        "customerLastExitedAt": stamp(exited),
        "codeLastSuccesfullyScannedAt": stamp(scanned),
        "suspectedFraud": fraud,
        "status": status,
        "storeId": 7,
        "expiresAt": stamp(created + 3600),
        **extra,
    }


def first_state(raw: dict[str, object]) -> SessionState:
    """The state after a session's first version ``raw`` (no events counted)."""
    snapshot = parse_session(raw)
    return SessionState.first(snapshot, fingerprint(snapshot))


def apply(
    known: SessionState | None, raw: dict[str, object], start: float = 0.0
) -> tuple[list[Change], SessionState]:
    """``apply_version`` of the record ``raw`` with a feed start ``start`` seconds after T0."""
    return apply_snapshot(known, parse_session(raw), at(start))


def apply_snapshot(
    known: SessionState | None, snapshot: SessionSnapshot, feed_start: datetime
) -> tuple[list[Change], SessionState]:
    return apply_version(known, snapshot, fingerprint(snapshot), feed_start)


def tracked_state(session_id: str, updated_at: datetime, *, fraud: bool = False) -> SessionState:
    """A checkpointed session with nothing but its id, updatedAt and fraud flag."""
    return SessionState(
        session_id=session_id,
        updated_at=updated_at,
        current=Moments(),
        latest=Moments(),
        suspected_fraud=fraud,
        status="active",
        expires_at=None,
        fingerprints=(1,),
    )
