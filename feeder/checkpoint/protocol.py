"""The checkpoint store contract."""

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
