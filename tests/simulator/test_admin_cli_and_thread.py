"""The /_simulator/ routes, ``feeder simulate`` (flags, environment, Ctrl-C), the thread runner."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
from datetime import timedelta

import httpx
import orjson
import pytest
from feeder_devkit.simulator import (
    ManualClock,
    Simulator,
    SimulatorSettings,
    run_simulator,
    run_simulator_in_thread,
)
from feeder_devkit.simulator.cli import add_arguments, settings_from_args
from feeder_devkit.simulator.clock import format_ms, from_ms
from feeder_devkit.simulator.records import UuidDeriver
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.simulator.conftest import SESSIONS, START, make_settings


@pytest.mark.asyncio
async def test_admin_routes_control_the_simulator(
    sim: Simulator, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    status = (await client.get("/_simulator/status")).json()
    assert status["sessions"] == 300
    assert status["paused"] is True
    assert status["seed"] == 7
    assert (await client.post("/_simulator/resume")).json()["paused"] is False
    clock.advance(30)
    assert (await client.post("/_simulator/step")).status_code == 200  # (or the ticker ran it)
    assert (await client.get("/_simulator/status")).json()["sessions"] > 300
    assert (await client.post("/_simulator/pause")).json()["paused"] is True

    created = await client.post(
        "/_simulator/sessions", json={"storeId": 2, "customerId": 9, "groupSize": 3}
    )
    assert created.status_code == 201
    sid = created.json()["id"]
    assert created.json()["session"]["storeId"] == 2
    entered = format_ms(to_ms_of(clock() + timedelta(seconds=1)))
    patched = await client.patch(
        f"/_simulator/sessions/{sid}",
        json={"customerLastEnteredAt": entered, "suspectedFraud": True, "status": "completed"},
    )
    assert patched.status_code == 200
    record = (await client.get(f"/_simulator/sessions/{sid}")).json()
    assert record["customerLastEnteredAt"] == entered
    assert record["customerFirstEnteredAt"] == entered
    assert record["suspectedFraud"] is True
    assert record["status"] == "completed"
    served = (await client.get(SESSIONS, params={"id": sid})).json()["data"]
    assert served == [record]
    kinds = [t.kind for t in sim.ground_truth(session_id=sid)]
    assert kinds == ["created", "entered", "suspected_fraud_changed", "status_changed"]

    tie = served[0]["updatedAt"]
    await client.patch(f"/_simulator/sessions/{int(sid) - 1}", json={"updatedAt": tie})
    assert sim.session(int(sid) - 1)["updatedAt"] == tie  # type: ignore[index]

    late = await client.post("/_simulator/sessions", json={"visibleAfterS": 10})
    assert late.json()["session"] is None
    assert (await client.get("/_simulator/status")).json()["held_changes"] == 1

    preload = (await client.post("/_simulator/preload", json={"count": 100})).json()
    assert preload["sessions"] == 100
    assert preload["rss_bytes"] > 0

    errors = [
        await client.patch("/_simulator/sessions/99999", json={"status": "x"}),
        await client.get("/_simulator/sessions/99999"),
        await client.get("/_simulator/nothing"),
        await client.post("/_simulator/sessions", json={"storeId": 999}),
        await client.post("/_simulator/sessions", json={"colour": "red"}),
        await client.post("/_simulator/sessions", content=b"{not json"),
        await client.patch("/_simulator/sessions/1", json={"updatedAt": "2024-01-01T00:00:00"}),
    ]
    assert [e.status_code for e in errors] == [404, 404, 404, 400, 400, 400, 400]


def to_ms_of(moment: object) -> int:
    from feeder_devkit.simulator.clock import to_ms  # noqa: PLC0415

    assert hasattr(moment, "tzinfo")
    return to_ms(moment)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_an_admin_token_guards_the_admin_routes(clock: ManualClock) -> None:
    settings = make_settings(server={"admin_token": "root"})
    async with (
        run_simulator(settings, clock=clock) as sim,
        httpx.AsyncClient(base_url=sim.base_url) as client,
    ):
        assert (await client.get("/_simulator/status")).status_code == 401
        ok = await client.get("/_simulator/status", headers={"authorization": "Bearer root"})
        assert ok.status_code == 200
        assert (await client.get("/nowhere")).status_code == 404
        assert (await client.post(SESSIONS)).status_code == 405


def test_the_thread_runner_serves_sync_callers() -> None:
    with run_simulator_in_thread(make_settings(), clock=ManualClock(START)) as sim:
        sid = sim.call(lambda s: s.create_session(store_id=1))
        with httpx.Client(base_url=sim.base_url) as client:
            page = client.get(SESSIONS, headers={"authorization": f"Bearer {sim.token}"}).json()
        assert [r["id"] for r in page["data"]] == [sid]
        assert [t.kind for t in sim.call(lambda s: s.ground_truth())] == ["created"]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_every_setting_is_a_flag_and_flags_beat_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FEEDER_SIM_TRAFFIC__STORES", "40")
    monkeypatch.setenv("FEEDER_SIM_SERVER__TOKEN", "from-env")
    monkeypatch.setenv("FEEDER_SIM_FAULTS__ERROR_SHARE", "0.25")
    built = settings_from_args(
        parse(
            [
                "--stores",
                "12",
                "--fault-error-statuses",
                "502,503",
                "--fault-id-format",
                "mixed",
                "--start-paused",
                "--ground-truth-path",
                "truth/x.jsonl",
            ]
        )
    )
    assert built.traffic.stores == 12
    assert built.traffic.start_paused is True
    assert built.server.token.get_secret_value() == "from-env"
    assert built.faults.error_share == 0.25
    assert built.faults.error_statuses == (502, 503)
    assert built.faults.id_format == "mixed"
    assert str(built.ground_truth.path) == "truth/x.jsonl"
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    flags = {a.dest for a in parser._actions}
    for group, info in SimulatorSettings.model_fields.items():
        model = info.annotation
        assert model is not None
        for name in model.model_fields:  # type: ignore[union-attr]
            assert f"sim__{group}__{name}" in flags, (group, name)


def test_feeder_simulate_serves_until_ctrl_c() -> None:
    env = {**os.environ, "FEEDER_SIM_TRAFFIC__SEED": "5"}
    command = [sys.executable, "-m", "feeder", "simulate", "--port", "0", "--log-level", "warning"]
    with subprocess.Popen(  # noqa: S603 - our own command line
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    ) as process:
        try:
            assert process.stdout is not None
            banner = [process.stdout.readline() for _ in range(5)]
            match = re.search(r"serving (http://\S+)/api/admin/v2/sessions", banner[0])
            assert match, banner
            assert "seed         : 5" in banner[4]
            answer = httpx.get(
                f"{match.group(1)}{SESSIONS}", headers={"authorization": "Bearer sim-token"}
            )
            assert answer.status_code == 200
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) == 0
            assert "stopping" in process.stdout.read()
        finally:
            if process.poll() is None:
                process.kill()


def test_invalid_settings_exit_2() -> None:
    command = [sys.executable, "-m", "feeder", "simulate", "--fault-error-share", "3"]
    finished = subprocess.run(  # noqa: S603 - our own command line
        command, capture_output=True, text=True, timeout=60, check=False
    )
    assert finished.returncode == 2
    assert "error_share" in finished.stderr


@settings(max_examples=200, deadline=None)
@given(session_id=st.integers(1, 2**40), salt=st.integers(0, 2**64 - 1))
def test_codes_and_tokens_are_uuid4_and_lead_back_to_their_session(
    session_id: int, salt: int
) -> None:
    import uuid  # noqa: PLC0415

    uuids = UuidDeriver(salt)
    code = uuids.code(session_id)
    token = uuids.session_token(session_id)
    assert uuid.UUID(code).version == 4
    assert uuid.UUID(token).version == 4
    assert str(uuid.UUID(code)) == code
    assert code != token
    assert uuids.id_of_code(code) == session_id
    assert uuids.id_of_session_token(token) == session_id
    assert uuids.id_of_code(token) is None


@settings(max_examples=300, deadline=None)
@given(ms=st.integers(0, 253402300799999))
def test_timestamps_render_with_milliseconds(ms: int) -> None:
    moment = from_ms(ms)
    expected = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    assert format_ms(ms) == expected


@pytest.mark.asyncio
async def test_fast_and_dict_renderers_agree(sim: Simulator) -> None:
    renderer = sim._renderer  # comparing the two internal renderers
    for session_id in range(1, 301):
        session = sim._store.get(session_id)
        assert session is not None
        for as_int in (False, True):
            fast = orjson.loads(renderer.render_text(session, as_int))
            assert fast == orjson.loads(orjson.dumps(renderer.render(session, as_int)))
