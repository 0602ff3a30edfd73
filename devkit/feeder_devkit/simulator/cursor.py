"""Pagination cursors: a bare session id, or opaque base64 of the last record's id and sort key.

The opaque form is URL-safe base64 (no padding) of ``{"id": "<id>", "sortKey": <value>}`` with the
sort key spelled as the API spells it (``updatedAt`` as an ISO string, ``visitors`` as a number,
``null`` for a timestamp that has not happened). Decoding accepts standard or URL-safe base64,
with or without padding.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import orjson


@dataclass(frozen=True, slots=True)
class Cursor:
    """A decoded ``after``/``before`` value; ``has_sort_key`` is false for a bare id."""

    id: int
    sort_key: object = None
    has_sort_key: bool = False


def encode_cursor(session_id: int, sort_key: object) -> str:
    """The opaque cursor of a record with this id and (JSON-form) sort key."""
    raw = orjson.dumps({"id": str(session_id), "sortKey": sort_key})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _parse_id(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit() and value.isascii():
        return int(value)
    return None


def decode_cursor(text: str) -> Cursor:
    """A bare id (``"123"``) or an opaque cursor; ``ValueError`` when it is neither."""
    if text.isdigit() and text.isascii():
        return Cursor(int(text))
    padded = text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4)
    try:
        document = orjson.loads(base64.b64decode(padded, validate=True))
    except (binascii.Error, orjson.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError("not an id or a base64 cursor") from exc
    if not isinstance(document, dict) or "id" not in document or "sortKey" not in document:
        raise ValueError("a cursor needs an id and a sortKey")
    session_id = _parse_id(document["id"])
    if session_id is None:
        raise ValueError("a cursor's id must be an integer")
    return Cursor(session_id, document["sortKey"], has_sort_key=True)
