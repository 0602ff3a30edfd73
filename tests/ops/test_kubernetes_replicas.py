"""deploy/kubernetes/replicas/: the base manifests with the overlay's patches applied as
kustomize's strategic merge applies them (maps merge, ``null`` deletes a key, lists of named
items merge by name, ``$patch: replace`` replaces a map, ``$patch: delete`` drops an object),
then validated strictly against the Kubernetes schemas, and the settings by feeder itself."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest

from tests.ops.conftest import ROOT
from tests.ops.manifests import (
    kubernetes_manifests,
    load_yaml,
    load_yaml_documents,
    validate_settings,
)

OVERLAY = ROOT / "deploy" / "kubernetes" / "replicas"


def merged(base: Any, patch: Any) -> Any:
    if isinstance(patch, dict) and isinstance(base, dict):
        if patch.get("$patch") == "replace":
            return {k: v for k, v in patch.items() if k != "$patch"}
        result = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                result.pop(key, None)
            else:
                result[key] = merged(result.get(key), value)
        return result
    if isinstance(patch, list) and isinstance(base, list) and all("name" in i for i in patch):
        result = copy.deepcopy(base)
        by_name = {item["name"]: n for n, item in enumerate(result)}
        for item in patch:
            if item["name"] in by_name:
                position = by_name[item["name"]]
                result[position] = merged(result[position], item)
            else:
                result.append(item)
        return result
    return copy.deepcopy(patch)


def overlay() -> dict[tuple[str, str], dict[str, Any]]:
    """The overlay's objects by (kind, name)."""
    objects = {(doc["kind"], doc["metadata"]["name"]): doc for _, doc in kubernetes_manifests()}
    for name in load_yaml(OVERLAY / "kustomization.yaml")["patches"]:
        for patch in load_yaml_documents(OVERLAY / name["path"]):
            key = (patch["kind"], patch["metadata"]["name"])
            assert key in objects, f"{name['path']} patches no object of the base"
            if patch.get("$patch") == "delete":
                del objects[key]
            else:
                objects[key] = merged(objects[key], patch)
    return objects


OBJECTS = overlay()


def test_the_overlay_takes_the_base_and_patches_every_file_it_holds() -> None:
    kustomization = load_yaml(OVERLAY / "kustomization.yaml")
    assert kustomization["resources"] == [".."]
    patched = {item["path"] for item in kustomization["patches"]}
    assert patched == {p.name for p in OVERLAY.glob("*.yaml")} - {"kustomization.yaml"}


@pytest.mark.parametrize("version", ["1.28.0", kubernetes_validate.latest_version()])
@pytest.mark.parametrize(
    "key", [key for key in OBJECTS if key[0] != "ServiceMonitor"], ids="/".join
)
def test_every_object_validates_strictly(key: tuple[str, str], version: str) -> None:
    kubernetes_validate.validate(OBJECTS[key], version, strict=True)


def test_three_replicas_a_surge_update_and_no_volume_claim() -> None:
    spec = OBJECTS[("Deployment", "feeder")]["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert not [kind for kind, _ in OBJECTS if kind == "PersistentVolumeClaim"]
    volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
    assert "persistentVolumeClaim" not in volumes["checkpoint"]
    assert "emptyDir" in volumes["checkpoint"]
    assert OBJECTS[("PodDisruptionBudget", "feeder")]["spec"]["minAvailable"] == 2


def test_the_settings_make_replicas_with_exactly_once_and_a_cache_on_the_pod(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = validate_settings(OBJECTS[("ConfigMap", "feeder-settings")]["data"], monkeypatch)
    assert settings.replicas.enabled
    assert settings.checkpoint.backend == "kafka"
    assert settings.delivery.mode == "exactly-once"
    (main,) = OBJECTS[("Deployment", "feeder")]["spec"]["template"]["spec"]["containers"]
    mounts = {mount["name"]: mount["mountPath"] for mount in main["volumeMounts"]}
    assert str(settings.checkpoint.path.parent) == mounts["checkpoint"]
    env = {item["name"]: item for item in main["env"]}
    assert env["FEEDER_REPLICAS__REPLICA_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.name"
    )
