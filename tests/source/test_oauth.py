"""OAuth2 client credentials: the grant sent, the token cached and refreshed ahead of expiry, a
refusal answered with one refresh, and token endpoint failures sorted into retriable and fatal."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import parse_qs

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr

from feeder.errors import ApiUnavailableError, AuthError, ConfigError
from feeder.source import OAuthClientCredentialsProvider, PageQuery, SessionsApiClient
from feeder.source.observer import RecordingObserver, RetryRecord
from tests.source.conftest import Harness
from tests.source.fakes import CLIENT_SECRET, FakeTime, api_settings, assert_no_secret
from tests.source.scripted_api import (
    OAUTH,
    SESSIONS,
    ScriptedApi,
    json_answer,
    page_answer,
    token_answer,
)

QUERY = PageQuery(datetime(2024, 9, 22, tzinfo=UTC), datetime(2024, 9, 23, tzinfo=UTC), count=2)
EMPTY = page_answer([])


def _oauth_client(harness: Harness, **overrides: object) -> SessionsApiClient:
    settings = api_settings(
        harness.api.base_url,
        oauth_token_url=harness.api.base_url + OAUTH,
        oauth_client_id="feeder-poller",
        oauth_client_secret=CLIENT_SECRET,
        oauth_scope="sessions:read",
        **overrides,
    )
    return harness.client(settings)


def _bearers(api: ScriptedApi) -> list[str]:
    return [r.headers["authorization"].removeprefix("Bearer ") for r in api.received(SESSIONS)]


@pytest.mark.asyncio
async def test_the_grant_is_posted_once_and_the_token_reused(harness: Harness) -> None:
    harness.api.script(OAUTH, token_answer("tok-oauth-1"))
    harness.api.script(SESSIONS, EMPTY, EMPTY, EMPTY)
    client = _oauth_client(harness)

    for _ in range(3):
        await client.fetch_page(QUERY)

    (grant,) = harness.api.received(OAUTH)
    assert grant.method == "POST"
    assert grant.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(grant.body.decode()) == {
        "grant_type": ["client_credentials"],
        "client_id": ["feeder-poller"],
        "client_secret": [CLIENT_SECRET],
        "scope": ["sessions:read"],
    }
    assert _bearers(harness.api) == ["tok-oauth-1"] * 3
    assert harness.observer.token_refreshes == [("oauth", "ok")]


@pytest.mark.asyncio
async def test_the_token_is_refreshed_ahead_of_its_expiry(harness: Harness) -> None:
    harness.api.script(OAUTH, token_answer("tok-oauth-1", 100), token_answer("tok-oauth-2", 100))
    harness.api.script(SESSIONS, EMPTY, EMPTY, EMPTY)
    client = _oauth_client(harness)

    await client.fetch_page(QUERY)
    harness.time.advance(69.0)  # a 100 s token is refreshed 30 s before it expires
    await client.fetch_page(QUERY)
    harness.time.advance(2.0)
    await client.fetch_page(QUERY)

    assert _bearers(harness.api) == ["tok-oauth-1", "tok-oauth-1", "tok-oauth-2"]
    assert len(harness.api.received(OAUTH)) == 2


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=2.0) as client:
        yield client


def _provider(
    api: ScriptedApi, http: httpx.AsyncClient, time: FakeTime, observer: RecordingObserver
) -> OAuthClientCredentialsProvider:
    return OAuthClientCredentialsProvider(
        token_url=api.base_url + OAUTH,
        client_id="feeder-poller",
        client_secret=SecretStr(CLIENT_SECRET),
        scope=None,
        http=http,
        clock=time.monotonic,
        observer=observer,
    )


@pytest.mark.parametrize(
    ("expires_in", "kept_for_s"),
    [(3600, 2880.0), ("3600", 2880.0), (100, 70.0), (20, 10.0)],
    ids=["80-percent", "as-string", "30s-before", "half-life"],
)
@pytest.mark.asyncio
async def test_refresh_comes_at_80_percent_at_least_30s_early_never_before_half_life(
    scripted_api: ScriptedApi, http: httpx.AsyncClient, expires_in: object, kept_for_s: float
) -> None:
    scripted_api.script(OAUTH, token_answer("tok-oauth-1", expires_in), token_answer("tok-oauth-2"))
    time = FakeTime()
    provider = _provider(scripted_api, http, time, RecordingObserver())

    first = await provider.get_token()
    time.advance(kept_for_s - 0.001)
    assert await provider.get_token() == first
    time.advance(0.002)
    assert await provider.get_token() == SecretStr("tok-oauth-2")


@pytest.mark.asyncio
async def test_a_token_without_expires_in_is_kept_until_refused(
    scripted_api: ScriptedApi, http: httpx.AsyncClient
) -> None:
    scripted_api.script(OAUTH, token_answer("tok-oauth-1", None), token_answer("tok-oauth-2"))
    time = FakeTime()
    provider = _provider(scripted_api, http, time, RecordingObserver())
    first = await provider.get_token()

    time.advance(365 * 86_400.0)
    assert await provider.get_token() == first
    provider.invalidate(first)
    assert await provider.get_token() == SecretStr("tok-oauth-2")


@pytest.mark.asyncio
async def test_concurrent_callers_share_one_fetch(
    scripted_api: ScriptedApi, http: httpx.AsyncClient
) -> None:
    scripted_api.script(OAUTH, token_answer("tok-oauth-1"))
    provider = _provider(scripted_api, http, FakeTime(), RecordingObserver())

    tokens = await asyncio.gather(*[provider.get_token() for _ in range(5)])

    assert set(tokens) == {SecretStr("tok-oauth-1")}
    assert len(scripted_api.received(OAUTH)) == 1


@pytest.mark.asyncio
async def test_a_refused_token_is_refreshed_once_and_the_page_fetched(harness: Harness) -> None:
    harness.api.script(OAUTH, token_answer("tok-oauth-1"), token_answer("tok-oauth-2"))
    harness.api.script(SESSIONS, json_answer({}, 401), page_answer([{"id": "1"}]))

    page = await _oauth_client(harness).fetch_page(QUERY)

    assert page.sessions == [{"id": "1"}]
    assert _bearers(harness.api) == ["tok-oauth-1", "tok-oauth-2"]
    assert harness.observer.token_refreshes == [("oauth", "ok"), ("oauth", "ok")]


@pytest.mark.asyncio
async def test_a_fresh_token_refused_again_is_an_auth_error_naming_the_oauth_settings(
    harness: Harness,
) -> None:
    harness.api.script(OAUTH, token_answer("tok-oauth-1"), token_answer("tok-oauth-2"))
    harness.api.script(SESSIONS, json_answer({}, 401), json_answer({}, 401))

    with pytest.raises(AuthError) as caught:
        await _oauth_client(harness).fetch_page(QUERY)

    assert "FEEDER_API__OAUTH_CLIENT_ID" in str(caught.value)
    assert "FEEDER_API__OAUTH_CLIENT_SECRET" in str(caught.value)
    assert_no_secret(caught.value)


@pytest.mark.parametrize("status", [400, 401, 403])
@pytest.mark.asyncio
async def test_refused_client_credentials_are_an_auth_error_without_the_secret(
    harness: Harness, status: int
) -> None:
    echo = {"error": "invalid_client", "error_description": f"bad secret {CLIENT_SECRET}"}
    harness.api.script(OAUTH, json_answer(echo, status))

    with pytest.raises(AuthError, match="error=invalid_client") as caught:
        await _oauth_client(harness).fetch_page(QUERY)

    assert "FEEDER_API__OAUTH_CLIENT_SECRET" in str(caught.value)
    assert harness.api.received(SESSIONS) == []
    assert harness.observer.token_refreshes == [("oauth", "failed")]
    assert_no_secret(caught.value)


@pytest.mark.asyncio
async def test_a_missing_token_endpoint_is_a_config_error(harness: Harness) -> None:
    harness.api.script(OAUTH, json_answer({"message": "not found"}, 404))

    with pytest.raises(ConfigError, match="FEEDER_API__OAUTH_TOKEN_URL"):
        await _oauth_client(harness).fetch_page(QUERY)


@pytest.mark.parametrize(
    "failure",
    [
        json_answer({}, 503),
        json_answer({"token_type": "Bearer"}),
        json_answer({"access_token": "", "expires_in": 60}),
    ],
    ids=["503", "no-access-token", "empty-access-token"],
)
@pytest.mark.asyncio
async def test_token_endpoint_trouble_is_retried_like_any_transient_fault(
    harness: Harness, failure: object
) -> None:
    harness.api.script(OAUTH, failure, token_answer("tok-oauth-1"))  # type: ignore[arg-type]
    harness.api.script(SESSIONS, page_answer([{"id": "1"}]))

    page = await _oauth_client(harness).fetch_page(QUERY)

    assert page.sessions == [{"id": "1"}]
    assert harness.observer.retries == [RetryRecord("token_unavailable", 0.5)]
    assert harness.observer.token_refreshes == [("oauth", "failed"), ("oauth", "ok")]


@pytest.mark.asyncio
async def test_a_token_endpoint_outage_is_bridged_while_the_token_is_valid(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.api.script(OAUTH, token_answer("tok-oauth-1", 100), *[json_answer({}, 503)] * 3)
    harness.api.script(SESSIONS, EMPTY, EMPTY)
    client = _oauth_client(harness, max_attempts=2)
    await client.fetch_page(QUERY)

    harness.time.advance(80.0)  # due for refresh, not yet expired: the old token still serves
    await client.fetch_page(QUERY)
    assert any("using the cached token" in r.getMessage() for r in caplog.records)

    harness.time.advance(30.0)  # expired, and the endpoint is still down
    with pytest.raises(ApiUnavailableError, match="OAuth token endpoint") as caught:
        await client.fetch_page(QUERY)

    assert _bearers(harness.api) == ["tok-oauth-1", "tok-oauth-1"]
    assert_no_secret(caught.value)
    assert all(r.levelno <= logging.WARNING for r in caplog.records)
