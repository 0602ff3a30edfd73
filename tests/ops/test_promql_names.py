"""The PromQL name extractor the dashboard and alert tests rely on."""

from __future__ import annotations

import pytest

from tests.ops.promql import metric_names


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ('up{job="feeder"} == 0 or absent(up{job="feeder"})', {"up"}),
        (
            "histogram_quantile(0.99, sum by (le) (rate(feeder_event_freshness_seconds_bucket"
            '{instance=~"$instance"}[$__rate_interval])))',
            {"feeder_event_freshness_seconds_bucket"},
        ),
        (
            'sum by (job, instance) (increase(a_total{type="x"}[6h])) > 500 unless on '
            "(job, instance) sum without (topic) (increase(b_total[6h])) > 0",
            {"a_total", "b_total"},
        ),
        ('time() - max(feeder_x_seconds{sweep="live"}) > 3e2', {"feeder_x_seconds"}),
        (
            "rate(c_total[5m] offset 1h) / ignoring(status) group_left rate(d_total[5m])",
            {"c_total", "d_total"},
        ),
    ],
)
def test_metric_names_are_found(expression: str, names: set[str]) -> None:
    assert metric_names(expression) == names
