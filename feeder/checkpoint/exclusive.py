"""One feeder per checkpoint: an exclusive lock beside the checkpoint file.

Two pollers writing one feed would duplicate it and race on the checkpoint; the second one is
fenced at start-up instead. ``flock`` locks are released by the kernel when the process dies,
even by ``kill -9``, so a crash never leaves a stale lock. (They are not reliable on NFS.)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from feeder.errors import ConfigError, FencedError


def lock_path_of(checkpoint: Path) -> Path:
    """The lock file beside ``checkpoint``."""
    return checkpoint.with_name(checkpoint.name + ".lock")


@contextlib.contextmanager
def exclusive_checkpoint(checkpoint: Path) -> Iterator[None]:
    """Hold ``<checkpoint>.lock`` for the duration; raise ``FencedError`` if another holds it."""
    lock_path = lock_path_of(checkpoint)
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:  # a folder on the way is a file, or may not be written
        existing = next(parent for parent in lock_path.parents if parent.exists())
        reason = exc.strerror if existing.is_dir() else f"{existing} is a file, not a folder"
        raise ConfigError(
            f"cannot create the checkpoint's lock file {lock_path}: {reason}; check "
            "FEEDER_CHECKPOINT__PATH and the folder's permissions"
        ) from exc
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FencedError(
                f"another feeder is running on the checkpoint {checkpoint} (it holds "
                f"{lock_path}); only one instance may run per feed"
            ) from None
        yield
    finally:
        os.close(descriptor)  # closing the descriptor releases the lock
