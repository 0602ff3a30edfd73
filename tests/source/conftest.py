"""Fixtures for the API client's tests: the scripted server, clients with fake time, and a
check after every test that no log line carried a credential."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio

from feeder.core.timestamps import utc_now
from feeder.settings import ApiSettings
from feeder.source import RecordingObserver, SessionsApiClient
from feeder.typing import Clock
from tests.source.fakes import SECRETS, FakeTime, TopOfRangeJitter, api_settings
from tests.source.scripted_api import ScriptedApi, serving_scripted_api


@pytest_asyncio.fixture
async def scripted_api() -> AsyncIterator[ScriptedApi]:
    """A real HTTP server on a free local port, answering as scripted."""
    async with serving_scripted_api() as api:
        yield api


@dataclass(slots=True)
class Harness:
    """Builds clients against the scripted server with fake time and a recording observer."""

    api: ScriptedApi
    time: FakeTime = field(default_factory=FakeTime)
    observer: RecordingObserver = field(default_factory=RecordingObserver)
    clients: list[SessionsApiClient] = field(default_factory=list)

    def client(
        self,
        settings: ApiSettings | None = None,
        *,
        wall_clock: Clock = utc_now,
        **overrides: object,
    ) -> SessionsApiClient:
        client = SessionsApiClient(
            settings or _settings(self.api.base_url, overrides),
            observer=self.observer,
            clock=self.time.monotonic,
            sleep=self.time.sleep,
            rng=TopOfRangeJitter(),
            wall_clock=wall_clock,
        )
        self.clients.append(client)
        return client


def _settings(default_base_url: str, overrides: dict[str, object]) -> ApiSettings:
    values = dict(overrides)
    return api_settings(str(values.pop("base_url", default_base_url)), **values)


@pytest_asyncio.fixture
async def harness(scripted_api: ScriptedApi) -> AsyncIterator[Harness]:
    """Clients for the scripted server; closed after the test."""
    made = Harness(scripted_api)
    try:
        yield made
    finally:
        for client in made.clients:
            await client.aclose()


@pytest.fixture(autouse=True)
def _no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test also proves that no log line, at any level, carries a credential."""
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        text = record.getMessage()
        assert not any(secret in text for secret in SECRETS), text
