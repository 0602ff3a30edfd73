"""Pydantic models of the records feeder publishes; their JSON Schemas are the contract.

Only the edges of the contract are modelled here: :mod:`feeder.core.events` and
:mod:`feeder.core.records` produce the records, and the tests check that what they produce
validates. Envelopes are closed (``additionalProperties: false``) so a field added in code
without a schema change fails those tests; the session is open, because it is the API's record
passed through (unknown fields included), but for what the field policy drops or pseudonymises.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import SkipJsonSchema

from feeder.core.diff import EventType
from feeder.core.events import DATA_CONTENT_TYPE, SPEC_VERSION
from feeder.core.records import (
    CE_PREFIX,
    CONTENT_TYPE,
    DLQ_FIELD,
    DLQ_REASON,
    DLQ_RECEIVED_AT,
    STRUCTURED_CONTENT_TYPE,
)

# format_timestamp: UTC, milliseconds (or microseconds when present), a trailing Z.
_TIMESTAMP = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.(\d{3}|\d{6})Z"
FeederTimestamp = Annotated[
    str,
    Field(pattern=f"^{_TIMESTAMP}$", json_schema_extra={"format": "date-time"}),
]
BACKFILL_WINDOW_PATTERN = f"^{_TIMESTAMP}/{_TIMESTAMP}$"
ApiTimestamp = Annotated[
    str | None,
    Field(description="ISO-8601 as the API wrote it; null while it has not happened"),
]
SessionIdText = Annotated[str, Field(pattern=r"\S", description="the session's id, as a string")]


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Session(BaseModel):
    """A session record as the Oasis API returned it, after the field policy.

    Only the fields feeder validates are typed; the others are listed for reference and pass
    through whatever the API sends, unless FEEDER_EVENTS__DROP_FIELDS leaves them out or
    FEEDER_EVENTS__PSEUDONYMISE_FIELDS replaces them by a pseudonym (64 hex digits).
    """

    model_config = ConfigDict(
        extra="allow", title="Oasis session (as received)", populate_by_name=True
    )

    id: int | SessionIdText = Field(description="session id; an integer or a string")
    updated_at: str = Field(alias="updatedAt", description="ISO-8601; the sweep's sort key")
    created_at: ApiTimestamp = Field(None, alias="createdAt")
    customer_last_entered_at: ApiTimestamp = Field(None, alias="customerLastEnteredAt")
    customer_last_exited_at: ApiTimestamp = Field(None, alias="customerLastExitedAt")
    code_last_scanned_at: ApiTimestamp = Field(
        None, alias="codeLastSuccesfullyScannedAt", description="the API's own spelling"
    )
    expires_at: ApiTimestamp = Field(None, alias="expiresAt")
    suspected_fraud: bool = Field(
        False, alias="suspectedFraud", description="set by retailers or AiFi; absent = false"
    )
    status: str | None = Field(
        None, description='"active" is documented; other values pass through'
    )
    store_id: int | str | None = Field(None, alias="storeId")
    session_id: Any = Field(None, alias="sessionId", description="UUID; equals sessionToken")
    session_token: Any = Field(None, alias="sessionToken")
    customer: Any = Field(None, description="the customer, passed through")
    store: Any = Field(None, description="the store, passed through")
    metadata: Any = Field(None, description="includes events written by AiFi, passed through")


class MomentChange(_Closed):
    """A moment field moved to a newer non-null value."""

    old: FeederTimestamp | None = Field(description="the previous value; null if none was known")
    new: FeederTimestamp


class CreatedChange(_Closed):
    """First sight of a session created at or after the feed's start."""

    old: None = Field(description="always null: nothing was known")
    new: FeederTimestamp = Field(description="createdAt (updatedAt when createdAt is null)")


class FraudChange(_Closed):
    """suspectedFraud differs from the known value, in either direction."""

    old: bool | None = Field(description="null on first sight of a flagged session")
    new: bool


class StatusChange(_Closed):
    """status differs from the known value; unknown values pass through."""

    old: str | None
    new: str | None


# The field each event type reports under data.changed, and the shape of its old/new pair.
CHANGED_FIELDS: dict[EventType, tuple[str, type[BaseModel]]] = {
    EventType.CREATED: ("createdAt", CreatedChange),
    EventType.ENTERED: ("customerLastEnteredAt", MomentChange),
    EventType.EXITED: ("customerLastExitedAt", MomentChange),
    EventType.CODE_SCANNED: ("codeLastSuccesfullyScannedAt", MomentChange),
    EventType.SUSPECTED_FRAUD_CHANGED: ("suspectedFraud", FraudChange),
    EventType.STATUS_CHANGED: ("status", StatusChange),
}

