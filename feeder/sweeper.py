"""The sweep loop: fetch a page, plan it, publish it, then checkpoint it; repeat until caught up.

Data flows one way — source → core (parse, dedupe, diff, encode) → sink → checkpoint store —
and the store is written only after the sink acknowledged the whole page, so a crash at any
point re-sends (with the same event ids) instead of losing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from feeder.checkpoint import CheckpointStore
from feeder.core.encoding import EventEncoding
from feeder.core.oversize import bound_sizes
from feeder.core.page_plan import PagePlan, parse_page, plan_page
from feeder.core.records import OutgoingRecord, TopicNames, page_records
from feeder.core.state import FeedPosition
from feeder.core.window import SweepWindow, initial_position, live_window, trailing_window
from feeder.errors import ApiUnavailableError
from feeder.sink import RecordSink
from feeder.source.page import PageQuery, RawPage

logger = logging.getLogger("feeder.sweep")
Clock = Callable[[], datetime]


class SweepKind(StrEnum):
    LIVE = "live"
    TRAILING = "trailing"
    BACKFILL = "backfill"  # an explicit past window, on a store of its own


class PageSource(Protocol):
    async def fetch_page(self, query: PageQuery) -> RawPage: ...


class SweepObserver(Protocol):
    """Told what each page and sweep did; metrics implement it and never steer."""

    def page_written(
        self,
        kind: SweepKind,
        plan: PagePlan,
        records: Sequence[OutgoingRecord],
        *,
        commit_s: float,
        acked_at: datetime,
    ) -> None: ...

    def sweep_finished(self, kind: SweepKind, position: FeedPosition, now: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class SweepConfig:
    page_size: int
    lookback_s: float
    trailing_interval_s: float
    max_record_bytes: int
    settle_delay_s: float
    encoding: EventEncoding
    topics: TopicNames


class Sweeper:
    """Runs live and trailing sweeps against one source, sink and store."""

    def __init__(
        self,
        *,
        source: PageSource,
        sink: RecordSink,
        store: CheckpointStore,
        config: SweepConfig,
        position: FeedPosition,
        clock: Clock,
        observer: SweepObserver,
        stopping: asyncio.Event,
    ) -> None:
        self._source = source
        self._sink = sink
        self._store = store
        self._config = config
        self._clock = clock
        self._observer = observer
        self._stopping = stopping
        self.position = position

    @staticmethod
    async def resume_position(store: CheckpointStore, feed_start: datetime) -> FeedPosition:
        """The committed position, or a fresh one starting at ``feed_start``."""
        return await store.load_position() or initial_position(feed_start)

    async def sweep_until_caught_up(self) -> None:
        """One live sweep to ``now - settle``, then the trailing re-read (if lookback is on) once
        its window spans ``trailing_interval_s``: an idle feed makes one request per poll, not
        two."""
        now = self._clock()
        await self._sweep(
            SweepKind.LIVE, live_window(self.position, now, self._config.settle_delay_s)
        )
        if self._config.lookback_s > 0 and not self._stopping.is_set():
            window = trailing_window(
                self.position, now, self._config.lookback_s, self._config.settle_delay_s
            )
            if (window.end - window.start).total_seconds() >= self._config.trailing_interval_s:
                await self._sweep(SweepKind.TRAILING, window)

    async def backfill(self, end: datetime) -> None:
        """Sweep from the position's ``live`` edge to ``end`` once (no trailing re-read)."""
        await self._sweep(SweepKind.BACKFILL, SweepWindow(self.position.live, end))

    async def _sweep(self, kind: SweepKind, window: SweepWindow) -> None:
        if window.is_empty:
            return
        after: str | None = None
        previous_updated_at: datetime | None = None
        while not self._stopping.is_set():
            query = PageQuery(window.start, window.end, self._config.page_size, after)
            page = await self._source.fetch_page(query)
            if page.next_after is not None and page.next_after == after:
                raise ApiUnavailableError(
                    f"the API returned the cursor it was given ({after!r}); refusing to loop"
                )
            plan = await self._write_page(kind, window, page, previous_updated_at)
            if page.next_after is None:
                await self._commit_position(self._moved(kind, window.end))
                self._observer.sweep_finished(kind, self.position, self._clock())
                return
            after = page.next_after
            previous_updated_at = plan.last_updated_at

    async def _write_page(
        self,
        kind: SweepKind,
        window: SweepWindow,
        page: RawPage,
        previous_updated_at: datetime | None,
    ) -> PagePlan:
        parsed = parse_page(page.records)
        known = await self._store.load_states(parsed.session_ids)
        now = self._clock()
        plan = plan_page(
            parsed,
            known,
            feed_start=self.position.feed_start,
            late_before=self.position.live if kind is SweepKind.TRAILING else window.start,
            now=now,
            previous_updated_at=previous_updated_at,
        )
        if plan.order_violations:
            logger.warning(
                "the API returned %d records out of updatedAt order in one %s page",
                plan.order_violations,
                kind.value,
            )
        records = bound_sizes(
            page_records(
                plan, encoding=self._config.encoding, topics=self._config.topics, received_at=now
            ),
            max_record_bytes=self._config.max_record_bytes,
            topics=self._config.topics,
            received_at=now,
        )
        await self._sink.publish(records)
        acked_at = self._clock()
        position = self._position_after(kind, plan)
        # The sink has acknowledged; finishing the commit must survive cancellation.
        await asyncio.shield(self._store.commit(plan.states.values(), position))
        self.position = position
        self._observer.page_written(
            kind,
            plan,
            records,
            commit_s=(self._clock() - acked_at).total_seconds(),
            acked_at=acked_at,
        )
        return plan

    def _position_after(self, kind: SweepKind, plan: PagePlan) -> FeedPosition:
        if plan.max_updated_at is None:
            return self.position
        return self._moved(kind, plan.max_updated_at)

    async def _commit_position(self, position: FeedPosition) -> None:
        if position != self.position:
            await asyncio.shield(self._store.commit((), position))
            self.position = position

    def _moved(self, kind: SweepKind, reached: datetime) -> FeedPosition:
        if kind is not SweepKind.TRAILING:
            return replace(self.position, live=max(self.position.live, reached))
        return replace(self.position, trailing=max(self.position.trailing, reached))
