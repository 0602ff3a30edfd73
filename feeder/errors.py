"""One exception root, subclassed by what the caller does about it.

::

    FeederError
    ├── RetriableError          transient: back off and try again (network, 5xx, 503, 429, timeouts)
    │   ├── ApiUnavailableError     the sessions API kept failing after the client's own retries
    │   ├── SinkUnavailableError    Kafka did not acknowledge within its deadline
    │   └── CheckpointUnavailableError  the checkpoint could not be written (e.g. disk full)
    ├── FatalError              retrying cannot help: stop with a message naming the setting to fix
    │   ├── ConfigError             a setting is missing or invalid
    │   ├── AuthError               401/403 that persists after a token refresh
    │   └── FencedError             another instance took over this feed
    └── SkippableError          one session is bad: it is dead-lettered and the sweep goes on
        └── MalformedSessionError   a session failed validation (``field`` says which)

Foreign exceptions (httpx, aiokafka, sqlite3) are translated once, at the boundary that caught
them, with ``raise ... from exc``. Messages never contain a credential.
"""

from __future__ import annotations

from typing import TypeVar

_E = TypeVar("_E", bound=BaseException)


class FeederError(Exception):
    """Root of every error feeder raises on purpose."""


class RetriableError(FeederError):
    """A transient fault: the operation may succeed if tried again later."""


class ApiUnavailableError(RetriableError):
    """The sessions API did not answer successfully within the client's retry budget."""


class SinkUnavailableError(RetriableError):
    """Kafka did not acknowledge a send or flush within its deadline."""


class CheckpointUnavailableError(RetriableError):
    """The checkpoint store refused a write that may succeed later (its disk is full)."""


class FatalError(FeederError):
    """Retrying cannot help; the process stops with this message."""


class ConfigError(FatalError):
    """A setting is missing or invalid."""


class AuthError(FatalError):
    """The API refused our credentials even after a refresh."""


class FencedError(FatalError):
    """Another instance owns this feed now; this one must stop."""


class SkippableError(FeederError):
    """One input is bad; it is set aside (dead-lettered) and processing continues."""


class MalformedSessionError(SkippableError):
    """A session in a page failed validation."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason if field is None else f"{field}: {reason}")
        self.reason = reason
        self.field = field


def is_retriable_status(status: int) -> bool:
    """Whether an HTTP status is transient: 408, 429 and every 5xx (the API throttles with 503)."""
    return status in (408, 429) or 500 <= status <= 599


def first_leaf(group: BaseExceptionGroup[_E]) -> _E:
    """The first exception of ``group`` that is not a group itself (depth first): what a task
    group's caller reports, rather than the group."""
    first = group.exceptions[0]
    return first_leaf(first) if isinstance(first, BaseExceptionGroup) else first
