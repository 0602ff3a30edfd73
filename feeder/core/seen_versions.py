"""The version of each recently read session that the checkpoint holds, known by its raw fields.

Re-read passes read every record several times (DESIGN §3), and nearly all of those reads are
duplicates. Telling a duplicate apart the long way takes validating the record, loading its
session's state from the checkpoint and fingerprinting it; this memo tells it from the raw JSON
values of every field that validation looks at, so such a record is neither validated again nor
loaded (``bench/profile.py live``: that path was about a third of the feeder's CPU at 1,000
changes/s).

The memo holds, per session id, a digest of the raw fields of the version whose fingerprint is
the newest the checkpoint holds for that session (``SessionState.fingerprints[0]``): the sweeper
tells it only what a delivered page committed. A record whose raw fields give the same digest
would therefore validate again, to the same fingerprint, and be judged a duplicate. The digest
is Python's hash of the values (64 bits, strings hashed with a per-process key): the odds of two
versions colliding are those the 64-bit fingerprints already take. Values that compare equal
across types (``1 == True``) never reach the digest: a record whose ``suspectedFraud`` is not a
JSON boolean, whose ``storeId`` is neither a string nor an integer, or whose ``id`` is not a
string as the feed keys it, takes the long way, where validation judges it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from feeder.core.page_plan import PagePlan

REMEMBERED_SESSIONS = 100_000
"""Sessions the memo holds; when full it starts again empty and refills from the next reads.
Re-reads look back 300 s by default, and at 1,000 changes/s some 50,000 sessions change in that
time; at ~130 bytes a session this is ~13 MB at most."""

_VALIDATED_TEXT_FIELDS = (
    "updatedAt",
    "createdAt",
    "customerLastEnteredAt",
    "customerLastExitedAt",
    "codeLastSuccesfullyScannedAt",
    "expiresAt",
    "status",
)


def _digest(raw: Mapping[str, object]) -> int | None:
    """The digest of every field ``parse_session`` validates, or ``None`` when a value could
    compare equal to one of another type (left to validation)."""
    fraud = raw.get("suspectedFraud", False)
    store = raw.get("storeId")
    if (fraud is not True and fraud is not False) or not (
        store is None or type(store) is str or type(store) is int
    ):
        return None
    values = tuple(raw.get(field) for field in _VALIDATED_TEXT_FIELDS)
    for value in values:
        if value is not None and type(value) is not str:
            return None
    return hash((values, fraud, store))


class SeenVersions:
    """Per session id, the digest of the version the checkpoint holds as its newest."""

    def __init__(self, limit: int = REMEMBERED_SESSIONS) -> None:
        self._limit = limit
        self._digests: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._digests)

    def holds(self, raw: object) -> str | None:
        """The session id of ``raw`` if it is the version the checkpoint holds as its session's
        newest, else ``None`` (unknown, changed, or to be validated)."""
        if type(raw) is not dict:
            return None
        session_id = raw.get("id")
        if type(session_id) is not str:
            return None
        remembered = self._digests.get(session_id)
        if remembered is None or remembered != _digest(raw):
            return None
        return session_id

    def committed(self, plan: PagePlan) -> None:
        """``plan``'s page is committed: the versions it confirmed, then those it applied (the
        last applied of a session is the one the checkpoint now holds as its newest)."""
        for snapshot in (*plan.confirmed, *plan.fresh):
            raw = snapshot.raw
            digest = _digest(raw)
            if digest is None or raw.get("id") != snapshot.session_id:
                # an integer or padded id (the feed keys it normalised): forget, never guess
                self._digests.pop(snapshot.session_id, None)
                continue
            if len(self._digests) >= self._limit and snapshot.session_id not in self._digests:
                self._digests.clear()
            self._digests[snapshot.session_id] = digest

    def forget(self, session_ids: Iterable[str]) -> None:
        """The checkpoint may or may not hold what these sessions' page wrote (delivery failed
        somewhere between publishing and committing)."""
        for session_id in session_ids:
            self._digests.pop(session_id, None)
