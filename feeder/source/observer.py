"""What the API client reports as it works: attempts, retries, token refreshes, malformed bodies.

Metrics implement :class:`~feeder.typing.ApiObserver` (defined there with its label values);
they observe and never steer. Every argument is a bounded label value (an outcome or reason from a
fixed set, an HTTP status code as a string) or a number of seconds, never a session id, a URL or a
credential. :data:`NO_OP_OBSERVER` is the default;
:class:`RecordingObserver` keeps every call for tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from feeder.source.page import MalformedBodyProblem
from feeder.typing import (
    NO_OP_OBSERVER,
    ApiObserver,
    AttemptOutcome,
    NoOpObserver,
    RetryReason,
    TokenRefreshOutcome,
    TokenSource,
)

__all__ = [
    "NO_OP_OBSERVER",
    "NO_STATUS",
    "ApiObserver",
    "AttemptOutcome",
    "AttemptRecord",
    "NoOpObserver",
    "RecordingObserver",
    "RetryReason",
    "RetryRecord",
    "TokenRefreshOutcome",
    "TokenSource",
]

NO_STATUS = "none"
"""The ``status`` label of an attempt that got no HTTP response."""


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One :meth:`ApiObserver.on_attempt` call."""

    outcome: AttemptOutcome
    status: str
    duration_s: float


@dataclass(frozen=True, slots=True)
class RetryRecord:
    """One :meth:`ApiObserver.on_retry` call."""

    reason: RetryReason
    delay_s: float


@dataclass(slots=True)
class RecordingObserver:
    """An :class:`ApiObserver` that keeps every call, in order, for tests to assert on."""

    attempts: list[AttemptRecord] = field(default_factory=list)
    retries: list[RetryRecord] = field(default_factory=list)
    token_refreshes: list[tuple[TokenSource, TokenRefreshOutcome]] = field(default_factory=list)
    malformed_bodies: list[MalformedBodyProblem] = field(default_factory=list)

    def on_attempt(self, outcome: AttemptOutcome, status: str, duration_s: float) -> None:
        """Keep the attempt."""
        self.attempts.append(AttemptRecord(outcome, status, duration_s))

    def on_retry(self, reason: RetryReason, delay_s: float) -> None:
        """Keep the retry."""
        self.retries.append(RetryRecord(reason, delay_s))

    def on_token_refresh(self, source: TokenSource, outcome: TokenRefreshOutcome) -> None:
        """Keep the refresh."""
        self.token_refreshes.append((source, outcome))

    def on_malformed_body(self, problem: MalformedBodyProblem) -> None:
        """Keep the problem."""
        self.malformed_bodies.append(problem)
