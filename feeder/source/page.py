"""One page of the sessions list: the query we send and the sessions we got back.

The query always asks for ``orderBy=updatedAt&direction=asc`` inside an ``updatedAt`` window and
pages with the API's own ``pagination.next.after`` cursor (never offsets). The body is checked only
for its envelope (a JSON object with a ``data`` list); the sessions themselves are handed on exactly
as orjson decoded them, because validating them is the core's job (bad ones are dead-lettered).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import orjson

MAX_PAGE_COUNT = 200
"""The API's largest ``count``."""

MalformedBodyProblem = Literal["not_json", "not_object", "data_not_list", "pagination_invalid"]
"""What was wrong with a response body; a bounded set, usable as a metric label."""


def format_api_timestamp(moment: datetime) -> str:
    """``moment`` as the API writes timestamps: UTC, milliseconds (truncated), ``Z``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"API timestamps must be timezone-aware, got naive {moment!r}")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class PageQuery:
    """One ``GET /api/admin/v2/sessions`` request: an ``updatedAt`` window, a size, a cursor.

    ``min_updated_at`` and ``max_updated_at`` are aware datetimes (converted to UTC, sent with
    millisecond precision); ``max_updated_at=None`` asks for everything up to the newest record;
    ``count`` is 1..200; ``after`` is a previous page's ``pagination.next.after``, passed back
    verbatim.
    """

    min_updated_at: datetime
    max_updated_at: datetime | None
    count: int
    after: str | None = None

    def __post_init__(self) -> None:
        for name in ("min_updated_at", "max_updated_at"):
            moment = getattr(self, name)
            if moment is not None and (moment.tzinfo is None or moment.utcoffset() is None):
                raise ValueError(f"PageQuery.{name} must be timezone-aware, got {moment!r}")
        if self.max_updated_at is not None and self.min_updated_at > self.max_updated_at:
            raise ValueError(
                f"PageQuery window is empty: min_updated_at {self.min_updated_at.isoformat()} "
                f"is after max_updated_at {self.max_updated_at.isoformat()}"
            )
        if not 1 <= self.count <= MAX_PAGE_COUNT:
            raise ValueError(f"PageQuery.count must be 1..{MAX_PAGE_COUNT}, got {self.count}")
        if self.after == "":
            raise ValueError("PageQuery.after must be None or a non-empty cursor")

    def query_params(self) -> tuple[tuple[str, str], ...]:
        """The query string's parameters, in a fixed order."""
        bounds = [("minUpdatedAt", format_api_timestamp(self.min_updated_at))]
        if self.max_updated_at is not None:
            bounds.append(("maxUpdatedAt", format_api_timestamp(self.max_updated_at)))
        params = (
            *bounds,
            ("orderBy", "updatedAt"),
            ("direction", "asc"),
            ("count", str(self.count)),
        )
        return params if self.after is None else (*params, ("after", self.after))


@dataclass(frozen=True, slots=True)
class RawPage:
    """A page as the API sent it.

    ``sessions`` holds each element of the body's ``data`` untouched (raw session JSON).
    ``next_after`` is the cursor for the next page, or ``None`` when this page is the last one:
    ``pagination.next`` missing or ``null``, ``data`` empty, or fewer sessions than asked for.
    ``duration_s`` is how long the successful attempt took.
    """

    sessions: list[object]
    next_after: str | None
    duration_s: float


@dataclass(frozen=True, slots=True)
class MalformedBody:
    """A body that is not the expected envelope; the request is retried like a 5xx."""

    problem: MalformedBodyProblem
    detail: str
    """For logs: the decoder's message or the type found. Never contains the body itself."""


def decode_page(body: bytes, *, requested_count: int, duration_s: float) -> RawPage | MalformedBody:
    """The page in ``body``, or what was wrong with its envelope."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return MalformedBody("not_json", f"{exc} ({len(body)} bytes)")
    if not isinstance(document, dict):
        return MalformedBody("not_object", f"top level is {type(document).__name__}")
    sessions = document.get("data")
    if not isinstance(sessions, list):
        return MalformedBody("data_not_list", f"data is {type(sessions).__name__}")
    cursor = _next_cursor(document.get("pagination"))
    if isinstance(cursor, MalformedBody):
        return cursor
    if not sessions or len(sessions) < requested_count:
        cursor = None
    return RawPage(sessions=sessions, next_after=cursor, duration_s=duration_s)


def _next_cursor(pagination: object) -> str | MalformedBody | None:
    """``pagination.next.after`` as a string; ``None`` when absent or null at any level."""
    node, where = pagination, "pagination"
    for key in ("next", "after"):
        if node is None:
            return None
        if not isinstance(node, dict):
            return MalformedBody("pagination_invalid", f"{where} is {type(node).__name__}")
        node, where = node.get(key), f"{where}.{key}"
    if node is None or node == "":
        return None
    # The page documents the cursor as "Id or base64 encoded cursor": an integer id is a cursor too.
    if isinstance(node, bool) or not isinstance(node, str | int):
        return MalformedBody("pagination_invalid", f"{where} is {type(node).__name__}")
    return str(node)
