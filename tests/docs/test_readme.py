"""The README stays true: every setting and every exported metric (the feed's and a
backfill's) is documented."""

from __future__ import annotations

import io
import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from feeder.commands.backfill import BackfillProgress
from feeder.core.timestamps import utc_now
from feeder.observability.backfill_metrics import backfill_registry
from feeder.observability.metrics import FeederMetrics
from feeder.settings.reference import settings_reference

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_readme() -> None:
    missing = [doc.env_var for doc in settings_reference() if f"`{doc.env_var}`" not in README]
    assert missing == []


def test_every_metric_is_in_the_readme() -> None:
    registry = CollectorRegistry()
    FeederMetrics(registry, utc_now)
    backfill = backfill_registry(BackfillProgress(utc_now(), utc_now(), io.StringIO()))
    names = set()
    for family in [*registry.collect(), *backfill.collect()]:
        suffix = {"counter": "_total", "info": "_info"}.get(family.type, "")
        names.add(family.name + suffix)
    documented = set(re.findall(r"`(feeder_[a-z_]+)", README))
    assert sorted(names - documented) == []


def test_the_layout_lists_every_folder_and_module_of_feeder() -> None:
    """README, Development, *Layout*: one line per entry of ``feeder/`` (the package's own
    ``__init__.py`` and ``__main__.py`` aside), and nothing that is gone."""
    listing = README.split("- Layout", 1)[1].split("```", 2)[1]
    listed = set(re.findall(r"^    (\w+(?:/|\.py))", listing, re.MULTILINE))
    package = Path(__file__).parents[2] / "feeder"
    present = {
        entry.name + ("/" if entry.is_dir() else "")
        for entry in package.iterdir()
        if entry.name not in ("__init__.py", "__main__.py", "__pycache__")
        and (entry.is_dir() or entry.suffix == ".py")
    }
    assert listed == present
