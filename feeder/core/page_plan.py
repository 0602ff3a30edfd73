"""One page of records in, everything the feed must write for it out (pure; no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from feeder.core.diff import Verdict, apply_version, classify
from feeder.core.events import ChangeEvent, change_events
from feeder.core.seen_versions import SeenVersions
from feeder.core.snapshot import SessionSnapshot, parse_session
from feeder.core.state import SessionState, fingerprint
from feeder.core.timestamps import parse_timestamp
from feeder.errors import MalformedSessionError


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that failed validation, kept whole with the reason."""

    raw: object
    reason: str
    field: str | None


class SeenSession(NamedTuple):
    """A record ``SeenVersions`` recognised as the version the checkpoint holds (a duplicate),
    kept only for the page's order and cursor."""

    session_id: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ParsedPage:
    """The page's valid records in page order: snapshots, and records recognised as seen."""

    entries: tuple[SessionSnapshot | SeenSession, ...]
    dead_letters: tuple[DeadLetter, ...]

    @property
    def snapshots(self) -> tuple[SessionSnapshot, ...]:
        return tuple(entry for entry in self.entries if isinstance(entry, SessionSnapshot))

    @property
    def session_ids(self) -> set[str]:
        """The sessions whose state the plan needs (a seen record needs none)."""
        return {snapshot.session_id for snapshot in self.snapshots}


def parse_page(sessions: Sequence[object], seen: SeenVersions | None = None) -> ParsedPage:
    """Validate every session of a page; bad ones become dead letters and never stop the page.

    A version ``seen`` holds is a duplicate and is not validated again, unless its session
    appeared earlier in the page: a version applied there has since become the newest.
    """
    entries: list[SessionSnapshot | SeenSession] = []
    dead_letters: list[DeadLetter] = []
    in_page: set[str] = set()
    for raw in sessions:
        session_id = None if seen is None else seen.holds(raw)
        if session_id is not None and session_id not in in_page:
            # holds() checked updatedAt is a string that validated before, unchanged since
            updated_at = parse_timestamp(raw["updatedAt"])  # type: ignore[index]
            entries.append(SeenSession(session_id, updated_at))
            in_page.add(session_id)
            continue
        try:
            snapshot = parse_session(raw)
        except MalformedSessionError as exc:
            dead_letters.append(DeadLetter(raw=raw, reason=str(exc), field=exc.field))
            continue
        entries.append(snapshot)
        in_page.add(snapshot.session_id)
    return ParsedPage(tuple(entries), tuple(dead_letters))


@dataclass(frozen=True, slots=True)
class PagePlan:
    """What one page turns into.

    ``fresh`` are the versions never seen before (they update the state topic and ``states``);
    ``confirmed`` the snapshots validated and found to be their session's newest applied
    version (duplicates ``SeenVersions`` did not know yet); ``states`` holds the state per
    session to commit after delivery. ``replayed`` names the sessions one of whose older
    versions was served again; ``regressed`` counts new versions whose ``updatedAt`` is older
    than one applied before; ``new_version_ages_s`` is, per fresh version, how old its
    ``updatedAt`` was when it was first seen (its lateness).
    """

    events: tuple[ChangeEvent, ...]
    fresh: tuple[SessionSnapshot, ...]
    confirmed: tuple[SessionSnapshot, ...]
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
    def sessions_read(self) -> int:
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
    confirmed: list[SessionSnapshot] = []
    ages_s: list[float] = []
    replayed: list[str] = []
    duplicates = regressed = order_violations = 0
    previous = previous_updated_at
    max_updated_at: datetime | None = None
    for snapshot in parsed.entries:
        if previous is not None and snapshot.updated_at < previous:
            order_violations += 1
        previous = snapshot.updated_at
        if max_updated_at is None or snapshot.updated_at > max_updated_at:
            max_updated_at = snapshot.updated_at
        if isinstance(snapshot, SeenSession):
            duplicates += 1
            continue
        state = working.get(snapshot.session_id)
        version = fingerprint(snapshot)
        verdict = classify(state, version)
        if verdict is Verdict.DUPLICATE:
            duplicates += 1
            confirmed.append(snapshot)
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
        confirmed=tuple(confirmed),
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
