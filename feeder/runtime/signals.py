"""SIGINT and SIGTERM, for a feed and for a replica alike: the first one stops gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator

logger = logging.getLogger("feeder")


@contextlib.contextmanager
def stop_on_signals(
    stopping: asyncio.Event, *, enabled: bool, at_once: Callable[[], object] | None = None
) -> Iterator[None]:
    """First SIGINT/SIGTERM: set ``stopping`` (stop gracefully). A second one calls ``at_once``
    (e.g. abandon the page in flight), if given. ``enabled=False``: leave the signals alone (a
    feed run by a replica, or in a test)."""
    if not enabled:
        yield
        return
    loop = asyncio.get_running_loop()

    def on_signal(signum: signal.Signals) -> None:
        if stopping.is_set():
            if at_once is not None:
                logger.warning("second %s: stopping now", signum.name)
                at_once()
            return
        logger.info("%s received", signum.name)
        stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        yield
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
