"""The CloudEvents Java SDK as a judge: build ``examples/java-cloudevents`` once and run it.

The build goes to ``~/.cache/feeder/java-cloudevents/<digest of the example's sources>`` (Maven
keeps its downloads in ``~/.m2``), so a second run, or a run of unchanged sources, skips Maven.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXAMPLE = Path(__file__).parents[2] / "examples" / "java-cloudevents"
JAR_NAME = "feeder-cloudevents-decode.jar"
_COMPLETE = ".complete"


def _sources_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted([EXAMPLE / "pom.xml", *(EXAMPLE / "src").rglob("*")]):
        if path.is_file():
            digest.update(path.relative_to(EXAMPLE).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _cache_root() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "feeder" / "java-cloudevents"


def build_decoder() -> Path:
    """The example's runnable jar (its libraries beside it in ``lib/``), built if needed."""
    built = _cache_root() / _sources_digest()
    if (built / _COMPLETE).exists():
        return built / JAR_NAME
    mvn = shutil.which("mvn")
    assert mvn is not None, "Maven (mvn) must be on PATH to build examples/java-cloudevents"
    built.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=built.parent) as work:
        staging = Path(work) / "build"
        result = subprocess.run(  # noqa: S603 - fixed arguments
            [
                mvn,
                "--batch-mode",
                "--quiet",
                "-f",
                str(EXAMPLE / "pom.xml"),
                "package",
                f"-Dfeeder.build.dir={staging}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, f"mvn package failed:\n{result.stdout[-4000:]}"
        (staging / _COMPLETE).touch()
        shutil.rmtree(built, ignore_errors=True)
        staging.rename(built)
    return built / JAR_NAME


@dataclass(frozen=True, slots=True)
class JavaDecoding:
    """What the Java program printed: one line per record, and its own count."""

    lines: list[dict[str, Any]]
    records: int
    decoded: int


def decode_with_java(jar: Path, bootstrap: str, topics: list[str]) -> JavaDecoding:
    result = subprocess.run(  # noqa: S603 - fixed arguments
        ["java", "-jar", str(jar), bootstrap, *topics],  # noqa: S607 - the JDK on PATH
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    printed = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert printed, f"the Java decoder printed nothing:\n{result.stderr[-4000:]}"
    *lines, summary = printed
    assert result.returncode in (0, 1), result.stderr[-4000:]
    return JavaDecoding(lines, summary["records"], summary["decoded"])
