"""CloudEvents 1.0 for changes: the events, their deterministic ids and what their attributes
are made of.

The one encoder that turns an event into its CloudEvent document and Kafka records (structured
or binary mode) is :class:`feeder.core.records.EventEncoder`.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple

from feeder.core.diff import Change, EventType, FieldValue, toggle_key
from feeder.core.encoding import Origin
from feeder.core.snapshot import SessionSnapshot
from feeder.core.timestamps import format_timestamp

# Fixed forever: changing it changes every event id and breaks consumers' dedupe.
EVENT_ID_NAMESPACE = uuid.UUID("6f1d7c2e-5a4b-4e8f-9c3d-2b1a0e9f8d7c")
SPEC_VERSION = "1.0"
DATA_CONTENT_TYPE = "application/json"


class ChangeEvent(NamedTuple):
    """One change of one session, ready to be encoded (a ``NamedTuple``, like ``Change``)."""

    id: str
    type: EventType
    time: datetime
    subject: str
    store_id: str | None
    change: Change
    session: Mapping[str, object]


def event_id(session_id: str, change: Change) -> str:
    """UUIDv5 over the session, the type and what identifies the transition.

    Moments (created, entered, exited, code scanned) are identified by their own timestamp;
    ``suspectedFraud`` and ``status`` by the new value and how many times the field has taken
    it (``change.occurrence``: the flag's first rise is ``suspectedFraud=true #1``). Neither
    depends on when the poller looked, nor on what it knew before: a live feed, a re-read pass
    and a backfill that sees the session for the first time give the same transition the same
    id (for a toggle: as long as none of them missed an earlier change of it), so an event
    re-sent after a crash or replayed by a backfill can be deduplicated by consumers.
    """
    kind = change.type
    if kind in _TOGGLES:
        transition = f"{toggle_key(change.field, change.new)} #{change.occurrence}"
    else:
        transition = format_timestamp(change.time)
    return uuid5_text(f"{session_id}\x1f{TYPE_TEXT[kind]}\x1f{transition}")


_NAMESPACE_BYTES = EVENT_ID_NAMESPACE.bytes
# The RFC 4122 variant (binary 10xx) of the 17th hex digit, by that digit.
_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 0b11] for digit in "0123456789abcdef"}
_sha1 = hashlib.sha1


def uuid5_text(name: str) -> str:
    """``str(uuid.uuid5(EVENT_ID_NAMESPACE, name))``, computed directly.

    One id per event: building a ``uuid.UUID`` object costs more than the SHA-1 itself, so the
    version (the 13th hex digit becomes ``5``) and variant digits are set on the digest's text.
    """
    text = _sha1(_NAMESPACE_BYTES + name.encode(), usedforsecurity=False).hexdigest()
    return (
        f"{text[:8]}-{text[8:12]}-5{text[13:16]}-{_VARIANT_DIGIT[text[16]]}{text[17:20]}-"
        f"{text[20:32]}"
    )


_TOGGLES = frozenset({EventType.SUSPECTED_FRAUD_CHANGED, EventType.STATUS_CHANGED})
TYPE_TEXT = {kind: kind.value for kind in EventType}
"""Each type's text (``.value`` of an enum member is a slow property)."""


def wire_value(value: FieldValue) -> str | bool | None:
    """A changed field's value as JSON has it (a moment as the API's timestamp text)."""
    if isinstance(value, datetime):
        return format_timestamp(value)
    return value


def change_events(snapshot: SessionSnapshot, changes: list[Change]) -> list[ChangeEvent]:
    """Wrap each change of ``snapshot`` in an event."""
    session_id, store_id, raw = snapshot.session_id, snapshot.store_id, snapshot.raw
    return [
        ChangeEvent(
            event_id(session_id, change),
            change.type,
            change.time,
            session_id,
            store_id,
            change,
            raw,
        )
        for change in changes
    ]


@functools.lru_cache(maxsize=64)
def origin_extensions(origin: Origin) -> tuple[tuple[str, str], ...]:
    """``origin.extensions()`` as pairs, computed once per origin (a run has one)."""
    return tuple(origin.extensions().items())
