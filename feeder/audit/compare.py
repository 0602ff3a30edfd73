"""The audit itself: the API's latest sessions against the events read back (pure; no I/O).

See :mod:`feeder.audit` for the rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from feeder.audit.published import PublishedEvent
from feeder.core.diff import Change, EventType, FieldValue, apply_version
from feeder.core.snapshot import SessionSnapshot
from feeder.core.state import fingerprint
from feeder.core.timestamps import format_timestamp

_TOGGLES = frozenset({EventType.SUSPECTED_FRAUD_CHANGED, EventType.STATUS_CHANGED})
_MOMENT_ATTRIBUTES = {
    EventType.CREATED: "created_at",
    EventType.ENTERED: "customer_last_entered_at",
    EventType.EXITED: "customer_last_exited_at",
    EventType.CODE_SCANNED: "code_last_scanned_at",
}


@dataclass(slots=True)
class TypeCounts:
    """One row of the report.

    ``facts``: what the API shows that must have an event; ``found`` of them had it, ``missing``
    did not; ``wrong``: events contradicting the API; ``duplicates``: extra copies of an event id;
    ``older``: events from before the window's start, not checked.
    """

    facts: int = 0
    found: int = 0
    missing: int = 0
    wrong: int = 0
    duplicates: int = 0
    older: int = 0


@dataclass(frozen=True, slots=True)
class Finding:
    """A fact without its event (``event_id`` is ``None``) or an event contradicting the API."""

    session_id: str
    type: str
    api: object  # what the API shows (JSON)
    published: object  # what the last event of the type says (JSON), or None
    event_id: str | None


@dataclass(slots=True)
class AuditReport:
    window_start: datetime
    window_end: datetime
    sessions: int
    by_type: dict[str, TypeCounts] = field(
        default_factory=lambda: {event_type.value: TypeCounts() for event_type in EventType}
    )
    missing: list[Finding] = field(default_factory=list)
    wrong: list[Finding] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """No fact is missing and no event is wrong."""
        return not self.missing and not self.wrong


def _json(value: FieldValue | object) -> object:
    return format_timestamp(value) if isinstance(value, datetime) else value


def _latest_per_session(snapshots: Iterable[SessionSnapshot]) -> dict[str, SessionSnapshot]:
    latest: dict[str, SessionSnapshot] = {}
    for snapshot in snapshots:
        known = latest.get(snapshot.session_id)
        if known is None or snapshot.updated_at >= known.updated_at:
            latest[snapshot.session_id] = snapshot
    return latest


def audit(
    snapshots: Iterable[SessionSnapshot],
    events: Iterable[PublishedEvent],
    *,
    window_start: datetime,
    window_end: datetime,
) -> AuditReport:
    """Compare the sessions the API returned for the window with the events (in topic order)."""
    sessions = _latest_per_session(snapshots)
    known_types = {event_type.value for event_type in EventType}
    by_session: dict[str, list[PublishedEvent]] = {sid: [] for sid in sessions}
    for event in events:
        if event.subject in by_session and event.type in known_types:
            by_session[event.subject].append(event)
    report = AuditReport(window_start, window_end, len(sessions))
    for session_id, snapshot in sessions.items():
        _audit_session(report, snapshot, by_session[session_id])
    return report


def _audit_session(
    report: AuditReport, snapshot: SessionSnapshot, events: Sequence[PublishedEvent]
) -> None:
    seen: set[str] = set()
    distinct: dict[EventType, list[PublishedEvent]] = {event_type: [] for event_type in EventType}
    for event in events:
        if event.id in seen:
            report.by_type[event.type].duplicates += 1
        else:
            seen.add(event.id)
            distinct[EventType(event.type)].append(event)
    changes, _ = apply_version(None, snapshot, fingerprint(snapshot), report.window_start)
    facts = {change.type: change for change in changes}
    if snapshot.created_at is None:  # the feed stamped its creation by when it first looked
        facts.pop(EventType.CREATED, None)
        distinct[EventType.CREATED] = []
    for event_type, published in distinct.items():
        counts = report.by_type[event_type.value]
        fact = facts.get(event_type)
        if fact is not None:
            counts.facts += 1
        if event_type in _TOGGLES:
            _check_toggle(report, snapshot, event_type, fact, published)
        else:
            _check_moments(report, snapshot, event_type, fact, published)


def _finding(
    snapshot: SessionSnapshot, event_type: EventType, api: object, event: PublishedEvent | None
) -> Finding:
    published = (
        None
        if event is None
        else (event.new if event_type in _TOGGLES else format_timestamp(event.time))
    )
    return Finding(
        snapshot.session_id,
        event_type.value,
        _json(api),
        published,
        None if event is None else event.id,
    )


def _check_moments(
    report: AuditReport,
    snapshot: SessionSnapshot,
    event_type: EventType,
    fact: Change | None,
    published: list[PublishedEvent],
) -> None:
    counts = report.by_type[event_type.value]
    api_value: datetime | None = getattr(snapshot, _MOMENT_ATTRIBUTES[event_type])
    checked = [event for event in published if event.time >= report.window_start]
    counts.older += len(published) - len(checked)
    for event in checked:
        contradicts = (
            api_value is None
            or event.time > api_value
            or (event_type is EventType.CREATED and event.time != api_value)
        )
        if contradicts:
            counts.wrong += 1
            report.wrong.append(_finding(snapshot, event_type, api_value, event))
    if fact is None:
        return
    if any(event.time == fact.time for event in checked):
        counts.found += 1
    else:
        counts.missing += 1
        report.missing.append(_finding(snapshot, event_type, fact.time, None))


def _check_toggle(
    report: AuditReport,
    snapshot: SessionSnapshot,
    event_type: EventType,
    fact: Change | None,
    published: list[PublishedEvent],
) -> None:
    counts = report.by_type[event_type.value]
    last = published[-1] if published else None
    counts.older += sum(event.time < report.window_start for event in published[:-1])
    current: object = (
        snapshot.suspected_fraud
        if event_type is EventType.SUSPECTED_FRAUD_CHANGED
        else snapshot.status
    )
    if last is None:
        if fact is not None:
            counts.missing += 1
            report.missing.append(_finding(snapshot, event_type, current, None))
        return
    if last.new != current:
        counts.wrong += 1
        report.wrong.append(_finding(snapshot, event_type, current, last))
    elif fact is not None:
        counts.found += 1
