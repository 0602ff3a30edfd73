"""Who gets in: the static token, OAuth2 client credentials (with expiry), and the 503 limit."""

from __future__ import annotations

import base64

import httpx
import pytest
from feeder_devkit.simulator import ManualClock, Simulator, run_simulator

from tests.simulator.conftest import SESSIONS, START, make_settings

pytestmark = pytest.mark.asyncio


async def test_missing_or_wrong_token_is_401(sim: Simulator) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url) as client:
        for headers in ({}, {"authorization": "Bearer nope"}, {"authorization": "sim-token"}):
            response = await client.get(SESSIONS, headers=headers)
            assert response.status_code == 401, headers
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["type"] == "E_UNAUTHORIZED"
        ok = await client.get(SESSIONS, headers={"authorization": f"Bearer {sim.token}"})
        assert ok.status_code == 200


async def token(client: httpx.AsyncClient, **form: str) -> httpx.Response:
    return await client.post("/oauth2/token", data=form)


async def test_oauth2_client_credentials_token_works_until_it_expires(clock: ManualClock) -> None:
    settings = make_settings(server={"oauth_token_lifetime_s": 60})
    async with (
        run_simulator(settings, clock=clock) as sim,
        httpx.AsyncClient(base_url=sim.base_url) as client,
    ):
        answer = await token(
            client,
            grant_type="client_credentials",
            client_id="sim-client",
            client_secret="sim-secret",
            scope="sessions:read",
        )
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "no-store"
        body = answer.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 60
        assert body["scope"] == "sessions:read"
        headers = {"authorization": f"Bearer {body['access_token']}"}
        assert (await client.get(SESSIONS, headers=headers)).status_code == 200
        clock.advance(59)
        assert (await client.get(SESSIONS, headers=headers)).status_code == 200
        clock.advance(1)
        assert (await client.get(SESSIONS, headers=headers)).status_code == 401
        assert sim.oauth_token_url == f"{sim.base_url}/oauth2/token"


async def test_oauth2_basic_client_authentication_and_errors(sim: Simulator) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url) as client:
        basic = base64.b64encode(b"sim-client:sim-secret").decode()
        answer = await client.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials"},
            headers={"authorization": f"Basic {basic}"},
        )
        assert answer.status_code == 200
        wrong = await token(
            client, grant_type="client_credentials", client_id="sim-client", client_secret="x"
        )
        assert (wrong.status_code, wrong.json()) == (401, {"error": "invalid_client"})
        grant = await token(client, grant_type="password", client_id="sim-client")
        assert (grant.status_code, grant.json()) == (400, {"error": "unsupported_grant_type"})
        missing = await token(client, grant_type="client_credentials")
        assert (missing.status_code, missing.json()) == (400, {"error": "invalid_request"})
        assert (await client.get("/oauth2/token")).status_code == 405


async def test_revoked_tokens_answer_401(sim: Simulator) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url) as client:
        body = (
            await token(
                client,
                grant_type="client_credentials",
                client_id="sim-client",
                client_secret="sim-secret",
            )
        ).json()
        headers = {"authorization": f"Bearer {body['access_token']}"}
        assert (await client.get(SESSIONS, headers=headers)).status_code == 200
        revoked = await client.post("/_simulator/revoke-tokens")
        assert revoked.json() == {"revoked": 1}
        assert (await client.get(SESSIONS, headers=headers)).status_code == 401


async def test_over_the_rate_limit_the_api_answers_503(clock: ManualClock) -> None:
    settings = make_settings(server={"rate_limit_per_s": 5})
    async with (
        run_simulator(settings, clock=clock) as sim,
        httpx.AsyncClient(
            base_url=sim.base_url, headers={"authorization": f"Bearer {sim.token}"}
        ) as client,
    ):
        statuses = [(await client.get(SESSIONS)).status_code for _ in range(8)]
        assert statuses == [200] * 5 + [503] * 3  # the clock stands still: no refill
        limited = await client.get(SESSIONS)
        assert limited.json()["type"] == "E_SERVICE_UNAVAILABLE"
        clock.advance(0.2)  # one request's worth of tokens at 5/s
        assert [(await client.get(SESSIONS)).status_code for _ in range(2)] == [200, 503]
        clock.advance(1.0)
        assert [(await client.get(SESSIONS)).status_code for _ in range(6)] == [200] * 5 + [503]
        unauthenticated = await client.get(SESSIONS, headers={"authorization": "Bearer x"})
        assert unauthenticated.status_code == 401  # checked before the limit


async def test_the_rate_limit_is_per_client(clock: ManualClock) -> None:
    settings = make_settings(server={"rate_limit_per_s": 2})
    async with (
        run_simulator(settings, clock=clock) as sim,
        httpx.AsyncClient(base_url=sim.base_url) as client,
    ):
        static = {"authorization": f"Bearer {sim.token}"}
        issued = (
            await token(
                client,
                grant_type="client_credentials",
                client_id="sim-client",
                client_secret="sim-secret",
            )
        ).json()["access_token"]
        oauth = {"authorization": f"Bearer {issued}"}
        assert [(await client.get(SESSIONS, headers=static)).status_code for _ in range(3)] == [
            200,
            200,
            503,
        ]
        assert (await client.get(SESSIONS, headers=oauth)).status_code == 200


async def test_default_rate_limit_is_twenty_per_second() -> None:
    assert make_settings(server={"rate_limit_per_s": 20}).server.rate_limit_per_s == 20
    from feeder_devkit.simulator import ServerSettings  # noqa: PLC0415

    assert ServerSettings().rate_limit_per_s == 20
    assert START.tzinfo is not None
