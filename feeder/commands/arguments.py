"""Argument types the commands share."""

from __future__ import annotations

import argparse
from datetime import datetime

from feeder.core.timestamps import parse_timestamp


def timestamp(text: str) -> datetime:
    """An ISO-8601 time (naive means UTC), for ``type=`` of an argparse argument."""
    try:
        return parse_timestamp(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from None
