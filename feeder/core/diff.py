"""Changes between what the feed applied of a session and a version of it never seen before.

A poller only sees state at poll time: two entries between two polls show as one change, and a
flag set and cleared between two polls is never seen.

The rules (DESIGN §3):

- A version is new by content (its fingerprint), not by a larger ``updatedAt``. The version
  applied last read again is a *duplicate*; an older version applied before and served again (a
  lagging replica or cache) is a *replay* and changes nothing.
- Moment fields (``customerLastEnteredAt``, ``customerLastExitedAt``,
  ``codeLastSuccesfullyScannedAt``) carry their own time: a new version's non-null value is a
  change unless it equals the value the last applied version showed or the latest value ever
  applied (facts merge by maximum, so a replay can never take one away, and a value that moved
  *backwards* in a new version — a writer with a slow clock — is still published).
- ``suspectedFraud`` and ``status`` have no timestamp: they follow the version applied last, and
  a change is stamped with that version's ``updatedAt``. Blind spot: a replay of a version the
  feed never saw (or saw more than ``FINGERPRINT_HISTORY`` versions ago) looks new, so it flips
  them back and forth once.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

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


class Change(NamedTuple):
    """One transition of one field; ``time`` is when it happened, by the API's own clock.

    ``suspectedFraud`` and ``status`` have no timestamp of their own: their ``time`` is the
    ``updatedAt`` of the first version that showed the new value, and ``occurrence`` says how
    many times the field has now taken that value (1 for the first), which — unlike ``time`` —
    a live feed and a backfill that sees the session for the first time derive alike.

    A ``NamedTuple`` (immutable, and built several times per record: a frozen dataclass's
    ``__init__`` costs about four times as much).
    """

    type: EventType
    field: str
    old: FieldValue
    new: FieldValue
    time: datetime
    occurrence: int = 0


def toggle_key(field: str, value: FieldValue) -> str:
    """What counts publications of ``field`` taking ``value`` (``SessionState.toggle_counts``)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = "null" if value is None else str(value)
    return f"{field}={text}"


class Verdict(StrEnum):
    """What a version is, given what the feed applied of its session."""

    NEW = "new"
    DUPLICATE = "duplicate"  # the version applied last, read again
    REPLAYED = "replayed"  # an older version applied before, served again


def classify(known: SessionState | None, version: int) -> Verdict:
    """``version`` is the snapshot's ``fingerprint``."""
    if known is None:
        return Verdict.NEW
    if known.fingerprints and version == known.fingerprints[0]:
        return Verdict.DUPLICATE
    return Verdict.REPLAYED if version in known.fingerprints else Verdict.NEW


_MOMENT_FIELDS = (
    (EventType.ENTERED, "customerLastEnteredAt", "entered_at"),
    (EventType.EXITED, "customerLastExitedAt", "exited_at"),
    (EventType.CODE_SCANNED, "codeLastSuccesfullyScannedAt", "scanned_at"),
)
_SNAPSHOT_MOMENTS = {
    "entered_at": "customer_last_entered_at",
    "exited_at": "customer_last_exited_at",
    "scanned_at": "code_last_scanned_at",
}
INITIAL_STATUS = "active"  # the only status the API documents; sessions start in it


def _moment_changes(
    known: SessionState | None, snapshot: SessionSnapshot, feed_start: datetime
) -> list[Change]:
    changes = []
    for event_type, api_field, attribute in _MOMENT_FIELDS:
        new: datetime | None = getattr(snapshot, _SNAPSHOT_MOMENTS[attribute])
        if new is None:
            continue
        if known is None:
            if new >= feed_start:
                changes.append(Change(event_type, api_field, None, new, new))
            continue
        current: datetime | None = getattr(known.current, attribute)
        latest: datetime | None = getattr(known.latest, attribute)
        if new not in (current, latest):
            changes.append(Change(event_type, api_field, current, new, new))
    return changes


def _toggle(
    known: SessionState | None,
    *,
    event_type: EventType,
    field: str,
    old: FieldValue,
    new: FieldValue,
    time: datetime,
) -> Change:
    occurrence = (0 if known is None else known.published(toggle_key(field, new))) + 1
    return Change(event_type, field, None if known is None else old, new, time, occurrence)


def _toggle_changes(
    known: SessionState | None, snapshot: SessionSnapshot, feed_start: datetime
) -> list[Change]:
    changes = []
    time = snapshot.updated_at
    old_fraud = False if known is None else known.suspected_fraud
    if snapshot.suspected_fraud != old_fraud:
        # First sight: a flag that is up counts whenever the session was created; alerting
        # must not miss it.
        changes.append(
            _toggle(
                known,
                event_type=EventType.SUSPECTED_FRAUD_CHANGED,
                field="suspectedFraud",
                old=old_fraud,
                new=snapshot.suspected_fraud,
                time=time,
            )
        )
    if known is not None:
        status_moved = snapshot.status != known.status
    else:
        # A session created since the feed start that has left its initial status changed
        # status since the feed start too, even if no poll saw the steps in between.
        created_at = snapshot.created_at or snapshot.updated_at
        status_moved = created_at >= feed_start and snapshot.status not in (None, INITIAL_STATUS)
    if status_moved:
        old_status = INITIAL_STATUS if known is None else known.status
        changes.append(
            _toggle(
                known,
                event_type=EventType.STATUS_CHANGED,
                field="status",
                old=old_status,
                new=snapshot.status,
                time=time,
            )
        )
    return changes


def apply_version(
    known: SessionState | None, snapshot: SessionSnapshot, version: int, feed_start: datetime
) -> tuple[list[Change], SessionState]:
    """The changes a NEW version makes, in a stable order, and the state after it.

    ``version`` is ``fingerprint(snapshot)``. First sight (``known is None``): a transition
    counts only if its own timestamp is at or after ``feed_start``, except ``suspectedFraud:
    true``, which always counts; a status other than ``active`` counts if the session was
    created since ``feed_start``.
    """
    changes: list[Change] = []
    if known is None:
        created_at = snapshot.created_at or snapshot.updated_at
        if created_at >= feed_start:
            changes.append(Change(EventType.CREATED, "createdAt", None, created_at, created_at))
    changes.extend(_moment_changes(known, snapshot, feed_start))
    changes.extend(_toggle_changes(known, snapshot, feed_start))
    toggles = [toggle_key(change.field, change.new) for change in changes if change.occurrence]
    if known is None:
        return changes, SessionState.first(snapshot, version, toggles)
    return changes, known.applied(snapshot, version, toggles)
