"""Fixtures of the container tests: the stand-in images and the images built from this
repository (made once per run, reused from the store across runs), and the ``container``
section of the run's summary."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.container.compose_stack import compose_document
from tests.container.images import BuiltImages, build_compose_images
from tests.container.podman import lent_pip_configuration, missing_tools, prune_build_leftovers
from tests.container.stand_ins import StandIns, stand_ins
from tests.container.summary import report


@pytest.fixture(scope="session")
def container_tools() -> None:
    missing = missing_tools()
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed: `./dev test` installs them (Debian's podman, "
            "podman-compose, debootstrap and runc packages)"
        )
    if os.geteuid() != 0:
        pytest.fail("the container tests run podman and debootstrap as root")


@pytest.fixture(scope="session")
def stand_in_images(container_tools: None) -> StandIns:
    image = str(compose_document()["services"]["kafka"]["image"])
    assert image.startswith("apache/kafka:"), image
    made = stand_ins(kafka_version=image.partition(":")[2])
    for name, made_s in made.made_s.items():
        report(f"stand-in {name} made in {made_s:.0f} s (the store did not hold it)")
    return made


@pytest.fixture(scope="session")
def built_images(stand_in_images: StandIns) -> Iterator[BuiltImages]:
    """The images docker-compose.yml builds, built here; what the build was lent stays on the
    host until the session ends (``test_nothing_lent_to_the_build_stays_in_the_image``)."""
    prune_build_leftovers()
    with tempfile.TemporaryDirectory(prefix="feeder-build-") as work:
        built = build_compose_images(stand_in_images, lent_pip_configuration(Path(work)))
        for image in {image.reference: image for image in built.by_service.values()}.values():
            report(
                f"image {image.reference}: built in {image.build_s:.1f} s, "
                f"{image.size_bytes / 1e6:.0f} MB on the Python stand-in"
            )
        yield built
