"""Keyset pagination while sessions change: an unchanged session is served exactly once."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import httpx
import pytest
from feeder_devkit.simulator import ManualClock, Simulator, run_simulator
from feeder_devkit.simulator.clock import from_ms
from feeder_devkit.simulator.query import ORDER_BY_VALUES, SessionQuery
from feeder_devkit.simulator.records import Session, UuidDeriver
from feeder_devkit.simulator.store import SessionStore
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.simulator.conftest import START, make_settings, sweep


def served_ids(served: list[dict[str, Any]]) -> Counter[str]:
    return Counter(str(r["id"]) for r in served)


@pytest.mark.asyncio
async def test_scripted_updates_between_pages_never_skip_or_repeat_unchanged_sessions(
    sim: Simulator, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    rng = random.Random(3)
    ids = [str(i) for i in range(1, 301)]
    changed: set[str] = set()
    existing = [sim.session(i) for i in ids]
    stamps = [r["updatedAt"] for r in existing if r is not None]

    def update_some(_page: int) -> None:
        clock.advance(0.5)
        for _ in range(6):
            target = rng.choice(ids)
            changed.add(target)
            tie = rng.random() < 0.3
            sim.update_session(
                target,
                suspected_fraud=rng.random() < 0.5,
                customer_last_entered_at=clock(),
                # a third of the changes reuse an updatedAt that exists already: ties
                updated_at=from_iso(rng.choice(stamps)) if tie else None,
            )

    served = await sweep(client, {"orderBy": "updatedAt", "count": 15}, update_some)
    counts = served_ids(served)
    unchanged = [i for i in ids if i not in changed]
    assert len(unchanged) > 100
    assert [i for i in unchanged if counts[i] != 1] == []


def from_iso(text: str) -> Any:
    from feeder_devkit.simulator.clock import parse_timestamp  # noqa: PLC0415 - local helper

    return from_ms(parse_timestamp(text))


@pytest.mark.asyncio
async def test_live_traffic_during_a_sweep_never_skips_an_unchanged_session() -> None:
    clock = ManualClock(START)
    settings = make_settings(
        traffic={
            "preload_sessions": 400,
            "preload_span_s": 3600,
            "start_paused": False,
            "new_sessions_per_s": 20,
            "speedup": 50,
            "tie_share": 0.3,
            "fraud_share": 0.3,
            "session_ttl_s": 600,
        }
    )
    async with run_simulator(settings, clock=clock) as live:
        headers = {"authorization": f"Bearer {live.token}"}
        async with httpx.AsyncClient(base_url=live.base_url, headers=headers) as client:
            before = {str(s["id"]) for s in await sweep(client, {"count": 200})}
            first_seq = live.last_seq

            def traffic_moves_on(_page: int) -> None:
                clock.advance(1.0)
                live.step()

            # Bounded above like a real sweep; without the bound it would chase new changes.
            window = {"orderBy": "updatedAt", "count": 25, "maxUpdatedAt": clock().isoformat()}
            served = await sweep(client, window, traffic_moves_on)
            touched = {t.session_id for t in live.ground_truth(after_seq=first_seq)}
    assert len(touched) > 20, "the traffic model changed too little to test anything"
    counts = served_ids(served)
    unchanged = before - touched
    assert [i for i in unchanged if counts[i] != 1] == []


# -- the same property on the store alone, for many shapes of data and queries ------------------

STATUSES = ("active", "completed", "expired")


def _session(session_id: int, data: st.DataObject) -> Session:
    updated = data.draw(st.integers(0, 40))  # a narrow range makes many ties
    maybe = st.one_of(st.none(), st.integers(0, 40))
    return Session(
        id=session_id,
        store_id=data.draw(st.integers(1, 3)),
        customer_id=data.draw(st.integers(1, 5)),
        created_at_ms=0,
        updated_at_ms=updated,
        expires_at_ms=data.draw(st.integers(0, 40)),
        status=data.draw(st.sampled_from(STATUSES)),
        group_size=data.draw(st.integers(1, 3)),
        visitors=data.draw(st.integers(0, 3)),
        customer_last_entered_at_ms=data.draw(maybe),
        code_last_scanned_at_ms=data.draw(maybe),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_store_keyset_walk_serves_each_unchanged_session_exactly_once(data: st.DataObject) -> None:
    store = SessionStore(UuidDeriver(1))
    count = data.draw(st.integers(1, 25), label="sessions")
    for session_id in range(1, count + 1):
        store.insert(_session(session_id, data))
    order_by = data.draw(st.sampled_from(ORDER_BY_VALUES), label="orderBy")
    ascending = data.draw(st.booleans(), label="ascending")
    statuses = data.draw(st.one_of(st.none(), st.frozensets(st.sampled_from(STATUSES), min_size=1)))
    page_size = data.draw(st.integers(1, 7), label="count")
    changed: set[int] = set()
    served: Counter[int] = Counter()
    query = SessionQuery(count=page_size, order_by=order_by, ascending=ascending, statuses=statuses)
    from feeder_devkit.simulator.cursor import Cursor  # noqa: PLC0415

    for _ in range(200):
        page = store.page(query)
        served.update(s.id for s in page.sessions)
        if page.next_after is None:
            break
        key = store.order_key(order_by)
        cursor = Cursor(page.next_after[1], key.to_cursor_value(page.next_after[0]), True)
        query = SessionQuery(
            count=page_size, order_by=order_by, ascending=ascending, statuses=statuses, after=cursor
        )
        for _ in range(data.draw(st.integers(0, 3), label="updates")):
            target = data.draw(st.integers(1, count))
            changed.add(target)
            store.replace(_session(target, data))
    matching = {s.id for s in store if statuses is None or s.status in statuses}
    unchanged = matching - changed
    assert {i: served[i] for i in unchanged if served[i] != 1} == {}
