"""The sessions endpoint's shape: records as on the reference page, pagination links, ids."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from feeder_devkit.simulator import Simulator

from tests.simulator.conftest import SESSIONS, sweep

pytestmark = pytest.mark.asyncio

EXAMPLE_FIELDS = {
    "createdAt", "updatedAt", "code", "codeFirstSuccesfullyScannedAt",
    "codeLastSuccesfullyScannedAt", "customerFirstEnteredAt", "customerLastEnteredAt",
    "customerFirstExitedAt", "customerLastExitedAt", "customerPaymentInstrumentId",
    "customerSatisfaction", "customerSatisfactionSubmitted", "groupSize", "visitors",
    "locationId", "priority", "sessionToken", "sessionId", "referencedSessionId", "status",
    "storeId", "storeIdScannableAt", "suspectedFraud", "metadata", "expiresAt", "id",
    "customerId", "customer", "store",
}  # fmt: skip
CUSTOMER_FIELDS = {
    "externalId", "role", "metadata", "priority", "email", "firstName", "lastName", "phone", "id",
}  # fmt: skip
STORE_FIELDS = {
    "aifiUniqueStoreId", "status", "deploymentStatus", "addressLine1", "addressCity",
    "addressRegion", "addressCountry", "addressPostalCode", "thirdPartyId", "storeUrl",
    "maxPeople", "storeConfigId", "name", "id", "employeeInside",
}  # fmt: skip
MS_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TIMESTAMPS = (
    "createdAt", "updatedAt", "codeFirstSuccesfullyScannedAt", "codeLastSuccesfullyScannedAt",
    "customerFirstEnteredAt", "customerLastEnteredAt", "customerFirstExitedAt",
    "customerLastExitedAt", "expiresAt",
)  # fmt: skip


async def test_default_page_has_twenty_records_of_the_example_shape(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(SESSIONS)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"data", "pagination"}
    assert len(body["data"]) == 20
    for record in body["data"]:
        assert set(record) == EXAMPLE_FIELDS
        assert set(record["customer"]) == CUSTOMER_FIELDS
        assert set(record["store"]) == STORE_FIELDS
        assert isinstance(record["id"], str)
        assert isinstance(record["customerId"], str)
        assert isinstance(record["customer"]["id"], str)
        assert record["sessionId"] == record["sessionToken"]
        assert uuid.UUID(record["code"]).version == 4
        assert uuid.UUID(record["sessionToken"]).version == 4
        for name in TIMESTAMPS:
            value = record[name]
            assert value is None or MS_UTC.match(value), (name, value)
        assert record["createdAt"] <= record["updatedAt"]
    assert [int(r["id"]) for r in body["data"]] == list(range(1, 21))


async def test_not_yet_happened_timestamps_are_null(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sid = sim.create_session()
    record = (await client.get(SESSIONS, params={"id": sid})).json()["data"][0]
    for name in TIMESTAMPS:
        if name not in ("createdAt", "updatedAt", "expiresAt"):
            assert record[name] is None, name
    assert record["status"] == "active"
    assert record["suspectedFraud"] is False


async def test_pagination_links_and_end(client: httpx.AsyncClient) -> None:
    first = (await client.get(SESSIONS, params={"count": 200})).json()
    assert first["pagination"]["previous"] is None
    following = first["pagination"]["next"]
    assert following["count"] == 200
    assert following["direction"] == "asc"
    second = (await client.get(SESSIONS, params={"count": 200, "after": following["after"]})).json()
    assert [r["id"] for r in second["data"]] == [str(i) for i in range(201, 301)]
    assert second["pagination"]["next"] is None
    assert second["pagination"]["previous"]["before"]
    back = await client.get(
        SESSIONS, params={"count": 200, "before": second["pagination"]["previous"]["before"]}
    )
    assert back.json()["data"] == first["data"]


async def test_a_sweep_serves_every_session_once(sim: Simulator, client: httpx.AsyncClient) -> None:
    served = await sweep(client, {"orderBy": "updatedAt", "count": 37})
    assert len(served) == sim.session_count == 300
    assert len({r["id"] for r in served}) == 300
    keys = [(r["updatedAt"], int(r["id"])) for r in served]
    assert keys == sorted(keys)
