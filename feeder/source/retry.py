"""When to retry a failed attempt and how long to wait first.

Exponential backoff with full jitter (a uniform delay between 0 and ``initial * 2**(n-1)``, capped)
spreads retries of many clients apart. A ``Retry-After`` header, in either of its forms
(delta-seconds or an HTTP-date), replaces the backoff, capped at ``retry_after_max_s`` so that a
confused server cannot park the feed for hours.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from feeder.settings import ApiSettings

_MAX_DOUBLINGS = 60  # beyond this the cap applies anyway; keeps 2**n a small float


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP-date header value as an aware UTC datetime, or ``None`` if absent or unreadable."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    # asctime-format dates parse as naive; HTTP-dates are always GMT.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def parse_retry_after_s(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait according to a ``Retry-After`` value, or ``None`` if absent or unreadable.

    ``now`` is the reference for the HTTP-date form (best: the response's own ``Date`` header, so
    that clock skew between us and the server cancels out). A date in the past means 0.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    moment = parse_http_date(text)
    if moment is None:
        return None
    return max(0.0, (moment - now).total_seconds())


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Delays between attempts: full-jitter exponential backoff, or a capped ``Retry-After``."""

    initial_s: float
    max_s: float
    retry_after_max_s: float

    @classmethod
    def from_settings(cls, settings: ApiSettings) -> BackoffPolicy:
        """The policy ``settings`` ask for."""
        return cls(
            initial_s=settings.backoff_initial_s,
            max_s=settings.backoff_max_s,
            retry_after_max_s=settings.retry_after_max_s,
        )

    def delay_s(self, failures: int, retry_after_s: float | None, rng: random.Random) -> float:
        """How long to wait after the ``failures``-th consecutive failure (1-based)."""
        if retry_after_s is not None:
            return min(retry_after_s, self.retry_after_max_s)
        ceiling_s = self.initial_s * 2.0 ** min(max(failures - 1, 0), _MAX_DOUBLINGS)
        return rng.uniform(0.0, min(ceiling_s, self.max_s))
