"""The sessions themselves, their sort indexes, and answering one page of a query.

Pages are keyset walks over a :class:`~feeder_devkit.simulator.ordering.SortIndex`: start strictly
past the cursor's ``(sortKey, id)``, keep what matches the filters, stop after ``count + 1`` matches
(the extra one says whether a next page exists). Nothing scans the whole table: ranges on the
``orderBy`` key bound the walk, ``id``/``code``/``sessionToken`` filters look one session up.
Indexes for ``id`` and ``updatedAt`` exist from the start; the others are built on first use.

A session that changes moves within every index at once, so an unchanged session keeps its
position for as long as it is unchanged: a sweep in ``(updatedAt, id)`` order never skips it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from sortedcontainers import SortedList

from feeder_devkit.simulator.cursor import Cursor
from feeder_devkit.simulator.ordering import (
    MAX_ID,
    NULL_KEY,
    Entry,
    OrderKey,
    SortIndex,
    order_keys,
    walk_sorted,
)
from feeder_devkit.simulator.query import FieldError, InvalidQueryError, SessionQuery
from feeder_devkit.simulator.records import Session, UuidDeriver

EAGER_INDEXES = ("id", "updatedAt")
LOOKAROUND_BUDGET = 10_000
"""Entries examined to decide whether a filtered page has a neighbour before giving up (yes)."""

_LOWEST = -(1 << 62)

Predicate = Callable[[Session], bool]


@dataclass(frozen=True, slots=True)
class Page:
    """The sessions of one page in the requested order, and cursors to its neighbours."""

    sessions: list[Session]
    order_key: OrderKey
    next_after: Entry | None
    previous_before: Entry | None


class SessionStore:
    """Every session by id, plus one sort index per ``orderBy`` key in use."""

    def __init__(self, uuids: UuidDeriver) -> None:
        self._uuids = uuids
        self._sessions: dict[int, Session] = {}
        self._keys = order_keys(uuids)
        self._indexes: dict[str, SortIndex] = {
            name: SortIndex(self._keys[name]) for name in EAGER_INDEXES
        }
        self._last_id = 0

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        return iter(self._sessions.values())

    def get(self, session_id: int) -> Session | None:
        return self._sessions.get(session_id)

    def new_id(self) -> int:
        """A fresh id, larger than every id handed out before."""
        self._last_id += 1
        return self._last_id

    def order_key(self, name: str) -> OrderKey:
        return self._keys[name]

    def index(self, name: str) -> SortIndex:
        """The index of ``orderBy`` key ``name`` (built now if this is its first use)."""
        index = self._indexes.get(name)
        if index is None:
            index = SortIndex(self._keys[name], self._sessions.values())
            self._indexes[name] = index
        return index

    def insert(self, session: Session) -> None:
        if session.id in self._sessions:
            raise ValueError(f"session {session.id} exists already")
        self._sessions[session.id] = session
        self._last_id = max(self._last_id, session.id)
        for index in self._indexes.values():
            index.add(session)

    def bulk_insert(self, sessions: Iterable[Session]) -> int:
        """Insert many sessions at once (indexes rebuilt once); returns how many."""
        before = len(self._sessions)
        for session in sessions:
            if session.id in self._sessions:
                raise ValueError(f"session {session.id} exists already")
            self._sessions[session.id] = session
            self._last_id = max(self._last_id, session.id)
        for name in list(self._indexes):
            self._indexes[name] = SortIndex(self._keys[name], self._sessions.values())
        return len(self._sessions) - before

    def replace(self, session: Session) -> Session:
        """Swap in a new state of an existing session; returns the old state."""
        old = self._sessions[session.id]
        self._sessions[session.id] = session
        for index in self._indexes.values():
            index.replace(old, session)
        return old

    # -- queries ---------------------------------------------------------------------------

    def page(self, query: SessionQuery) -> Page:
        """One page of ``query``; :class:`InvalidQueryError` for a cursor that cannot be used."""
        key = self._keys[query.order_by]
        after = self._resolve(query.after, key, "after")
        before = self._resolve(query.before, key, "before")
        low, high = _bounds(key, query.ranges.get(query.order_by))
        predicate = self._predicate(query)
        source = self._source(query, key)
        forward = before is None
        walking_up = query.ascending if forward else not query.ascending
        walked = walk_sorted(source, low, high, after if forward else before, walking_up)
        picked = self._take(walked, predicate, query.count + 1)
        more_beyond = len(picked) > query.count
        del picked[query.count :]
        if not forward:
            picked.reverse()
        if not picked:
            return Page([], key, None, None)
        first, last = picked[0][0], picked[-1][0]
        if forward:
            has_next = more_beyond
            has_previous = self._any(
                source=source,
                low=low,
                high=high,
                start=first,
                ascending=not query.ascending,
                predicate=predicate,
            )
        else:
            has_previous = more_beyond
            has_next = self._any(
                source=source,
                low=low,
                high=high,
                start=last,
                ascending=query.ascending,
                predicate=predicate,
            )
        return Page(
            [session for _, session in picked],
            key,
            last if has_next else None,
            first if has_previous else None,
        )

    def _resolve(self, cursor: Cursor | None, key: OrderKey, name: str) -> Entry | None:
        if cursor is None:
            return None
        if cursor.has_sort_key:
            try:
                return (key.from_cursor_value(cursor.sort_key), cursor.id)
            except ValueError as exc:
                raise _invalid(name, f"has a sortKey that does not fit orderBy ({exc})") from exc
        if key.name == "id":
            return (cursor.id, cursor.id)
        session = self._sessions.get(cursor.id)
        if session is None:
            raise _invalid(name, "refers to a session that does not exist")
        return (key.extract(session), session.id)

    def _source(self, query: SessionQuery, key: OrderKey) -> SortedList:
        lookups = [
            query.id,
            None if query.code is None else self._uuids.id_of_code(query.code),
            None
            if query.session_token is None
            else self._uuids.id_of_session_token(query.session_token),
        ]
        given = [query.id is not None, query.code is not None, query.session_token is not None]
        if not any(given):
            return self.index(key.name).entries
        ids = {found for found, asked in zip(lookups, given, strict=True) if asked}
        if len(ids) != 1 or None in ids:
            return SortedList()
        session = self._sessions.get(ids.pop() or 0)
        return SortedList() if session is None else SortedList([(key.extract(session), session.id)])

    def _predicate(self, query: SessionQuery) -> Predicate | None:
        checks: list[Predicate] = []
        if query.store_id is not None:
            store_id = query.store_id
            checks.append(lambda s: s.store_id == store_id)
        if query.customer_id is not None:
            customer_id = query.customer_id
            checks.append(lambda s: s.customer_id == customer_id)
        if query.statuses is not None:
            statuses = query.statuses
            checks.append(lambda s: s.status in statuses)
        for name, (lowest, highest) in query.ranges.items():
            if name != query.order_by:
                checks.append(_range_check(self._keys[name], lowest, highest))
        if not checks:
            return None
        if len(checks) == 1:
            return checks[0]
        return lambda s: all(check(s) for check in checks)

    def _take(
        self, walked: Iterator[Entry], predicate: Predicate | None, wanted: int
    ) -> list[tuple[Entry, Session]]:
        sessions = self._sessions
        picked: list[tuple[Entry, Session]] = []
        for entry in walked:
            session = sessions[entry[1]]
            if predicate is None or predicate(session):
                picked.append((entry, session))
                if len(picked) >= wanted:
                    break
        return picked

    def _any(
        self,
        *,
        source: SortedList,
        low: Entry,
        high: Entry,
        start: Entry,
        ascending: bool,
        predicate: Predicate | None,
    ) -> bool:
        walked = walk_sorted(source, low, high, start, ascending)
        for examined, entry in enumerate(walked):
            if predicate is None or predicate(self._sessions[entry[1]]):
                return True
            if examined >= LOOKAROUND_BUDGET:
                return True
        return False


def _invalid(name: str, message: str) -> InvalidQueryError:
    return InvalidQueryError([FieldError(f'"{name}" {message}', "any.invalid", f'"{name}"')])


def _bounds(key: OrderKey, bounds: tuple[int | None, int | None] | None) -> tuple[Entry, Entry]:
    """Inclusive ``(key, id)`` limits of the walk from a range filter on the ``orderBy`` key."""
    if key.kind == "string":
        return ("", -1), ("\U0010ffff", MAX_ID)
    lowest, highest = bounds if bounds is not None else (None, None)
    low = _LOWEST if lowest is None else lowest
    if highest is not None:
        high = highest
    elif key.kind == "nullable_timestamp" and bounds is not None:
        high = NULL_KEY - 1  # a range on a timestamp excludes records where it is null
    else:
        high = NULL_KEY
    return (low, -1), (high, MAX_ID)


def _range_check(key: OrderKey, lowest: int | None, highest: int | None) -> Predicate:
    extract = key.extract
    low = _LOWEST if lowest is None else lowest
    high = NULL_KEY - 1 if highest is None else highest

    def check(session: Session) -> bool:
        value = extract(session)
        return isinstance(value, int) and low <= value <= high

    return check
