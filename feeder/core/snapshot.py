"""A session record from the API, validated into the few fields the feed diffs.

Validation is hand-written rather than pydantic because it runs once per record on the hot path;
the raw record is kept whole so events and the state topic carry it untouched (unknown fields and
undocumented ``status`` values pass through).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

from feeder.core.timestamps import parse_timestamp
from feeder.errors import MalformedSessionError


class SessionSnapshot(NamedTuple):
    """One session as the API showed it at ``updated_at``.

    A ``NamedTuple`` rather than a frozen dataclass: one is built per record read, and a frozen
    dataclass's ``__init__`` costs about four times as much. Immutable all the same.
    """

    session_id: str
    updated_at: datetime
    created_at: datetime | None
    customer_last_entered_at: datetime | None
    customer_last_exited_at: datetime | None
    code_last_scanned_at: datetime | None
    suspected_fraud: bool
    status: str | None
    expires_at: datetime | None
    store_id: str | None
    raw: Mapping[str, object]


def _session_id(raw: Mapping[str, object]) -> str:
    value = raw.get("id")
    # bool is an int subclass; an id of True is a wrong type, not id 1.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    if value is None:
        raise MalformedSessionError("is missing", field="id")
    raise MalformedSessionError(f"must be a non-empty string or an integer, got {value!r}", "id")


def _optional_timestamp(raw: Mapping[str, object], field: str) -> datetime | None:
    value = raw.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedSessionError(f"must be an ISO-8601 string or null, got {value!r}", field)
    try:
        return parse_timestamp(value)
    except ValueError:
        raise MalformedSessionError(f"is not an ISO-8601 timestamp: {value!r}", field) from None


def _optional_id(raw: Mapping[str, object], field: str) -> str | None:
    value = raw.get(field)
    if value is None:
        return None
    if isinstance(value, int | str) and not isinstance(value, bool):
        return str(value)
    raise MalformedSessionError(f"must be a string or an integer, got {value!r}", field)


def parse_session(raw: object) -> SessionSnapshot:
    """Validate one element of the API's ``data`` list; raise ``MalformedSessionError`` if bad."""
    if not isinstance(raw, Mapping):
        raise MalformedSessionError(f"a session must be a JSON object, got {type(raw).__name__}")
    updated_at = _optional_timestamp(raw, "updatedAt")
    if updated_at is None:
        raise MalformedSessionError("is missing", field="updatedAt")
    fraud = raw.get("suspectedFraud", False)
    if not isinstance(fraud, bool):
        raise MalformedSessionError(f"must be true or false, got {fraud!r}", "suspectedFraud")
    status = raw.get("status")
    if status is not None and not isinstance(status, str):
        raise MalformedSessionError(f"must be a string, got {status!r}", "status")
    return SessionSnapshot(
        session_id=_session_id(raw),
        updated_at=updated_at,
        created_at=_optional_timestamp(raw, "createdAt"),
        customer_last_entered_at=_optional_timestamp(raw, "customerLastEnteredAt"),
        customer_last_exited_at=_optional_timestamp(raw, "customerLastExitedAt"),
        code_last_scanned_at=_optional_timestamp(raw, "codeLastSuccesfullyScannedAt"),
        suspected_fraud=fraud,
        status=status,
        expires_at=_optional_timestamp(raw, "expiresAt"),
        store_id=_optional_id(raw, "storeId"),
        raw=raw,
    )
