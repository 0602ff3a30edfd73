"""The alert rules are valid, unit-tested by promtool, and cover what issue 6 asks for."""

from __future__ import annotations

import subprocess
from typing import Any

import yaml

from tests.ops.conftest import ROOT
from tests.ops.prometheus_server import TEST_FOR, differences_besides_for, rules_with_short_for
from tests.ops.promql import metric_names

PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "feeder-alerts.yml"
RULE_TESTS = PROMETHEUS / "tests" / "feeder-alerts.test.yml"
REQUIRED_ALERTS = {
    "FeederDown",
    "FeederSweepStalled",
    "FeederWatermarkLagHigh",
    "FeederApiErrorRatioHigh",
    "FeederApiAuthFailing",
    "FeederPublishErrors",
    "FeederDeadLettersGrowing",
    "FeederApiOrderViolations",
    "FeederFraudEventsNotFlowing",
    "FeederRereadsBehind",
    "FeederFraudFreshnessHigh",
}


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def run_promtool(promtool: str, *args: str) -> str:
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_promtool_checks_the_rules(promtool: str) -> None:
    output = run_promtool(promtool, "check", "rules", str(RULES))
    assert f"SUCCESS: {len(alert_rules())} rules found" in output


def test_promtool_unit_tests_pass(promtool: str) -> None:
    assert "SUCCESS" in run_promtool(promtool, "test", "rules", str(RULE_TESTS))


def test_the_compose_prometheus_config_loads_the_rules(promtool: str) -> None:
    output = run_promtool(promtool, "check", "config", "prometheus.yml")
    assert "SUCCESS: 1 rule files found" in output


def test_every_required_alert_exists_with_severity_and_explanation() -> None:
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} == REQUIRED_ALERTS
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning"}
        assert rule["annotations"]["summary"]
        assert len(rule["annotations"]["description"]) > 100, rule["alert"]


def test_every_alert_is_seen_firing_in_the_unit_tests() -> None:
    document = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    fired = {
        case["alertname"]
        for test in document["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    checked_quiet = {
        case["alertname"]
        for test in document["tests"]
        for case in test.get("alert_rule_test", [])
        if not case.get("exp_alerts")
    }
    assert fired == REQUIRED_ALERTS
    assert checked_quiet == REQUIRED_ALERTS


def test_rules_name_only_feeder_metrics_and_up() -> None:
    """The live scrape test checks the names exist; this one catches a typo'd prefix early."""
    for rule in alert_rules():
        for name in metric_names(rule["expr"]):
            assert name == "up" or name.startswith("feeder_"), (rule["alert"], name)


def test_the_live_tests_rule_file_differs_from_the_shipped_one_only_in_for() -> None:
    """The check behind the live alert tests' rule file fails on any other difference."""
    shipped = RULES.read_text(encoding="utf-8")
    assert differences_besides_for(shipped, rules_with_short_for(shipped), TEST_FOR) == []
    document = yaml.safe_load(shipped)
    first = document["groups"][0]["rules"][0]
    first["expr"] = f"({first['expr']}) * 2"
    assert differences_besides_for(shipped, yaml.safe_dump(document), first.get("for", TEST_FOR))
    document = yaml.safe_load(shipped)
    timed = next(rule for group in document["groups"] for rule in group["rules"] if "for" in rule)
    del timed["for"]
    assert differences_besides_for(shipped, yaml.safe_dump(document), TEST_FOR)
    document = yaml.safe_load(shipped)
    document["groups"][0]["rules"].pop()
    assert differences_besides_for(
        shipped, rules_with_short_for(yaml.safe_dump(document)), TEST_FOR
    )
