"""What the checkpoint store contracts (:class:`feeder.typing.CheckpointStore`,
:class:`~feeder.typing.CheckpointAdmin`) carry: sizes, descriptions and rebuild progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class StoreSize:
    tracked_sessions: int
    bytes_on_disk: int


@dataclass(frozen=True, slots=True)
class StoreDescription:
    """What an operator asks about a store (``feeder checkpoint show``).

    ``oldest_updated_at`` and ``newest_updated_at`` span the tracked sessions' last
    ``updatedAt``; ``last_commit_at`` is when ``commit`` last ran, by the store's clock.
    """

    tracked_sessions: int
    flagged_sessions: int  # suspectedFraud is true in the last state
    bytes_on_disk: int
    oldest_updated_at: datetime | None
    newest_updated_at: datetime | None
    last_commit_at: datetime | None


@dataclass(frozen=True, slots=True)
class RebuildProgress:
    """How far a store rebuilding from Kafka read its topic: records read of those to read."""

    records_read: int
    records_total: int
    elapsed_s: float
    done: bool
