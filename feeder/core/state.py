"""What the checkpoint store remembers: per session, what the feed applied; per feed, its position.

Versions are told apart by content, not by a larger ``updatedAt`` (DESIGN §2.6): a session's
state keeps the fingerprints of the last few versions applied, so a version seen before (a
lagging replica replaying it) is recognised, and a version never seen is applied even when its
``updatedAt`` is older than one already applied (several writers whose clocks differ).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from feeder.core.snapshot import SessionSnapshot
from feeder.core.timestamps import to_micros

FINGERPRINT_HISTORY = 8
"""Versions remembered per session; a replay of anything older is taken for a new version."""


def reread_name(delay_s: float) -> str:
    """A re-read pass's name in metrics, ``feeder status`` and ``feeder checkpoint``:
    ``reread_30s``."""
    return f"reread_{delay_s:g}s"


ToggleCounts = tuple[tuple[str, int], ...]
"""How many times each value of a field without a timestamp of its own was published, e.g.
``(("status=completed", 1), ("suspectedFraud=true", 2))``; sorted by key."""


def fingerprint(snapshot: SessionSnapshot) -> int:
    """A stable 64-bit digest of what identifies a version: ``updatedAt`` and the diffed fields.

    Two writes in the same millisecond that differ only in fields the feed does not diff are
    one version to the feed (the state topic keeps the first of them).
    """
    return version_fingerprint(
        snapshot.updated_at, Moments.of(snapshot), snapshot.suspected_fraud, snapshot.status
    )


def version_fingerprint(
    updated_at: datetime, moments: Moments, suspected_fraud: bool, status: str | None
) -> int:
    """``fingerprint`` from the fields themselves (a stored state's last version has them)."""
    text = "\x1f".join(
        (
            str(to_micros(updated_at)),
            _micros_text(moments.entered_at),
            _micros_text(moments.exited_at),
            _micros_text(moments.scanned_at),
            "1" if suspected_fraud else "0",
            "" if status is None else status,
        )
    )
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)  # fits SQLite's signed 64-bit INTEGER


def _micros_text(moment: datetime | None) -> str:
    return "" if moment is None else str(to_micros(moment))


@dataclass(frozen=True, slots=True)
class Moments:
    """The three fields that carry their own timestamp, as one version showed them."""

    entered_at: datetime | None = None
    exited_at: datetime | None = None
    scanned_at: datetime | None = None

    @classmethod
    def of(cls, snapshot: SessionSnapshot) -> Moments:
        return cls(
            snapshot.customer_last_entered_at,
            snapshot.customer_last_exited_at,
            snapshot.code_last_scanned_at,
        )

    def merged(self, other: Moments) -> Moments:
        """The later of each field (a value beats ``None``)."""
        return Moments(
            _later(self.entered_at, other.entered_at),
            _later(self.exited_at, other.exited_at),
            _later(self.scanned_at, other.scanned_at),
        )


