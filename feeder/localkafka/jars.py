"""Resolve and cache the Kafka broker's classpath with Maven."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

_POM_TEMPLATE = Path(__file__).with_name("pom.xml")
_COMPLETE_MARKER = ".complete"


class JarFetchError(RuntimeError):
    """Maven could not resolve the broker jars."""


def default_cache_dir() -> Path:
    """Where broker jars are cached: ``$FEEDER_KAFKA_CACHE`` or ``~/.cache/feeder/kafka``."""
    configured = os.environ.get("FEEDER_KAFKA_CACHE")
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "feeder" / "kafka"


def broker_classpath(version: str, cache_dir: Path | None = None) -> Path:
    """Return the folder holding every jar the broker needs, downloading them on first use."""
    libs = (cache_dir or default_cache_dir()) / version / "libs"
    if (libs / _COMPLETE_MARKER).exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarFetchError("Maven (mvn) is not on PATH; install Maven 3 and a Java 17+ JDK")
    libs.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=libs.parent) as work:
        pom = Path(work) / "pom.xml"
        pom.write_text(_POM_TEMPLATE.read_text().replace("@KAFKA_VERSION@", version))
        staging = Path(work) / "libs"
        result = subprocess.run(  # noqa: S603 - fixed argument list, no shell
            [
                mvn,
                "--batch-mode",
                "--quiet",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
                "-DincludeScope=runtime",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise JarFetchError(
                f"mvn could not resolve org.apache.kafka:kafka_2.13:{version}:\n"
                f"{result.stdout[-4000:]}{result.stderr[-4000:]}"
            )
        (staging / _COMPLETE_MARKER).touch()
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
    return libs
