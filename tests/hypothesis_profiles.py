"""Hypothesis profiles: ``ci`` (what ``./dev test`` loads) prints what replays a failure.

A failure found on a clean clone has no example database to come back to, so the ``ci`` profile
prints the failing example's blob: the ``@reproduce_failure(...)`` line it prints, pasted above
the test, replays exactly that example anywhere. Wall-clock deadlines are off: on a shared
2-core machine they fail on load, not on the code. ``HYPOTHESIS_PROFILE=dev`` keeps the local
example database instead.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", print_blob=True, deadline=None, database=None)
settings.register_profile("dev", print_blob=True, deadline=None)


def load_profile() -> str:
    """Load ``HYPOTHESIS_PROFILE`` (default ``ci``); its name."""
    name = os.environ.get("HYPOTHESIS_PROFILE", "ci")
    settings.load_profile(name)
    return name
