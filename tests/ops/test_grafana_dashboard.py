"""The Grafana dashboard: well-formed, laid out, and showing what issue 6 lists.

That its metric names are really exported is checked against a live feeder in
test_live_feed.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.ops.conftest import ROOT
from tests.ops.promql import metric_names

DASHBOARD: dict[str, Any] = json.loads(
    (ROOT / "deploy" / "grafana" / "feeder-dashboard.json").read_text(encoding="utf-8")
)
PANELS = [panel for panel in DASHBOARD["panels"] if panel["type"] != "row"]
EXPRESSIONS = [target["expr"] for panel in PANELS for target in panel["targets"]]
ALL_NAMES = set().union(*(metric_names(expression) for expression in EXPRESSIONS))

# What the issue asks the dashboard to show -> a metric that shows it.
REQUIRED = {
    "sweep rate and outcomes": {
        "feeder_checkpoint_commit_duration_seconds_count",
        "feeder_sweep_failures_total",
        "feeder_last_successful_sweep_timestamp_seconds",
    },
    "API latency and errors by status": {
        "feeder_api_request_duration_seconds_bucket",
        "feeder_api_requests_total",
    },
    "records fetched, deduplicated, late": {
        "feeder_records_fetched_total",
        "feeder_records_duplicate_total",
        "feeder_records_late_total",
    },
    "events by type": {"feeder_events_published_total"},
    "freshness": {"feeder_event_freshness_seconds_bucket"},
    "watermark lag": {"feeder_watermark_lag_seconds"},
    "DLQ rate": {"feeder_dead_letters_total"},
    "publish errors": {"feeder_publish_errors_total"},
    "checkpoint commit time": {"feeder_checkpoint_commit_duration_seconds_bucket"},
    "tracked sessions": {"feeder_checkpoint_tracked_sessions"},
    "fraud flags published after the customer left": {"feeder_fraud_flags_after_exit_total"},
}


@pytest.mark.parametrize("topic", sorted(REQUIRED))
def test_the_dashboard_shows(topic: str) -> None:
    assert REQUIRED[topic] <= ALL_NAMES


def test_freshness_shows_p50_and_p99_and_errors_are_split_by_status() -> None:
    freshness = [e for e in EXPRESSIONS if "feeder_event_freshness_seconds_bucket" in e]
    assert any(e.startswith("histogram_quantile(0.5,") for e in freshness)
    assert any(e.startswith("histogram_quantile(0.99,") for e in freshness)
    assert any("by (status)" in e and 'outcome!="ok"' in e for e in EXPRESSIONS)
    assert any("by (type" in e and "feeder_events_published_total" in e for e in EXPRESSIONS)


def test_freshness_is_shown_per_event_type() -> None:
    by_type = [
        e for e in EXPRESSIONS if "feeder_event_freshness_seconds_bucket" in e and "type)" in e
    ]
    assert any(e.startswith("histogram_quantile(0.5, sum by (le, type)") for e in by_type)
    assert any(e.startswith("histogram_quantile(0.99, sum by (le, type)") for e in by_type)


def test_every_panel_queries_the_chosen_data_source_and_instances() -> None:
    variables = {variable["name"]: variable for variable in DASHBOARD["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in PANELS:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        assert panel["description"], panel["title"]
        for target in panel["targets"]:
            assert 'instance=~"$instance"' in target["expr"], panel["title"]
            assert target["datasource"] == panel["datasource"]


def test_panels_have_unique_ids_and_do_not_overlap() -> None:
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    taken: set[tuple[int, int]] = set()
    for panel in DASHBOARD["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, panel["title"]
        taken |= cells


def test_the_dashboard_has_a_stable_uid_for_links_and_provisioning() -> None:
    assert DASHBOARD["uid"] == "feeder-overview"
    assert DASHBOARD["title"]
