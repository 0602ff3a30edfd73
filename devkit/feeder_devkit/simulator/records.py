"""One simulated session, as the simulator stores it.

A :class:`Session` is immutable; a change makes a new one (``session._replace``) and the store
swaps it in. It is a ``NamedTuple`` rather than a frozen dataclass on purpose: a bulk preload
makes a million of them, and a tuple is built about seven times faster than a frozen
dataclass's ``__init__`` sets twenty fields (same size in memory).

Timestamps are integer milliseconds since the epoch (``None`` until they happen). ``code`` and
``sessionToken`` are not stored: they are UUID-shaped strings derived from the id and a per-run
salt, and the id can be read back from them, which keeps a million sessions small and makes
``?code=`` and ``?sessionToken=`` lookups exact without a second index.
"""

from __future__ import annotations

from typing import NamedTuple

ACTIVE = "active"
"""The one status the reference page documents."""

INVENTED_STATUSES = ("checkout_pending", "completed", "expired", "cancelled")
"""Statuses the simulator makes up; the real API's other values are undocumented."""

_MASK64 = (1 << 64) - 1
_TAIL_MASK = (1 << 48) - 1
_TAIL_SPREAD = 0x5DEECE66D  # odd, so multiplying by it is a bijection modulo 2**48
_TAIL_UNSPREAD = pow(_TAIL_SPREAD, -1, 1 << 48)


class Session(NamedTuple):
    """The stored state of one session; the API's JSON is rendered from it."""

    id: int
    store_id: int
    customer_id: int
    created_at_ms: int
    updated_at_ms: int
    expires_at_ms: int
    status: str = ACTIVE
    group_size: int = 1
    visitors: int = 0
    entries: int = 0
    suspected_fraud: bool = False
    code_first_scanned_at_ms: int | None = None
    code_last_scanned_at_ms: int | None = None
    customer_first_entered_at_ms: int | None = None
    customer_last_entered_at_ms: int | None = None
    customer_first_exited_at_ms: int | None = None
    customer_last_exited_at_ms: int | None = None
    customer_satisfaction: int | None = None
    customer_satisfaction_submitted: bool = False
    priority: int = 0
    version: int = 1  # how many changes made this state (1: created); never served


def _mix64(value: int) -> int:
    """SplitMix64's finaliser: a fast, well-spread bijection on 64-bit integers."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


class UuidDeriver:
    """Derives a session's ``code``, ``sessionToken`` and event ids, and reads ids back.

    The first 80 bits of a code look random (a 64-bit mix of the id and a per-run salt); the
    last 48 bits are an invertible scramble of the id, which is how an id is read back.
    """

    __slots__ = ("_salt", "_tail_mask")

    def __init__(self, salt: int) -> None:
        self._salt = salt & _MASK64
        self._tail_mask = _mix64(self._salt + 1) & _TAIL_MASK

    def _uuid(self, session_id: int) -> str:
        bits = _mix64(self._salt ^ session_id)
        head = (bits & 0xFFFFFFFFFFFF0FFF) | 0x4000
        variant = 0x8000 | ((bits >> 20) & 0x3FFF)
        tail = ((session_id ^ self._tail_mask) * _TAIL_SPREAD) & _TAIL_MASK
        return "%08x-%04x-%04x-%04x-%012x" % (  # noqa: UP031 - faster than slicing an f-string
            head >> 32,
            (head >> 16) & 0xFFFF,
            head & 0xFFFF,
            variant,
            tail,
        )

    def code(self, session_id: int) -> str:
        return self._uuid(session_id)

    def session_token(self, session_id: int) -> str:
        return token_of_code(self.code(session_id))

    def id_of_code(self, code: str) -> int | None:
        """The id whose ``code`` is ``code``, or ``None`` if no id derives it."""
        text = code.lower()
        try:
            tail = int(text[-12:], 16)
        except ValueError:
            return None
        scrambled = (tail * _TAIL_UNSPREAD) & _TAIL_MASK
        session_id = scrambled ^ self._tail_mask
        return session_id if self._uuid(session_id) == text else None

    def id_of_session_token(self, token: str) -> int | None:
        """The id whose ``sessionToken`` is ``token``, or ``None`` if no id derives it."""
        if len(token) != 36:
            return None
        return self.id_of_code(code_of_token(token))


def token_of_code(code: str) -> str:
    """A session's ``sessionToken``: its ``code`` with the groups moved (cheap, and reversible).

    Both are version-4 UUID shapes; the code's version nibble is the token's too.
    """
    return f"{code[24:32]}-{code[32:36]}-4{code[15:18]}-{code[19:23]}-{code[0:8]}{code[9:13]}"


def code_of_token(token: str) -> str:
    """The inverse of :func:`token_of_code`."""
    return f"{token[24:32]}-{token[32:36]}-4{token[15:18]}-{token[19:23]}-{token[0:8]}{token[9:13]}"


def event_id(token: str, serial: int) -> str:
    """The id of a session's ``serial``-th entry event in ``metadata.events``."""
    return f"{token[:19]}{0x8000 | (serial & 0x3FFF):04x}-{token[24:]}"
