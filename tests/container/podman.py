"""podman, the way the container tests call it: through ``tests/container/podman`` (this folder's
``containers.conf``, a store of its own), with a deadline on every call.

Builds are lent this machine's pip configuration: the CI machines reach PyPI through a TLS proxy
whose CA only the host trusts, so a ``pip`` inside a build needs the host's CA bundle and pip
settings. They are mounted read-only for the build's ``RUN`` steps (``podman build -v``), never
copied into an image; what buildah leaves behind is an empty mount point, which
``test_nothing_lent_to_the_build_stays_in_the_image`` holds to.
"""

from __future__ import annotations

import ast
import configparser
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WRAPPER = Path(__file__).with_name("podman")
_PIP_SETTING = re.compile(r"^(?P<section>[^.]+)\.(?P<key>[^=]+)=(?P<value>.*)$")


class PodmanError(AssertionError):
    """A podman call failed or overran its deadline; the message carries its output.

    An ``AssertionError`` so that pytest shows it as a failed check with its message."""


def podman(*args: str, timeout_s: float, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``podman ARGS`` through the wrapper; raise :class:`PodmanError` on a non-zero exit
    (unless ``check`` is false) or when it runs past ``timeout_s``."""
    command = [str(WRAPPER), *args]
    try:
        result = subprocess.run(  # noqa: S603 - fixed program, arguments from the tests
            command,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PodmanError(f"podman {' '.join(args)} ran past {timeout_s} s") from exc
    if check and result.returncode != 0:
        raise PodmanError(
            f"podman {' '.join(args)} exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return result


def podman_json(*args: str, timeout_s: float) -> Any:
    """``podman ARGS`` whose output is JSON (``inspect``, ``--format json``), parsed."""
    return json.loads(podman(*args, timeout_s=timeout_s).stdout)


def image_exists(reference: str) -> bool:
    return podman("image", "exists", reference, timeout_s=30, check=False).returncode == 0


def image_size_bytes(reference: str) -> int:
    """The image's size as ``podman images`` counts it: every layer, uncompressed."""
    (image,) = podman_json("image", "inspect", reference, timeout_s=30)
    return int(image["Size"])


def remove_other_tags(repository: str, keep: str) -> None:
    """Remove every ``repository:*`` image but ``keep`` (stand-ins of older recipes), unless a
    container still uses it (another run's stack): that one goes on a later run."""
    listed = podman(
        "images", "--format", "{{.Repository}}:{{.Tag}}", repository, timeout_s=30
    ).stdout.split()
    for reference in listed:
        if reference != keep:
            podman("rmi", reference, timeout_s=120, check=False)


def prune_build_leftovers() -> None:
    """Remove untagged images older than a day: what earlier builds of changed sources left.

    Younger ones stay: an untagged image may be the build cache of a stage (the wheels) that the
    next build of unchanged sources reuses."""
    podman("image", "prune", "--force", "--filter", "until=24h", timeout_s=300)


@dataclass(frozen=True, slots=True)
class Lent:
    """A host file or folder mounted read-only into every ``RUN`` step of a build."""

    host: Path
    target: str

    def volume_flag(self) -> str:
        return f"--volume={self.host}:{self.target}:ro"


def lent_pip_configuration(work: Path) -> list[Lent]:
    """What a build needs to run ``pip`` here as the host does: a pip.conf holding the host's
    effective settings (``pip config list``: files and ``PIP_*`` variables, the variables
    winning, as pip reads them), written into ``work`` and lent as ``/etc/pip.conf``, and every
    existing absolute path those settings name (the CA bundle, a find-links folder) lent at the
    same path. Nothing when pip has no settings here."""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    from_files: dict[tuple[str, str], str] = {}
    from_environment: dict[tuple[str, str], str] = {}
    for line in listed.stdout.splitlines():
        match = _PIP_SETTING.match(line.strip())
        if match is None:
            continue
        value = str(ast.literal_eval(match["value"]))
        if match["section"] == ":env:":
            from_environment[("global", match["key"])] = value
        else:
            from_files[(match["section"], match["key"])] = value
    settings = {**from_files, **from_environment}
    if not settings:
        return []
    config = configparser.ConfigParser(interpolation=None)
    lent: dict[str, Lent] = {}
    for (section, key), value in settings.items():
        if not config.has_section(section):
            config.add_section(section)
        config.set(section, key, value)
        for word in value.split():
            path = Path(word)
            if path.is_absolute() and path.exists():
                lent[word] = Lent(path, word)
    pip_conf = work / "pip.conf"
    with pip_conf.open("w", encoding="utf-8") as handle:
        config.write(handle)
    return [Lent(pip_conf, "/etc/pip.conf"), *lent.values()]


def build(
    context: Path,
    *,
    tag: str,
    timeout_s: float,
    dockerfile: Path | None = None,
    target: str | None = None,
    build_args: Mapping[str, str] | None = None,
    build_contexts: Mapping[str, Path] | None = None,
    lent: Sequence[Lent] = (),
    no_cache: bool = False,
) -> float:
    """``podman build`` ``context`` into ``tag``; returns the seconds it took.

    Docker's image format (the OCI format has no HEALTHCHECK), chroot isolation (what builds
    here), never a pull: every base is a local image or the build fails."""
    args = [
        "build",
        "--format=docker",
        "--isolation=chroot",
        "--pull=never",
        f"--tag={tag}",
    ]
    if dockerfile is not None:
        args.append(f"--file={dockerfile}")
    if target is not None:
        args.append(f"--target={target}")
    if no_cache:
        args.append("--no-cache")
    args += [f"--build-arg={name}={value}" for name, value in (build_args or {}).items()]
    args += [f"--build-context={name}={path}" for name, path in (build_contexts or {}).items()]
    args += [item.volume_flag() for item in lent]
    started = time.monotonic()
    podman(*args, str(context), timeout_s=timeout_s)
    return time.monotonic() - started


def missing_tools() -> list[str]:
    """The programs the container tests need that are not on PATH."""
    return [tool for tool in ("podman", "podman-compose", "debootstrap") if not shutil.which(tool)]
