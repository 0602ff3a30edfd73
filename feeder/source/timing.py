"""The clock, sleep and wall-clock seams the API client takes, so tests can drive time by hand.

``Clock`` is monotonic seconds (rate limiting, token expiry, attempt durations); ``WallClock`` is
an aware UTC ``datetime`` (Retry-After dates when the response has no ``Date`` header, the window
of ``check()``); ``Sleep`` waits a number of seconds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeAlias

Clock: TypeAlias = Callable[[], float]
Sleep: TypeAlias = Callable[[float], Awaitable[None]]
WallClock: TypeAlias = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time as an aware UTC ``datetime``."""
    return datetime.now(UTC)
