"""Changes between the last known state of a session and a newer snapshot of it.

A poller only sees state at poll time: two entries between two polls show as one change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from feeder.core.snapshot import SessionSnapshot
from feeder.core.state import SessionState


class EventType(StrEnum):
    """The CloudEvents ``type`` of each kind of change."""

    CREATED = "session.created"
    ENTERED = "session.entered"
    EXITED = "session.exited"
    CODE_SCANNED = "session.code_scanned"
    SUSPECTED_FRAUD_CHANGED = "session.suspected_fraud_changed"
    STATUS_CHANGED = "session.status_changed"


FieldValue = datetime | bool | str | None


@dataclass(frozen=True, slots=True)
class Change:
    """One transition of one field; ``time`` is when it happened, by the API's own clock.

    ``suspectedFraud`` and ``status`` have no timestamp of their own: their ``time`` is the
    ``updatedAt`` of the first snapshot that showed the new value, and ``since`` is the
    ``updatedAt`` of the state they changed from (``None`` at first sight), which — unlike
    ``time`` — does not depend on when the poller looked.
    """

    type: EventType
    field: str
    old: FieldValue
    new: FieldValue
    time: datetime
    since: datetime | None = None


class Verdict(StrEnum):
    """What to do with a snapshot given the last known state."""

    NEW = "new"
    DUPLICATE = "duplicate"  # same (id, updatedAt) already seen
    STALE = "stale"  # older than what is known: re-delivered out of order


def classify(known: SessionState | None, snapshot: SessionSnapshot) -> Verdict:
    """Dedupe by ``(id, updatedAt)`` against the last known state.

    Two writes to one session within the same millisecond carry the same ``updatedAt``; when the
    second becomes visible later (a late commit), its diffed fields differ from the known ones,
    and it is NEW, not a duplicate.
    """
    if known is None or snapshot.updated_at > known.updated_at:
        return Verdict.NEW
    if snapshot.updated_at == known.updated_at:
        return Verdict.DUPLICATE if SessionState.of(snapshot) == known else Verdict.NEW
    return Verdict.STALE


_MOMENT_FIELDS = (
    (EventType.ENTERED, "customerLastEnteredAt", "customer_last_entered_at"),
    (EventType.EXITED, "customerLastExitedAt", "customer_last_exited_at"),
    (EventType.CODE_SCANNED, "codeLastSuccesfullyScannedAt", "code_last_scanned_at"),
)


def _moment_changes(
    known: SessionState | None, snapshot: SessionSnapshot, feed_start: datetime
) -> list[Change]:
    changes = []
    for event_type, api_field, attribute in _MOMENT_FIELDS:
        new: datetime | None = getattr(snapshot, attribute)
        if new is None:
            continue
        old: datetime | None = None if known is None else getattr(known, attribute)
        moved = new >= feed_start if known is None else old is None or new > old
        if moved:
            changes.append(Change(event_type, api_field, old, new, new))
    return changes


INITIAL_STATUS = "active"  # the only status the API documents; sessions start in it


def _status_changed(
    known: SessionState | None, snapshot: SessionSnapshot, feed_start: datetime
) -> bool:
    if known is not None:
        return snapshot.status != known.status
    # First sight: a session created since the feed start that has left its initial status
    # changed status since the feed start too, even if no poll saw the steps in between.
    created_at = snapshot.created_at or snapshot.updated_at
    return created_at >= feed_start and snapshot.status not in (None, INITIAL_STATUS)


def diff_session(
    known: SessionState | None, snapshot: SessionSnapshot, feed_start: datetime
) -> list[Change]:
    """Return the changes a NEW snapshot makes, in a stable order.

    First sight (``known is None``): a transition counts only if its own timestamp is at or after
    ``feed_start``, except ``suspectedFraud: true``, which always counts (alerting must not miss
    a flag); a status other than ``active`` counts if the session was created since
    ``feed_start``. Known sessions: a moment field counts when it moved to a newer non-null value;
    ``suspectedFraud`` and ``status`` when they differ.
    """
    changes: list[Change] = []
    if known is None:
        created_at = snapshot.created_at or snapshot.updated_at
        if created_at >= feed_start:
            changes.append(Change(EventType.CREATED, "createdAt", None, created_at, created_at))
    changes.extend(_moment_changes(known, snapshot, feed_start))
    old_fraud = False if known is None else known.suspected_fraud
    if snapshot.suspected_fraud != old_fraud:
        changes.append(
            Change(
                EventType.SUSPECTED_FRAUD_CHANGED,
                "suspectedFraud",
                None if known is None else old_fraud,
                snapshot.suspected_fraud,
                snapshot.updated_at,
                None if known is None else known.updated_at,
            )
        )
    if _status_changed(known, snapshot, feed_start):
        changes.append(
            Change(
                EventType.STATUS_CHANGED,
                "status",
                None if known is None else known.status,
                snapshot.status,
                snapshot.updated_at,
                None if known is None else known.updated_at,
            )
        )
    return changes
