"""Builders of API-shaped session records for core tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
