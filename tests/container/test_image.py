"""The image ``docker build .`` makes, built here from the Dockerfile on the stand-in for its
Python base: it runs feeder, says what is wrong at first contact, and carries no compiler or
build tool and nothing the build was lent.

Each test's deadline covers the test alone (``func_only``): the session fixtures that make the
stand-ins and build the image (about 2 minutes with an empty store, seconds with a warm one) are
bounded by the deadlines of their own podman calls.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from feeder import __version__
from tests.container.compose_stack import ROOT
from tests.container.images import BuiltImages
from tests.container.podman import podman
from tests.worker_groups import MANY_PROCESSES

pytestmark = [MANY_PROCESSES, pytest.mark.timeout(60, func_only=True)]

COMPILERS_AND_BUILD_TOOLS = (
    "gcc", "cc", "c++", "g++", "clang", "ld", "as", "make", "cmake", "ninja", "cargo", "rustc",
)  # fmt: skip
BUILD_PACKAGES = (
    "setuptools", "wheel", "hatchling", "build", "flit-core", "poetry-core", "maturin", "cython",
    "scikit-build-core", "meson-python", "pip-tools",
)  # fmt: skip


def run_in_image(
    image: str, *args: str, entrypoint: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``podman run --rm IMAGE ARGS``: the image's own entry point (feeder) unless given."""
    chosen = [f"--entrypoint={entrypoint}"] if entrypoint else []
    return podman("run", "--rm", *chosen, image, *args, timeout_s=120, check=False)


def test_feeder_version_runs_in_the_image(built_images: BuiltImages) -> None:
    result = run_in_image(built_images.feeder.reference, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"feeder {__version__}"


def test_the_image_runs_this_checkouts_code(built_images: BuiltImages) -> None:
    """Every Python file the image installed for feeder is the checkout's: a build cache that
    kept an older install (buildah does, for ``RUN --mount=from=<stage>``) fails here."""
    script = (
        "import hashlib, json, pathlib, feeder\n"
        "top = pathlib.Path(feeder.__file__).parent\n"
        "print(json.dumps({str(p.relative_to(top)): hashlib.sha256(p.read_bytes()).hexdigest() "
        "for p in top.rglob('*.py')}))\n"
    )
    result = run_in_image(built_images.feeder.reference, "-c", script, entrypoint="python")
    assert result.returncode == 0, result.stderr
    installed: dict[str, str] = json.loads(result.stdout)
    assert {"__init__.py", "cli.py"} <= set(installed)
    differing = sorted(
        name
        for name, digest in installed.items()
        if _digests(ROOT / "feeder" / name).get("") != digest
    )
    assert differing == [], "the image holds feeder files that differ from the checkout"


def test_feeder_check_in_the_image_says_which_setting_is_missing(
    built_images: BuiltImages,
) -> None:
    result = run_in_image(built_images.feeder.reference, "check")
    assert result.returncode == 2, result
    assert "error: invalid settings" in result.stderr
    assert "set exactly one of FEEDER_API__TOKEN, FEEDER_API__TOKEN_FILE" in result.stderr
    assert "Traceback" not in result.stderr


def test_feeder_check_in_the_image_names_a_config_file_that_does_not_exist(
    built_images: BuiltImages,
) -> None:
    missing = "/etc/feeder/feeder.toml"
    result = run_in_image(built_images.feeder.reference, "check", "--config", missing)
    assert result.returncode == 2, result
    assert f"error: the config file {missing} does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_image_holds_no_compiler_or_build_tool(built_images: BuiltImages) -> None:
    script = (
        "import importlib.metadata, json, os, shutil; print(json.dumps({"
        f"'tools': [t for t in {list(COMPILERS_AND_BUILD_TOOLS)!r} if shutil.which(t)], "
        "'packages': sorted(d.metadata['Name'].lower() "
        "for d in importlib.metadata.distributions()), "
        "'build_stage_left': [p for p in ('/src', '/wheels', '/tmp/wheels') "
        "if os.path.exists(p) and os.listdir(p)]}))"
    )
    result = run_in_image(built_images.feeder.reference, "-c", script, entrypoint="python")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["tools"] == []
    assert "feeder" in found["packages"]
    assert sorted(set(found["packages"]) & set(BUILD_PACKAGES)) == []
    assert found["build_stage_left"] == []


def test_nothing_lent_to_the_build_stays_in_the_image(built_images: BuiltImages) -> None:
    """The host's pip configuration and CA bundle reached the build's RUN steps only: in the
    image each lent path is absent, an empty mount point buildah left, or the image's own file
    (not the host's)."""
    image = built_images.feeder
    if not image.lent:
        pytest.skip("pip has no settings on this machine: the build was lent nothing")
    targets = [lent.target for lent in image.lent]
    script = (
        "import hashlib, json, os, sys\n"
        "def files(top):\n"
        "    if os.path.isfile(top):\n"
        "        yield '', top\n"
        "    for folder, _, names in os.walk(top):\n"
        "        for name in names:\n"
        "            yield os.path.relpath(os.path.join(folder, name), top), "
        "os.path.join(folder, name)\n"
        "print(json.dumps({t: {r: hashlib.sha256(open(p, 'rb').read()).hexdigest() "
        "for r, p in files(t)} for t in sys.argv[1:]}))\n"
    )
    result = run_in_image(image.reference, "-c", script, *targets, entrypoint="python")
    assert result.returncode == 0, result.stderr
    in_image: dict[str, dict[str, str]] = json.loads(result.stdout)
    for lent in image.lent:
        on_host = _digests(lent.host)
        kept = {
            name: digest
            for name, digest in in_image[lent.target].items()
            if on_host.get(name) == digest and digest != _EMPTY
        }
        assert kept == {}, f"{lent.target} in the image holds what the build was lent"


_EMPTY = hashlib.sha256(b"").hexdigest()


def _digests(top: Path) -> dict[str, str]:
    """sha256 of ``top`` (under the name "") or of every file under it (by relative path)."""
    if not top.exists():
        return {}
    if top.is_file():
        return {"": hashlib.sha256(top.read_bytes()).hexdigest()}
    return {
        str(path.relative_to(top)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in top.rglob("*")
        if path.is_file()
    }
