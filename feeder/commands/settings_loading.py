"""Load the settings or say, in one line per problem, which setting to fix; warn when a config
file that holds credentials can be read by every user."""

from __future__ import annotations

import stat
import sys
import tomllib
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from feeder.settings import FeederSettings, load_settings


def load_or_explain(config_file: Path | None) -> FeederSettings | None:
    """The settings, or ``None`` once what is wrong was printed (callers exit 2)."""
    problem = None if config_file is None else config_file_problem(config_file)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return None
    try:
        settings = load_settings(config_file)
    except ValidationError as exc:
        print("error: invalid settings:", file=sys.stderr)
        for line in validation_problems(exc):
            print(f"  {line}", file=sys.stderr)
        return None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        print(f"error: cannot read the config file {config_file}: {exc}", file=sys.stderr)
        return None
    if config_file is not None:
        warning = readable_secrets_warning(config_file)
        if warning is not None:
            print(f"warning: {warning}", file=sys.stderr)
    return settings


def config_file_problem(config_file: Path) -> str | None:
    """Why ``--config`` cannot be read as the settings file, or ``None``.

    Checked before loading: pydantic-settings skips a TOML file that does not exist without a
    word, so the settings would silently come from the environment alone."""
    if not config_file.exists():
        return f"the config file {config_file} does not exist (--config)"
    if not config_file.is_file():
        return f"the config file {config_file} is not a file (--config)"
    return None


def validation_problems(exc: ValidationError) -> list[str]:
    """One ``FEEDER_GROUP__FIELD: what is wrong`` line per problem; never the value given."""
    lines = []
    for problem in exc.errors(include_input=False):
        location = "__".join(str(part).upper() for part in problem["loc"])
        name = f"FEEDER_{location}" if location else "settings"
        lines.append(f"{name}: {problem['msg']}")
    return lines


def readable_secrets_warning(config_file: Path) -> str | None:
    """A warning when ``config_file`` holds a credential and every user may read it."""
    mode = config_file.stat().st_mode
    if not mode & stat.S_IROTH:
        return None
    with config_file.open("rb") as handle:
        secrets = secret_settings_in(tomllib.load(handle))
    if not secrets:
        return None
    return (
        f"{config_file} holds credentials ({', '.join(secrets)}) and every user on this machine "
        f"may read it (mode {stat.S_IMODE(mode):04o}); restrict it with `chmod 600 "
        f"{config_file}` or move the credentials to environment variables or files of their own"
    )


def secret_settings_in(
    document: dict[str, Any], model: type[BaseModel] = FeederSettings
) -> list[str]:
    """The ``group.field`` names in a parsed config file whose settings are credentials."""
    found = []
    for name, field in model.model_fields.items():
        if name not in document:
            continue
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if isinstance(document[name], dict):
                found += [
                    f"{name}.{inner}" for inner in secret_settings_in(document[name], annotation)
                ]
        elif annotation is SecretStr or SecretStr in typing.get_args(annotation):
            found.append(name)
    return found
