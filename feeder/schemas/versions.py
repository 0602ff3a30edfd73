"""The version of each published schema, by document name (``schema_names()``).

Bump a document's version when its schema changes in a way that breaks consumers (a field
removed or renamed, a type narrowed, a new required field) and say so in ``CHANGELOG.md``:
the compatibility test (``feeder.schemas.compatibility``) fails until both are done. Compatible
changes (a new optional field, a wider type) keep the version. The AsyncAPI document publishes
each message's version as ``x-schema-version``.
"""

from __future__ import annotations

SCHEMA_VERSIONS: dict[str, int] = {
    "session.created": 2,
    "session.entered": 2,
    "session.exited": 2,
    "session.code_scanned": 2,
    "session.suspected_fraud_changed": 2,
    "session.status_changed": 2,
    # Binary content mode: the whole Kafka record (ce_ headers, data as the value); new.
    "session.created.binary": 1,
    "session.entered.binary": 1,
    "session.exited.binary": 1,
    "session.code_scanned.binary": 1,
    "session.suspected_fraud_changed.binary": 1,
    "session.status_changed.binary": 1,
    "session-state": 1,
    "dead-letter": 1,
    "heartbeat": 1,
    "feeder.watermark": 1,
}
