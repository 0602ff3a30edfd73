"""The sweep group: poll interval, re-read delays, start position, retention."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from feeder.settings.base import SettingsGroup

StartPosition = Literal["now", "earliest"] | datetime


_REMOVED_SWEEP_SETTINGS = {
    "settle_delay_s": "the live pass now reads up to the newest record every poll; writes that "
    "become visible late are caught by the re-read passes (FEEDER_SWEEP__REREAD_DELAYS_S)",
    "trailing_interval_s": "each re-read pass now runs once its window spans a twentieth of "
    "its delay (the lookback pass: every lookback_s / 20)",
}


class SweepSettings(SettingsGroup):
    """How the sessions list is swept."""

    start_position: StartPosition = Field(
        "now",
        description="where a feed with an empty checkpoint starts: now, earliest or an "
        "ISO-8601 time; transitions before it are not replayed",
    )
    reread_delays_s: tuple[float, ...] = Field(
        (1.0, 4.0, 8.0, 12.0, 16.0, 20.0, 24.0, 28.0, 32.0, 60.0),
        description="delays of the re-read passes behind the live edge (a JSON list, each "
        "shorter than lookback_s; defaults beyond a shorter lookback are dropped): a write that "
        "becomes visible d seconds late is caught by the first pass whose delay exceeds d; every "
        "pass reads each record once more, sharing the request budget, live first",
    )
    lookback_s: float = Field(
        300.0,
        ge=0,
        description="the last re-read pass: how late a write may become visible and still be "
        "caught; 0 turns every re-read pass off",
    )
    poll_interval_s: float = Field(
        1.0, gt=0, description="a live pass starts every this (drift-free)"
    )
    error_backoff_max_s: float = Field(
        60.0, gt=0, description="cap on the pause after a failed sweep (doubles from 1 s)"
    )
    session_retention_s: float = Field(
        86_400.0,
        ge=0,
        description="tracked sessions are pruned this long after their expiresAt",
    )
    prune_interval_s: float = Field(300.0, gt=0, description="how often pruning runs")
    shutdown_grace_s: float = Field(
        10.0, gt=0, description="on SIGTERM, time for the page in flight to finish"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_removed_settings(cls, data: object) -> object:
        if isinstance(data, dict):
            for name, why in _REMOVED_SWEEP_SETTINGS.items():
                if name in data:
                    raise ValueError(f"FEEDER_SWEEP__{name.upper()} was removed: {why}")
        return data

    @model_validator(mode="after")
    def _passes_are_ordered(self) -> SweepSettings:
        delays = self.reread_delays_s
        if any(delay <= 0 for delay in delays) or list(delays) != sorted(set(delays)):
            raise ValueError(
                "FEEDER_SWEEP__REREAD_DELAYS_S must be positive and strictly increasing"
            )
        explicit = "reread_delays_s" in self.model_fields_set
        if explicit and self.lookback_s > 0 and delays and delays[-1] >= self.lookback_s:
            raise ValueError(
                "FEEDER_SWEEP__REREAD_DELAYS_S must all be shorter than FEEDER_SWEEP__LOOKBACK_S"
            )
        # A session pruned before the lookback pass re-reads it would look new again.
        if self.session_retention_s < self.lookback_s * 1.1:
            raise ValueError(
                "FEEDER_SWEEP__SESSION_RETENTION_S must be at least 1.1 x FEEDER_SWEEP__LOOKBACK_S"
            )
        return self

    @property
    def all_reread_delays_s(self) -> tuple[float, ...]:
        """Every re-read pass's delay, the lookback pass last; none when lookback is 0.

        Default delays at or beyond a shorter lookback are left out (the lookback pass covers
        them); delays set explicitly must be shorter than it (checked at start-up).
        """
        if self.lookback_s <= 0:
            return ()
        return (*(d for d in self.reread_delays_s if d < self.lookback_s), self.lookback_s)
