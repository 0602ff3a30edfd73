"""Stand-ins for the public images the Dockerfile and docker-compose.yml name, made here from
Debian's packages and the Kafka jars the project already fetches: the CI machines cannot pull
from an image registry.

============  ===================================  ==========================================
stand-in      for                                  made of
============  ===================================  ==========================================
debian        (the base of the three others)       ``debootstrap --variant=minbase bookworm``
                                                   from the mirror apt uses, slimmed as
                                                   debian:bookworm-slim is (no docs, man pages,
                                                   locales, apt lists)
python        python:3.12.8-slim-bookworm, the     ``recipes/python``: Debian's Python 3.11 in
              Dockerfile's ``BASE_IMAGE``          a virtual environment first on PATH
kafka         apache/kafka:<docker-compose.yml's>  ``recipes/kafka``: that version's jars from
                                                   Maven Central on Debian's JRE 17
prometheus    prom/prometheus                      ``recipes/prometheus``: Debian's binary
============  ===================================  ==========================================

Each is tagged ``localhost/feeder-stand-in/NAME:DIGEST``, the digest taken over what made it (the
recipe's files, its parent's tag, the Kafka version, the debootstrap arguments), and kept in the
test store (``tests/container/podman``): a later run reuses it as long as nothing that made it
changed, and builds it again (removing the old tag) when something did. Grafana has no stand-in:
nothing here provides it, so the compose test leaves it out (the dashboard is checked as JSON in
``tests/ops``).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from feeder_devkit.localkafka.jars import broker_classpath, tools_classpath

from tests.container.podman import build, image_exists, podman, remove_other_tags

RECIPES = Path(__file__).with_name("recipes")
REPOSITORY = "localhost/feeder-stand-in"
DEBIAN_SUITE = "bookworm"
DEBOOTSTRAP_ARGUMENTS = ("--variant=minbase", DEBIAN_SUITE)
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# What debian:bookworm-slim leaves out (debuerreotype's --slimify), kept out of later apt
# installs too by a dpkg configuration file.
SLIM_EXCLUDES = (
    "/usr/share/doc/*",
    "/usr/share/info/*",
    "/usr/share/linda/*",
    "/usr/share/lintian/overrides/*",
    "/usr/share/locale/*",
    "/usr/share/man/*",
)
SLIM_INCLUDES = ("/usr/share/doc/*/copyright",)
# About three times what they take here (debootstrap 40 s, a stand-in's build 20-45 s).
DEBOOTSTRAP_TIMEOUT_S = 360.0
BUILD_TIMEOUT_S = 300.0


class StandInError(AssertionError):
    """A stand-in could not be made; the message says which step failed and its output."""


@dataclass(frozen=True, slots=True)
class StandIns:
    """The stand-in images' references, and how long each took to make in this run (seconds;
    absent when the store already held it)."""

    debian: str
    python: str
    kafka: str
    prometheus: str
    kafka_version: str
    made_s: dict[str, float] = field(default_factory=dict)


def stand_ins(kafka_version: str) -> StandIns:
    """Every stand-in, made where the store lacks it: the Debian base first, then the other
    three side by side (they wait on the network more than on the processors)."""
    made_s: dict[str, float] = {}
    debian = _debian_image(made_s)
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="stand-in") as pool:
        python = pool.submit(_image_on_debian, "python", debian, made_s)
        kafka = pool.submit(_kafka_image, debian, kafka_version, made_s)
        prometheus = pool.submit(_image_on_debian, "prometheus", debian, made_s)
        return StandIns(
            debian=debian,
            python=python.result(),
            kafka=kafka.result(),
            prometheus=prometheus.result(),
            kafka_version=kafka_version,
            made_s=made_s,
        )


def _digest(*parts: str | bytes) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        hasher.update(len(data).to_bytes(8, "big"))
        hasher.update(data)
    return hasher.hexdigest()[:16]


def _recipe_digest(recipe: Path, *parts: str) -> str:
    """A digest over every file of ``recipe`` (names, modes and contents) and ``parts``."""
    files: list[str | bytes] = []
    for path in sorted(p for p in recipe.rglob("*") if p.is_file()):
        mode = oct(path.stat().st_mode & 0o777)
        files += [str(path.relative_to(recipe)), mode, path.read_bytes()]
    return _digest(*files, *parts)


def _made(name: str, tag: str, made_s: dict[str, float], make_it: Callable[[], object]) -> str:
    """``tag`` if the store holds it; otherwise ``make_it()`` makes it, timed into ``made_s``,
    and the stand-in's older tags are removed."""
    if image_exists(tag):
        return tag
    started = time.monotonic()
    make_it()
    made_s[name] = time.monotonic() - started
    remove_other_tags(tag.rpartition(":")[0], keep=tag)
    return tag


