"""Resolve and cache Apache Kafka classpaths with Maven: the broker's, and the command-line
tools' (``kafka-tools``: the console consumer and friends, for tests that judge with them)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

_BROKER_POM = Path(__file__).with_name("pom.xml")
_TOOLS_POM = Path(__file__).with_name("tools-pom.xml")
_COMPLETE_MARKER = ".complete"


class JarFetchError(RuntimeError):
    """Maven could not resolve the Kafka jars."""


def default_cache_dir() -> Path:
    """Where Kafka jars are cached: ``$FEEDER_KAFKA_CACHE`` or ``~/.cache/feeder/kafka``."""
    configured = os.environ.get("FEEDER_KAFKA_CACHE")
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "feeder" / "kafka"


def broker_classpath(version: str, cache_dir: Path | None = None) -> Path:
    """Return the folder holding every jar the broker needs, downloading them on first use."""
    libs = (cache_dir or default_cache_dir()) / version / "libs"
    return _resolved(_BROKER_POM, f"org.apache.kafka:kafka_2.13:{version}", version, libs)


def tools_classpath(version: str, cache_dir: Path | None = None) -> Path:
    """Return the folder holding ``org.apache.kafka:kafka-tools`` and its runtime jars
    (``org.apache.kafka.tools.consumer.ConsoleConsumer`` among them), downloading on first use.

    A folder of its own beside the broker's: the tools pull in Connect, Jetty and Jersey, which
    the broker does not need, and the broker's cached folder stays valid as it is.
    """
    libs = (cache_dir or default_cache_dir()) / version / "tools-libs"
    return _resolved(_TOOLS_POM, f"org.apache.kafka:kafka-tools:{version}", version, libs)


def _resolved(pom_template: Path, artifact: str, version: str, libs: Path) -> Path:
    """``libs`` once it holds the runtime closure of ``pom_template``; Maven fills it if not.

    Maven writes to a temporary sibling that is renamed into place with a completion marker, so
    an interrupted download is never mistaken for a finished one.
    """
    if (libs / _COMPLETE_MARKER).exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarFetchError("Maven (mvn) is not on PATH; install Maven 3 and a Java 17+ JDK")
    libs.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=libs.parent) as work:
        pom = Path(work) / "pom.xml"
        pom.write_text(pom_template.read_text().replace("@KAFKA_VERSION@", version))
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
                f"mvn could not resolve {artifact}:\n{result.stdout[-4000:]}{result.stderr[-4000:]}"
            )
        (staging / _COMPLETE_MARKER).touch()
        if (libs / _COMPLETE_MARKER).exists():
            # Another process finished first and may be running from its folder: keep it.
            return libs
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
    return libs
