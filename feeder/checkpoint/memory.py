"""An in-process checkpoint store for tests and demos: fast, and lost on exit."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime

from feeder.checkpoint.reports import StoreDescription, StoreSize
from feeder.core.state import FeedPosition, SessionState


def _utc_now() -> datetime:
    return datetime.now(UTC)


class MemoryCheckpointStore:
    def __init__(self, clock: Callable[[], datetime] = _utc_now) -> None:
        self._position: FeedPosition | None = None
        self._states: dict[str, SessionState] = {}
        self._clock = clock
        self._last_commit_at: datetime | None = None

    async def load_position(self) -> FeedPosition | None:
        return self._position

    async def load_states(self, session_ids: Collection[str]) -> dict[str, SessionState]:
        return {sid: self._states[sid] for sid in session_ids if sid in self._states}

    async def commit(self, states: Iterable[SessionState], position: FeedPosition) -> None:
        self._states.update((state.session_id, state) for state in states)
        self._position = position
        self._last_commit_at = self._clock()

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

    async def describe(self) -> StoreDescription:
        updated = [state.updated_at for state in self._states.values()]
        return StoreDescription(
            tracked_sessions=len(self._states),
            flagged_sessions=sum(state.suspected_fraud for state in self._states.values()),
            bytes_on_disk=0,
            oldest_updated_at=min(updated, default=None),
            newest_updated_at=max(updated, default=None),
            last_commit_at=self._last_commit_at,
        )

    async def rewind(self, position: FeedPosition, *, forget_since: datetime | None) -> int:
        forgotten = (
            []
            if forget_since is None
            else [sid for sid, state in self._states.items() if state.updated_at >= forget_since]
        )
        for sid in forgotten:
            del self._states[sid]
        self._position = position
        return len(forgotten)

    async def reset(self) -> None:
        self._position = None
        self._states.clear()
        self._last_commit_at = None


def _prune_at(state: SessionState) -> datetime:
    return state.prunable_from
