"""The checkpoint store contracts: what a feed needs, and what an operator does to a store."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from feeder.core.state import FeedPosition, SessionState


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


class RebuildObserver(Protocol):
    def rebuild_progressed(self, progress: RebuildProgress) -> None: ...


class CheckpointStore(Protocol):
    """Remembers what the feed has delivered.

    ``commit`` is atomic: the states and the position land together or not at all, and it is
    called only after the sink acknowledged every record of the page. A Kafka-transactional
    backend implements the same methods with compacted topics.
    """

    async def load_position(self) -> FeedPosition | None:
        """The committed position, or ``None`` for a feed that never committed."""
        ...

    async def load_states(self, session_ids: Collection[str]) -> dict[str, SessionState]:
        """The last committed state of each of ``session_ids`` that is known."""
        ...

    async def commit(self, states: Iterable[SessionState], position: FeedPosition) -> None:
        """Store the newer states and the new position in one atomic step."""
        ...

    async def aclose(self) -> None:
        """Release the store; idempotent."""
        ...

    async def expired_sessions(self, expired_before: datetime, limit: int) -> list[str]:
        """Ids of at most ``limit`` sessions whose ``SessionState.prunable_from`` (``expiresAt``
        and the latest ``updatedAt``) is older than ``expired_before``, the longest expired
        first.

        The pruner publishes a tombstone for each of them before it calls ``forget``.
        """
        ...

    async def forget(self, session_ids: Collection[str], expired_before: datetime) -> StoreSize:
        """Forget those of ``session_ids`` that are still expired before ``expired_before`` (one
        committed again since it was listed stays); return the size left."""
        ...


class CheckpointAdmin(Protocol):
    """Operating a store (``feeder checkpoint``): never called by a running feed; ``rewind``
    and ``reset`` only while no feed holds the store."""

    async def describe(self) -> StoreDescription:
        """Sizes and bounds of what the store holds; read-only."""
        ...

    async def rewind(self, position: FeedPosition, *, forget_since: datetime | None) -> int:
        """Replace the position and, if ``forget_since`` is given, forget every session whose
        last ``updatedAt`` is at or after it, in one atomic step; return how many were forgotten.
        """
        ...

    async def reset(self) -> None:
        """Forget everything: the position, every session and the last commit time."""
        ...
