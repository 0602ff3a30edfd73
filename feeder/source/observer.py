"""What the API client reports as it works: attempts, retries, token refreshes, malformed bodies.

Metrics implement :class:`ApiObserver`; they observe and never steer. Every argument is a bounded
label value (an outcome or reason from a fixed set, an HTTP status code as a string) or a number of
seconds, never a session id, a URL or a credential. :data:`NO_OP_OBSERVER` is the default;
:class:`RecordingObserver` keeps every call for tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from feeder.source.page import MalformedBodyProblem

AttemptOutcome = Literal[
    "ok",  # 2xx with a well-formed page
    "retriable_status",  # 408, 429 or 5xx (503 is how the API throttles)
    "malformed_body",  # 2xx whose body is not a JSON object with a ``data`` list
    "timeout",  # a phase deadline or the attempt's overall deadline passed
    "network_error",  # connection refused, reset, closed mid-body, ...
    "token_unavailable",  # the OAuth token endpoint failed transiently
    "auth_rejected",  # 401 or 403
    "rejected",  # any other status: retrying cannot help
]
"""How one HTTP attempt ended."""

RetryReason = Literal[
    "retriable_status", "malformed_body", "timeout", "network_error", "token_unavailable"
]
"""Why an attempt is being retried after a backoff; a subset of :data:`AttemptOutcome`."""

TokenSource = Literal["static", "file", "oauth"]
"""Where bearer tokens come from."""

TokenRefreshOutcome = Literal["ok", "failed"]
"""Whether obtaining a new token worked."""

NO_STATUS = "none"
"""The ``status`` label of an attempt that got no HTTP response."""


class ApiObserver(Protocol):
    """Told about everything the client does that an operator may want to count or time."""

    def on_attempt(self, outcome: AttemptOutcome, status: str, duration_s: float) -> None:
        """One HTTP attempt ended; ``status`` is the code as a string or :data:`NO_STATUS`."""

    def on_retry(self, reason: RetryReason, delay_s: float) -> None:
        """The client will sleep ``delay_s`` before the next attempt."""

    def on_token_refresh(self, source: TokenSource, outcome: TokenRefreshOutcome) -> None:
        """A token was (re)loaded: first use, expiry ahead, file changed, or rejected by the API."""

    def on_malformed_body(self, problem: MalformedBodyProblem) -> None:
        """A 2xx body was not the expected envelope (the attempt is retried)."""


class NoOpObserver:
    """An :class:`ApiObserver` that ignores everything."""

    __slots__ = ()

    def on_attempt(self, outcome: AttemptOutcome, status: str, duration_s: float) -> None:
        """Ignore."""

    def on_retry(self, reason: RetryReason, delay_s: float) -> None:
        """Ignore."""

    def on_token_refresh(self, source: TokenSource, outcome: TokenRefreshOutcome) -> None:
        """Ignore."""

    def on_malformed_body(self, problem: MalformedBodyProblem) -> None:
        """Ignore."""


NO_OP_OBSERVER: ApiObserver = NoOpObserver()


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
