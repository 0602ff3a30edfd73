"""What ships is what users run: the runtime wheel carries feeder and none of the dev kit.

The wheel is built here (pip, offline, with the hatchling the test environment has) and read:
no simulator, no local broker, no demo, and not their dependencies; and the dev kit's commands
say how to install it where it is missing.
"""

from __future__ import annotations

import email.parser
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.ops.conftest import ROOT

DEV_KIT_MODULES = ("simulator", "localkafka", "demo")
DEV_KIT_ONLY_REQUIREMENTS = ("sortedcontainers",)


@pytest.fixture(scope="module")
def runtime_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            "--wheel-dir",
            str(out),
            str(ROOT),
        ],
        check=True,
        timeout=120,
    )
    (wheel,) = out.glob("feeder-*.whl")
    return wheel


def test_the_runtime_wheel_carries_no_dev_kit(runtime_wheel: Path) -> None:
    with zipfile.ZipFile(runtime_wheel) as wheel:
        names = wheel.namelist()
        sources = {name: wheel.read(name).decode() for name in names if name.endswith(".py")}
        (metadata_name,) = [name for name in names if name.endswith(".dist-info/METADATA")]
        metadata = email.parser.Parser().parsestr(wheel.read(metadata_name).decode())
    packages = {name.split("/")[0] for name in names if not name.endswith((".dist-info", "/"))}
    assert {"feeder/cli.py", "feeder/runtime/feed.py", "feeder/kafka/sink.py"} <= set(names)
    assert not [p for p in packages if p not in ("feeder",) and not p.endswith(".dist-info")]
    shipped = [
        name
        for name in names
        if any(part.removesuffix(".py") in DEV_KIT_MODULES for part in name.split("/")[1:])
    ]
    assert shipped == [], shipped
    importing = [
        name
        for name, text in sources.items()
        if "import feeder_devkit" in text or "from feeder_devkit" in text
    ]
    assert importing == [], importing
    requirements = [req.split(";")[0].strip() for req in metadata.get_all("Requires-Dist") or []]
    assert requirements, "the runtime has dependencies"
    leaked = [req for req in requirements if req.startswith(DEV_KIT_ONLY_REQUIREMENTS)]
    assert leaked == [], leaked


# Runs feeder's command line with the dev kit unimportable, as where only the runtime wheel is.
_WITHOUT_DEV_KIT = """
import sys

class _NoDevKit:
    def find_spec(self, name, path=None, target=None):
        if name == "feeder_devkit" or name.startswith("feeder_devkit."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoDevKit())
from feeder.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("arguments", [["demo"], ["simulate", "--port", "0"]])
def test_dev_kit_commands_say_how_to_install_it_where_it_is_missing(arguments: list[str]) -> None:
    done = subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [sys.executable, "-c", _WITHOUT_DEV_KIT, *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: feeder {arguments[0]} needs feeder's dev kit")
    assert "pip install ./devkit" in line


def test_the_other_commands_work_without_the_dev_kit() -> None:
    done = subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [sys.executable, "-c", _WITHOUT_DEV_KIT, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "simulate" in done.stdout
