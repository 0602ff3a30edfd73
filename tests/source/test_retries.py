"""Transient faults are retried with backoff, Retry-After is honoured and capped, and the budget
ends in ApiUnavailableError; all against a real local HTTP server, with time driven by hand."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from feeder.errors import ApiUnavailableError
from feeder.source import PageQuery
from feeder.source.observer import RetryRecord
from tests.source.conftest import Harness
from tests.source.fakes import assert_no_secret
from tests.source.scripted_api import SESSIONS, Scripted, json_answer, page_answer

QUERY = PageQuery(datetime(2024, 9, 22, tzinfo=UTC), datetime(2024, 9, 23, tzinfo=UTC), count=2)
OK = page_answer([{"id": "1"}])


@pytest.mark.parametrize("status", [503, 500, 502, 504, 429, 408])
@pytest.mark.asyncio
async def test_a_burst_of_transient_statuses_is_retried_with_exponential_backoff(
    harness: Harness, status: int
) -> None:
    failing = json_answer({"message": "busy"}, status)
    harness.api.script(SESSIONS, failing, failing, failing, OK)

    page = await harness.client().fetch_page(QUERY)

    assert page.sessions == [{"id": "1"}]
    assert len(harness.api.received(SESSIONS)) == 4
    # TopOfRangeJitter makes each full-jitter delay its ceiling: 0.5 * 2**(n-1).
    assert harness.observer.retries == [
        RetryRecord("retriable_status", 0.5),
        RetryRecord("retriable_status", 1.0),
        RetryRecord("retriable_status", 2.0),
    ]
    assert [(a.outcome, a.status) for a in harness.observer.attempts] == [
        *[("retriable_status", str(status))] * 3,
        ("ok", "200"),
    ]


@pytest.mark.asyncio
async def test_backoff_is_capped(harness: Harness) -> None:
    harness.api.script(SESSIONS, *[json_answer({}, 503)] * 5, OK)

    await harness.client(max_attempts=6, backoff_max_s=1.5).fetch_page(QUERY)

    assert [r.delay_s for r in harness.observer.retries] == [0.5, 1.0, 1.5, 1.5, 1.5]


@pytest.mark.asyncio
async def test_retry_after_in_seconds_replaces_the_backoff(harness: Harness) -> None:
    harness.api.script(SESSIONS, json_answer({}, 503, ("retry-after", "7")), OK)

    await harness.client().fetch_page(QUERY)

    assert harness.observer.retries == [RetryRecord("retriable_status", 7.0)]
    assert 7.0 in harness.time.sleeps


@pytest.mark.asyncio
async def test_retry_after_as_an_http_date_is_measured_from_the_response_date(
    harness: Harness,
) -> None:
    served_at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    retry_at = served_at + timedelta(seconds=12)
    throttled = json_answer(
        {},
        503,
        ("date", format_datetime(served_at, usegmt=True)),
        ("retry-after", format_datetime(retry_at, usegmt=True)),
    )
    harness.api.script(SESSIONS, throttled, OK)

    await harness.client().fetch_page(QUERY)

    assert harness.observer.retries == [RetryRecord("retriable_status", 12.0)]


@pytest.mark.asyncio
async def test_retry_after_as_an_http_date_without_a_date_header_uses_the_wall_clock(
    harness: Harness,
) -> None:
    now = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    retry_at = format_datetime(now + timedelta(seconds=3), usegmt=True)
    throttled = json_answer({}, 429, ("retry-after", retry_at))
    harness.api.script(SESSIONS, throttled, OK)

    await harness.client(wall_clock=lambda: now).fetch_page(QUERY)

    assert harness.observer.retries == [RetryRecord("retriable_status", 3.0)]


@pytest.mark.parametrize(
    "retry_after",
    ["3600", format_datetime(datetime(2099, 1, 1, tzinfo=UTC), usegmt=True)],
    ids=["seconds", "http-date"],
)
@pytest.mark.asyncio
async def test_retry_after_is_capped(harness: Harness, retry_after: str) -> None:
    harness.api.script(SESSIONS, json_answer({}, 503, ("retry-after", retry_after)), OK)

    await harness.client(retry_after_max_s=9.0).fetch_page(QUERY)

    assert harness.observer.retries == [RetryRecord("retriable_status", 9.0)]


@pytest.mark.asyncio
async def test_an_unreadable_retry_after_falls_back_to_backoff(harness: Harness) -> None:
    harness.api.script(SESSIONS, json_answer({}, 503, ("retry-after", "soon")), OK)

    await harness.client().fetch_page(QUERY)

    assert harness.observer.retries == [RetryRecord("retriable_status", 0.5)]


@pytest.mark.asyncio
async def test_exhausting_the_attempts_raises_api_unavailable_saying_what_happened(
    harness: Harness,
) -> None:
    harness.api.script(SESSIONS, *[json_answer({}, 503, ("retry-after", "1"))] * 3)

    with pytest.raises(ApiUnavailableError) as caught:
        await harness.client(max_attempts=3).fetch_page(QUERY)

    message = str(caught.value)
    assert "failed 3 time(s)" in message
    assert "HTTP 503 Service Unavailable, Retry-After: 1" in message
    assert "FEEDER_API__MAX_ATTEMPTS=3" in message
    assert len(harness.api.received(SESSIONS)) == 3
    assert len(harness.observer.retries) == 2  # no sleep after the last attempt
    assert_no_secret(caught.value)


@pytest.mark.asyncio
async def test_a_hanging_server_times_out_and_is_retried(harness: Harness) -> None:
    harness.api.script(SESSIONS, Scripted(200, b'{"data": []}', delay_s=30), OK)

    page = await harness.client(request_timeout_s=0.3).fetch_page(QUERY)

    assert page.sessions == [{"id": "1"}]
    assert [a.outcome for a in harness.observer.attempts] == ["timeout", "ok"]
    assert harness.observer.attempts[0].status == "none"
    assert harness.observer.retries == [RetryRecord("timeout", 0.5)]


@pytest.mark.asyncio
async def test_a_trickling_body_hits_the_overall_attempt_deadline(harness: Harness) -> None:
    # Each byte arrives well within the read timeout, the whole body never within the deadline.
    slow = Scripted(200, b'{"data": [], "pagination": null}' * 4, chunk_delay_s=0.05)
    harness.api.script(SESSIONS, slow, OK)
    client = harness.client(connect_timeout_s=0.1, request_timeout_s=0.2)
    assert client.attempt_deadline_s == pytest.approx(0.6)

    page = await client.fetch_page(QUERY)

    assert page.sessions == [{"id": "1"}]
    assert [a.outcome for a in harness.observer.attempts] == ["timeout", "ok"]


@pytest.mark.asyncio
async def test_a_connection_dropped_mid_body_is_retried(harness: Harness) -> None:
    cut = Scripted(200, b'{"data": [{"id": "1"}', declared_length=500)
    harness.api.script(SESSIONS, cut, OK)

    page = await harness.client().fetch_page(QUERY)

    assert page.sessions == [{"id": "1"}]
    assert harness.observer.retries == [RetryRecord("network_error", 0.5)]


@pytest.mark.asyncio
async def test_a_refused_connection_ends_in_api_unavailable(harness: Harness) -> None:
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(ApiUnavailableError, match="ConnectError") as caught:
        await harness.client(base_url=f"http://127.0.0.1:{port}", max_attempts=2).fetch_page(QUERY)

    assert [a.outcome for a in harness.observer.attempts] == ["network_error"] * 2
    assert_no_secret(caught.value)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        pytest.param(b'{"data": [{"id": "1"}, {"id": "2"', "not_json", id="truncated"),
        pytest.param(b"<html><body>502 Bad Gateway</body></html>", "not_json", id="html"),
        pytest.param(b'[{"id": "1"}]', "not_object", id="wrong-shape-list"),
        pytest.param(b'{"sessions": []}', "data_not_list", id="wrong-shape-no-data"),
        pytest.param(b'{"data": [], "pagination": []}', "pagination_invalid", id="pagination"),
    ],
)
@pytest.mark.asyncio
async def test_malformed_bodies_are_counted_and_retried(
    harness: Harness, body: bytes, problem: str
) -> None:
    harness.api.script(SESSIONS, Scripted(200, body), OK)

    page = await harness.client().fetch_page(QUERY)

    assert page.sessions == [{"id": "1"}]
    assert harness.observer.malformed_bodies == [problem]
    assert [(a.outcome, a.status) for a in harness.observer.attempts] == [
        ("malformed_body", "200"),
        ("ok", "200"),
    ]
    assert harness.observer.retries == [RetryRecord("malformed_body", 0.5)]


@pytest.mark.asyncio
async def test_records_that_fail_validation_are_not_this_layers_business(
    harness: Harness,
) -> None:
    odd = [{"id": None}, "not even an object", 7, {"updatedAt": "yesterday"}]
    harness.api.script(SESSIONS, page_answer(odd))

    page = await harness.client().fetch_page(QUERY)

    assert page.sessions == odd
    assert harness.observer.retries == []
