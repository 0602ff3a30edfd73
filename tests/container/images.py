"""The images built from this repository: one per distinct ``build:`` entry of
docker-compose.yml (context, Dockerfile, target), on the stand-in for the Dockerfile's base."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tests.container.compose_stack import BuildSpec, build_specs, compose_document
from tests.container.podman import Lent, build, image_size_bytes
from tests.container.stand_ins import StandIns

IMAGE_BUILD_TIMEOUT_S = 300.0  # about 15 s here with every step run, most of it pip downloading


@dataclass(frozen=True, slots=True)
class BuiltImage:
    """An image built from this repository's Dockerfile for one ``build:`` entry."""

    spec: BuildSpec
    reference: str
    build_s: float
    size_bytes: int
    lent: tuple[Lent, ...]


@dataclass(frozen=True, slots=True)
class BuiltImages:
    stand_ins: StandIns
    by_service: dict[str, BuiltImage]

    @property
    def feeder(self) -> BuiltImage:
        """What ``docker build .`` makes: the image of the compose ``feeder`` service."""
        return self.by_service["feeder"]


def build_compose_images(
    stand_ins: StandIns, lent: Sequence[Lent], *, no_cache: bool = False
) -> BuiltImages:
    """Build what docker-compose.yml builds, each distinct ``build:`` entry once, with the
    Python stand-in as ``BASE_IMAGE`` and ``lent`` mounted into the build's RUN steps."""
    specs = build_specs(compose_document())
    built: dict[BuildSpec, BuiltImage] = {}
    for spec in dict.fromkeys(specs.values()):
        build_s = build(
            spec.context,
            tag=spec.tag,
            dockerfile=spec.dockerfile,
            target=spec.target,
            build_args={"BASE_IMAGE": stand_ins.python},
            lent=lent,
            no_cache=no_cache,
            timeout_s=IMAGE_BUILD_TIMEOUT_S,
        )
        built[spec] = BuiltImage(spec, spec.tag, build_s, image_size_bytes(spec.tag), tuple(lent))
    return BuiltImages(stand_ins, {name: built[spec] for name, spec in specs.items()})
