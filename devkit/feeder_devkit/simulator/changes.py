"""Every change to a session goes through the :class:`SessionWriter`.

It stamps ``updatedAt``, applies the change to the store, logs the resulting transitions to the
ground truth, and holds back late-visible commits until their time has come.

``updatedAt`` stamps strictly increase, except for deliberate ties (a stamp equal to the previous
one, made only inside one batch, so tied changes become visible together) and for stamps a caller
forces. A late-visible change keeps the stamp it got when it was made, and becomes visible only
later, so its ``updatedAt`` can be older than records the API has already served. While a session
has a change held back, later changes to it queue behind that one (as a row lock would make them).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from feeder.typing import Clock
from feeder_devkit.simulator.clock import format_ms, to_ms
from feeder_devkit.simulator.ground_truth import GroundTruthLog, TransitionKind, VersionLog
from feeder_devkit.simulator.records import ACTIVE, Session
from feeder_devkit.simulator.store import SessionStore


@dataclass(frozen=True, slots=True)
class SessionPatch:
    """Fields to change; ``None`` leaves a field as it is.

    Moving ``customer_last_entered_at_ms`` also counts an entry and fills
    ``customerFirstEnteredAt`` if it was null; the same goes for exits and code scans.
    """

    status: str | None = None
    suspected_fraud: bool | None = None
    code_last_scanned_at_ms: int | None = None
    customer_last_entered_at_ms: int | None = None
    customer_last_exited_at_ms: int | None = None
    visitors: int | None = None
    group_size: int | None = None
    expires_at_ms: int | None = None
    customer_satisfaction: int | None = None
    customer_satisfaction_submitted: bool | None = None
    priority: int | None = None


def apply_patch(session: Session, patch: SessionPatch, updated_at_ms: int) -> Session:
    """The state of ``session`` after ``patch``, carrying ``updated_at_ms``, one version on."""
    changes: dict[str, object] = {"updated_at_ms": updated_at_ms, "version": session.version + 1}
    for name in (
        "status",
        "suspected_fraud",
        "visitors",
        "group_size",
        "expires_at_ms",
        "customer_satisfaction",
        "customer_satisfaction_submitted",
        "priority",
    ):
        value = getattr(patch, name)
        if value is not None:
            changes[name] = value
    if patch.code_last_scanned_at_ms is not None:
        changes["code_last_scanned_at_ms"] = patch.code_last_scanned_at_ms
        if session.code_first_scanned_at_ms is None:
            changes["code_first_scanned_at_ms"] = patch.code_last_scanned_at_ms
    entered = patch.customer_last_entered_at_ms
    if entered is not None and entered != session.customer_last_entered_at_ms:
        changes["customer_last_entered_at_ms"] = entered
        changes["entries"] = session.entries + 1
        if session.customer_first_entered_at_ms is None:
            changes["customer_first_entered_at_ms"] = entered
    if patch.customer_last_exited_at_ms is not None:
        changes["customer_last_exited_at_ms"] = patch.customer_last_exited_at_ms
        if session.customer_first_exited_at_ms is None:
            changes["customer_first_exited_at_ms"] = patch.customer_last_exited_at_ms
    return session._replace(**changes)  # type: ignore[arg-type]


def _ts(ms: int | None) -> str | None:
    return None if ms is None else format_ms(ms)


def transitions(
    old: Session | None, new: Session
) -> list[tuple[TransitionKind, int, object, object]]:
    """``(kind, own timestamp ms, old value, new value)`` of each change from ``old`` to ``new``.

    ``old=None`` means the session is new: ``created``, then whatever it was created with.
    """
    found: list[tuple[TransitionKind, int, object, object]] = []
    if old is None:
        found.append(("created", new.created_at_ms, None, new.status))
        old = new._replace(
            status=ACTIVE,
            suspected_fraud=False,
            code_last_scanned_at_ms=None,
            customer_last_entered_at_ms=None,
            customer_last_exited_at_ms=None,
        )
    stamped = (
        ("code_scanned", old.code_last_scanned_at_ms, new.code_last_scanned_at_ms),
        ("entered", old.customer_last_entered_at_ms, new.customer_last_entered_at_ms),
        ("exited", old.customer_last_exited_at_ms, new.customer_last_exited_at_ms),
    )
    for kind, before, after in stamped:
        if after is not None and after != before:
            found.append((kind, after, _ts(before), _ts(after)))  # type: ignore[arg-type]
    if new.suspected_fraud != old.suspected_fraud:
        found.append(
            ("suspected_fraud_changed", new.updated_at_ms, old.suspected_fraud, new.suspected_fraud)
        )
    if new.status != old.status:
        found.append(("status_changed", new.updated_at_ms, old.status, new.status))
    return found


def log_transitions(
    log: GroundTruthLog, old: Session | None, new: Session, visible_at_ms: int
) -> None:
    """Append every transition from ``old`` to ``new`` to the ground truth."""
    for kind, at_ms, before, after in transitions(old, new):
        log.append(
            session_id=new.id,
            kind=kind,
            at_ms=at_ms,
            old=before,
            new=after,
            updated_at_ms=new.updated_at_ms,
            visible_at_ms=visible_at_ms,
            version=new.version,
        )


@dataclass(frozen=True, slots=True)
class _Held:
    """A change made but not yet visible: a new session, or a patch with its stamp."""

    session_id: int
    created: Session | None
    patch: SessionPatch | None
    updated_at_ms: int


class SessionWriter:
    """Applies changes to the store, stamps them, logs them, and holds late ones back."""

    def __init__(
        self, store: SessionStore, log: GroundTruthLog, versions: VersionLog, clock: Clock
    ) -> None:
        self._store = store
        self._log = log
        self._versions = versions
        self._clock = clock
        self._last_stamp_ms = 0
        self._batch_stamp_ms: int | None = None
        self._held: list[tuple[int, int, _Held]] = []
        self._held_until_ms: dict[int, int] = {}
        self._held_counts: dict[int, int] = {}
        self._held_seq = 0

    @property
    def store(self) -> SessionStore:
        return self._store

    @property
    def held_count(self) -> int:
        """Changes made but not visible yet."""
        return len(self._held)

    def note_existing_stamp(self, updated_at_ms: int) -> None:
        """Make later stamps exceed ``updated_at_ms`` (e.g. after a preload)."""
        self._last_stamp_ms = max(self._last_stamp_ms, updated_at_ms)

    def begin_batch(self) -> None:
        """Start a batch of changes that become visible together (ties are allowed within)."""
        self._batch_stamp_ms = None

    def stamp(self, at_ms: int, tie: bool = False, skew_ms: int = 0) -> int:
        """The ``updatedAt`` of a change made at ``at_ms``: strictly increasing, or a tie; or,
        by a writer whose clock is ``skew_ms`` off, just that writer's clock (which may be older
        than stamps already served)."""
        if skew_ms:
            return at_ms + skew_ms
        if tie and self._batch_stamp_ms is not None:
            return self._batch_stamp_ms
        stamp_ms = max(at_ms, self._last_stamp_ms + 1)
        self._last_stamp_ms = stamp_ms
        self._batch_stamp_ms = stamp_ms
        return stamp_ms

    def create(self, session: Session, visible_delay_ms: int = 0) -> None:
        """Add a new session (its id taken from the store already), maybe held back."""
        if visible_delay_ms > 0:
            self._hold(_Held(session.id, session, None, session.updated_at_ms), visible_delay_ms)
            return
        self._store.insert(session)
        self._record(None, session)

    def update(
        self, session_id: int, patch: SessionPatch, updated_at_ms: int, visible_delay_ms: int = 0
    ) -> None:
        """Change a session; queued behind any held change of the same session."""
        if visible_delay_ms > 0 or session_id in self._held_until_ms:
            self._hold(_Held(session_id, None, patch, updated_at_ms), visible_delay_ms)
            return
        self._apply(session_id, patch, updated_at_ms)

    def is_held(self, session_id: int) -> bool:
        return session_id in self._held_until_ms

    def release_due(self) -> int:
        """Make every held change whose time has come visible; returns how many."""
        now_ms = to_ms(self._clock())
        released = 0
        while self._held and self._held[0][0] <= now_ms:
            _, _, held = heapq.heappop(self._held)
            left = self._held_counts[held.session_id] - 1
            if left:
                self._held_counts[held.session_id] = left
            else:
                del self._held_counts[held.session_id]
                del self._held_until_ms[held.session_id]
            if held.created is not None:
                self._store.insert(held.created)
                self._record(None, held.created)
            elif held.patch is not None:
                self._apply(held.session_id, held.patch, held.updated_at_ms)
            released += 1
        if released:
            self._log.flush()
        return released

    def _hold(self, held: _Held, visible_delay_ms: int) -> None:
        now_ms = to_ms(self._clock())
        visible_ms = max(now_ms + visible_delay_ms, self._held_until_ms.get(held.session_id, 0))
        self._held_seq += 1
        heapq.heappush(self._held, (visible_ms, self._held_seq, held))
        self._held_until_ms[held.session_id] = visible_ms
        self._held_counts[held.session_id] = self._held_counts.get(held.session_id, 0) + 1

    def _apply(self, session_id: int, patch: SessionPatch, updated_at_ms: int) -> None:
        old = self._store.get(session_id)
        if old is None:
            raise KeyError(f"no session {session_id}")
        new = apply_patch(old, patch, updated_at_ms)
        self._store.replace(new)
        self._record(old, new)

    def _record(self, old: Session | None, new: Session) -> None:
        now_ms = to_ms(self._clock())
        self._versions.appeared(new.id, new.version, new.updated_at_ms, now_ms)
        log_transitions(self._log, old, new, now_ms)
