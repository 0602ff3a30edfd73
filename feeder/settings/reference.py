"""Every setting with its environment variable, default and description, for ``--help``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from feeder.settings import FeederSettings


@dataclass(frozen=True, slots=True)
class SettingDoc:
    env_var: str
    default: str
    description: str


def _describe_default(value: object) -> str:
    if value is PydanticUndefined or value is None:
        return "(unset)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return json.dumps(list(value))
    return str(value)


def _walk(model: type[BaseModel], prefix: str) -> Iterator[SettingDoc]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        env_var = f"{prefix}{name.upper()}"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _walk(annotation, f"{env_var}__")
            continue
        yield SettingDoc(env_var, _describe_default(field.default), field.description or "")


def settings_reference() -> list[SettingDoc]:
    return list(_walk(FeederSettings, "FEEDER_"))


def format_settings_reference() -> str:
    docs = settings_reference()
    width = max(len(doc.env_var) for doc in docs)
    return "\n".join(
        f"  {doc.env_var:<{width}}  {doc.description} [default: {doc.default}]" for doc in docs
    )


def markdown_settings_table() -> str:
    """The README's settings table."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    rows.extend(
        f"| `{doc.env_var}` | `{doc.default}` | {doc.description.replace('|', '/')} |"
        for doc in settings_reference()
    )
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_settings_table())  # noqa: T201 - prints the table for the README
