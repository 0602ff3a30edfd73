"""Sessions to the API's JSON: the record shape of the reference page, camelCase, ms timestamps.

Two renderers with one output: :meth:`SessionRenderer.render` builds a dict (for faults that
edit a record, and for the admin API), :meth:`SessionRenderer.render_text` fills one ``%``
template with pre-quoted values, which is what a page uses; a test holds them equal. Both splice
the pre-serialised ``store`` and ``customer`` objects in.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Literal

import orjson

from feeder_devkit.simulator.catalog import Catalog
from feeder_devkit.simulator.clock import format_ms, quoted_ms
from feeder_devkit.simulator.records import Session, UuidDeriver, event_id, token_of_code

IdFormat = Literal["string", "integer", "mixed"]
JsonDict = dict[str, object]


def _ts(ms: int | None) -> str | None:
    return None if ms is None else format_ms(ms)


_TEMPLATE = (
    '{"createdAt":%s,"updatedAt":%s,"code":"%s","codeFirstSuccesfullyScannedAt":%s,'
    '"codeLastSuccesfullyScannedAt":%s,"customerFirstEnteredAt":%s,"customerLastEnteredAt":%s,'
    '"customerFirstExitedAt":%s,"customerLastExitedAt":%s,"customerPaymentInstrumentId":%d,'
    '"customerSatisfaction":%s,"customerSatisfactionSubmitted":%s,"groupSize":%d,"visitors":%d,'
    '"locationId":%s,"priority":%d,"sessionToken":"%s","sessionId":"%s",'
    '"referencedSessionId":null,"status":%s,"storeId":%d,"storeIdScannableAt":%d,'
    '"suspectedFraud":%s,"metadata":{"events":[%s],"source":"feeder-simulator"},'
    '"expiresAt":%s,"id":%s,"customerId":"%d","customer":%s,"store":%s}'
)
_EVENT_TEMPLATE = '{"eventId":"%s","metadata":{"kind":"entered"}}'
_QUOTED: dict[str, str] = {}


def _quoted(text: str) -> str:
    """``text`` as a JSON string literal (cached: statuses and location ids repeat)."""
    found = _QUOTED.get(text)
    if found is None:
        found = orjson.dumps(text).decode()
        if len(_QUOTED) < 10_000:
            _QUOTED[text] = found
    return found


class SessionRenderer:
    """Renders :class:`Session` records as the API's JSON objects."""

    __slots__ = ("_catalog", "_customer_text", "_location_text", "_store_text", "_uuids")

    def __init__(self, catalog: Catalog, uuids: UuidDeriver) -> None:
        self._catalog = catalog
        self._uuids = uuids
        self._customer_text = tuple(bytes(f).decode() for f in _contents(catalog.customer_json))
        self._store_text = tuple(bytes(f).decode() for f in _contents(catalog.store_json))
        self._location_text = tuple(_quoted(loc) for loc in catalog.location_ids)

    def render_text(self, session: Session, id_as_int: bool = False) -> str:
        """The same record as :meth:`render`, as compact JSON text (the fast path)."""
        sid = session.id
        code = self._uuids.code(sid)
        token = token_of_code(code)
        entries = session.entries
        events = (
            ",".join([_EVENT_TEMPLATE % event_id(token, n) for n in range(entries)])
            if entries
            else ""
        )
        satisfaction = session.customer_satisfaction
        return _TEMPLATE % (
            quoted_ms(session.created_at_ms),
            quoted_ms(session.updated_at_ms),
            code,
            quoted_ms(session.code_first_scanned_at_ms),
            quoted_ms(session.code_last_scanned_at_ms),
            quoted_ms(session.customer_first_entered_at_ms),
            quoted_ms(session.customer_last_entered_at_ms),
            quoted_ms(session.customer_first_exited_at_ms),
            quoted_ms(session.customer_last_exited_at_ms),
            100_000 + session.customer_id,
            "null" if satisfaction is None else satisfaction,
            "true" if session.customer_satisfaction_submitted else "false",
            session.group_size,
            session.visitors,
            self._location_text[session.store_id],
            session.priority,
            token,
            token,
            _quoted(session.status),
            session.store_id,
            session.store_id,
            "true" if session.suspected_fraud else "false",
            events,
            quoted_ms(session.expires_at_ms),
            sid if id_as_int else f'"{sid}"',
            session.customer_id,
            self._customer_text[session.customer_id],
            self._store_text[session.store_id],
        )

    def render(self, session: Session, id_as_int: bool = False) -> JsonDict:
        """The API record of ``session``; ``id`` is a string unless ``id_as_int``."""
        sid = session.id
        code = self._uuids.code(sid)
        token = token_of_code(code)
        events = [
            {"eventId": event_id(token, n), "metadata": {"kind": "entered"}}
            for n in range(session.entries)
        ]
        return {
            "createdAt": format_ms(session.created_at_ms),
            "updatedAt": format_ms(session.updated_at_ms),
            "code": code,
            "codeFirstSuccesfullyScannedAt": _ts(session.code_first_scanned_at_ms),
            "codeLastSuccesfullyScannedAt": _ts(session.code_last_scanned_at_ms),
            "customerFirstEnteredAt": _ts(session.customer_first_entered_at_ms),
            "customerLastEnteredAt": _ts(session.customer_last_entered_at_ms),
            "customerFirstExitedAt": _ts(session.customer_first_exited_at_ms),
            "customerLastExitedAt": _ts(session.customer_last_exited_at_ms),
            "customerPaymentInstrumentId": 100_000 + session.customer_id,
            "customerSatisfaction": session.customer_satisfaction,
            "customerSatisfactionSubmitted": session.customer_satisfaction_submitted,
            "groupSize": session.group_size,
            "visitors": session.visitors,
            "locationId": self._catalog.location_ids[session.store_id],
            "priority": session.priority,
            "sessionToken": token,
            "sessionId": token,
            "referencedSessionId": None,
            "status": session.status,
            "storeId": session.store_id,
            "storeIdScannableAt": session.store_id,
            "suspectedFraud": session.suspected_fraud,
            "metadata": {"events": events, "source": "feeder-simulator"},
            "expiresAt": format_ms(session.expires_at_ms),
            "id": sid if id_as_int else str(sid),
            "customerId": str(session.customer_id),
            "customer": self._catalog.customer(session.customer_id),
            "store": self._catalog.store(session.store_id),
        }


