"""Fixtures for the simulator's tests: a real server on a free loopback port, a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from feeder_devkit.simulator import (
    FaultSettings,
    ManualClock,
    ServerSettings,
    Simulator,
    SimulatorSettings,
    TrafficSettings,
    run_simulator,
)

START = datetime(2024, 9, 23, 12, 0, tzinfo=UTC)
SESSIONS = "/api/admin/v2/sessions"


def make_settings(
    *,
    traffic: dict[str, Any] | None = None,
    faults: dict[str, Any] | None = None,
    server: dict[str, Any] | None = None,
    ground_truth: dict[str, Any] | None = None,
) -> SimulatorSettings:
    """Test settings: port 0, seed 7, traffic paused and rate limit off unless asked."""
    return SimulatorSettings(
        server=ServerSettings(**{"port": 0, "rate_limit_per_s": 0, **(server or {})}),
        traffic=TrafficSettings(**{"seed": 7, "start_paused": True, **(traffic or {})}),
        faults=FaultSettings(**(faults or {})),
        **({"ground_truth": ground_truth} if ground_truth else {}),
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest_asyncio.fixture
async def sim(clock: ManualClock) -> AsyncIterator[Simulator]:
    """A paused simulator with 300 preloaded sessions on a manual clock."""
    async with run_simulator(make_settings(traffic={"preload_sessions": 300}), clock=clock) as s:
        yield s


@pytest_asyncio.fixture
async def client(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for ``sim`` that sends the static token."""
    headers = {"authorization": f"Bearer {sim.token}"}
    async with httpx.AsyncClient(base_url=sim.base_url, headers=headers, timeout=30) as c:
        yield c


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_client() -> AsyncIterator[httpx.AsyncClient]:
    """A client of one read-only simulator shared by a module (tests must not change it)."""
    settings = make_settings(traffic={"preload_sessions": 300})
    async with run_simulator(settings, clock=ManualClock(START)) as shared:
        headers = {"authorization": f"Bearer {shared.token}"}
        async with httpx.AsyncClient(base_url=shared.base_url, headers=headers, timeout=30) as c:
            yield c


async def sweep(
    client: httpx.AsyncClient,
    params: dict[str, Any] | None = None,
    between_pages: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Follow ``pagination.next.after`` from the first page to the end; every record served."""
    query: dict[str, Any] = dict(params or {})
    served: list[dict[str, Any]] = []
    for page_number in range(100_000):
        response = await client.get(SESSIONS, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        served.extend(page["data"])
        following = page["pagination"]["next"]
        if following is None:
            return served
        query["after"] = following["after"]
        if between_pages is not None:
            between_pages(page_number)
    raise AssertionError("the sweep did not end")
