"""fetch_page and check against a real local HTTP server: the request sent, the page returned."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from feeder.errors import ConfigError
from feeder.source import PageQuery
from feeder.source.observer import AttemptRecord
from tests.source.conftest import Harness
from tests.source.fakes import TOKEN
from tests.source.scripted_api import SESSIONS, Scripted, json_answer, page_answer

T0 = datetime(2024, 9, 22, tzinfo=UTC)
T1 = datetime(2024, 9, 29, 12, 30, 15, 250_000, tzinfo=UTC)
RECORD = {
    "id": "17",
    "updatedAt": "2024-09-23T10:49:06.149Z",
    "status": "not-documented",
    "metadata": {"events": [{"eventId": "e1"}]},
    "customer": None,
    "somethingNew": [1, 2.5, None, True],
}


@pytest.mark.asyncio
async def test_happy_path_sends_the_exact_query_and_returns_records_untouched(
    harness: Harness,
) -> None:
    harness.api.script(SESSIONS, page_answer([RECORD, {"id": 18}], after="eyJpZCI6MTh9"))

    async with harness.client() as client:
        page = await client.fetch_page(PageQuery(T0, T1, count=2, after="MTc="))

    assert page.sessions == [RECORD, {"id": 18}]
    assert page.next_after == "eyJpZCI6MTh9"
    (request,) = harness.api.received(SESSIONS)
    assert request.method == "GET"
    assert request.query == (
        "minUpdatedAt=2024-09-22T00%3A00%3A00.000Z&maxUpdatedAt=2024-09-29T12%3A30%3A15.250Z"
        "&orderBy=updatedAt&direction=asc&count=2&after=MTc%3D"
    )
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["accept"] == "application/json"
    assert harness.observer.attempts == [AttemptRecord("ok", "200", 0.0)]
    assert harness.observer.retries == []


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(page_answer([{"id": 1}, {"id": 2}], after=None), id="next-null"),
        pytest.param(page_answer([{"id": 1}, {"id": 2}], pagination={}), id="next-missing"),
        pytest.param(page_answer([], after="more"), id="empty-data"),
        pytest.param(page_answer([{"id": 1}], after="more"), id="short-page"),
    ],
)
@pytest.mark.asyncio
async def test_end_of_results_is_signalled_three_ways(harness: Harness, answer: Scripted) -> None:
    harness.api.script(SESSIONS, answer)

    page = await harness.client().fetch_page(PageQuery(T0, T1, count=2))

    assert page.next_after is None


@pytest.mark.asyncio
async def test_following_the_cursor_pages_to_the_end(harness: Harness) -> None:
    harness.api.script(
        SESSIONS,
        page_answer([{"id": 1}, {"id": 2}], after="c1"),
        page_answer([{"id": 3}, {"id": 4}], after="c2"),
        page_answer([{"id": 5}], after="c3"),
    )
    client = harness.client()
    seen: list[object] = []
    after: str | None = None
    while True:
        page = await client.fetch_page(PageQuery(T0, T1, count=2, after=after))
        seen.extend(page.sessions)
        if page.next_after is None:
            break
        after = page.next_after

    assert seen == [{"id": n} for n in range(1, 6)]
    assert [r.query.rsplit("&", 1)[-1] for r in harness.api.received(SESSIONS)] == [
        "count=2",
        "after=c1",
        "after=c2",
    ]


@pytest.mark.asyncio
async def test_check_asks_for_a_millisecond_an_hour_ago_so_it_reads_no_current_record(
    harness: Harness,
) -> None:
    harness.api.script(SESSIONS, page_answer([]))

    await harness.client(wall_clock=lambda: T1).check()

    (request,) = harness.api.received(SESSIONS)
    assert "minUpdatedAt=2024-09-29T11%3A30%3A15.250Z" in request.query
    assert "maxUpdatedAt=2024-09-29T11%3A30%3A15.251Z" in request.query
    assert "count=1" in request.query


@pytest.mark.parametrize("status", [400, 404, 422, 301])
@pytest.mark.asyncio
async def test_other_refusals_are_fatal_at_once_and_name_the_base_url(
    harness: Harness, status: int
) -> None:
    harness.api.script(SESSIONS, json_answer({"message": "Invalid"}, status))

    with pytest.raises(ConfigError, match="FEEDER_API__BASE_URL") as caught:
        await harness.client().fetch_page(PageQuery(T0, T1, count=2))

    assert str(status) in str(caught.value)
    assert len(harness.api.received(SESSIONS)) == 1
    assert [a.outcome for a in harness.observer.attempts] == ["rejected"]


@pytest.mark.asyncio
async def test_closing_is_idempotent_and_a_closed_client_refuses_work(harness: Harness) -> None:
    client = harness.client()
    await client.aclose()
    await client.aclose()

    with pytest.raises(RuntimeError, match="closed"):
        await client.fetch_page(PageQuery(T0, T1, count=2))
