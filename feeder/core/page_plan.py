"""One page of records in, everything the feed must write for it out (pure; no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from feeder.core.diff import Verdict, apply_version, classify
from feeder.core.events import ChangeEvent, change_events
from feeder.core.snapshot import SessionSnapshot, parse_session
from feeder.core.state import SessionState, fingerprint
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

    ``fresh`` are the versions never seen before (they update the state topic and ``states``);
    ``states`` holds the state per session to commit after delivery. ``replayed`` names the
    sessions one of whose older versions was served again; ``regressed`` counts new versions
    whose ``updatedAt`` is older than one applied before; ``new_version_ages_s`` is, per fresh
    version, how old its ``updatedAt`` was when it was first seen (its lateness).
    """

    events: tuple[ChangeEvent, ...]
    fresh: tuple[SessionSnapshot, ...]
    states: Mapping[str, SessionState]
    dead_letters: tuple[DeadLetter, ...]
    duplicates: int
    replayed: tuple[str, ...]
    regressed: int
    new_version_ages_s: tuple[float, ...]
    order_violations: int
    last_updated_at: datetime | None
    max_updated_at: datetime | None

    @property
    def records_read(self) -> int:
        """Every record the page held."""
        return len(self.fresh) + self.duplicates + len(self.replayed) + len(self.dead_letters)


def plan_page(
    parsed: ParsedPage,
    known: Mapping[str, SessionState],
    *,
    feed_start: datetime,
    now: datetime,
    previous_updated_at: datetime | None,
) -> PagePlan:
    """Dedupe and diff a parsed page against the known states.

    ``previous_updated_at`` is the last record of the previous page of the same read, for the
    ascending-order check.
    """
    working = dict(known)
    updated: dict[str, SessionState] = {}
    events: list[ChangeEvent] = []
    fresh: list[SessionSnapshot] = []
    ages_s: list[float] = []
    replayed: list[str] = []
    duplicates = regressed = order_violations = 0
    previous = previous_updated_at
    max_updated_at: datetime | None = None
    for snapshot in parsed.snapshots:
        if previous is not None and snapshot.updated_at < previous:
            order_violations += 1
        previous = snapshot.updated_at
        if max_updated_at is None or snapshot.updated_at > max_updated_at:
            max_updated_at = snapshot.updated_at
        state = working.get(snapshot.session_id)
        version = fingerprint(snapshot)
        verdict = classify(state, version)
        if verdict is Verdict.DUPLICATE:
            duplicates += 1
            continue
        if verdict is Verdict.REPLAYED:
            replayed.append(snapshot.session_id)
            continue
        if state is not None and snapshot.updated_at < state.updated_at:
            regressed += 1
        changes, new_state = apply_version(state, snapshot, version, feed_start)
        events.extend(change_events(snapshot, changes))
        fresh.append(snapshot)
        ages_s.append((now - snapshot.updated_at).total_seconds())
        working[snapshot.session_id] = new_state
        updated[snapshot.session_id] = new_state
    return PagePlan(
        events=tuple(events),
        fresh=tuple(fresh),
        states=updated,
        dead_letters=parsed.dead_letters,
        duplicates=duplicates,
        replayed=tuple(replayed),
        regressed=regressed,
        new_version_ages_s=tuple(ages_s),
        order_violations=order_violations,
        last_updated_at=previous,
        max_updated_at=max_updated_at,
    )
