"""How events are put on Kafka: one value object holding every encoding choice.

The composition root builds an :class:`EventEncoding` from the settings (and from whether it runs
the live feed or a backfill) and hands it down; the sweep passes it through to
:func:`feeder.core.records.page_records` untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from feeder.core.field_policy import KEEP_EVERYTHING, FieldPolicy
from feeder.core.timestamps import format_timestamp


class ContentMode(StrEnum):
    """The two content modes of the CloudEvents Kafka protocol binding 1.0.2."""

    STRUCTURED = "structured"  # the value is the whole event as JSON
    BINARY = "binary"  # the value is ``data``; every other attribute is a ``ce_`` header


class KeyStrategy(StrEnum):
    """What keys (and so partitions and orders) the events and fraud topics."""

    SESSION = "session"  # all events of one session in order
    STORE = "store"  # all events of one store in order; sessions without a store by session id


@dataclass(frozen=True, slots=True)
class Origin:
    """Whether events come from the live feed or replay a past window (a backfill)."""

    backfill_window: tuple[datetime, datetime] | None = None

    @property
    def name(self) -> str:
        return "live" if self.backfill_window is None else "backfill"

    def extensions(self) -> dict[str, str]:
        """The CloudEvents extension attributes that say so: ``origin`` and, for a backfill,
        ``backfillwindow`` as an ISO 8601 interval ``start/end``."""
        if self.backfill_window is None:
            return {"origin": self.name}
        start, end = self.backfill_window
        return {
            "origin": self.name,
            "backfillwindow": f"{format_timestamp(start)}/{format_timestamp(end)}",
        }


LIVE = Origin()


def backfill(start: datetime, end: datetime) -> Origin:
    return Origin((start, end))


@dataclass(frozen=True, slots=True)
class EventEncoding:
    """Every choice about what feeder's records look like; the same for a whole run."""

    source: str
    content_mode: ContentMode = ContentMode.STRUCTURED
    origin: Origin = LIVE
    field_policy: FieldPolicy = KEEP_EVERYTHING
    key_strategy: KeyStrategy = KeyStrategy.SESSION