def apt_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's apt uses (its first ``deb`` source that is not the
    security archive), or deb.debian.org."""
    uris: list[str] = []
    for path in sorted(sources.glob("sources.list.d/*.sources")):
        uris += re.findall(r"^URIs:\s*(\S+)", path.read_text(errors="replace"), re.MULTILINE)
    for path in [sources / "sources.list", *sorted(sources.glob("sources.list.d/*.list"))]:
        if path.is_file():
            uris += re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", path.read_text(), re.MULTILINE)
    for uri in uris:
        if uri.startswith("http") and "security" not in uri:
            return uri.rstrip("/")
    return DEFAULT_MIRROR


def _debian_image(made_s: dict[str, float]) -> str:
    tag = f"{REPOSITORY}/debian:{_digest(*DEBOOTSTRAP_ARGUMENTS, *SLIM_EXCLUDES, *SLIM_INCLUDES)}"

    def make() -> None:
        with tempfile.TemporaryDirectory(prefix="feeder-debian-") as work:
            root = Path(work) / "root"
            _run(
                ["debootstrap", *DEBOOTSTRAP_ARGUMENTS, str(root), apt_mirror()],
                what="debootstrap",
                timeout_s=DEBOOTSTRAP_TIMEOUT_S,
            )
            _slim(root)
            archive = Path(work) / "root.tar"
            _run(["tar", "-C", str(root), "-cf", str(archive), "."], what="tar", timeout_s=300)
            podman("import", str(archive), tag, timeout_s=300)

    return _made("debian", tag, made_s, make)


def _slim(root: Path) -> None:
    """Leave out what debian:bookworm-slim leaves out, now and in every later apt install."""
    config = root / "etc" / "dpkg" / "dpkg.cfg.d" / "feeder-slim"
    config.write_text(
        "".join(f"path-exclude {pattern}\n" for pattern in SLIM_EXCLUDES)
        + "".join(f"path-include {pattern}\n" for pattern in SLIM_INCLUDES)
    )
    kept = {path for pattern in SLIM_INCLUDES for path in root.glob(pattern.lstrip("/"))}
    for pattern in SLIM_EXCLUDES:
        for path in sorted(root.glob(pattern.lstrip("/"))):
            if path.is_dir() and not path.is_symlink():
                for inner in sorted(path.rglob("*"), reverse=True):
                    if inner in kept:
                        continue
                    if inner.is_dir() and not inner.is_symlink():
                        if not any(inner.iterdir()):
                            inner.rmdir()
                    else:
                        inner.unlink()
            elif path not in kept:
                path.unlink()
    for leftovers in ("var/lib/apt/lists", "var/cache/apt"):
        for path in (root / leftovers).rglob("*"):
            if path.is_file():
                path.unlink()


def _image_on_debian(name: str, debian: str, made_s: dict[str, float]) -> str:
    """The stand-in ``recipes/NAME`` built on the Debian stand-in, needing nothing else."""
    recipe = RECIPES / name
    tag = f"{REPOSITORY}/{name}:{_recipe_digest(recipe, debian)}"
    return _made(
        name,
        tag,
        made_s,
        lambda: build(
            recipe, tag=tag, build_args={"DEBIAN_IMAGE": debian}, timeout_s=BUILD_TIMEOUT_S
        ),
    )


def _kafka_image(debian: str, version: str, made_s: dict[str, float]) -> str:
    recipe = RECIPES / "kafka"
    tag = f"{REPOSITORY}/kafka:{version}-{_recipe_digest(recipe, debian, version)}"

    def make() -> None:
        build(
            recipe,
            tag=tag,
            build_args={"DEBIAN_IMAGE": debian},
            build_contexts={
                "broker-libs": broker_classpath(version),
                "tools-libs": tools_classpath(version),
            },
            timeout_s=BUILD_TIMEOUT_S,
        )

    return _made("kafka", tag, made_s, make)


def _run(command: list[str], *, what: str, timeout_s: float) -> None:
    if shutil.which(command[0]) is None:
        raise StandInError(f"{command[0]} is not installed (`./dev test` installs it)")
    try:
        result = subprocess.run(  # noqa: S603 - fixed programs
            command, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise StandInError(f"{what} ran past {timeout_s} s") from exc
    if result.returncode != 0:
        raise StandInError(
            f"{what} exited {result.returncode}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
