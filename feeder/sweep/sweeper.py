"""The sweep: each poll tick reads live to now, then re-reads behind it while the tick lasts.

Data flows one way — source → core (parse, dedupe, diff, encode) → sink → checkpoint store —
and the store is written only after the sink acknowledged the whole page, so a crash at any
point re-sends (with the same event ids) instead of losing. What a tick reads is planned by
:mod:`feeder.core.passes`; this module runs the plan page by page.

The live read is never cut short. Re-reads use what is left of the tick: a page is only asked
for if it is expected to finish before the next tick is due, so the live pass always gets its
turn on time and re-reads degrade (their passes fall behind, then skip ahead) under load.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from feeder.core.encoding import EventEncoding
from feeder.core.oversize import bound_sizes
from feeder.core.page_plan import PagePlan, parse_page, plan_page
from feeder.core.passes import (
    PassName,
    Read,
    RereadPass,
    StampDensity,
    advanced,
    live_read,
    plan_rereads,
    reread_passes,
)
from feeder.core.records import TopicNames, page_records
from feeder.core.seen_versions import SeenVersions
from feeder.core.state import FeedPosition, reread_name
from feeder.source.page import RawPage
from feeder.sweep.cursor_walk import CursorWalk
from feeder.typing import CheckpointStore, Clock, PageDelivery, PageSource, SweepObserver

logger = logging.getLogger("feeder.sweep")

_FETCH_SMOOTHING = 0.2  # weight of the newest page in the expected fetch time
_PAST_THE_EDGE = timedelta(milliseconds=1)  # the API's timestamps and query have ms precision


@dataclass(frozen=True, slots=True)
class _Unfinished:
    """A re-read the tick ran out of time for: the API's cursor to go on from next tick (the
    feed's own cursors are timestamps, which cannot move inside a tie of hundreds of records),
    and when the read began."""

    after: str | None
    read_at: datetime


@dataclass(frozen=True, slots=True)
class PassReport:
    """Where every pass stands after a tick.

    ``live_read_at``: when the last complete live read began (everything visible then with
    ``updatedAt`` at or after the live cursor it started from was read). ``behind_s``: per
    re-read pass, how far its cursor trails ``now - delay`` (0 when on schedule).
    ``skipped_s``: seconds of stamps a pass skipped this tick (left to the next longer pass).
    ``deferred``: passes with a due read that this tick had no time left for.
    ``skipped``: per re-read pass (by delay) that skipped ahead, the range ``[start, end)`` of
    stamps it left to the next longer pass.
    """

    position: FeedPosition
    now: datetime
    live_read_at: datetime | None
    behind_s: Mapping[str, float]
    skipped_s: Mapping[str, float]
    deferred: tuple[str, ...]
    skipped: Mapping[float, tuple[datetime, datetime]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SweepConfig:
    page_size: int
    poll_interval_s: float
    reread_delays_s: tuple[float, ...]
    max_record_bytes: int
    encoding: EventEncoding
    topics: TopicNames


class Sweeper:
    """Runs the live and re-read passes against one source, delivering through ``delivery``;
    ``store`` answers what the feed already applied."""

    def __init__(
        self,
        *,
        source: PageSource,
        delivery: PageDelivery,
        store: CheckpointStore,
        config: SweepConfig,
        position: FeedPosition,
        clock: Clock,
        observer: SweepObserver,
        stopping: asyncio.Event,
    ) -> None:
        self._source = source
        self._delivery = delivery
        self._store = store
        self._config = config
        self._clock = clock
        self._observer = observer
        self._stopping = stopping
        self._passes: tuple[RereadPass, ...] = reread_passes(
            config.reread_delays_s, config.poll_interval_s
        )
        self.position = position.aligned(config.reread_delays_s)
        self.live_read_at: datetime | None = None
        longest_s = max(config.reread_delays_s, default=0.0)
        self._density = StampDensity(self.position.live, horizon_s=longest_s + 60)
        self._expected_fetch_s = 0.0
        self._replay_logged = False
        self._unfinished: dict[tuple[datetime, tuple[float, ...]], _Unfinished] = {}
        # Only re-read passes read a version again; without them there is nothing to remember.
        self._seen = SeenVersions() if config.reread_delays_s else None

    @staticmethod
    async def resume_position(
        store: CheckpointStore, feed_start: datetime, reread_delays_s: Sequence[float]
    ) -> FeedPosition:
        """The committed position, or a fresh one starting at ``feed_start``."""
        committed = await store.load_position()
        if committed is None:
            return FeedPosition.starting(feed_start, reread_delays_s)
        return committed.aligned(reread_delays_s)

    async def run_tick(self, *, budget_s: float | None = None) -> None:
        """The live read to now, then due re-reads while a page is still expected to finish
        within ``budget_s`` of the tick's start (``None``: all of them)."""
        now = self._clock()
        deadline = None if budget_s is None else now + timedelta(seconds=budget_s)
        await self._read(live_read(self.position), PassName.LIVE, deadline=None, resume=None)
        plan = plan_rereads(
            self.position,
            self._passes,
            now=now,
            poll_interval_s=self._config.poll_interval_s,
            density=self._density,
            page_size=self._config.page_size,
        )
        skipped = {
            delay: (self.position.reread(delay), cursor) for delay, cursor in plan.skipped.items()
        }
        self.position = self.position.with_rereads(plan.skipped)
        deferred: list[str] = []
        unfinished: dict[tuple[datetime, tuple[float, ...]], _Unfinished] = {}
        for read in plan.reads:
            if self._stopping.is_set():
                break
            key = (read.start, read.passes)
            # A merged read is named after its shortest pass (the one it serves soonest).
            left = await self._read(
                read,
                reread_name(min(read.passes)),
                deadline=deadline,
                resume=self._unfinished.get(key),
            )
            if left is not None:
                unfinished[key] = left
                deferred.extend(reread_name(delay) for delay in read.passes)
        self._unfinished = unfinished
        self._density.forget_before(now)
        self._observer.tick_finished(self._report(now, plan.skipped_s, deferred, skipped))

    async def backfill(self, end: datetime) -> None:
        """Read from the position's ``live`` cursor to ``end`` once (no re-reads)."""
        if end > self.position.live:
            await self._read(
                Read(self.position.live, end, ()), PassName.BACKFILL, deadline=None, resume=None
            )

    def _report(
        self,
        now: datetime,
        skipped_s: Mapping[float, float],
        deferred: list[str],
        skipped: Mapping[float, tuple[datetime, datetime]],
    ) -> PassReport:
        behind = {}
        for reread in self._passes:
            due = min(now - timedelta(seconds=reread.delay_s), self.position.live)
            lag_s = (due - self.position.reread(reread.delay_s)).total_seconds()
            behind[reread.name] = max(0.0, lag_s)
        return PassReport(
            position=self.position,
            now=now,
            live_read_at=self.live_read_at,
            behind_s=behind,
            skipped_s={reread_name(delay): s for delay, s in skipped_s.items()},
            deferred=tuple(deferred),
            skipped=skipped,
        )

    def _time_left(self, deadline: datetime | None) -> bool:
        if deadline is None:
            return True
        return self._clock() + timedelta(seconds=self._expected_fetch_s) <= deadline

    async def _read(
        self, read: Read, pass_name: str, *, deadline: datetime | None, resume: _Unfinished | None
    ) -> _Unfinished | None:
        """Walk ``read`` page by page (from where ``resume`` left it); what is left of it if
        the deadline or a stop cut it short, else ``None``."""
        read_at = self._clock() if resume is None else resume.read_at
        walk = CursorWalk(
            self._source,
            read,
            page_size=self._config.page_size,
            after=None if resume is None else resume.after,
        )
        previous_updated_at: datetime | None = None
        while not self._stopping.is_set() and self._time_left(deadline):
            asked_at = self._clock()
            page = await walk.next_page()
            fetched_at = self._clock()
            fetch_s = (fetched_at - asked_at).total_seconds()
            self._expected_fetch_s += _FETCH_SMOOTHING * (fetch_s - self._expected_fetch_s)
            plan = await self._write_page(pass_name, read, page, previous_updated_at, read_at)
            if walk.finished:
                if read.is_live:
                    self.live_read_at = read_at
                self._observer.read_finished(pass_name, read_at, self._clock())
                return None
            previous_updated_at = plan.last_updated_at
        return _Unfinished(walk.after, read_at)

    async def _write_page(
        self,
        pass_name: str,
        read: Read,
        page: RawPage,
        previous_updated_at: datetime | None,
        read_at: datetime,
    ) -> PagePlan:
        parsed = parse_page(page.sessions, self._seen)
        known = await self._store.load_states(parsed.session_ids)
        now = self._clock()
        plan = plan_page(
            parsed,
            known,
            feed_start=self.position.feed_start,
            now=now,
            previous_updated_at=previous_updated_at,
        )
        self._note_surprises(pass_name, plan)
        records = bound_sizes(
            page_records(
                plan, encoding=self._config.encoding, topics=self._config.topics, received_at=now
            ),
            max_record_bytes=self._config.max_record_bytes,
            topics=self._config.topics,
            received_at=now,
        )
        position = self._position_after(read, plan, complete=page.next_after is None, now=now)
        position = advanced(
            position,
            self._passes,
            start=read.start,
            reached=read.end if page.next_after is None else plan.last_updated_at,
            read_at=read_at,
        )
        try:
            delivered = await self._delivery.deliver(records, plan.states.values(), position)
        except BaseException:
            if self._seen is not None:
                self._seen.forget(plan.states)
            raise
        if self._seen is not None:
            self._seen.committed(plan)
        self.position = position
        self._density.add(snapshot.updated_at for snapshot in plan.fresh)
        self._observer.page_written(
            pass_name,
            plan,
            records,
            commit_s=delivered.commit_s,
            acked_at=delivered.acked_at,
        )
        return plan

    def _position_after(
        self, read: Read, plan: PagePlan, *, complete: bool, now: datetime
    ) -> FeedPosition:
        """The live cursor after a page of a live read or a backfill.

        Within a read it moves to the newest record read (inclusive: ties at it are read again
        if the read resumes after a crash). Once a live read is complete it moves 1 ms past
        that record, so a tie of hundreds of sessions at the edge is not read again every tick;
        a write with that same stamp that becomes visible later is a late write, which the
        re-read passes catch. It never moves past ``now``: a record stamped ahead of our clock
        is read again next tick rather than let the cursor jump over writes a slower clock
        has yet to make.
        """
        position = self.position
        if read.passes:
            return position
        if read.end is not None and complete:  # a backfill that read its whole window
            return replace(position, live=max(position.live, read.end))
        if plan.max_updated_at is None:
            return position
        reached = plan.max_updated_at + (_PAST_THE_EDGE if complete else timedelta(0))
        ceiling = now if read.end is None else read.end
        return replace(position, live=max(position.live, min(reached, ceiling)))

    def _note_surprises(self, pass_name: str, plan: PagePlan) -> None:
        if plan.order_violations:
            logger.warning(
                "the API returned %d records out of updatedAt order in one %s page",
                plan.order_violations,
                pass_name,
            )
        if plan.replayed and not self._replay_logged:
            self._replay_logged = True
            logger.warning(
                "the API served an older version of session %s again (a lagging replica or "
                "cache?); replayed versions are ignored and counted in "
                "feeder_records_replayed_total, and not logged again",
                plan.replayed[0],
            )
