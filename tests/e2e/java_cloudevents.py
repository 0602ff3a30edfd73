"""The CloudEvents Java SDK as a judge: build ``examples/java-cloudevents`` once and run it."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.java_examples import built_jar

JAR_NAME = "feeder-cloudevents-decode.jar"


def build_decoder() -> Path:
    """The example's runnable jar, built if needed (:mod:`tests.java_examples`)."""
    return built_jar("java-cloudevents", JAR_NAME)


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
