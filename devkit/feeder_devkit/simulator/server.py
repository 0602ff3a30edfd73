"""Running the simulator: in-process on the caller's event loop, or in a background thread.

:func:`run_simulator` binds 127.0.0.1 (port 0 picks a free port), serves the API with uvicorn,
advances the traffic model every ``tick_s`` and yields the :class:`Simulator`, whose
``base_url`` is then set. Leaving the block stops new requests, ends hanging requests, closes
connections and flushes the ground-truth file. :func:`run_simulator_in_thread` does the same on a
private event loop in a daemon thread, for synchronous callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TypeVar

import uvicorn

from feeder.listening import bind_tcp
from feeder.typing import Clock
from feeder_devkit.simulator.app import SimulatorApp
from feeder_devkit.simulator.clock import system_clock
from feeder_devkit.simulator.engine import Simulator
from feeder_devkit.simulator.settings import SimulatorSettings

logger = logging.getLogger(__name__)
T = TypeVar("T")

SHUTDOWN_GRACE_S = 2.0
THREAD_CALL_TIMEOUT_S = 120.0


async def _advance_forever(sim: Simulator, stopping: asyncio.Event, tick_s: float) -> None:
    while not stopping.is_set():
        try:
            sim.step()
        except Exception:  # keep serving; the traceback says what broke
            logger.exception("simulator: the traffic model failed a step")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), tick_s)


@contextlib.asynccontextmanager
async def run_simulator(
    settings: SimulatorSettings | None = None,
    *,
    clock: Clock = system_clock,
    log_level: str = "warning",
) -> AsyncIterator[Simulator]:
    """Serve a simulator for the duration of the ``async with`` block and yield it."""
    settings = settings if settings is not None else SimulatorSettings()
    sim = Simulator(settings, clock)
    if settings.traffic.preload_sessions:
        report = sim.preload(settings.traffic.preload_sessions)
        logger.info(
            "simulator: preloaded %d sessions in %.1f s, RSS %.0f MiB",
            report.sessions,
            report.seconds,
            report.rss_bytes / 2**20,
        )
    stopping = asyncio.Event()
    config = uvicorn.Config(
        SimulatorApp(sim, stopping),
        interface="asgi3",
        lifespan="off",
        log_config=None,
        log_level=log_level,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=int(SHUTDOWN_GRACE_S),
    )
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    server_settings = settings.server
    sock = bind_tcp(server_settings.host, server_settings.port)
    try:
        await server.startup(sockets=[sock])
    except BaseException:
        sock.close()
        sim.close()
        raise
    host, port = sock.getsockname()[:2]
    sim.base_url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    ticker = asyncio.create_task(_advance_forever(sim, stopping, settings.traffic.tick_s))
    main_loop = asyncio.create_task(server.main_loop())
    try:
        yield sim
    finally:
        stopping.set()
        server.should_exit = True
        await main_loop
        await ticker
        await server.shutdown(sockets=[sock])
        sim.close()


class ThreadedSimulator:
    """A simulator running in a background thread; :meth:`call` runs code on its loop."""

    def __init__(self, simulator: Simulator, loop: asyncio.AbstractEventLoop) -> None:
        self._sim = simulator
        self._loop = loop
        self.base_url = simulator.base_url
        self.token = simulator.token

    def call(self, action: Callable[[Simulator], T]) -> T:
        """Run ``action(simulator)`` on the simulator's loop and return its result."""

        async def invoke() -> T:
            return action(self._sim)

        future = asyncio.run_coroutine_threadsafe(invoke(), self._loop)
        return future.result(THREAD_CALL_TIMEOUT_S)


@contextlib.contextmanager
def run_simulator_in_thread(
    settings: SimulatorSettings | None = None, *, clock: Clock = system_clock
) -> Iterator[ThreadedSimulator]:
    """:func:`run_simulator` on its own event loop in a daemon thread."""
    ready = threading.Event()
    started: list[tuple[Simulator, asyncio.AbstractEventLoop, asyncio.Event]] = []
    failed: list[BaseException] = []

    async def serve() -> None:
        stop = asyncio.Event()
        async with run_simulator(settings, clock=clock) as sim:
            started.append((sim, asyncio.get_running_loop(), stop))
            ready.set()
            await stop.wait()

    def main() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # noqa: BLE001 - handed over to the caller's thread
            failed.append(exc)
        finally:
            ready.set()

    thread = threading.Thread(target=main, name="feeder-simulator", daemon=True)
    thread.start()
    ready.wait()
    if failed or not started:
        thread.join()
        cause = failed[0] if failed else None
        raise RuntimeError("the simulator thread failed to start") from cause
    sim, loop, stop = started[0]
    try:
        yield ThreadedSimulator(sim, loop)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join()
        if failed:
            raise RuntimeError("the simulator thread failed") from failed[0]
