"""The events group: what the events look like (source, content mode, key, field policy)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from feeder.core.field_policy import FieldAction, FieldPolicy, FieldPolicyError
from feeder.settings.base import SettingsGroup

MIN_PSEUDONYM_KEY_CHARS = 32


class EventSettings(SettingsGroup):
    """What feeder's records look like, and what of a session they may carry."""

    source: str = Field(
        "urn:aifi:oasis:sessions", description="CloudEvents `source` of every event"
    )
    content_mode: Literal["structured", "binary"] = Field(
        "structured",
        description="CloudEvents Kafka binding mode of the events and fraud topics: structured "
        "(the value is the whole event) or binary (the value is data, attributes are ce_ headers)",
    )
    key_strategy: Literal["session", "store"] = Field(
        "session",
        description="key of the events and fraud topics: session (every session's events in "
        "order) or store (every store's events in order, hot stores make hot partitions)",
    )
    drop_fields: tuple[str, ...] = Field(
        (),
        description="JSON paths of session fields left out of every topic, e.g. "
        '["customer.firstName","metadata.*"]',
    )
    pseudonymise_fields: tuple[str, ...] = Field(
        (),
        description="JSON paths of session fields replaced on every topic by their keyed "
        'HMAC-SHA-256 (hex), e.g. ["customer.email","customer.phone"]',
    )
    pseudonym_key: SecretStr | None = Field(
        None,
        description="HMAC key of pseudonymise_fields, at least 32 characters; changing it "
        "changes every pseudonym",
    )

    @model_validator(mode="after")
    def _field_policy_applies(self) -> EventSettings:
        self.field_policy()
        return self

    def field_policy(self) -> FieldPolicy:
        """The compiled policy; raises ``ValueError`` naming the setting at fault."""
        key = self.pseudonym_key
        if key is not None and len(key.get_secret_value()) < MIN_PSEUDONYM_KEY_CHARS:
            raise ValueError(
                f"FEEDER_EVENTS__PSEUDONYM_KEY must be at least {MIN_PSEUDONYM_KEY_CHARS} "
                "characters (e.g. `openssl rand -hex 32`)"
            )
        if self.pseudonymise_fields and key is None:
            raise ValueError(
                "FEEDER_EVENTS__PSEUDONYMISE_FIELDS needs FEEDER_EVENTS__PSEUDONYM_KEY"
            )
        try:
            return FieldPolicy.of(
                drop=self.drop_fields,
                pseudonymise=self.pseudonymise_fields,
                key=None if key is None else key.get_secret_value().encode(),
            )
        except FieldPolicyError as exc:
            setting = {
                FieldAction.DROP: "FEEDER_EVENTS__DROP_FIELDS",
                FieldAction.PSEUDONYMISE: "FEEDER_EVENTS__PSEUDONYMISE_FIELDS",
            }[exc.action]
            raise ValueError(f"{setting}: {exc}") from None
