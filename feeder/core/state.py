"""What the checkpoint store remembers: per session, the last state seen; per feed, its position."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from feeder.core.snapshot import SessionSnapshot


@dataclass(frozen=True, slots=True)
class SessionState:
    """The diffed fields of the newest snapshot of one session that the feed has published."""

    session_id: str
    updated_at: datetime
    customer_last_entered_at: datetime | None
    customer_last_exited_at: datetime | None
    code_last_scanned_at: datetime | None
    suspected_fraud: bool
    status: str | None
    expires_at: datetime | None

    @classmethod
    def of(cls, snapshot: SessionSnapshot) -> SessionState:
        return cls(
            session_id=snapshot.session_id,
            updated_at=snapshot.updated_at,
            customer_last_entered_at=snapshot.customer_last_entered_at,
            customer_last_exited_at=snapshot.customer_last_exited_at,
            code_last_scanned_at=snapshot.code_last_scanned_at,
            suspected_fraud=snapshot.suspected_fraud,
            status=snapshot.status,
            expires_at=snapshot.expires_at,
        )


@dataclass(frozen=True, slots=True)
class FeedPosition:
    """Where the feed stands.

    Invariants: every record with ``updatedAt < live`` was read at least once; every record with
    ``updatedAt < trailing`` was read again once it was ``lookback`` old (which catches writes that
    became visible late); ``trailing <= live``. ``feed_start`` never changes after the first run:
    first-seen sessions only emit transitions at or after it.
    """

    feed_start: datetime
    live: datetime
    trailing: datetime
