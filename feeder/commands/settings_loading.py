"""Load the settings or say, in one line per problem, which setting to fix."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from pydantic import ValidationError

from feeder.settings import FeederSettings, load_settings


def load_or_explain(config_file: Path | None) -> FeederSettings | None:
    try:
        return load_settings(config_file)
    except ValidationError as exc:
        print("error: invalid settings:", file=sys.stderr)
        for problem in exc.errors():
            location = "__".join(str(part).upper() for part in problem["loc"])
            name = f"FEEDER_{location}" if location else "settings"
            print(f"  {name}: {problem['msg']}", file=sys.stderr)
        return None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        print(f"error: cannot read the config file {config_file}: {exc}", file=sys.stderr)
        return None
