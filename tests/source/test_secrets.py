"""No credential in a repr, an exception or a log line (every test in this package also checks
its own log lines, at DEBUG and for every logger, in the autouse fixture of conftest.py)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from feeder.errors import AuthError
from feeder.source import PageQuery
from tests.source.conftest import Harness
from tests.source.fakes import CLIENT_SECRET, SECRETS, TOKEN, api_settings, assert_no_secret
from tests.source.scripted_api import OAUTH, SESSIONS, json_answer, page_answer, token_answer

QUERY = PageQuery(datetime(2024, 9, 22, tzinfo=UTC), datetime(2024, 9, 23, tzinfo=UTC), count=2)


def _assert_clean(text: str) -> None:
    assert not any(secret in text for secret in SECRETS), text


@pytest.mark.asyncio
async def test_reprs_of_clients_providers_and_settings_hide_credentials(
    harness: Harness, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN, encoding="utf-8")
    oauth = {
        "oauth_token_url": harness.api.base_url + OAUTH,
        "oauth_client_id": "feeder-poller",
        "oauth_client_secret": CLIENT_SECRET,
    }
    harness.api.script(OAUTH, token_answer("tok-oauth-1"))
    harness.api.script(SESSIONS, page_answer([]), page_answer([]), page_answer([]))

    for credential in ({}, {"token_file": token_file}, oauth):
        settings = api_settings(harness.api.base_url, **credential)
        client = harness.client(settings)
        await client.fetch_page(QUERY)  # the token is loaded and cached by now
        _assert_clean(repr(client))
        _assert_clean(repr(settings))
        _assert_clean(str(settings.model_dump()))


@pytest.mark.asyncio
async def test_a_noisy_failing_run_logs_plenty_and_never_a_credential(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.api.script(
        OAUTH,
        json_answer({}, 500),
        token_answer("tok-oauth-1"),
        token_answer("tok-oauth-2"),
    )
    harness.api.script(SESSIONS, json_answer({}, 503), json_answer({}, 401), json_answer({}, 401))
    client = harness.client(
        oauth_token_url=harness.api.base_url + OAUTH,
        oauth_client_id="feeder-poller",
        oauth_client_secret=SecretStr(CLIENT_SECRET),
    )

    with pytest.raises(AuthError) as caught:
        await client.fetch_page(QUERY)

    assert_no_secret(caught.value)
    loggers = {record.name for record in caplog.records}
    assert {"feeder.source", "httpx"} <= loggers  # the check in conftest.py saw real traffic
    assert any(r.levelno == logging.WARNING for r in caplog.records if r.name == "feeder.source")
