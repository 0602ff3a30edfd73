"""docker-compose.yml: the stack parses, images are pinned or built here, settings and ports agree.

The file is read and every cross-reference (settings, ports, mounted files, Prometheus target,
Grafana data source) checked; tests/container starts the stack itself with podman-compose.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from feeder_devkit.simulator.settings import SimulatorSettings

from tests.ops.conftest import ROOT
from tests.ops.manifests import (
    PINNED_IMAGE,
    SETTING_NAMES,
    dockerfile_instructions,
    feeder_variables,
    load_yaml,
    validate_settings,
)

COMPOSE = load_yaml(ROOT / "docker-compose.yml")
SERVICES: dict[str, Any] = COMPOSE["services"]
PROMETHEUS_CONFIG = load_yaml(ROOT / "deploy" / "prometheus" / "prometheus.yml")
GRAFANA = ROOT / "deploy" / "grafana" / "provisioning"


def env(service: str) -> dict[str, str]:
    return {name: str(value) for name, value in SERVICES[service].get("environment", {}).items()}


def published(service: str) -> dict[int, int]:
    """Container port -> host port."""
    ports = {}
    for mapping in SERVICES[service].get("ports", []):
        host, _, container = str(mapping).rpartition(":")
        ports[int(container)] = int(host)
    return ports


def bind_mounts(service: str) -> dict[str, str]:
    """Container path -> repository path, for ./ bind mounts."""
    mounts = {}
    for volume in SERVICES[service].get("volumes", []):
        source, target, *_ = str(volume).split(":")
        if source.startswith("./"):
            mounts[target] = source
    return mounts


def test_the_stack_has_every_part() -> None:
    assert set(SERVICES) == {"kafka", "simulator", "feeder", "prometheus", "grafana"}


def test_every_service_is_a_pinned_public_image_or_built_from_this_repository() -> None:
    for name, service in SERVICES.items():
        if "build" in service:
            build = service["build"]
            context = build if isinstance(build, str) else build["context"]
            assert (ROOT / context / "Dockerfile").is_file(), name
        else:
            assert PINNED_IMAGE.match(service["image"]), (name, service["image"])
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:")


def test_kafka_runs_in_kraft_mode() -> None:
    kafka = env("kafka")
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "zookeeper" not in " ".join(kafka).lower()


def test_the_feeder_environment_is_made_of_real_settings_that_validate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    feeder = env("feeder")
    assert set(feeder_variables(feeder)) == set(feeder)
    assert set(feeder) <= SETTING_NAMES, sorted(set(feeder) - SETTING_NAMES)
    settings = validate_settings(feeder, monkeypatch)
    assert settings.api.token is not None


def test_the_simulator_environment_validates_and_its_token_is_the_feeders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in env("simulator").items():
        assert name.startswith("FEEDER_SIM_")
        monkeypatch.setenv(name, value)
    simulator = SimulatorSettings()
    assert simulator.server.token.get_secret_value() == env("feeder")["FEEDER_API__TOKEN"]
    assert SERVICES["simulator"]["command"][0] == "simulate"


def test_the_feeder_reaches_the_simulator_and_kafka_on_their_ports() -> None:
    feeder = env("feeder")
    api = urlsplit(feeder["FEEDER_API__BASE_URL"])
    assert api.hostname == "simulator"
    assert str(api.port) == env("simulator")["FEEDER_SIM_SERVER__PORT"]
    assert env("simulator")["FEEDER_SIM_SERVER__HOST"] == "0.0.0.0"  # noqa: S104
    host, port = feeder["FEEDER_KAFKA__BOOTSTRAP_SERVERS"].split(":")
    assert host == "kafka"
    kafka = env("kafka")
    assert f"://{host}:{port}" in kafka["KAFKA_ADVERTISED_LISTENERS"]
    assert f"://:{port}" in kafka["KAFKA_LISTENERS"]
    assert set(SERVICES["feeder"]["depends_on"]) == {"kafka", "simulator"}


def test_prometheus_scrapes_the_feeder_metrics_port() -> None:
    port = env("feeder")["FEEDER_OBSERVABILITY__PORT"]
    assert env("feeder")["FEEDER_OBSERVABILITY__HOST"] == "0.0.0.0"  # noqa: S104
    assert int(port) in published("feeder")
    expose = [i.arguments for i in dockerfile_instructions() if i.keyword == "EXPOSE"]
    assert expose == [port]
    (job,) = [job for job in PROMETHEUS_CONFIG["scrape_configs"] if job["job_name"] == "feeder"]
    targets = [target for config in job["static_configs"] for target in config["targets"]]
    assert targets == [f"feeder:{port}"]


def test_prometheus_loads_the_mounted_config_and_rules() -> None:
    mounts = bind_mounts("prometheus")
    config_flag = next(
        arg for arg in SERVICES["prometheus"]["command"] if arg.startswith("--config.file=")
    )
    config_path = config_flag.split("=", 1)[1]
    assert mounts[config_path] == "./deploy/prometheus/prometheus.yml"
    config_dir = config_path.rsplit("/", 1)[0]
    for rule_file in PROMETHEUS_CONFIG["rule_files"]:
        assert mounts[f"{config_dir}/{rule_file}"] == f"./deploy/prometheus/{rule_file}"


def test_grafana_provisions_the_prometheus_data_source_and_the_dashboard() -> None:
    mounts = bind_mounts("grafana")
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    (source,) = load_yaml(GRAFANA / "datasources" / "prometheus.yml")["datasources"]
    url = urlsplit(source["url"])
    assert url.hostname == "prometheus"
    assert url.port in published("prometheus")
    (provider,) = load_yaml(GRAFANA / "dashboards" / "feeder.yml")["providers"]
    dashboard_target = next(t for t, s in mounts.items() if s.endswith("feeder-dashboard.json"))
    assert dashboard_target.rsplit("/", 1)[0] == provider["options"]["path"]
    assert env("grafana")["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] == dashboard_target


def test_every_mounted_file_exists_and_every_named_volume_is_declared() -> None:
    declared = set(COMPOSE.get("volumes", {}))
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), (name, source)
            else:
                assert source in declared, (name, source)


def test_no_two_services_publish_the_same_host_port() -> None:
    host_ports = [port for name in SERVICES for port in published(name).values()]
    assert len(host_ports) == len(set(host_ports))


def test_every_healthcheck_is_a_shell_command() -> None:
    """podman-compose 1.0.3 (Debian's) quotes the exec form (["CMD", ...]) into a shell syntax
    error: such a service is never healthy under podman."""
    for name, service in SERVICES.items():
        if "healthcheck" in service:
            test = service["healthcheck"]["test"]
            assert test[0] == "CMD-SHELL", name
            assert len(test) == 2, name


def test_the_healthchecks_match_the_ports() -> None:
    simulator_check = " ".join(SERVICES["simulator"]["healthcheck"]["test"])
    assert re.search(rf":{env('simulator')['FEEDER_SIM_SERVER__PORT']}/", simulator_check)
    kafka_check = " ".join(SERVICES["kafka"]["healthcheck"]["test"])
    assert "localhost:9092" in kafka_check
    assert "PLAINTEXT://:9092" in env("kafka")["KAFKA_LISTENERS"]