EVENT_DESCRIPTIONS: dict[EventType, str] = {
    EventType.CREATED: "a session was seen for the first time (created at or after feed start)",
    EventType.ENTERED: "the customer (last) entered the store: customerLastEnteredAt moved",
    EventType.EXITED: "the customer (last) left the store: customerLastExitedAt moved",
    EventType.CODE_SCANNED: "the entry code was scanned: codeLastSuccesfullyScannedAt moved",
    EventType.SUSPECTED_FRAUD_CHANGED: "suspectedFraud was set or cleared",
    EventType.STATUS_CHANGED: "status changed (values other than active are undocumented)",
}


def _const(value: str) -> Any:
    """``Literal[value]`` for a value known only at run time."""
    return cast(Any, Literal)[value]


def _string_or_left_out() -> Any:
    """``str | SkipJsonSchema[None]``: ``None`` is accepted but not shown in the schema."""
    return str | cast(Any, SkipJsonSchema)[None]


def _title(event_type: EventType) -> str:
    return "".join(part.capitalize() for part in event_type.value.replace(".", "_").split("_"))


def event_data_model(event_type: EventType) -> type[BaseModel]:
    """``data`` of an ``event_type`` event: in structured mode inside the event, in binary mode
    the record's whole value."""
    field, change_model = CHANGED_FIELDS[event_type]
    title = _title(event_type)
    changed = create_model(
        f"{title}Diff",
        __config__=ConfigDict(extra="forbid", title=f"{title}Diff"),
        changed_field=(change_model, Field(alias=field)),
    )
    return create_model(
        f"{title}Data",
        __config__=ConfigDict(extra="forbid", title=f"{title}Data"),
        session_id=(SessionIdText, Field(alias="sessionId", description="same as subject")),
        changed=(changed, Field(description="the changed field with its old and new value")),
        session=(
            Session,
            Field(description="the session as received, after the field policy"),
        ),
    )


def _attribute_fields(event_type: EventType, *, header_prefix: str = "") -> dict[str, Any]:
    """The context attributes but ``data``, as fields named after them; with ``header_prefix``,
    aliased as the binary mode's headers (``ce_id``, …), ``datacontenttype`` left out."""

    def attribute(name: str, default: Any = ..., **details: Any) -> Any:
        alias = f"{header_prefix}{name}" if header_prefix else None
        return Field(default, alias=alias, **details)

    def left_out_when_absent(name: str, description: str, **details: Any) -> Any:
        """An attribute left out rather than written as null (the schema shows no null)."""
        return attribute(
            name, None, description=description, json_schema_extra=_drop_default, **details
        )

    fields: dict[str, Any] = {
        "specversion": (_const(SPEC_VERSION), attribute("specversion")),
        "id": (
            str,
            attribute(
                "id",
                json_schema_extra={"format": "uuid"},
                description="UUIDv5 of session, type and transition: the same change always "
                "has the same id, so consumers can dedupe re-sent events",
            ),
        ),
        "source": (str, attribute("source", min_length=1, description="FEEDER_EVENTS__SOURCE")),
        "type": (_const(event_type.value), attribute("type")),
        "time": (
            FeederTimestamp,
            attribute("time", description="when the change happened, by the API's clock"),
        ),
        "subject": (SessionIdText, attribute("subject", description="the session id")),
    }
    if not header_prefix:  # in binary mode, the content-type header stands for it
        fields["datacontenttype"] = (_const(DATA_CONTENT_TYPE), ...)
    fields |= {
        "storeid": (
            _string_or_left_out(),
            left_out_when_absent(
                "storeid", "extension: the session's storeId; left out when it has none"
            ),
        ),
        "origin": (
            Literal["live", "backfill"],
            attribute(
                "origin",
                description="extension: live for the live feed, backfill for a replay of a "
                "past window (`feeder backfill`); alerting consumers skip backfill",
            ),
        ),
        "backfillwindow": (
            Annotated[str, Field(pattern=BACKFILL_WINDOW_PATTERN)]
            | cast(Any, SkipJsonSchema)[None],
            left_out_when_absent(
                "backfillwindow",
                "extension, with origin=backfill only: the replayed window as an ISO 8601 "
                "interval, start/end",
            ),
        ),
    }
    return fields


def event_model(event_type: EventType) -> type[BaseModel]:
    """The CloudEvent (JSON format) feeder publishes for ``event_type``: in structured mode (the
    default) the record's value, with ``content-type: application/cloudevents+json;
    charset=UTF-8``."""
    title = _title(event_type)
    envelope: type[BaseModel] = create_model(
        f"{title}Event",
        __config__=ConfigDict(
            extra="forbid",
            title=f"{event_type.value} CloudEvent",
            json_schema_extra={
                "description": f"{EVENT_DESCRIPTIONS[event_type]}. In structured mode this is "
                "the Kafka record's value (header content-type: "
                f"{STRUCTURED_CONTENT_TYPE})."
            },
        ),
        **_attribute_fields(event_type),
        data=(event_data_model(event_type), ...),
    )
    return envelope


