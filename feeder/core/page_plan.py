"""One page of records in, everything the feed must write for it out (pure; no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from feeder.core.diff import Verdict, classify, diff_session
from feeder.core.events import ChangeEvent, change_events
from feeder.core.snapshot import SessionSnapshot, parse_session
from feeder.core.state import SessionState
from feeder.errors import MalformedRecordError


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that failed validation, kept whole with the reason."""

    raw: object
    reason: str
    field: str | None


@dataclass(frozen=True, slots=True)
class ParsedPage:
    snapshots: tuple[SessionSnapshot, ...]
    dead_letters: tuple[DeadLetter, ...]

    @property
    def session_ids(self) -> set[str]:
        return {snapshot.session_id for snapshot in self.snapshots}


def parse_page(records: Sequence[object]) -> ParsedPage:
    """Validate every record; bad ones become dead letters and never stop the page."""
    snapshots: list[SessionSnapshot] = []
    dead_letters: list[DeadLetter] = []
    for raw in records:
        try:
            snapshots.append(parse_session(raw))
        except MalformedRecordError as exc:
            dead_letters.append(DeadLetter(raw=raw, reason=str(exc), field=exc.field))
    return ParsedPage(tuple(snapshots), tuple(dead_letters))


@dataclass(frozen=True, slots=True)
class PagePlan:
    """What one page turns into.

    ``fresh`` are the snapshots newer than anything known (they update the state topic and
    ``states``); ``states`` holds the newest state per session to commit after delivery.
    """

    events: tuple[ChangeEvent, ...]
    fresh: tuple[SessionSnapshot, ...]
    states: Mapping[str, SessionState]
    dead_letters: tuple[DeadLetter, ...]
    duplicates: int
    stale: int
    late_ages_s: tuple[float, ...]
    order_violations: int
    last_updated_at: datetime | None
    max_updated_at: datetime | None


def plan_page(
    parsed: ParsedPage,
    known: Mapping[str, SessionState],
    *,
    feed_start: datetime,
    late_before: datetime,
    now: datetime,
    previous_updated_at: datetime | None,
) -> PagePlan:
    """Dedupe and diff a parsed page against the known states.

    ``late_before``: a new snapshot older than this was missed by the live sweep; its age at
    discovery (``now - updatedAt``) is reported. ``previous_updated_at`` is the last record of
    the previous page of the same sweep, for the ascending-order check.
    """
    working = dict(known)
    updated: dict[str, SessionState] = {}
    events: list[ChangeEvent] = []
    fresh: list[SessionSnapshot] = []
    late_ages_s: list[float] = []
    duplicates = stale = order_violations = 0
    previous = previous_updated_at
    max_updated_at: datetime | None = None
    for snapshot in parsed.snapshots:
        if previous is not None and snapshot.updated_at < previous:
            order_violations += 1
        previous = snapshot.updated_at
        if max_updated_at is None or snapshot.updated_at > max_updated_at:
            max_updated_at = snapshot.updated_at
        state = working.get(snapshot.session_id)
        verdict = classify(state, snapshot)
        if verdict is Verdict.DUPLICATE:
            duplicates += 1
            continue
        if verdict is Verdict.STALE:
            stale += 1
            continue
        if snapshot.updated_at < late_before:
            late_ages_s.append((now - snapshot.updated_at).total_seconds())
        events.extend(change_events(snapshot, diff_session(state, snapshot, feed_start)))
        fresh.append(snapshot)
        new_state = SessionState.of(snapshot)
        working[snapshot.session_id] = new_state
        updated[snapshot.session_id] = new_state
    return PagePlan(
        events=tuple(events),
        fresh=tuple(fresh),
        states=updated,
        dead_letters=parsed.dead_letters,
        duplicates=duplicates,
        stale=stale,
        late_ages_s=tuple(late_ages_s),
        order_violations=order_violations,
        last_updated_at=previous,
        max_updated_at=max_updated_at,
    )
