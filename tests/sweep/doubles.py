"""Test doubles for sweeper tests: an in-memory sessions list, a settable clock, an observer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from feeder.core.page_plan import PagePlan
from feeder.core.records import OutgoingRecord
from feeder.core.timestamps import format_timestamp, parse_timestamp
from feeder.source.page import PageQuery, RawPage
from feeder.sweep.sweeper import PassReport


@dataclass
class SettableClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class ListedSessions:
    """Serves records ordered by (updatedAt, id) with a keyset cursor, like the API.

    ``visible`` holds the current version of each session (keyed by id, possibly malformed);
    ``queries`` records every query made; ``reverse_pages`` breaks the ordering promise.
    """

    visible: dict[str, dict[str, object]] = field(default_factory=dict)
    queries: list[PageQuery] = field(default_factory=list)
    reverse_pages: bool = False
    clock: SettableClock | None = None
    seconds_per_request: float = 0.0  # how far each request moves ``clock``

    def put(self, raw: dict[str, object]) -> None:
        self.visible[str(raw["id"])] = raw

    async def fetch_page(self, query: PageQuery) -> RawPage:
        self.queries.append(query)
        if self.clock is not None:
            self.clock.advance(self.seconds_per_request)
        start, end = query.min_updated_at, query.max_updated_at or datetime.max.replace(tzinfo=UTC)

        def key(raw: dict[str, object]) -> tuple[datetime, str]:
            return parse_timestamp(str(raw["updatedAt"])), str(raw["id"])

        rows = sorted(
            (raw for raw in self.visible.values() if start <= key(raw)[0] <= end), key=key
        )
        if query.after is not None:
            after_time, after_id = query.after.split("|")
            cursor = (parse_timestamp(after_time), after_id)
            rows = [raw for raw in rows if key(raw) > cursor]
        page = rows[: query.count]
        next_after = None
        if len(page) == query.count and len(rows) > query.count:
            last_time, last_id = key(page[-1])
            next_after = f"{format_timestamp(last_time)}|{last_id}"
        if self.reverse_pages:
            page = list(reversed(page))
        return RawPage(sessions=list(page), next_after=next_after, duration_s=0.0)


@dataclass
class CountingObserver:
    pages: list[tuple[str, PagePlan, datetime]] = field(default_factory=list)
    finished: list[tuple[str, datetime]] = field(default_factory=list)
    reports: list[PassReport] = field(default_factory=list)

    def page_written(
        self,
        sweep: str,
        plan: PagePlan,
        records: Sequence[OutgoingRecord],
        *,
        commit_s: float,
        acked_at: datetime,
    ) -> None:
        self.pages.append((sweep, plan, acked_at))

    def read_finished(self, sweep: str, started_at: datetime, now: datetime) -> None:
        self.finished.append((sweep, now))

    def tick_finished(self, report: PassReport) -> None:
        self.reports.append(report)

    def found_by(self, session_id: str) -> list[tuple[str, datetime]]:
        """The passes (and when) that found a new version of ``session_id``."""
        return [
            (sweep, at)
            for sweep, plan, at in self.pages
            if any(snapshot.session_id == session_id for snapshot in plan.fresh)
        ]