def _wrong_type(record: JsonDict) -> None:
    record["visitors"] = "three"
    record["suspectedFraud"] = "maybe"


def _bad_date(record: JsonDict) -> None:
    record["updatedAt"] = "2024-13-45T25:61:00.000Z"
    record["customerLastEnteredAt"] = "yesterday"


def _missing_id(record: JsonDict) -> None:
    del record["id"]


def _null_updated_at(record: JsonDict) -> None:
    record["updatedAt"] = None


MALFORMATIONS: tuple[tuple[str, Callable[[JsonDict], None]], ...] = (
    ("wrong_type", _wrong_type),
    ("bad_date", _bad_date),
    ("missing_id", _missing_id),
    ("null_updated_at", _null_updated_at),
)
"""Ways a served record can be broken, by name; applied only to the served copy."""


def malform(record: JsonDict, rng: random.Random) -> str:
    """Break ``record`` in place in one of the :data:`MALFORMATIONS` ways; returns which."""
    name, breaker = rng.choice(MALFORMATIONS)
    breaker(record)
    return name


def _contents(fragments: tuple[orjson.Fragment, ...]) -> list[bytes]:
    return [orjson.dumps(fragment) for fragment in fragments]


def dumps(document: object) -> bytes:
    """Compact JSON bytes (the hot path uses orjson)."""
    return orjson.dumps(document)
