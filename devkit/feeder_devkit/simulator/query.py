"""The query string of ``GET /api/admin/v2/sessions``: validated into a :class:`SessionQuery`.

Validation collects every problem and reports it the way the real API does (a Joi-style
``E_INVALID_BODY`` body): ``{"error": "\\"count\\" must be ...", "rule": "number.max",
"field": "\\"count\\""}``. Unknown parameters are rejected too (``object.unknown``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from feeder_devkit.simulator.clock import parse_timestamp
from feeder_devkit.simulator.cursor import Cursor, decode_cursor

DEFAULT_COUNT = 20
MAX_COUNT = 200
ORDER_BY_VALUES = (
    "id",
    "code",
    "storeId",
    "visitors",
    "groupSize",
    "expiresAt",
    "customerId",
    "codeLastSuccesfullyScannedAt",
    "customerLastEnteredAt",
    "createdAt",
    "updatedAt",
)
DATE_RANGE_KEYS = (
    "CreatedAt",
    "UpdatedAt",
    "ExpiresAt",
    "CodeLastSuccesfullyScannedAt",
    "CustomerLastEnteredAt",
)
# name of the range -> (lowest allowed min, lowest allowed max), from the reference page
INT_RANGE_KEYS = {"Visitors": (0, 1), "GroupSize": (0, 1)}
_INT_PARAMS = ("id", "storeId", "customerId")
_STRING_PARAMS = ("code", "sessionToken")
_KNOWN = frozenset(
    (
        "count",
        "after",
        "before",
        "orderBy",
        "direction",
        "status",
        "status[]",
        *_INT_PARAMS,
        *_STRING_PARAMS,
        *(f"{side}{key}" for key in DATE_RANGE_KEYS for side in ("min", "max")),
        *(f"{side}{key}" for key in INT_RANGE_KEYS for side in ("min", "max")),
    )
)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One entry of the 400 body's ``errors`` list."""

    error: str
    rule: str
    field: str

    def to_json(self) -> dict[str, str]:
        return {"error": self.error, "rule": self.rule, "field": self.field}


class InvalidQueryError(ValueError):
    """The query string broke one or more rules; ``errors`` lists them."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__("; ".join(e.error for e in errors))
        self.errors = tuple(errors)


def _lower(name: str) -> str:
    return name[0].lower() + name[1:]


@dataclass(frozen=True, slots=True)
class SessionQuery:
    """A valid sessions query. Ranges are inclusive and keyed by ``orderBy`` names."""

    count: int = DEFAULT_COUNT
    order_by: str = "id"
    ascending: bool = True
    after: Cursor | None = None
    before: Cursor | None = None
    ranges: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    id: int | None = None
    code: str | None = None
    session_token: str | None = None
    store_id: int | None = None
    customer_id: int | None = None
    statuses: frozenset[str] | None = None


class _Parser:
    """Reads one parameter at a time, collecting errors instead of stopping at the first."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.values: dict[str, list[str]] = {}
        for name, value in pairs:
            self.values.setdefault(name, []).append(value)
        self.errors: list[FieldError] = []

    def fail(self, name: str, message: str, rule: str) -> None:
        self.errors.append(FieldError(f'"{name}" {message}', rule, f'"{name}"'))

    def single(self, name: str) -> str | None:
        values = self.values.get(name)
        if values is None:
            return None
        if len(values) > 1:
            self.fail(name, "must be a single value", "any.single")
            return None
        return values[0]

    def integer(
        self, name: str, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        text = self.single(name)
        if text is None:
            return None
        try:
            value = int(text.strip())
        except ValueError:
            try:
                float(text)
            except ValueError:
                self.fail(name, "must be a number", "number.base")
            else:
                self.fail(name, "must be an integer", "number.integer")
            return None
        if minimum is not None and value < minimum:
            self.fail(name, f"must be greater than or equal to {minimum}", "number.min")
            return None
        if maximum is not None and value > maximum:
            self.fail(name, f"must be less than or equal to {maximum}", "number.max")
            return None
        return value

    def timestamp(self, name: str) -> int | None:
        text = self.single(name)
        if text is None:
            return None
        try:
            return parse_timestamp(text)
        except ValueError:
            self.fail(name, "must be in ISO 8601 date format", "date.format")
            return None

    def choice(self, name: str, allowed: Sequence[str], default: str) -> str:
        text = self.single(name)
        if text is None:
            return default
        if text not in allowed:
            self.fail(name, f"must be one of [{', '.join(allowed)}]", "any.only")
            return default
        return text

    def cursor(self, name: str) -> Cursor | None:
        text = self.single(name)
        if text is None:
            return None
        try:
            return decode_cursor(text)
        except ValueError:
            self.fail(name, "must be an id or a base64 encoded cursor", "any.invalid")
            return None


def parse_query(pairs: Sequence[tuple[str, str]]) -> SessionQuery:
    """Validate a decoded query string; :class:`InvalidQueryError` lists every problem."""
    p = _Parser(pairs)
    for name in p.values:
        if name not in _KNOWN:
            p.fail(name, "is not allowed", "object.unknown")
    count = p.integer("count", 1, MAX_COUNT)
    order_by = p.choice("orderBy", ORDER_BY_VALUES, "id")
    direction = p.choice("direction", ("asc", "desc"), "asc")
    after, before = p.cursor("after"), p.cursor("before")
    if after is not None and before is not None:
        p.fail("after", "must not be given together with before", "object.oxor")
    ranges: dict[str, tuple[int | None, int | None]] = {}
    for key in DATE_RANGE_KEYS:
        bounds = (p.timestamp(f"min{key}"), p.timestamp(f"max{key}"))
        if bounds != (None, None):
            ranges[_lower(key)] = bounds
    for key, (lowest_min, lowest_max) in INT_RANGE_KEYS.items():
        bounds = (p.integer(f"min{key}", lowest_min), p.integer(f"max{key}", lowest_max))
        if bounds != (None, None):
            ranges[_lower(key)] = bounds
    ints = {name: p.integer(name, 0) for name in _INT_PARAMS}
    strings = {name: p.single(name) for name in _STRING_PARAMS}
    statuses: frozenset[str] | None = None
    status_values = p.values.get("status", []) + p.values.get("status[]", [])
    if status_values:
        statuses = frozenset(
            part.strip() for value in status_values for part in value.split(",") if part.strip()
        )
        if not statuses:
            p.fail("status", "must contain at least 1 items", "array.min")
    if p.errors:
        raise InvalidQueryError(p.errors)
    return SessionQuery(
        count=DEFAULT_COUNT if count is None else count,
        order_by=order_by,
        ascending=direction == "asc",
        after=after,
        before=before,
        ranges=ranges,
        id=ints["id"],
        code=strings["code"],
        session_token=strings["sessionToken"],
        store_id=ints["storeId"],
        customer_id=ints["customerId"],
        statuses=statuses,
    )
