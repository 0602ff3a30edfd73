"""The sliding-window histogram behind `feeder status`'s recent freshness quantiles.

Its interpolation is judged by Prometheus itself: promtool evaluates ``histogram_quantile`` over
the same bucket counts and must agree.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest
import yaml

from feeder.observability.recent_histogram import RecentHistogram

BUCKETS = (0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 300, 900, 3600)


class Clock:
    def __init__(self) -> None:
        self.now_s = 1_000_000.0

    def __call__(self) -> float:
        return self.now_s


def histogram(clock: Clock) -> RecentHistogram:
    return RecentHistogram(BUCKETS, window_s=300, slots=30, clock_s=clock)


def test_an_empty_window_has_no_quantile() -> None:
    assert histogram(Clock()).quantile(0.5) is None


def test_observations_leave_the_window_once_it_has_passed() -> None:
    clock = Clock()
    recent = histogram(clock)
    recent.observe(0.2)
    clock.now_s += 200
    recent.observe(20)
    assert sum(recent.counts()) == 2
    clock.now_s += 110  # the first one is 310 s old now, the second 110 s
    assert recent.counts() == [0] * 9 + [1] + [0] * 5
    clock.now_s += 300
    assert recent.quantile(0.99) is None


def test_values_above_the_last_bucket_report_its_bound() -> None:
    recent = histogram(Clock())
    for _ in range(10):
        recent.observe(7200)
    assert recent.quantile(0.5) == 3600


def test_a_value_on_a_bound_counts_in_that_bucket() -> None:
    recent = histogram(Clock())
    recent.observe(1.0)
    assert recent.counts()[3] == 1


def test_quantiles_agree_with_prometheus_histogram_quantile(promtool: str, tmp_path: Path) -> None:
    rng = random.Random(16)
    recent = histogram(Clock())
    for _ in range(997):
        recent.observe(rng.lognormvariate(0.5, 1.2))
    counts = recent.counts()
    cumulative = [sum(counts[: index + 1]) for index in range(len(counts))]
    bounds = [*(str(bound) for bound in BUCKETS), "+Inf"]
    quantiles = (0.5, 0.9, 0.99)
    tests = {
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f'freshness_bucket{{le="{bound}"}}', "values": str(total)}
                    for bound, total in zip(bounds, cumulative, strict=True)
                ],
                "promql_expr_test": [
                    {
                        "expr": f"histogram_quantile({q}, freshness_bucket)",
                        "eval_time": "0m",
                        "exp_samples": [{"labels": "{}", "value": recent.quantile(q)}],
                    }
                    for q in quantiles
                ],
            }
        ]
    }
    (tmp_path / "rules.yml").write_text("groups: []\n")
    test_file = tmp_path / "quantiles.test.yml"
    test_file.write_text(yaml.safe_dump({"rule_files": ["rules.yml"], **tests}))
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [promtool, "test", "rules", str(test_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("bad", [(), (2.0, 1.0)])
def test_buckets_must_ascend(bad: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="ascending"):
        RecentHistogram(bad, window_s=60, slots=6, clock_s=Clock())
