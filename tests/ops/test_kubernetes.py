"""deploy/kubernetes/: validated offline against the Kubernetes OpenAPI schemas.

Built-in kinds go through kubernetes-validate (strict: unknown fields fail). The ServiceMonitor
is a Prometheus Operator CRD that kubernetes-validate has no schema for: its shape is checked
against SERVICE_MONITOR_SHAPE below, a subset written from the CRD's field list (selector,
namespaceSelector, endpoints with port/path/interval/scrapeTimeout and the CRD's duration
pattern), and its references to the Service are checked by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from jsonschema import Draft202012Validator

from tests.ops.conftest import ROOT
from tests.ops.manifests import (
    SETTING_NAMES,
    dockerfile_instructions,
    kubernetes_manifests,
    load_yaml,
    validate_settings,
)

KUBERNETES = ROOT / "deploy" / "kubernetes"
MANIFESTS = list(kubernetes_manifests())
BY_KIND: dict[str, dict[str, Any]] = {document["kind"]: document for _, document in MANIFESTS}
DURATION = (
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)
LABEL_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
        "matchExpressions": {"type": "array"},
    },
}
SERVICE_MONITOR_SHAPE = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {
            "type": "object",
            "required": ["name", "namespace"],
            "properties": {"labels": {"type": "object"}},
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "jobLabel": {"type": "string"},
                "selector": LABEL_SELECTOR,
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "any": {"type": "boolean"},
                        "matchNames": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
                            "interval": {"type": "string", "pattern": DURATION},
                            "scrapeTimeout": {"type": "string", "pattern": DURATION},
                        },
                    },
                },
            },
        },
    },
}


def container() -> dict[str, Any]:
    (only,) = BY_KIND["Deployment"]["spec"]["template"]["spec"]["containers"]
    return only


def pod_labels() -> dict[str, str]:
    return BY_KIND["Deployment"]["spec"]["template"]["metadata"]["labels"]


@pytest.mark.parametrize("version", ["1.28.0", kubernetes_validate.latest_version()])
@pytest.mark.parametrize(
    ("path", "document"),
    [(path, doc) for path, doc in MANIFESTS if doc["kind"] != "ServiceMonitor"],
    ids=lambda value: value.name if isinstance(value, Path) else "",
)
def test_builtin_kinds_validate_strictly(
    path: Path, document: dict[str, Any], version: str
) -> None:
    kubernetes_validate.validate(document, version, strict=True)


def test_the_service_monitor_has_the_crd_shape_and_scrapes_the_service() -> None:
    monitor = BY_KIND["ServiceMonitor"]
    errors = [e.message for e in Draft202012Validator(SERVICE_MONITOR_SHAPE).iter_errors(monitor)]
    assert errors == []
    service = BY_KIND["Service"]
    service_labels = service["metadata"]["labels"]
    for key, value in monitor["spec"]["selector"]["matchLabels"].items():
        assert service_labels[key] == value
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [service["metadata"]["namespace"]]
    service_ports = {port["name"] for port in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in service_ports
        assert endpoint["path"] == "/metrics"
    # deploy/prometheus/feeder-alerts.yml matches job="feeder": the default job label is the
    # Service's name.
    assert "jobLabel" not in monitor["spec"]
    assert service["metadata"]["name"] == "feeder"


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = load_yaml(KUBERNETES / "kustomization.yaml")
    listed = set(kustomization["resources"])
    assert listed == {path.name for path, _ in MANIFESTS}
    namespaces = {
        doc["metadata"].get("namespace") for _, doc in MANIFESTS if doc["kind"] != "Namespace"
    }
    assert namespaces == {kustomization["namespace"]}


def test_one_replica_replaced_with_recreate() -> None:
    spec = BY_KIND["Deployment"]["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"


def test_probes_resources_and_a_non_root_locked_down_container() -> None:
    main = container()
    ports = {port["name"]: port["containerPort"] for port in main["ports"]}
    assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert main["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert main[probe]["httpGet"]["port"] in ports
    resources = main["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert "memory" in resources["limits"]
    pod_security = BY_KIND["Deployment"]["spec"]["template"]["spec"]["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    user = next(i.arguments for i in reversed(dockerfile_instructions()) if i.keyword == "USER")
    assert f"{pod_security['runAsUser']}:{pod_security['runAsGroup']}" == user
    assert main["securityContext"]["allowPrivilegeEscalation"] is False
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    assert main["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_the_settings_are_real_validate_and_agree_with_the_pod(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = BY_KIND["ConfigMap"]["data"]
    secret_env = {item["name"] for item in container()["env"]}
    assert set(data) <= SETTING_NAMES, sorted(set(data) - SETTING_NAMES)
    assert secret_env <= SETTING_NAMES
    settings = validate_settings(data, monkeypatch)
    ports = {port["name"]: port["containerPort"] for port in container()["ports"]}
    assert ports["metrics"] == settings.observability.port
    assert settings.observability.host == "0.0.0.0"  # noqa: S104 - probes come from the kubelet
    service_port = BY_KIND["Service"]["spec"]["ports"][0]
    assert service_port["targetPort"] == "metrics"
    mounts = {mount["name"]: mount["mountPath"] for mount in container()["volumeMounts"]}
    assert settings.checkpoint.backend == "sqlite"
    assert str(settings.checkpoint.path.parent) == mounts["checkpoint"]
    token_file = settings.api.token_file
    assert token_file is not None
    assert str(token_file.parent) == mounts["credentials"]
    assert token_file.name in BY_KIND["Secret"]["stringData"]


def test_secret_references_point_at_the_secret_and_the_claim_exists() -> None:
    pod = BY_KIND["Deployment"]["spec"]["template"]["spec"]
    secret_name = BY_KIND["Secret"]["metadata"]["name"]
    for item in container()["env"]:
        assert item["valueFrom"]["secretKeyRef"]["name"] == secret_name
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes["credentials"]["secret"]["secretName"] == secret_name
    claim = BY_KIND["PersistentVolumeClaim"]["metadata"]["name"]
    assert volumes["checkpoint"]["persistentVolumeClaim"]["claimName"] == claim
    assert pod["serviceAccountName"] == BY_KIND["ServiceAccount"]["metadata"]["name"]
    configmap = BY_KIND["ConfigMap"]["metadata"]["name"]
    assert container()["envFrom"] == [{"configMapRef": {"name": configmap}}]


def test_the_service_and_the_disruption_budget_select_the_pod() -> None:
    labels = pod_labels()
    for selector in (
        BY_KIND["Service"]["spec"]["selector"],
        BY_KIND["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
        BY_KIND["Deployment"]["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= labels.items()
    assert BY_KIND["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1


def test_the_grace_period_covers_the_shutdown_grace() -> None:
    from feeder.settings import SweepSettings  # noqa: PLC0415

    pod = BY_KIND["Deployment"]["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > SweepSettings().shutdown_grace_s
