"""The traffic model: shoppers arriving at many stores, as a seeded discrete-event simulation.

A session's life: created (``active``) → code scanned → customer (or group) enters → exits →
maybe scans and enters again → ``checkout_pending`` → ``completed``. Some sessions are
``cancelled`` before anyone enters, unused ones become ``expired`` at ``expiresAt``, and a share
have ``suspectedFraud`` raised (and half of those cleared again). Every status but ``active`` is
invented. Arrivals are a Poisson process of ``new_sessions_per_s`` real seconds; ``speedup``
divides every duration inside a session.

Events are processed in time order from a heap, so the outcome depends only on the seed and on
the times :meth:`TrafficModel.advance` is called with, never on how often it is called.
Pausing stops the model's time: on resume, pending events are shifted by the pause.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from enum import Enum

from feeder_devkit.simulator.changes import SessionPatch, SessionWriter
from feeder_devkit.simulator.records import ACTIVE, Session
from feeder_devkit.simulator.settings import TrafficSettings

# Mean durations in seconds of model time (divided by speedup).
MEAN_SCAN_S = 20.0
MEAN_ENTER_S = 5.0
MEAN_DWELL_S = 180.0
MEAN_REENTRY_GAP_S = 60.0
MEAN_CHECKOUT_S = 10.0
MEAN_COMPLETE_S = 30.0
MEAN_FRAUD_CLEAR_S = 120.0
CANCEL_SHARE = 0.03


class Action(Enum):
    ARRIVE = "arrive"
    SCAN = "scan"
    ENTER = "enter"
    EXIT = "exit"
    CHECKOUT = "checkout"
    COMPLETE = "complete"
    CANCEL = "cancel"
    EXPIRE = "expire"
    FLAG = "flag"
    UNFLAG = "unflag"
    TOUCH = "touch"  # a hot session's frequent change that is no transition (priority +1)


LateDecider = Callable[[], int]
"""Returns how many ms late the next change becomes visible (0: at once)."""


class TrafficModel:
    """Drives a :class:`SessionWriter` with the life of many sessions."""

    def __init__(
        self,
        *,
        settings: TrafficSettings,
        writer: SessionWriter,
        rng: random.Random,
        late_delay_ms: LateDecider,
        stores: int,
        customers: int,
    ) -> None:
        self._settings = settings
        self._writer = writer
        self._rng = rng
        self._late_delay_ms = late_delay_ms
        self._stores = stores
        self._customers = customers
        self._events: list[tuple[int, int, int, Action]] = []
        self._seq = 0
        self._offset_ms = 0
        self._paused_at_ms: int | None = None
        self._started = False

    @property
    def paused(self) -> bool:
        return self._paused_at_ms is not None

    @property
    def pending_events(self) -> int:
        return len(self._events)

    def pause(self, now_ms: int) -> None:
        if self._paused_at_ms is None:
            self._paused_at_ms = now_ms

    def resume(self, now_ms: int) -> None:
        if self._paused_at_ms is not None:
            self._offset_ms += max(0, now_ms - self._paused_at_ms)
            self._paused_at_ms = None
        self.start(now_ms)

    def start(self, now_ms: int) -> None:
        """Begin arrivals at ``now_ms`` (once; later calls do nothing)."""
        if not self._started:
            self._started = True
            self._schedule_arrival(now_ms)

    def _duration_ms(self, mean_s: float) -> int:
        return 1 + int(self._rng.expovariate(1.0 / mean_s) * 1000 / self._settings.speedup)

    def _schedule(self, due_ms: int, session_id: int, action: Action) -> None:
        """Schedule at ``due_ms`` of wall time (stored in model time)."""
        self._seq += 1
        heapq.heappush(self._events, (due_ms - self._offset_ms, self._seq, session_id, action))

    def _schedule_arrival(self, after_ms: int) -> None:
        rate = self._settings.new_sessions_per_s
        if rate > 0:
            gap_ms = 1 + int(self._rng.expovariate(rate) * 1000)
            self._schedule(after_ms + gap_ms, 0, Action.ARRIVE)

    def advance(self, now_ms: int) -> int:
        """Run every event due by ``now_ms``; returns how many ran."""
        if self._paused_at_ms is not None or not self._started:
            return 0
        self._writer.begin_batch()
        ran = 0
        model_now_ms = now_ms - self._offset_ms
        while self._events and self._events[0][0] <= model_now_ms:
            due_model_ms, _, session_id, action = heapq.heappop(self._events)
            self._run(due_model_ms + self._offset_ms, session_id, action)
            ran += 1
        return ran

    def _run(self, due_ms: int, session_id: int, action: Action) -> None:
        if action is Action.ARRIVE:
            self._arrive(due_ms)
            self._schedule_arrival(due_ms)
            return
        session = self._writer.store.get(session_id)
        if session is None or self._writer.is_held(session_id):
            # Created late-visible, or locked by a held change: try again shortly.
            self._schedule(due_ms + self._duration_ms(1.0), session_id, action)
            return
        if action is Action.TOUCH:
            self._touch(due_ms, session)
            return
        self._step(due_ms, session, action)

    def _stamp(self, due_ms: int) -> int:
        """When a change due at ``due_ms`` happens: its ``updatedAt`` and its own timestamp.

        A tie reuses the previous stamp of this batch, so the change's own timestamp (e.g.
        ``customerLastEnteredAt``) moves with it and never lies after its ``updatedAt``. With
        several writers, the change is made by one of them, stamped by that writer's clock.
        """
        skews = self._settings.writer_skews_ms
        skew_ms = self._rng.choice(skews) if len(skews) > 1 else skews[0]
        return self._writer.stamp(due_ms, self._rng.random() < self._settings.tie_share, skew_ms)

    def _commit(self, session_id: int, patch: SessionPatch, at_ms: int) -> None:
        self._writer.update(session_id, patch, at_ms, self._late_delay_ms())

    def _arrive(self, due_ms: int) -> None:
        rng, settings = self._rng, self._settings
        group = rng.random() < settings.group_share
        at_ms = self._stamp(due_ms)
        session = Session(
            id=self._writer.store.new_id(),
            store_id=rng.randint(1, self._stores),
            customer_id=rng.randint(1, self._customers),
            created_at_ms=at_ms,
            updated_at_ms=at_ms,
            expires_at_ms=at_ms + int(settings.session_ttl_s * 1000 / settings.speedup),
            group_size=rng.randint(2, 5) if group else 1,
        )
        self._writer.create(session, self._late_delay_ms())
        first = Action.CANCEL if rng.random() < CANCEL_SHARE else Action.SCAN
        self._schedule(at_ms + self._duration_ms(MEAN_SCAN_S), session.id, first)
        self._schedule(session.expires_at_ms, session.id, Action.EXPIRE)
        if rng.random() < settings.fraud_share:
            flag_ms = at_ms + self._duration_ms(MEAN_SCAN_S + MEAN_ENTER_S + MEAN_DWELL_S / 2)
            self._schedule(flag_ms, session.id, Action.FLAG)
        if settings.hot_share > 0 and rng.random() < settings.hot_share:
            self._schedule(due_ms + int(settings.hot_interval_ms), session.id, Action.TOUCH)

    def _step(self, due_ms: int, session: Session, action: Action) -> None:
        sid, active = session.id, session.status == ACTIVE
        never_entered = session.customer_first_entered_at_ms is None
        if action is Action.SCAN and active:
            at_ms = self._stamp(due_ms)
            self._commit(sid, SessionPatch(code_last_scanned_at_ms=at_ms), at_ms)
            self._schedule(at_ms + self._duration_ms(MEAN_ENTER_S), sid, Action.ENTER)
        elif action is Action.ENTER and active:
            at_ms = self._stamp(due_ms)
            patch = SessionPatch(customer_last_entered_at_ms=at_ms, visitors=session.group_size)
            self._commit(sid, patch, at_ms)
            self._schedule(at_ms + self._duration_ms(MEAN_DWELL_S), sid, Action.EXIT)
        elif action is Action.EXIT and active:
            at_ms = self._stamp(due_ms)
            self._commit(sid, SessionPatch(customer_last_exited_at_ms=at_ms), at_ms)
            gap_ms = self._duration_ms(MEAN_REENTRY_GAP_S)
            if self._rng.random() < self._settings.reentry_share and (
                at_ms + gap_ms < session.expires_at_ms
            ):
                self._schedule(at_ms + gap_ms, sid, Action.SCAN)
            else:
                self._schedule(at_ms + self._duration_ms(MEAN_CHECKOUT_S), sid, Action.CHECKOUT)
        elif action is Action.CHECKOUT and active:
            at_ms = self._stamp(due_ms)
            self._commit(sid, SessionPatch(status="checkout_pending"), at_ms)
            self._schedule(at_ms + self._duration_ms(MEAN_COMPLETE_S), sid, Action.COMPLETE)
        elif action is Action.COMPLETE and session.status == "checkout_pending":
            submitted = self._rng.random() < 0.3
            patch = SessionPatch(
                status="completed",
                customer_satisfaction=self._rng.randint(40, 100) if submitted else None,
                customer_satisfaction_submitted=submitted,
            )
            self._commit(sid, patch, self._stamp(due_ms))
        elif action is Action.CANCEL and active and never_entered:
            self._commit(sid, SessionPatch(status="cancelled"), self._stamp(due_ms))
        elif action is Action.EXPIRE and active and never_entered:
            self._commit(sid, SessionPatch(status="expired"), self._stamp(due_ms))
        elif action is Action.FLAG and not session.suspected_fraud:
            at_ms = self._stamp(due_ms)
            self._commit(sid, SessionPatch(suspected_fraud=True), at_ms)
            if self._rng.random() < 0.5:
                clear_ms = at_ms + self._duration_ms(MEAN_FRAUD_CLEAR_S)
                self._schedule(clear_ms, sid, Action.UNFLAG)
        elif action is Action.UNFLAG and session.suspected_fraud:
            self._commit(sid, SessionPatch(suspected_fraud=False), self._stamp(due_ms))

    def _touch(self, due_ms: int, session: Session) -> None:
        """A hot session changes again (no transition), until it is closed."""
        if session.status in (ACTIVE, "checkout_pending"):
            patch = SessionPatch(priority=session.priority + 1)
            self._commit(session.id, patch, self._stamp(due_ms))
            self._schedule(due_ms + int(self._settings.hot_interval_ms), session.id, Action.TOUCH)
