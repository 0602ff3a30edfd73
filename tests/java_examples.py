"""The Java examples (``examples/java-*``) built once per version of their sources.

A build goes to ``~/.cache/feeder/examples/<example>/<digest of its pom and sources>`` (Maven
keeps its downloads in ``~/.m2``), outside the clone: a later run, from any clone, of unchanged
sources skips Maven. Each example's pom takes the build folder as ``-Dfeeder.build.dir``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

EXAMPLES = Path(__file__).parents[1] / "examples"
_COMPLETE = ".complete"


def _sources_digest(example: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted([example / "pom.xml", *(example / "src").rglob("*")]):
        if path.is_file():
            digest.update(path.relative_to(example).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _cache_root() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "feeder" / "examples"


def built_jar(name: str, jar: str) -> Path:
    """``examples/<name>``'s runnable ``jar`` (its libraries beside it in ``lib/``), built with
    ``mvn package`` unless a build of the same sources is cached."""
    example = EXAMPLES / name
    built = _cache_root() / name / _sources_digest(example)
    if (built / _COMPLETE).exists():
        return built / jar
    mvn = shutil.which("mvn")
    assert mvn is not None, f"Maven (mvn) must be on PATH to build examples/{name}"
    built.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=built.parent) as work:
        staging = Path(work) / "build"
        result = subprocess.run(  # noqa: S603 - fixed arguments
            [
                mvn,
                "--batch-mode",
                "--quiet",
                "-Dstyle.color=never",
                "-f",
                str(example / "pom.xml"),
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
    return built / jar
