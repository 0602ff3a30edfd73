"""Pydantic models of the records feeder publishes; their JSON Schemas are the contract.

Only the edges of the contract are modelled here: :mod:`feeder.core.events` and
:mod:`feeder.core.records` produce the records, and the tests check that what they produce
validates. Envelopes are closed (``additionalProperties: false``) so a field added in code
without a schema change fails those tests; the session is open, because it is the API's record
passed through untouched (unknown fields included).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.json_schema import SkipJsonSchema

from feeder.core.diff import EventType
from feeder.core.events import DATA_CONTENT_TYPE, SPEC_VERSION
from feeder.core.records import DLQ_FIELD, DLQ_REASON, DLQ_RECEIVED_AT

# format_timestamp: UTC, milliseconds (or microseconds when present), a trailing Z.
FeederTimestamp = Annotated[
    str,
    Field(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.(\d{3}|\d{6})Z$",
        json_schema_extra={"format": "date-time"},
    ),
]
ApiTimestamp = Annotated[
    str | None,
    Field(description="ISO-8601 as the API wrote it; null while it has not happened"),
]
SessionIdText = Annotated[str, Field(pattern=r"\S", description="the session's id, as a string")]


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _omitted_when_absent(description: str) -> Any:
    """A field that is left out rather than written as null (the schema shows no null)."""
    return Field(None, description=description, json_schema_extra=_drop_default)


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Session(BaseModel):
    """A session record exactly as the Oasis API returned it.

    Only the fields feeder validates are typed; the others are listed for reference and pass
    through whatever the API sends.
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


def event_model(event_type: EventType) -> type[BaseModel]:
    """The CloudEvent (structured JSON) feeder publishes for ``event_type``."""
    field, change_model = CHANGED_FIELDS[event_type]
    title = _title(event_type)
    changed = create_model(
        f"{title}Diff",
        __config__=ConfigDict(extra="forbid", title=f"{title}Diff"),
        changed_field=(change_model, Field(alias=field)),
    )
    data = create_model(
        f"{title}Data",
        __config__=ConfigDict(extra="forbid", title=f"{title}Data"),
        session_id=(SessionIdText, Field(alias="sessionId", description="same as subject")),
        changed=(changed, Field(description="the changed field with its old and new value")),
        session=(Session, Field(description="the session as received, unknown fields included")),
    )
    envelope: type[BaseModel] = create_model(
        f"{title}Event",
        __config__=ConfigDict(
            extra="forbid",
            title=f"{event_type.value} CloudEvent",
            json_schema_extra={"description": f"{EVENT_DESCRIPTIONS[event_type]}."},
        ),
        specversion=(_const(SPEC_VERSION), ...),
        id=(
            str,
            Field(
                json_schema_extra={"format": "uuid"},
                description="UUIDv5 of session, type and transition: the same change always "
                "has the same id, so consumers can dedupe re-sent events",
            ),
        ),
        source=(str, Field(min_length=1, description="FEEDER_EVENTS__SOURCE")),
        type=(_const(event_type.value), ...),
        time=(FeederTimestamp, Field(description="when the change happened, by the API's clock")),
        subject=(SessionIdText, Field(description="the session id; also the Kafka key")),
        datacontenttype=(_const(DATA_CONTENT_TYPE), ...),
        storeid=(
            _string_or_left_out(),
            _omitted_when_absent("extension: the session's storeId; left out when it has none"),
        ),
        data=(data, ...),
    )
    return envelope


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
    value: Any = Field(description="the record exactly as the API sent it (any JSON value)")