def _later(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None:
        return second
    if second is None:
        return first
    return max(first, second)


@dataclass(frozen=True, slots=True)
class SessionState:
    """What the feed has applied of one session.

    ``current`` and ``suspected_fraud``/``status`` are as the version applied last showed them;
    ``latest`` holds the greatest value each moment field ever had (facts merge by maximum, so a
    replayed old version can never take one away); ``updated_at`` is the greatest ``updatedAt``
    applied; ``fingerprints`` the last versions applied, newest first; ``toggle_counts`` how often
    each fraud flag and status value was published, which numbers the next one's event id.
    """

    session_id: str
    updated_at: datetime
    current: Moments
    latest: Moments
    suspected_fraud: bool
    status: str | None
    expires_at: datetime | None
    fingerprints: tuple[int, ...]
    toggle_counts: ToggleCounts = field(default=())

    @classmethod
    def first(
        cls, snapshot: SessionSnapshot, version: int, toggles: Iterable[str] = ()
    ) -> SessionState:
        """The state after the first version of a session (whose fingerprint is ``version``),
        with ``toggles`` published."""
        moments = Moments.of(snapshot)
        return cls(
            session_id=snapshot.session_id,
            updated_at=snapshot.updated_at,
            current=moments,
            latest=moments,
            suspected_fraud=snapshot.suspected_fraud,
            status=snapshot.status,
            expires_at=snapshot.expires_at,
            fingerprints=(version,),
            toggle_counts=counted((), toggles),
        )

    def applied(
        self, snapshot: SessionSnapshot, version: int, toggles: Iterable[str] = ()
    ) -> SessionState:
        """The state after applying ``snapshot`` (whose fingerprint is ``version``), with
        ``toggles`` published."""
        moments = Moments.of(snapshot)
        return replace(
            self,
            updated_at=max(self.updated_at, snapshot.updated_at),
            current=moments,
            latest=self.latest.merged(moments),
            suspected_fraud=snapshot.suspected_fraud,
            status=snapshot.status,
            expires_at=snapshot.expires_at,
            fingerprints=(version, *self.fingerprints[: FINGERPRINT_HISTORY - 1]),
            toggle_counts=counted(self.toggle_counts, toggles),
        )

    @property
    def prunable_from(self) -> datetime:
        """When the session may leave the store (plus the retention): once it has expired and
        its latest version is old too — a session updated after it expired must still be there
        when the re-read passes read that update again, or it would look new to them."""
        return self.updated_at if self.expires_at is None else max(self.expires_at, self.updated_at)

    def published(self, toggle: str) -> int:
        """How many times ``toggle`` (``"suspectedFraud=true"``, ``"status=completed"``) was."""
        return dict(self.toggle_counts).get(toggle, 0)


def counted(counts: ToggleCounts, toggles: Iterable[str]) -> ToggleCounts:
    """``counts`` with one more of each of ``toggles``."""
    added = list(toggles)
    if not added:
        return counts
    merged = dict(counts)
    for toggle in added:
        merged[toggle] = merged.get(toggle, 0) + 1
    return tuple(sorted(merged.items()))


@dataclass(frozen=True, slots=True)
class FeedPosition:
    """Where the feed stands: the live cursor and one cursor per re-read pass.

    Invariants: every record with ``updatedAt >= live`` visible when the live pass last ran has
    been read, and so has every record with ``updatedAt < live`` that was visible when the live
    pass passed it; a re-read pass with cursor ``c`` has read every record with ``updatedAt < c``
    once more at least its delay after ``updatedAt`` (which catches writes that became visible
    up to that delay late). ``rereads`` is sorted by delay. ``feed_start`` never changes after
    the first run: first-seen sessions only emit transitions at or after it.
    """

    feed_start: datetime
    live: datetime
    rereads: tuple[tuple[float, datetime], ...] = ()

    @classmethod
    def starting(cls, feed_start: datetime, reread_delays_s: Iterable[float]) -> FeedPosition:
        return cls(feed_start, feed_start, tuple((d, feed_start) for d in sorted(reread_delays_s)))

    def reread(self, delay_s: float) -> datetime:
        """The cursor of the re-read pass with ``delay_s``."""
        return dict(self.rereads)[delay_s]

    def with_rereads(self, cursors: dict[float, datetime]) -> FeedPosition:
        """This position with the given re-read cursors moved (only forward)."""
        return replace(
            self,
            rereads=tuple(
                (delay, max(cursor, cursors.get(delay, cursor))) for delay, cursor in self.rereads
            ),
        )

    def aligned(self, reread_delays_s: Iterable[float]) -> FeedPosition:
        """This position for another set of re-read passes (the settings changed).

        A pass kept keeps its cursor; a new pass starts at the cursor of the next longer pass
        (or, lacking one, the oldest cursor, or ``live``): it re-reads a little more than it
        needs to, which only costs duplicates, and never skips a record.
        """
        known = dict(self.rereads)
        ordered = sorted(known.items())
        fallback = min(known.values(), default=self.live)
        cursors = []
        for delay in sorted(reread_delays_s):
            cursor = known.get(delay)
            if cursor is None:
                cursor = next((c for d, c in ordered if d > delay), fallback)
            cursors.append((delay, cursor))
        return replace(self, rereads=tuple(cursors))

    def cursors(self) -> dict[str, datetime]:
        """Every cursor by name: ``live``, then each re-read pass's (``reread_30s``)."""
        return {"live": self.live, **{reread_name(d): c for d, c in self.rereads}}

    @property
    def oldest(self) -> datetime:
        """The lowest cursor: everything before it has been read by every pass."""
        return min((cursor for _, cursor in self.rereads), default=self.live)
