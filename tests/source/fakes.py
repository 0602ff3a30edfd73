"""Test doubles for time and randomness, test credentials, and settings for tests."""

from __future__ import annotations

import asyncio
import random

from feeder.settings import ApiSettings

TOKEN = "tok-3f9a1c77e2b04d51"
OAUTH_TOKEN_PREFIX = "tok-oauth-"
CLIENT_SECRET = "sec-8d1e4b2a95c6f037"
SECRETS = (TOKEN, OAUTH_TOKEN_PREFIX, CLIENT_SECRET)


class FakeTime:
    """A monotonic clock that moves only when slept on or advanced by hand."""

    def __init__(self, start_s: float = 1_000.0) -> None:
        self.now_s = start_s
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds

    async def sleep(self, delay_s: float) -> None:
        self.sleeps.append(delay_s)
        self.now_s += max(delay_s, 0.0)
        await asyncio.sleep(0)


class TopOfRangeJitter(random.Random):
    """``uniform(a, b)`` is always ``b``: backoff delays become their ceilings."""

    def uniform(self, a: float, b: float) -> float:
        return b


def api_settings(base_url: str, **overrides: object) -> ApiSettings:
    """Test settings: a static token unless a credential is given, short timeouts."""
    values: dict[str, object] = {
        "base_url": base_url,
        "connect_timeout_s": 2.0,
        "request_timeout_s": 2.0,
        "max_attempts": 5,
        "backoff_initial_s": 0.5,
        "backoff_max_s": 4.0,
        "retry_after_max_s": 30.0,
        "requests_per_s": 5.0,
    }
    if not {"token_file", "oauth_token_url"} & overrides.keys():
        values["token"] = TOKEN
    values.update(overrides)
    return ApiSettings.model_validate(values)


def assert_no_secret(error: BaseException) -> None:
    """Neither ``error`` nor anything in its cause/context chain mentions a credential."""
    seen: BaseException | None = error
    while seen is not None:
        for text in (str(seen), repr(seen)):
            assert not any(secret in text for secret in SECRETS), text
        seen = seen.__cause__ or seen.__context__
