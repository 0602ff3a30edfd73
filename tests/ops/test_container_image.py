"""The Dockerfile: slim, pinned, non-root, health-checked, runs `feeder run`.

The file is parsed and checked here; the health check command itself runs against a live
feeder in test_live_feed.py, and tests/container builds the image and runs it.
"""

from __future__ import annotations

import fnmatch
import re

from feeder.settings import ObservabilitySettings
from tests.ops.conftest import ROOT
from tests.ops.manifests import (
    PINNED_IMAGE,
    SETTING_NAMES,
    dockerfile_env,
    dockerfile_instructions,
    feeder_variables,
)

INSTRUCTIONS = dockerfile_instructions()


def of(keyword: str) -> list[str]:
    return [i.arguments for i in INSTRUCTIONS if i.keyword == keyword]


def build_argument_defaults() -> dict[str, str]:
    """``ARG NAME=default`` -> {NAME: default}: what ``docker build .`` uses."""
    defaults = {}
    for arguments in of("ARG"):
        name, equals, default = arguments.partition("=")
        if equals:
            defaults[name] = default
    return defaults


def base_images() -> list[str]:
    """Each stage's base, build arguments replaced by their defaults."""
    defaults = build_argument_defaults()
    bases = []
    for arguments in of("FROM"):
        image = arguments.split()[0]
        bases.append(re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults[m[1] or m[2]], image))
    return bases


def test_every_base_image_is_pinned_and_slim() -> None:
    bases = base_images()
    assert len(bases) == 2, "a build stage and a runtime stage"
    for image in bases:
        assert PINNED_IMAGE.match(image), image
        assert "slim" in image, image


def test_the_base_is_a_build_argument_that_defaults_to_the_official_python_image() -> None:
    """A machine without Docker Hub builds on a stand-in (tests/container); users get python."""
    assert build_argument_defaults()["BASE_IMAGE"].startswith("python:")
    assert [arguments.split()[0] for arguments in of("FROM")] == ["${BASE_IMAGE}"] * 2


def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    user = of("USER")[-1]
    uid, _, gid = user.partition(":")
    assert uid.isdigit()
    assert int(uid) != 0
    assert gid.isdigit()
    assert int(gid) != 0


def test_the_health_check_asks_healthz_on_the_metrics_port() -> None:
    (healthcheck,) = of("HEALTHCHECK")
    assert "--interval=" in healthcheck
    assert "--timeout=" in healthcheck
    command = healthcheck.split(" CMD ", 1)[1]
    assert "/healthz" in command
    assert "FEEDER_OBSERVABILITY__PORT" in command


def test_the_entrypoint_is_feeder_run() -> None:
    entrypoint = [i for i in INSTRUCTIONS if i.keyword == "ENTRYPOINT"][-1].exec_form()
    command = [i for i in INSTRUCTIONS if i.keyword == "CMD"][-1].exec_form()
    assert entrypoint + command == ["feeder", "run"]


def test_environment_names_real_settings_and_exposes_the_metrics_port() -> None:
    env = feeder_variables(dockerfile_env(INSTRUCTIONS))
    assert set(env) <= SETTING_NAMES
    assert env["FEEDER_OBSERVABILITY__HOST"] == "0.0.0.0"  # noqa: S104 - inside a container
    port = env["FEEDER_OBSERVABILITY__PORT"]
    assert port == str(ObservabilitySettings().port)
    assert of("EXPOSE") == [port]
    assert env["FEEDER_CHECKPOINT__PATH"].startswith(of("VOLUME")[0].strip('[]"') + "/")


def test_what_the_build_copies_exists_and_passes_the_dockerignore() -> None:
    ignore = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def sent_to_the_build(path: str) -> bool:
        included = True
        for pattern in ignore:
            negated = pattern.startswith("!")
            if fnmatch.fnmatch(path, pattern.lstrip("!").rstrip("/")):
                included = negated
        return included

    for arguments in of("COPY"):
        if arguments.startswith("--from="):
            continue
        *sources, _ = arguments.split()
        for source in sources:
            assert (ROOT / source).exists(), source
            assert sent_to_the_build(source.rstrip("/")), source
