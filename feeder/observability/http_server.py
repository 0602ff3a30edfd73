"""``/metrics``, ``/healthz`` and ``/readyz`` on one small ASGI app served by uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, MutableMapping
from datetime import datetime
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from feeder.errors import ConfigError
from feeder.listening import bind_tcp
from feeder.observability.metrics import FeederMetrics

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def readiness(metrics: FeederMetrics, now: datetime, max_sweep_age_s: float) -> tuple[bool, str]:
    """Ready when a live sweep caught up recently and Kafka acknowledged the last page."""
    if not metrics.publish_healthy:
        return False, "Kafka did not acknowledge the last page"
    if metrics.last_live_sweep_at is None:
        return False, "no sweep has completed yet"
    age_s = (now - metrics.last_live_sweep_at).total_seconds()
    if age_s > max_sweep_age_s:
        return False, f"the last completed sweep is {age_s:.0f} s old"
    return True, "ready"


def health_app(
    metrics: FeederMetrics, clock: Callable[[], datetime], max_sweep_age_s: float
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """A feed's ``/metrics``, ``/healthz`` and ``/readyz`` (``readiness``)."""
    return metrics_app(metrics.registry, lambda: readiness(metrics, clock(), max_sweep_age_s))


def metrics_app(
    registry: CollectorRegistry, ready: Callable[[], tuple[bool, str]]
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """``/metrics`` of ``registry``, ``/healthz``, and ``/readyz`` as ``ready`` says."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/metrics":
            status, body, content_type = 200, generate_latest(registry), CONTENT_TYPE_LATEST
        elif path == "/healthz":
            status, body, content_type = 200, b"ok\n", "text/plain"
        elif path == "/readyz":
            is_ready, reason = ready()
            status, body, content_type = (
                (200 if is_ready else 503),
                f"{reason}\n".encode(),
                "text/plain",
            )
        else:
            status, body, content_type = 404, b"not found\n", "text/plain"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type.encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the composition root.

    ``uvicorn.Server.serve`` installs its own SIGINT/SIGTERM handlers in the main thread and
    re-raises the signal afterwards, which would pre-empt feeder's two-phase shutdown.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    """The metrics listener, bound up front (port 0 = any free one)."""
    try:
        return bind_tcp(host, port)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port} for metrics ({exc}); set "
            "FEEDER_OBSERVABILITY__HOST / FEEDER_OBSERVABILITY__PORT"
        ) from exc


def embedded_server(app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> EmbeddedServer:
    """A uvicorn server for ``app``; run it with ``serve(sockets=[bind_socket(...)])``."""
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    return EmbeddedServer(config)


@contextlib.asynccontextmanager
async def serving(
    app: Callable[[Scope, Receive, Send], Awaitable[None]], listener: socket.socket
) -> AsyncIterator[EmbeddedServer]:
    """Serve ``app`` on ``listener`` while the block runs; on leaving it, however, the server
    finishes the responses under way and stops, and ``listener`` is closed."""
    server = embedded_server(app)
    task = asyncio.create_task(server.serve(sockets=[listener]), name="metrics-server")
    try:
        yield server
    finally:
        server.should_exit = True
        try:
            await task
        finally:
            listener.close()
