"""The aliases and Protocols that more than one folder of feeder uses, in one place.

Each seam between the folders is a small ``typing.Protocol`` here: where outgoing records go
(:class:`RecordSink`), what the feed remembers (:class:`CheckpointStore`, :class:`CheckpointAdmin`),
where pages come from (:class:`PageSource`), how a page reaches Kafka with its checkpoint
(:class:`PageDelivery`), where bearer tokens come from (:class:`TokenProvider`), and who is told
what happened (the observers; metrics implement them and never steer). The data these Protocols
carry are frozen dataclasses defined where they are made.

Time: :data:`Clock` is the wall clock (an aware UTC ``datetime``), :data:`MonotonicClock` counts
seconds for intervals and deadlines, :data:`Sleep` waits a number of seconds. Each is injected, so
tests drive time by hand.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol, TypeAlias

if TYPE_CHECKING:
    from pydantic import SecretStr

    from feeder.checkpoint.reports import RebuildProgress, StoreDescription, StoreSize
    from feeder.core.page_plan import PagePlan
    from feeder.core.records import OutgoingRecord
    from feeder.core.slices import Slice
    from feeder.core.state import FeedPosition, SessionState
    from feeder.errors import RetriableError
    from feeder.source.page import MalformedBodyProblem, PageQuery, RawPage
    from feeder.sweep.delivery import Delivered
    from feeder.sweep.sweeper import PassReport

Clock: TypeAlias = Callable[[], datetime]
"""The wall clock: the current time as an aware UTC ``datetime``."""

MonotonicClock: TypeAlias = Callable[[], float]
"""Monotonic seconds (rate limiting, token expiry, attempt durations)."""

Sleep: TypeAlias = Callable[[float], Awaitable[None]]
"""Waits a number of seconds."""


# --- the sink --------------------------------------------------------------------------------


class RecordSink(Protocol):
    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        """Return once every record is acknowledged, in order per key.

        Raise ``SinkUnavailableError`` if that did not happen within the sink's deadline; some
        records may then have been written, and the caller re-sends the whole page later.
        """
        ...

    async def aclose(self) -> None:
        """Flush and release; idempotent."""
        ...


# --- the checkpoint store --------------------------------------------------------------------


class RebuildObserver(Protocol):
    def rebuild_progressed(self, progress: RebuildProgress) -> None: ...


class CheckpointStore(Protocol):
    """Remembers what the feed has delivered.

    ``commit`` is atomic: the states and the position land together or not at all, and it is
    called only after the sink acknowledged every record of the page. A Kafka-transactional
    backend implements the same methods with compacted topics.
    """

    async def load_position(self) -> FeedPosition | None:
        """The committed position, or ``None`` for a feed that never committed."""
        ...

    async def load_states(self, session_ids: Collection[str]) -> dict[str, SessionState]:
        """The last committed state of each of ``session_ids`` that is known."""
        ...

    async def commit(self, states: Iterable[SessionState], position: FeedPosition) -> None:
        """Store the newer states and the new position in one atomic step."""
        ...

    async def aclose(self) -> None:
        """Release the store; idempotent."""
        ...

    async def expired_sessions(self, expired_before: datetime, limit: int) -> list[str]:
        """Ids of at most ``limit`` sessions whose ``SessionState.prunable_from`` (``expiresAt``
        and the latest ``updatedAt``) is older than ``expired_before``, the longest expired
        first.

        The pruner publishes a tombstone for each of them before it calls ``forget``.
        """
        ...

    async def forget(self, session_ids: Collection[str], expired_before: datetime) -> StoreSize:
        """Forget those of ``session_ids`` that are still expired before ``expired_before`` (one
        committed again since it was listed stays); return the size left."""
        ...


class CheckpointAdmin(Protocol):
    """Operating a store (``feeder checkpoint``): never called by a running feed; ``rewind``
    and ``reset`` only while no feed holds the store."""

    async def describe(self) -> StoreDescription:
        """Sizes and bounds of what the store holds; read-only."""
        ...

    async def rewind(self, position: FeedPosition, *, forget_since: datetime | None) -> int:
        """Replace the position and, if ``forget_since`` is given, forget every session whose
        last ``updatedAt`` is at or after it, in one atomic step; return how many were forgotten.
        """
        ...

    async def reset(self) -> None:
        """Forget everything: the position, every session and the last commit time."""
        ...


# --- the source --------------------------------------------------------------------------------


class PageSource(Protocol):
    """One page of the sessions list per query (the API client, or a test's list)."""

    async def fetch_page(self, query: PageQuery) -> RawPage: ...


class TokenProvider(Protocol):
    """Hands out the bearer token to send, and hears when the server refused it.

    Implementations keep the token in a :class:`~pydantic.SecretStr` and never put it in a log
    line, an exception message or their ``repr``.
    """

    @property
    def settings_hint(self) -> str:
        """The settings an operator should check when the server keeps refusing our tokens."""
        ...

    async def get_token(self) -> SecretStr:
        """The token to send now, loading or refreshing it first if needed.

        Raises :class:`~feeder.errors.ApiUnavailableError` when a token service failed
        transiently, :class:`~feeder.errors.AuthError` or :class:`~feeder.errors.ConfigError` when
        retrying cannot help.
        """
        ...

    def invalidate(self, rejected: SecretStr) -> None:
        """The server answered 401/403 to ``rejected``: the next :meth:`get_token` gets a fresh
        one."""
        ...


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


class ApiObserver(Protocol):
    """Told about everything the API client (and a token provider) does that an operator may
    want to count or time. Every argument is a bounded label value or a number of seconds,
    never a session id, a URL or a credential."""

    def on_attempt(self, outcome: AttemptOutcome, status: str, duration_s: float) -> None:
        """One HTTP attempt ended; ``status`` is the code as a string or ``"none"``."""

    def on_retry(self, reason: RetryReason, delay_s: float) -> None:
        """The client will sleep ``delay_s`` before the next attempt."""

    def on_token_refresh(self, source: TokenSource, outcome: TokenRefreshOutcome) -> None:
        """A token was (re)loaded: first use, expiry ahead, file changed, or rejected by the API."""

    def on_malformed_body(self, problem: MalformedBodyProblem) -> None:
        """A 2xx body was not the expected envelope (the attempt is retried)."""


class NoOpObserver:
    """An :class:`ApiObserver` that ignores everything (the default)."""

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


# --- the sweep ---------------------------------------------------------------------------------


class PageDelivery(Protocol):
    async def deliver(
        self,
        records: Sequence[OutgoingRecord],
        states: Iterable[SessionState],
        position: FeedPosition,
    ) -> Delivered:
        """Put ``records`` in Kafka and ``states``/``position`` in the checkpoint; on an error
        the caller reads the page again later (its events keep their ids)."""
        ...


class SweepObserver(Protocol):
    """Told what each page, read and tick did (``pass_name``: ``live``, ``reread_30s``,
    ``backfill``)."""

    def page_written(
        self,
        pass_name: str,
        plan: PagePlan,
        records: Sequence[OutgoingRecord],
        *,
        commit_s: float,
        acked_at: datetime,
    ) -> None: ...

    def read_finished(self, pass_name: str, started_at: datetime, now: datetime) -> None: ...

    def tick_finished(self, report: PassReport) -> None: ...


class BackfillObserver(SweepObserver, Protocol):
    """Told what a backfill did, slice by slice: ``for_slice`` gives the observer of one slice's
    sweep, told first where the slice stands (``resumed_at``: the committed cursor)."""

    def for_slice(self, piece: Slice, resumed_at: datetime) -> SweepObserver: ...


class LoopObserver(Protocol):
    """Told what the feed's loops (poll, prune, heartbeat) met."""

    def sweep_failed(self, error: RetriableError) -> None: ...

    def store_measured(self, size: StoreSize) -> None: ...

    def tombstones_published(self, topic: str, count: int) -> None: ...

    def prune_failed(self, error: RetriableError) -> None: ...

    def heartbeat_published(self, records: Sequence[OutgoingRecord]) -> None: ...

    def heartbeat_failed(self, error: RetriableError) -> None: ...
