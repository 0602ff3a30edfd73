"""What every settings class shares: one ``model_config`` for the groups, one for the
environment (prefix ``FEEDER_``, ``__`` between a group and its field)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsGroup(BaseModel):
    """One group of settings (``api``, ``kafka``, ...): unknown fields are refused."""

    # hide_input_in_errors: a validation message must never quote a credential it was given.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class EnvSettings(BaseSettings):
    """Settings read from the environment: ``FEEDER_<GROUP>__<FIELD>``; unknown ones refused."""

    model_config = SettingsConfigDict(
        env_prefix="FEEDER_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
    )


class PartialEnvSettings(EnvSettings):
    """A command's share of the settings (e.g. only ``kafka``): the other groups' variables,
    set for the feed, are ignored rather than refused, and their required values (the API
    credential) are not asked for."""

    model_config = SettingsConfigDict(extra="ignore")
