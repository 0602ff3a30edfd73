"""Reading the deployment files (compose, Dockerfile, Kubernetes) for the tests."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from feeder.settings import FeederSettings
from feeder.settings.reference import settings_reference
from tests.ops.conftest import ROOT

PINNED_IMAGE = re.compile(
    r"^[a-z0-9][a-z0-9./_-]*:(?!latest$)[\w.-]*\d[\w.-]*(@sha256:[0-9a-f]{64})?$"
)
SETTING_NAMES = frozenset(doc.env_var for doc in settings_reference())


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_yaml_documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def feeder_variables(environment: Mapping[str, str]) -> dict[str, str]:
    """The feeder settings among ``environment`` (the simulator's FEEDER_SIM_* excluded)."""
    return {
        name: value
        for name, value in environment.items()
        if name.startswith("FEEDER_") and not name.startswith("FEEDER_SIM_")
    }


def validate_settings(
    environment: Mapping[str, str], monkeypatch: pytest.MonkeyPatch
) -> FeederSettings:
    """FeederSettings read from exactly ``environment`` (nothing inherited from the test run)."""
    import os  # noqa: PLC0415 - only to clear the inherited FEEDER_ variables

    for name in list(os.environ):
        if name.startswith("FEEDER_"):
            monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return FeederSettings()


@dataclass(frozen=True, slots=True)
class Instruction:
    keyword: str
    arguments: str

    def exec_form(self) -> list[str]:
        parsed = json.loads(self.arguments)
        assert isinstance(parsed, list)
        return [str(part) for part in parsed]


def dockerfile_instructions(path: Path = ROOT / "Dockerfile") -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    instructions = []
    for text in logical:
        keyword, _, arguments = text.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
    return instructions


def dockerfile_env(instructions: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "ENV":
            for pair in shlex.split(instruction.arguments):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def kubernetes_manifests() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in load_yaml_documents(path):
            yield path, document
