"""The client-side rate limit spaces every attempt, retries included, on the injected clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from feeder.source import PageQuery
from feeder.source.rate_limit import IntervalRateLimiter
from tests.source.conftest import Harness
from tests.source.fakes import FakeTime
from tests.source.scripted_api import SESSIONS, json_answer, page_answer

QUERY = PageQuery(datetime(2024, 9, 22, tzinfo=UTC), datetime(2024, 9, 23, tzinfo=UTC), count=2)


@pytest.mark.asyncio
async def test_back_to_back_acquires_are_spaced_by_the_interval() -> None:
    time = FakeTime()
    limiter = IntervalRateLimiter(4.0, clock=time.monotonic, sleep=time.sleep)

    for _ in range(4):
        await limiter.acquire()

    assert time.sleeps == [0.25, 0.25, 0.25]


@pytest.mark.asyncio
async def test_an_idle_limiter_lets_the_next_caller_through_at_once() -> None:
    time = FakeTime()
    limiter = IntervalRateLimiter(2.0, clock=time.monotonic, sleep=time.sleep)
    await limiter.acquire()
    time.advance(0.3)
    await limiter.acquire()  # waits the remaining 0.2 s
    time.advance(10.0)
    await limiter.acquire()

    assert time.sleeps == [pytest.approx(0.2)]


@pytest.mark.asyncio
async def test_concurrent_callers_get_successive_slots() -> None:
    time = FakeTime()
    slept: list[float] = []

    async def record_sleep(delay_s: float) -> None:  # no clock movement: all ask at once
        slept.append(delay_s)
        await asyncio.sleep(0)

    limiter = IntervalRateLimiter(5.0, clock=time.monotonic, sleep=record_sleep)
    async with asyncio.TaskGroup() as group:
        for _ in range(4):
            group.create_task(limiter.acquire())

    assert sorted(slept) == [pytest.approx(0.2), pytest.approx(0.4), pytest.approx(0.6)]


@pytest.mark.asyncio
async def test_pages_fetched_in_a_row_are_spaced_at_requests_per_s(harness: Harness) -> None:
    harness.api.script(SESSIONS, *[page_answer([{"id": "1"}, {"id": "2"}], after="x")] * 5)
    client = harness.client(requests_per_s=5.0)

    for _ in range(5):
        await client.fetch_page(QUERY)

    assert harness.time.sleeps == [pytest.approx(0.2)] * 4


@pytest.mark.asyncio
async def test_retries_wait_for_their_slot_too(harness: Harness) -> None:
    throttled = json_answer({}, 503, ("retry-after", "0"))
    harness.api.script(SESSIONS, throttled, throttled, page_answer([]))

    await harness.client(requests_per_s=2.0).fetch_page(QUERY)

    # Retry-After 0, then the limiter's 0.5 s, for each retry.
    assert harness.time.sleeps == [0.0, pytest.approx(0.5), 0.0, pytest.approx(0.5)]
    assert len(harness.api.received(SESSIONS)) == 3
