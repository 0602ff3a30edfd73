"""Fault injection: what goes wrong with one request, decided from the current fault settings.

The settings can be replaced at any time (:meth:`FaultInjector.replace`); each decision reads the
settings in force when it is made. Decisions draw from their own seeded random source, so a
seeded run with the same requests gets the same faults.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime

from feeder_devkit.simulator.render import JsonDict, malform
from feeder_devkit.simulator.settings import FaultSettings

NON_JSON_BODY = (
    b"<!DOCTYPE html><html><head><title>Service Unavailable</title></head>"
    b"<body><h1>Upstream temporarily unavailable</h1></body></html>"
)


@dataclass(frozen=True, slots=True)
class RequestFaults:
    """The faults chosen for one request, applied in field order."""

    delay_s: float = 0.0
    hang: bool = False
    throttle: bool = False
    error_status: int | None = None
    truncate: bool = False
    non_json: bool = False


NO_FAULTS = RequestFaults()


class FaultInjector:
    """Decides faults per request, per record and per change, from replaceable settings."""

    def __init__(self, settings: FaultSettings, rng: random.Random) -> None:
        self._settings = settings
        self._rng = rng

    @property
    def settings(self) -> FaultSettings:
        return self._settings

    def replace(self, settings: FaultSettings) -> None:
        self._settings = settings

    def _hit(self, share: float) -> bool:
        return share > 0 and self._rng.random() < share

    def for_request(self) -> RequestFaults:
        s = self._settings
        if s == _DEFAULTS:
            return NO_FAULTS
        delay_s = s.latency_ms / 1000
        if s.latency_jitter_ms > 0:
            delay_s += self._rng.random() * s.latency_jitter_ms / 1000
        return RequestFaults(
            delay_s=delay_s,
            hang=self._hit(s.hang_share),
            throttle=self._hit(s.throttle_share),
            error_status=self._rng.choice(s.error_statuses) if self._hit(s.error_share) else None,
            truncate=self._hit(s.truncated_share),
            non_json=self._hit(s.non_json_share),
        )

    def retry_after(self, now: datetime) -> str:
        """The ``Retry-After`` value of a 429 answer, in the configured form."""
        s = self._settings
        form = s.retry_after_form
        if form == "mixed":
            form = "seconds" if self._rng.random() < 0.5 else "http-date"
        if form == "seconds":
            return str(s.retry_after_s)
        return format_datetime(now + timedelta(seconds=s.retry_after_s), usegmt=True)

    def id_as_int(self) -> bool:
        """Whether the next record's ``id`` is served as a number."""
        form = self._settings.id_format
        if form == "mixed":
            return self._rng.random() < 0.5
        return form == "integer"

    def maybe_malform(self, record: JsonDict) -> str | None:
        """Break a served record with probability ``malformed_share``; returns how, if it did."""
        if self._hit(self._settings.malformed_share):
            return malform(record, self._rng)
        return None

    def late_delay_ms(self) -> int:
        """How late the next traffic change becomes visible (0 for at once)."""
        s = self._settings
        if not self._hit(s.late_visible_share):
            return 0
        delay_s = s.late_visible_delay_s
        if s.late_visible_delay_max_s is not None and s.late_visible_delay_max_s > delay_s:
            delay_s = self._rng.uniform(delay_s, s.late_visible_delay_max_s)
        return max(1, int(delay_s * 1000))

    def from_replica(self) -> bool:
        """Whether the next page is answered from the frozen replica."""
        return self._hit(self._settings.replica_share)


_DEFAULTS = FaultSettings()
