"""The container image's size, build times and time to healthy, as README (Operations → Docker
Compose) reports them.

    python bench/image.py            # in the container tests' store (stand-ins made if missing)
    python bench/image.py --cold     # in a new, temporary store: the stand-ins are made too

It builds as tests/container does (podman, the Dockerfile on the Debian stand-in for its Python
base, lent the host's pip settings) and needs what ``./dev test`` installs (podman,
podman-compose, debootstrap) and root. Measured, in this order:

- cold build: ``--no-cache``, every step again (pip downloads every dependency), the base present;
- warm build: the same again, nothing changed (every step from the cache);
- after a change: one file under feeder/ changed, the usual CI case (the wheel is built and the
  dependencies downloaded again; the base and the user's layer come from the cache);
- image size: every layer, uncompressed, as ``podman images`` shows it;
- time to healthy: docker-compose.yml's stack started (grafana left out), from each container's
  start to its first passing health check (checks run every 0.5 s).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the container tests' helpers

from tests.container.compose_stack import (
    ROOT,
    ComposeStack,
    compose_document,
    only_stack_on_this_machine,
)
from tests.container.images import build_compose_images
from tests.container.podman import (
    Lent,
    build,
    image_size_bytes,
    lent_pip_configuration,
    podman,
)
from tests.container.stand_ins import stand_ins


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold", action="store_true", help="use a new, temporary store")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="feeder-bench-image-") as work:
        if args.cold:
            os.environ["FEEDER_PODMAN_STORE"] = str(Path(work) / "store")
            os.environ["FEEDER_PODMAN_RUN"] = str(Path(work) / "run")
        try:
            measure(Path(work))
        finally:
            if args.cold:
                podman("system", "reset", "--force", timeout_s=600, check=False)
    return 0


def measure(work: Path) -> None:
    kafka_image = str(compose_document()["services"]["kafka"]["image"])
    started = time.monotonic()
    made = stand_ins(kafka_version=kafka_image.partition(":")[2])
    stand_ins_s = time.monotonic() - started
    lent = lent_pip_configuration(work)
    cold = build_compose_images(made, lent, no_cache=True).feeder
    warm_images = build_compose_images(made, lent)
    changed_s = build_after_a_change(work, made.python, lent)
    images = {service: image.reference for service, image in warm_images.by_service.items()}
    images |= {"kafka": made.kafka, "prometheus": made.prometheus}
    stack = ComposeStack(images)
    with only_stack_on_this_machine(within_s=900):
        stack.down()
        try:
            stack.up(healthy_within_s=180)
            healthy = dict(stack.healthy_after_s)
        finally:
            stack.down()

    warm = warm_images.feeder
    rows = [
        ("stand-ins made" if made.made_s else "stand-ins (the store held them)", stand_ins_s),
        *((f"  {name}", made_s) for name, made_s in made.made_s.items()),
        ("cold build (--no-cache, base present)", cold.build_s),
        ("warm build (nothing changed)", warm.build_s),
        ("build after a change under feeder/", changed_s),
        *((f"healthy after start: {name}", s) for name, s in sorted(healthy.items())),
    ]
    print(f"image {warm.reference}: {image_size_bytes(warm.reference) / 1e6:.0f} MB")
    for label, seconds in rows:
        print(f"{label:<44} {seconds:7.1f} s")


def build_after_a_change(work: Path, base: str, lent: Sequence[Lent]) -> float:
    """The build of a copy of the build context in which one file under feeder/ changed."""
    context = work / "context"
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md"):
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, context / name)
    for package in ("feeder", "devkit"):  # what .dockerignore lets into the build
        shutil.copytree(
            ROOT / package, context / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    with (context / "feeder" / "__init__.py").open("a", encoding="utf-8") as changed:
        changed.write(f"# changed by bench/image.py at {time.time()}\n")
    tag = "localhost/feeder-test/bench:changed"
    try:
        return build(context, tag=tag, build_args={"BASE_IMAGE": base}, lent=lent, timeout_s=900)
    finally:
        podman("rmi", "--force", tag, timeout_s=120, check=False)


if __name__ == "__main__":
    sys.exit(main())
