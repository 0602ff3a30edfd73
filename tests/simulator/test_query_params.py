"""Every query parameter of the reference page, and every way to get one wrong (400)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from feeder_devkit.simulator.cursor import encode_cursor
from feeder_devkit.simulator.query import ORDER_BY_VALUES

from tests.simulator.conftest import SESSIONS, sweep

pytestmark = pytest.mark.asyncio(loop_scope="module")

NULLABLE = {"codeLastSuccesfullyScannedAt", "customerLastEnteredAt"}
INTS = {"storeId", "visitors", "groupSize"}


def sort_key(record: dict[str, Any], order_by: str) -> tuple[Any, ...]:
    value = record[order_by]
    if order_by in ("id", "customerId"):
        return (int(value), int(record["id"]))
    if order_by in NULLABLE:
        return (value is None, value or "", int(record["id"]))
    return (value, int(record["id"]))


async def everything(shared_client: httpx.AsyncClient) -> list[dict[str, Any]]:
    return await sweep(shared_client, {"count": 200})


@pytest.mark.parametrize("order_by", ORDER_BY_VALUES)
@pytest.mark.parametrize("direction", ["asc", "desc"])
async def test_order_by_every_key_both_directions(
    shared_client: httpx.AsyncClient, order_by: str, direction: str
) -> None:
    served = await sweep(shared_client, {"orderBy": order_by, "direction": direction, "count": 70})
    assert len(served) == 300
    expected = sorted(served, key=lambda r: sort_key(r, order_by), reverse=direction == "desc")
    assert [r["id"] for r in served] == [r["id"] for r in expected]


@pytest.mark.parametrize(
    "name",
    [
        "CreatedAt",
        "UpdatedAt",
        "ExpiresAt",
        "CodeLastSuccesfullyScannedAt",
        "CustomerLastEnteredAt",
    ],
)
@pytest.mark.parametrize("order_by", ["id", "updatedAt", "customerLastEnteredAt"])
async def test_date_ranges(shared_client: httpx.AsyncClient, name: str, order_by: str) -> None:
    field = name[0].lower() + name[1:]
    records = await everything(shared_client)
    values = sorted(r[field] for r in records if r[field] is not None)
    low, high = values[len(values) // 4], values[3 * len(values) // 4]
    served = await sweep(
        shared_client, {f"min{name}": low, f"max{name}": high, "orderBy": order_by, "count": 50}
    )
    expected = {r["id"] for r in records if r[field] is not None and low <= r[field] <= high}
    assert {r["id"] for r in served} == expected
    assert len(served) == len(expected) > 0


@pytest.mark.parametrize("name", ["Visitors", "GroupSize"])
async def test_int_ranges(shared_client: httpx.AsyncClient, name: str) -> None:
    field = name[0].lower() + name[1:]
    records = await everything(shared_client)
    for low, high in ((0, 1), (1, 1), (2, 5), (0, 9)):
        for order_by in ("id", field):
            served = await sweep(
                shared_client,
                {f"min{name}": low, f"max{name}": high, "orderBy": order_by, "count": 200},
            )
            expected = {r["id"] for r in records if low <= r[field] <= high}
            assert {r["id"] for r in served} == expected


async def test_exact_filters(shared_client: httpx.AsyncClient) -> None:
    records = await everything(shared_client)
    target = records[123]
    for name in ("id", "code", "sessionToken"):
        served = (await shared_client.get(SESSIONS, params={name: target[name]})).json()["data"]
        assert served == [target], name
    unknown = {"id": 99999, "code": target["sessionToken"], "sessionToken": target["code"]}
    for name, value in unknown.items():
        assert (await shared_client.get(SESSIONS, params={name: value})).json()["data"] == [], name
    both = {"id": target["id"], "code": records[5]["code"]}
    assert (await shared_client.get(SESSIONS, params=both)).json()["data"] == []
    for name, field in (("storeId", "storeId"), ("customerId", "customerId")):
        value = target[field]
        served = await sweep(shared_client, {name: value, "count": 200})
        assert {r["id"] for r in served} == {
            r["id"] for r in records if str(r[field]) == str(value)
        }


async def test_status_array_forms(shared_client: httpx.AsyncClient) -> None:
    records = await everything(shared_client)
    statuses = {r["status"] for r in records}
    assert {"completed", "expired"} <= statuses
    wanted = {"completed", "expired"}
    expected = {r["id"] for r in records if r["status"] in wanted}
    forms: list[Any] = [
        [("status", "completed"), ("status", "expired")],
        [("status", "completed,expired")],
        [("status[]", "completed"), ("status[]", "expired")],
    ]
    for form in forms:
        served = await sweep(shared_client, {"count": 200})  # all, then the filtered sweep
        query = httpx.QueryParams(form).merge({"count": 200})
        filtered: list[dict[str, Any]] = []
        while True:
            page = (await shared_client.get(SESSIONS, params=query)).json()
            filtered.extend(page["data"])
            if page["pagination"]["next"] is None:
                break
            query = query.set("after", page["pagination"]["next"]["after"])
        assert {r["id"] for r in filtered} == expected, form
        assert len(served) == 300


async def test_count_default_and_maximum(shared_client: httpx.AsyncClient) -> None:
    assert len((await shared_client.get(SESSIONS)).json()["data"]) == 20
    assert len((await shared_client.get(SESSIONS, params={"count": 1})).json()["data"]) == 1
    assert len((await shared_client.get(SESSIONS, params={"count": 200})).json()["data"]) == 200


async def test_bare_id_cursors(shared_client: httpx.AsyncClient) -> None:
    after = (await shared_client.get(SESSIONS, params={"after": 10, "count": 3})).json()["data"]
    assert [r["id"] for r in after] == ["11", "12", "13"]
    before = (await shared_client.get(SESSIONS, params={"before": 10, "count": 3})).json()["data"]
    assert [r["id"] for r in before] == ["7", "8", "9"]
    desc = await shared_client.get(SESSIONS, params={"after": 10, "count": 3, "direction": "desc"})
    assert [r["id"] for r in desc.json()["data"]] == ["9", "8", "7"]
    records = await everything(shared_client)
    by_update = sorted(records, key=lambda r: (r["updatedAt"], int(r["id"])))
    pivot = by_update[100]
    page = await shared_client.get(
        SESSIONS, params={"after": pivot["id"], "orderBy": "updatedAt", "count": 5}
    )
    assert [r["id"] for r in page.json()["data"]] == [r["id"] for r in by_update[101:106]]


async def test_cursor_forms_are_accepted(shared_client: httpx.AsyncClient) -> None:
    records = await everything(shared_client)
    by_update = sorted(records, key=lambda r: (r["updatedAt"], int(r["id"])))
    pivot = by_update[50]
    opaque = encode_cursor(int(pivot["id"]), pivot["updatedAt"])
    padded = opaque + "=" * (-len(opaque) % 4)
    standard = padded.replace("-", "+").replace("_", "/")
    for cursor in (opaque, padded, standard):
        page = await shared_client.get(
            SESSIONS, params={"after": cursor, "orderBy": "updatedAt", "count": 2}
        )
        assert [r["id"] for r in page.json()["data"]] == [r["id"] for r in by_update[51:53]]


BAD_QUERIES: list[tuple[dict[str, Any], str, str]] = [
    ({"count": 201}, "count", "number.max"),
    ({"count": 0}, "count", "number.min"),
    ({"count": "many"}, "count", "number.base"),
    ({"count": "2.5"}, "count", "number.integer"),
    ({"orderBy": "name"}, "orderBy", "any.only"),
    ({"direction": "up"}, "direction", "any.only"),
    ({"minCreatedAt": "yesterday"}, "minCreatedAt", "date.format"),
    ({"maxUpdatedAt": "2024-13-01T00:00:00Z"}, "maxUpdatedAt", "date.format"),
    ({"minExpiresAt": "soon"}, "minExpiresAt", "date.format"),
    ({"maxExpiresAt": "x"}, "maxExpiresAt", "date.format"),
    ({"minCodeLastSuccesfullyScannedAt": "x"}, "minCodeLastSuccesfullyScannedAt", "date.format"),
    ({"maxCodeLastSuccesfullyScannedAt": "x"}, "maxCodeLastSuccesfullyScannedAt", "date.format"),
    ({"minCustomerLastEnteredAt": "x"}, "minCustomerLastEnteredAt", "date.format"),
    ({"maxCustomerLastEnteredAt": "x"}, "maxCustomerLastEnteredAt", "date.format"),
    ({"maxCreatedAt": "x"}, "maxCreatedAt", "date.format"),
    ({"minUpdatedAt": "x"}, "minUpdatedAt", "date.format"),
    ({"minVisitors": -1}, "minVisitors", "number.min"),
    ({"maxVisitors": 0}, "maxVisitors", "number.min"),
    ({"minGroupSize": -1}, "minGroupSize", "number.min"),
    ({"maxGroupSize": 0}, "maxGroupSize", "number.min"),
    ({"id": "abc"}, "id", "number.base"),
    ({"storeId": "abc"}, "storeId", "number.base"),
    ({"customerId": "abc"}, "customerId", "number.base"),
    ({"after": "%%%not-a-cursor"}, "after", "any.invalid"),
    ({"before": "bm90IGpzb24"}, "before", "any.invalid"),
    ({"after": 1, "before": 2}, "after", "object.oxor"),
    ({"after": 99999, "orderBy": "updatedAt"}, "after", "any.invalid"),
    ({"status": ","}, "status", "array.min"),
    ({"colour": "red"}, "colour", "object.unknown"),
]


@pytest.mark.parametrize(("params", "field", "rule"), BAD_QUERIES)
async def test_invalid_parameters_answer_400(
    shared_client: httpx.AsyncClient, params: dict[str, Any], field: str, rule: str
) -> None:
    response = await shared_client.get(SESSIONS, params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "Invalid request body"
    assert body["type"] == "E_INVALID_BODY"
    assert {"error": body["errors"][0]["error"], "rule": rule, "field": f'"{field}"'} in [
        {**e, "error": body["errors"][0]["error"]} for e in body["errors"]
    ]
    assert all(set(e) == {"error", "rule", "field"} for e in body["errors"])


async def test_a_cursor_whose_sort_key_does_not_fit_the_order_answers_400(
    shared_client: httpx.AsyncClient,
) -> None:
    cursor = encode_cursor(5, "2024-09-23T12:00:00.000Z")
    response = await shared_client.get(SESSIONS, params={"after": cursor, "orderBy": "visitors"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == '"after"'


async def test_all_errors_are_reported_at_once(shared_client: httpx.AsyncClient) -> None:
    response = await shared_client.get(
        SESSIONS, params={"count": 999, "orderBy": "x", "direction": "y"}
    )
    fields = [e["field"] for e in response.json()["errors"]]
    assert fields == ['"count"', '"orderBy"', '"direction"']
