"""Static tokens and token files: a refusal is retried once after a refresh, then it is fatal and
names the setting; a token file is re-read when it changes."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from feeder.errors import AuthError, ConfigError
from feeder.source import PageQuery, StaticTokenProvider, TokenFileProvider
from feeder.source.observer import RecordingObserver
from tests.source.conftest import Harness
from tests.source.fakes import TOKEN, assert_no_secret
from tests.source.scripted_api import SESSIONS, json_answer, page_answer

QUERY = PageQuery(datetime(2024, 9, 22, tzinfo=UTC), datetime(2024, 9, 23, tzinfo=UTC), count=2)


def _write_token(path: Path, text: str, mtime_s: int) -> None:
    """Write ``text``; an explicit mtime makes the change visible whatever the fs granularity."""
    path.write_text(text, encoding="utf-8")
    os.utime(path, (mtime_s, mtime_s))


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.asyncio
async def test_a_static_token_refused_twice_is_an_auth_error_naming_the_setting(
    harness: Harness, status: int
) -> None:
    refused = json_answer({"message": "Unauthorized"}, status)
    harness.api.script(SESSIONS, refused, refused)

    with pytest.raises(AuthError, match="FEEDER_API__TOKEN ") as caught:
        await harness.client().fetch_page(QUERY)

    assert str(status) in str(caught.value)
    assert len(harness.api.received(SESSIONS)) == 2
    assert [a.outcome for a in harness.observer.attempts] == ["auth_rejected"] * 2
    assert harness.observer.retries == []
    assert_no_secret(caught.value)


@pytest.mark.asyncio
async def test_a_single_refusal_is_retried_once_without_using_the_retry_budget(
    harness: Harness,
) -> None:
    harness.api.script(SESSIONS, json_answer({}, 401), page_answer([{"id": "1"}]))

    page = await harness.client(max_attempts=1).fetch_page(QUERY)

    assert page.sessions == [{"id": "1"}]


@pytest.mark.asyncio
async def test_the_token_file_is_read_stripped_and_re_read_when_it_changes(
    harness: Harness, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    _write_token(token_file, f"  {TOKEN}-one\n", 1_700_000_000)
    harness.api.script(SESSIONS, *[page_answer([])] * 3)
    client = harness.client(token_file=token_file)

    await client.fetch_page(QUERY)
    await client.fetch_page(QUERY)
    _write_token(token_file, f"{TOKEN}-two\n", 1_700_000_100)
    await client.fetch_page(QUERY)

    sent = [r.headers["authorization"] for r in harness.api.received(SESSIONS)]
    assert sent == [f"Bearer {TOKEN}-one"] * 2 + [f"Bearer {TOKEN}-two"]
    assert harness.observer.token_refreshes == [("file", "ok"), ("file", "ok")]


@pytest.mark.asyncio
async def test_a_refused_file_token_is_re_read_and_then_named_in_the_error(
    harness: Harness, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    _write_token(token_file, TOKEN, 1_700_000_000)
    harness.api.script(SESSIONS, json_answer({}, 401), json_answer({}, 401))

    with pytest.raises(AuthError, match="FEEDER_API__TOKEN_FILE") as caught:
        await harness.client(token_file=token_file).fetch_page(QUERY)

    assert len(harness.api.received(SESSIONS)) == 2
    assert_no_secret(caught.value)


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "does not exist"), (" \n", "is empty"), ("two words", "whitespace")],
)
@pytest.mark.asyncio
async def test_an_unusable_token_file_is_a_config_error_naming_the_setting(
    harness: Harness, tmp_path: Path, content: str | None, problem: str
) -> None:
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content, encoding="utf-8")

    with pytest.raises(ConfigError, match="FEEDER_API__TOKEN_FILE") as caught:
        await harness.client(token_file=token_file).fetch_page(QUERY)

    assert problem in str(caught.value)
    assert str(token_file) in str(caught.value)
    assert harness.api.received(SESSIONS) == []


@pytest.mark.asyncio
async def test_a_token_file_that_vanishes_after_a_good_read_keeps_the_last_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token_file = tmp_path / "token"
    _write_token(token_file, TOKEN, 1_700_000_000)
    observer = RecordingObserver()
    provider = TokenFileProvider(token_file, observer=observer)
    first = await provider.get_token()
    token_file.unlink()

    again = await provider.get_token()

    assert again == first == SecretStr(TOKEN)
    assert observer.token_refreshes == [("file", "ok"), ("file", "failed")]
    assert any(
        r.levelno == logging.WARNING and "does not exist" in r.getMessage() for r in caplog.records
    )


def test_a_static_token_is_stripped_and_must_be_a_single_word() -> None:
    with pytest.raises(ConfigError, match="FEEDER_API__TOKEN is empty"):
        StaticTokenProvider(SecretStr("   "))
    with pytest.raises(ConfigError, match="whitespace") as caught:
        StaticTokenProvider(SecretStr(f"{TOKEN} {TOKEN}"))
    assert_no_secret(caught.value)


@pytest.mark.asyncio
async def test_a_refused_token_makes_the_file_be_read_even_if_it_looks_unchanged(
    tmp_path: Path,
) -> None:
    token_file = tmp_path / "token"
    _write_token(token_file, f"{TOKEN}-aaaa", 1_700_000_000)
    provider = TokenFileProvider(token_file)
    first = await provider.get_token()
    _write_token(token_file, f"{TOKEN}-bbbb", 1_700_000_000)  # same inode, size and mtime

    assert await provider.get_token() == first  # the stat says nothing changed
    provider.invalidate(first)
    assert await provider.get_token() == SecretStr(f"{TOKEN}-bbbb")