def binary_event_record_model(event_type: EventType) -> type[BaseModel]:
    """A binary-mode Kafka record of an ``event_type`` event: key, headers (decoded as UTF-8)
    and value."""
    title = _title(event_type)
    headers = create_model(
        f"{title}BinaryHeaders",
        __config__=ConfigDict(extra="forbid", populate_by_name=True, title=f"{title}BinaryHeaders"),
        **_attribute_fields(event_type, header_prefix=CE_PREFIX),
        content_type=(
            _const(DATA_CONTENT_TYPE),
            Field(alias=CONTENT_TYPE, description="the datacontenttype attribute"),
        ),
    )
    record: type[BaseModel] = create_model(
        f"{title}BinaryRecord",
        __config__=ConfigDict(
            extra="forbid",
            title=f"{event_type.value} CloudEvent, binary mode (Kafka record)",
            json_schema_extra={
                "description": f"{EVENT_DESCRIPTIONS[event_type]}. With "
                "FEEDER_EVENTS__CONTENT_MODE=binary: every attribute is a ce_ header, the "
                "value is data."
            },
        ),
        key=(
            str,
            Field(
                description="the session id, or the store id with "
                "FEEDER_EVENTS__KEY_STRATEGY=store (the session id when it has none)"
            ),
        ),
        headers=(headers, ...),
        value=(event_data_model(event_type), Field(description="data, as JSON")),
    )
    return record


class DeadLetterHeaders(BaseModel):
    """Kafka headers of a dead letter, decoded as UTF-8."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    reason: str = Field(alias=DLQ_REASON, description="why validation failed")
    field: str | SkipJsonSchema[None] = Field(
        None,
        alias=DLQ_FIELD,
        description="the field that failed; left out when the record as a whole is wrong",
        json_schema_extra=_drop_default,
    )
    received_at: FeederTimestamp = Field(
        alias=DLQ_RECEIVED_AT, description="when feeder read the record"
    )
    content_type: Literal["application/json"] = Field(alias="content-type")


class DeadLetterRecord(BaseModel):
    """A record of the dead-letter topic: the API's record kept whole, the error in headers."""

    model_config = ConfigDict(extra="forbid", title="feeder dead letter (Kafka record)")

    key: None = Field(description="dead letters have no key")
    headers: DeadLetterHeaders
    value: Any = Field(
        description="the record as the API sent it (any JSON value), after the field policy; "
        "null when a field policy is set and the record is not a JSON object"
    )


class WatermarkEntry(_Closed):
    lateness_s: float = Field(
        alias="latenessS",
        ge=0,
        description="the lateness d this watermark is for: how long after its updatedAt a "
        "version became visible in the API",
    )
    watermark: FeederTimestamp = Field(
        description="every version stamped before it, at most latenessS late, was published"
    )


class HeartbeatCounters(_Closed):
    pages: int = Field(ge=0, description="pages written since startedAt")
    events: int = Field(ge=0, description="records put on the events topic since startedAt")
    state_records: int = Field(alias="stateRecords", ge=0, description="state records since then")
    dead_letters: int = Field(alias="deadLetters", ge=0, description="dead letters since then")


class Heartbeat(_Closed):
    """A heartbeat: the value of a heartbeat-topic record (key: the feed name,
    FEEDER_FEED_NAME), published every FEEDER_HEARTBEAT__INTERVAL_S.

    Watermarks advancing with no events mean a quiet store; watermarks standing still mean a
    stuck feed. See README.md, Heartbeats and watermarks.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, title="feeder heartbeat")

    feed: str = Field(min_length=1, description="FEEDER_FEED_NAME")
    time: FeederTimestamp = Field(description="when feeder wrote the heartbeat, by its clock")
    started_at: FeederTimestamp = Field(
        alias="startedAt", description="when this feeder process started (a new one: a restart)"
    )
    sequence: int = Field(ge=1, description="heartbeats of this process, from 1")
    feed_start: FeederTimestamp = Field(
        alias="feedStart",
        description="where the feed began: versions stamped before it are not published",
    )
    watermark: FeederTimestamp = Field(
        description="the watermark for lateness 0 (the first of watermarks)"
    )
    watermarks: list[WatermarkEntry] = Field(
        min_length=1, description="one per lateness, from 0 up to the lookback"
    )
    last_live_read_at: FeederTimestamp | None = Field(
        alias="lastLiveReadAt",
        description="when the last complete live read began; null before the first one",
    )
    counters: HeartbeatCounters


class WatermarkEvent(_Closed):
    """A feeder.watermark CloudEvent (with FEEDER_HEARTBEAT__PARTITION_WATERMARKS=true): the
    heartbeat as data, on every partition of the events topic, in the events' content mode."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, title="feeder.watermark CloudEvent"
    )

    specversion: Literal["1.0"]
    id: str = Field(json_schema_extra={"format": "uuid"}, description="one per heartbeat")
    source: str = Field(min_length=1, description="FEEDER_EVENTS__SOURCE")
    type: Literal["feeder.watermark"]
    time: FeederTimestamp = Field(description="when feeder wrote the heartbeat")
    subject: str = Field(min_length=1, description="the feed name")
    datacontenttype: Literal["application/json"]
    data: Heartbeat
