"""The collector on a timer: cycles are freed by the timed collection, not by allocations, and
the automatic collector is back as it was once the work is done."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from feeder.runtime.collection import collecting_on_a_timer


class Node:
    def __init__(self) -> None:
        self.me = self


async def _wait_until_freed(ref: weakref.ref[Node], timeout_s: float) -> bool:
    async with asyncio.timeout(timeout_s):
        while ref() is not None:  # noqa: ASYNC110 - a weak reference has no event to await
            await asyncio.sleep(0.01)
    return True


def test_a_cycle_made_during_the_work_is_freed_by_the_timer_and_the_collector_comes_back() -> None:
    seen: dict[str, object] = {}

    async def work() -> str:
        seen["enabled_during"] = gc.isenabled()
        cycle = Node()
        ref = weakref.ref(cycle)
        del cycle
        for _ in range(5_000):  # allocations that would trigger an automatic collection
            [[], {}]  # noqa: B018
        seen["alive_after_allocations"] = ref() is not None
        seen["freed"] = await _wait_until_freed(ref, timeout_s=10.0)
        return "done"

    assert gc.isenabled()
    assert asyncio.run(collecting_on_a_timer(work(), interval_s=0.05)) == "done"
    assert seen == {"enabled_during": False, "alive_after_allocations": True, "freed": True}
    assert gc.isenabled()
    gc.unfreeze()


def test_a_failing_work_still_gives_the_collector_back() -> None:
    async def work() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(collecting_on_a_timer(work(), interval_s=0.05))
    assert gc.isenabled()
    gc.unfreeze()
