"""An in-process checkpoint store for tests and demos: fast, and lost on exit."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from feeder.checkpoint.protocol import StoreSize
from feeder.core.state import FeedPosition, SessionState


class MemoryCheckpointStore:
    def __init__(self) -> None:
        self._position: FeedPosition | None = None
        self._states: dict[str, SessionState] = {}

    async def load_position(self) -> FeedPosition | None:
        return self._position

    async def load_states(self, session_ids: Collection[str]) -> dict[str, SessionState]:
        return {sid: self._states[sid] for sid in session_ids if sid in self._states}

    async def commit(self, states: Iterable[SessionState], position: FeedPosition) -> None:
        self._states.update((state.session_id, state) for state in states)
        self._position = position

    async def aclose(self) -> None:
        return None

    async def expired_sessions(self, expired_before: datetime, limit: int) -> list[str]:
        expired = [state for state in self._states.values() if _prune_at(state) < expired_before]
        expired.sort(key=_prune_at)
        return [state.session_id for state in expired[:limit]]

    async def forget(self, session_ids: Collection[str], expired_before: datetime) -> StoreSize:
        for sid in session_ids:
            state = self._states.get(sid)
            if state is not None and _prune_at(state) < expired_before:
                del self._states[sid]
        return StoreSize(tracked_sessions=len(self._states), bytes_on_disk=0)


def _prune_at(state: SessionState) -> datetime:
    return state.prunable_from
