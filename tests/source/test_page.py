"""PageQuery's query string and decode_page's envelope checks and end-of-results rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from feeder.source.page import MalformedBody, PageQuery, RawPage, decode_page

T0 = datetime(2024, 9, 22, tzinfo=UTC)
T1 = datetime(2024, 9, 23, 10, 49, 6, 149_999, tzinfo=UTC)


def test_query_params_are_ordered_utc_milliseconds_with_z() -> None:
    local = timezone(timedelta(hours=2))
    query = PageQuery(T0.astimezone(local), T1, count=200, after="c2Vzc2lvbg==")

    assert query.query_params() == (
        ("minUpdatedAt", "2024-09-22T00:00:00.000Z"),
        ("maxUpdatedAt", "2024-09-23T10:49:06.149Z"),
        ("orderBy", "updatedAt"),
        ("direction", "asc"),
        ("count", "200"),
        ("after", "c2Vzc2lvbg=="),
    )


def test_query_params_omit_after_on_the_first_page() -> None:
    assert ("after", "") not in PageQuery(T0, T1, count=1).query_params()
    assert [name for name, _ in PageQuery(T0, T1, count=1).query_params()][-1] == "count"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_updated_at": datetime(2024, 1, 1)}, "timezone-aware"),  # noqa: DTZ001 - the point
        ({"min_updated_at": T1, "max_updated_at": T0}, "window is empty"),
        ({"count": 0}, "1..200"),
        ({"count": 201}, "1..200"),
        ({"after": ""}, "non-empty cursor"),
    ],
)
def test_query_rejects_what_the_api_cannot_answer(kwargs: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"min_updated_at": T0, "max_updated_at": T1, "count": 10}
    values.update(kwargs)
    with pytest.raises(ValueError, match=message):
        PageQuery(**values)  # type: ignore[arg-type]


def _decode(document: object, count: int = 2) -> RawPage | MalformedBody:
    return decode_page(orjson.dumps(document), requested_count=count, duration_s=0.5)


def test_full_page_with_a_cursor_continues_and_keeps_records_untouched() -> None:
    records = [{"id": "1", "extra": {"nested": [1, None]}}, {"id": 2, "status": "weird"}]
    page = _decode({"data": records, "pagination": {"next": {"after": "abc", "count": 2}}})

    assert page == RawPage(sessions=records, next_after="abc", duration_s=0.5)


def test_an_integer_cursor_is_passed_on_as_a_string() -> None:
    page = _decode({"data": [{}, {}], "pagination": {"next": {"after": 42}}})

    assert isinstance(page, RawPage)
    assert page.next_after == "42"


@pytest.mark.parametrize(
    "document",
    [
        pytest.param({"data": [{}, {}], "pagination": {"next": None}}, id="next-null"),
        pytest.param({"data": [{}, {}], "pagination": {"previous": None}}, id="next-missing"),
        pytest.param({"data": [{}, {}]}, id="pagination-missing"),
        pytest.param({"data": [{}, {}], "pagination": None}, id="pagination-null"),
        pytest.param({"data": [{}, {}], "pagination": {"next": {"after": None}}}, id="after-null"),
        pytest.param({"data": [], "pagination": {"next": {"after": "x"}}}, id="empty-data"),
        pytest.param({"data": [{}], "pagination": {"next": {"after": "x"}}}, id="short-page"),
    ],
)
def test_last_page_is_recognised(document: object) -> None:
    page = _decode(document)

    assert isinstance(page, RawPage)
    assert page.next_after is None


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        pytest.param(b'{"data": [{"id": "1"', "not_json", id="truncated"),
        pytest.param(b"<html>Bad gateway</html>", "not_json", id="html"),
        pytest.param(b"", "not_json", id="empty"),
        pytest.param(b"[]", "not_object", id="list"),
        pytest.param(b'{"items": []}', "data_not_list", id="data-missing"),
        pytest.param(b'{"data": {"id": 1}}', "data_not_list", id="data-object"),
        pytest.param(b'{"data": [], "pagination": "next"}', "pagination_invalid", id="pagination"),
        pytest.param(b'{"data": [], "pagination": {"next": 3}}', "pagination_invalid", id="next"),
        pytest.param(
            b'{"data": [], "pagination": {"next": {"after": true}}}',
            "pagination_invalid",
            id="after-bool",
        ),
    ],
)
def test_malformed_envelopes_are_named(body: bytes, problem: str) -> None:
    result = decode_page(body, requested_count=2, duration_s=0.0)

    assert isinstance(result, MalformedBody)
    assert result.problem == problem
