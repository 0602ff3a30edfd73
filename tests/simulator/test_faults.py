"""Each injected fault, switched on at runtime (they are all off by default)."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx
import orjson
import pytest
from feeder_devkit.simulator import FaultSettings, ManualClock, Simulator, run_simulator
from feeder_devkit.simulator.clock import parse_timestamp

from tests.simulator.conftest import SESSIONS, START, make_settings

pytestmark = pytest.mark.asyncio


async def test_faults_are_off_by_default(sim: Simulator, client: httpx.AsyncClient) -> None:
    assert sim.faults == FaultSettings()
    statuses = {(await client.get(SESSIONS, params={"count": 200})).status_code for _ in range(20)}
    assert statuses == {200}


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_error_share_answers_5xx(
    sim: Simulator, client: httpx.AsyncClient, status: int
) -> None:
    sim.set_faults(FaultSettings(error_share=1.0, error_statuses=(status,)))
    response = await client.get(SESSIONS)
    assert response.status_code == status
    if status == 500:
        assert response.json()["type"] == "E_INTERNAL"
    else:
        assert response.headers["content-type"].startswith("text/html")


async def test_error_share_is_a_share(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.set_faults(FaultSettings(error_share=0.5))
    statuses = [(await client.get(SESSIONS)).status_code for _ in range(60)]
    assert 5 < statuses.count(200) < 55
    assert set(statuses) <= {200, 500, 502, 503}


async def test_added_latency_delays_the_answer(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.set_faults(FaultSettings(latency_ms=300))
    started = time.perf_counter()
    assert (await client.get(SESSIONS)).status_code == 200
    assert time.perf_counter() - started >= 0.3  # a lower bound only: never a speed assertion


async def test_hanging_requests_outlast_the_client_and_end_at_shutdown(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.set_faults(FaultSettings(hang_share=1.0))
    with pytest.raises(httpx.ReadTimeout):
        await client.get(SESSIONS, timeout=0.5)
    sim.set_faults(FaultSettings(hang_share=1.0, hang_s=0.1))
    assert (await client.get(SESSIONS)).status_code == 504
    sim.set_faults(FaultSettings())
    assert (await client.get(SESSIONS)).status_code == 200


async def test_throttling_answers_429_with_retry_after_in_both_forms(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.set_faults(FaultSettings(throttle_share=1.0, retry_after_s=7))
    response = await client.get(SESSIONS)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    sim.set_faults(FaultSettings(throttle_share=1.0, retry_after_s=7, retry_after_form="http-date"))
    response = await client.get(SESSIONS)
    assert response.status_code == 429
    assert parsedate_to_datetime(response.headers["retry-after"]) == START.replace(second=7)
    sim.set_faults(FaultSettings(throttle_share=1.0, retry_after_form="mixed"))
    forms = {(await client.get(SESSIONS)).headers["retry-after"].isdigit() for _ in range(30)}
    assert forms == {True, False}


async def test_truncated_bodies_are_cut_json(sim: Simulator, client: httpx.AsyncClient) -> None:
    whole = (await client.get(SESSIONS, params={"count": 50})).content
    sim.set_faults(FaultSettings(truncated_share=1.0))
    cut = await client.get(SESSIONS, params={"count": 50})
    assert cut.status_code == 200
    assert cut.headers["content-type"].startswith("application/json")
    assert whole.startswith(cut.content)
    assert len(cut.content) < len(whole)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(cut.content)


async def test_non_json_bodies(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.set_faults(FaultSettings(non_json_share=1.0))
    response = await client.get(SESSIONS)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


async def test_malformed_records_inside_good_pages(
    sim: Simulator, client: httpx.AsyncClient
) -> None:
    sim.set_faults(FaultSettings(malformed_share=0.5))
    page = (await client.get(SESSIONS, params={"count": 200})).json()
    kinds = {"good": 0, "missing_id": 0, "wrong_type": 0, "bad_date": 0, "null_updated_at": 0}
    for record in page["data"]:
        if "id" not in record:
            kinds["missing_id"] += 1
        elif record["visitors"] == "three":
            kinds["wrong_type"] += 1
        elif record["updatedAt"] is None:
            kinds["null_updated_at"] += 1
        elif record["updatedAt"].startswith("2024-13-45"):
            kinds["bad_date"] += 1
        else:
            kinds["good"] += 1
    assert all(count > 0 for count in kinds.values()), kinds
    assert page["pagination"]["next"] is not None  # the page itself stays well-formed
    stored = sim.session("1")
    assert stored is not None
    assert stored["visitors"] != "three"  # only the served copy was broken


@pytest.mark.parametrize(("form", "types"), [("integer", {int}), ("string", {str})])
async def test_ids_as_integers_or_strings(
    sim: Simulator, client: httpx.AsyncClient, form: str, types: set[type]
) -> None:
    sim.set_faults(FaultSettings(id_format=form))  # type: ignore[arg-type]
    page = (await client.get(SESSIONS, params={"count": 100})).json()
    assert {type(r["id"]) for r in page["data"]} == types


async def test_mixed_id_forms(sim: Simulator, client: httpx.AsyncClient) -> None:
    sim.set_faults(FaultSettings(id_format="mixed"))
    page = (await client.get(SESSIONS, params={"count": 100})).json()
    assert {type(r["id"]) for r in page["data"]} == {int, str}
    assert all(isinstance(r["customerId"], str) for r in page["data"])


async def test_scripted_late_visible_commit_carries_an_old_updated_at(
    sim: Simulator, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    made_at = clock()
    sim.update_session("5", suspected_fraud=True, visible_after_s=5)
    assert sim.held_changes == 1
    assert sim.session("5")["suspectedFraud"] is False  # type: ignore[index]
    clock.advance(2)
    sim.update_session("6", status="completed")  # a later change, visible at once
    newest = (await client.get(SESSIONS, params={"id": 6})).json()["data"][0]["updatedAt"]
    assert (await client.get(SESSIONS, params={"id": 5})).json()["data"][0][
        "suspectedFraud"
    ] is False
    clock.advance(3)
    late = (await client.get(SESSIONS, params={"id": 5})).json()["data"][0]
    assert late["suspectedFraud"] is True
    assert late["updatedAt"] < newest  # older than a record served before it became visible
    [transition] = sim.ground_truth(kinds=["suspected_fraud_changed"])
    assert transition.updated_at_ms == parse_timestamp(late["updatedAt"])
    assert transition.updated_at <= made_at.replace(microsecond=made_at.microsecond)
    assert (transition.visible_at - transition.updated_at).total_seconds() >= 5


async def test_late_visible_share_holds_back_traffic_changes() -> None:
    clock = ManualClock(START)
    settings = make_settings(
        traffic={"start_paused": False, "new_sessions_per_s": 10, "speedup": 20},
        faults={"late_visible_share": 0.3, "late_visible_delay_s": 4},
    )
    async with run_simulator(settings, clock=clock) as sim:
        for _ in range(30):
            clock.advance(1)
            sim.step()
        late = [t for t in sim.ground_truth() if t.visible_at_ms - t.updated_at_ms >= 4000]
        on_time = [t for t in sim.ground_truth() if t.visible_at_ms - t.updated_at_ms < 1000]
    assert late
    assert on_time


async def test_faults_change_at_runtime_over_http(client: httpx.AsyncClient) -> None:
    put = await client.put("/_simulator/faults", json={"error_share": 1, "error_statuses": [502]})
    assert put.status_code == 200
    assert put.json()["error_share"] == 1
    assert (await client.get(SESSIONS)).status_code == 502
    patch = await client.patch("/_simulator/faults", json={"error_share": 0})
    assert patch.json()["error_statuses"] == [502]
    assert (await client.get(SESSIONS)).status_code == 200
    bad = await client.put("/_simulator/faults", json={"error_share": 2})
    assert bad.status_code == 400
    unknown = await client.put("/_simulator/faults", json={"colour": 1})
    assert unknown.status_code == 400
    assert (await client.get("/_simulator/faults")).json() == FaultSettings(
        error_statuses=(502,)
    ).model_dump(mode="json")
