"""Sort keys and their indexes: ``(key, id)`` pairs kept sorted so a page is a range walk.

Every ``orderBy`` value of the reference page is an :class:`OrderKey`. A :class:`SortIndex` holds
one sorted ``(key, id)`` entry per session; ties on the key are broken by id, which makes every
entry unique and gives keyset pagination a total order. ``null`` timestamps sort after every
real one (as ``NULLS LAST`` would in ascending order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from sortedcontainers import SortedList

from feeder_devkit.simulator.clock import format_ms, parse_timestamp
from feeder_devkit.simulator.records import Session, UuidDeriver

SortValue = int | str
Entry = tuple[SortValue, int]
KeyKind = Literal["int", "timestamp", "nullable_timestamp", "string"]

NULL_KEY = 1 << 62
"""Stands for a ``null`` timestamp inside an index: later than any real time."""

MAX_ID = 1 << 62
"""Larger than any session id, for inclusive upper bounds of a key range."""


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One ``orderBy`` value: how to read it from a session and how cursors spell it."""

    name: str
    kind: KeyKind
    extract: Callable[[Session], SortValue]

    def to_cursor_value(self, value: SortValue) -> object:
        """The JSON form of an index key, as written into an opaque cursor."""
        if isinstance(value, int) and self.kind in ("timestamp", "nullable_timestamp"):
            return None if value == NULL_KEY else format_ms(value)
        return value

    def from_cursor_value(self, raw: object) -> SortValue:
        """The index key of a cursor's ``sortKey``; ``ValueError`` if it cannot be one.

        (A wrong type is a bad value sent by a client, answered with 400: hence ValueError.)
        """
        if self.kind == "string" and isinstance(raw, str):
            return raw
        if self.kind == "int" and isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if self.kind == "nullable_timestamp" and raw is None:
            return NULL_KEY
        if self.kind in ("timestamp", "nullable_timestamp") and isinstance(raw, str):
            return parse_timestamp(raw)
        raise ValueError(f"sortKey {raw!r} does not fit a {self.kind} key")


def _nullable(ms: int | None) -> int:
    return NULL_KEY if ms is None else ms


def order_keys(uuids: UuidDeriver) -> dict[str, OrderKey]:
    """Every ``orderBy`` value of the reference page, by name."""
    keys = (
        OrderKey("id", "int", lambda s: s.id),
        OrderKey("code", "string", lambda s: uuids.code(s.id)),
        OrderKey("storeId", "int", lambda s: s.store_id),
        OrderKey("visitors", "int", lambda s: s.visitors),
        OrderKey("groupSize", "int", lambda s: s.group_size),
        OrderKey("expiresAt", "timestamp", lambda s: s.expires_at_ms),
        OrderKey("customerId", "int", lambda s: s.customer_id),
        OrderKey(
            "codeLastSuccesfullyScannedAt",
            "nullable_timestamp",
            lambda s: _nullable(s.code_last_scanned_at_ms),
        ),
        OrderKey(
            "customerLastEnteredAt",
            "nullable_timestamp",
            lambda s: _nullable(s.customer_last_entered_at_ms),
        ),
        OrderKey("createdAt", "timestamp", lambda s: s.created_at_ms),
        OrderKey("updatedAt", "timestamp", lambda s: s.updated_at_ms),
    )
    return {key.name: key for key in keys}


class SortIndex:
    """All sessions as sorted ``(key, id)`` entries for one :class:`OrderKey`."""

    __slots__ = ("entries", "key")

    def __init__(self, key: OrderKey, sessions: Iterable[Session] = ()) -> None:
        self.key = key
        extract = key.extract
        self.entries = SortedList((extract(s), s.id) for s in sessions)

    def __len__(self) -> int:
        return len(self.entries)

    def entry(self, session: Session) -> Entry:
        return (self.key.extract(session), session.id)

    def add(self, session: Session) -> None:
        self.entries.add(self.entry(session))

    def replace(self, old: Session, new: Session) -> None:
        """Move ``old``'s entry to where ``new`` belongs (no-op when the key is unchanged)."""
        old_entry, new_entry = self.entry(old), self.entry(new)
        if old_entry != new_entry:
            self.entries.remove(old_entry)
            self.entries.add(new_entry)

    def walk(
        self, low: Entry, high: Entry, start: Entry | None, ascending: bool
    ) -> Iterator[Entry]:
        """Entries in ``[low, high]`` strictly past ``start`` in the walking direction."""
        return walk_sorted(self.entries, low, high, start, ascending)


def walk_sorted(
    entries: SortedList, low: Entry, high: Entry, start: Entry | None, ascending: bool
) -> Iterator[Entry]:
    """:meth:`SortIndex.walk` over any ``SortedList`` of entries."""
    if ascending:
        if start is not None and start >= low:
            walked: Iterator[Entry] = entries.irange(start, high, inclusive=(False, True))
        else:
            walked = entries.irange(low, high)
    elif start is not None and start <= high:
        walked = entries.irange(low, start, inclusive=(True, False), reverse=True)
    else:
        walked = entries.irange(low, high, reverse=True)
    return walked
