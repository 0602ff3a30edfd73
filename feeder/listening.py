"""Listening sockets for the HTTP servers feeder runs (metrics, the simulator)."""

from __future__ import annotations

import socket


def bind_tcp(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0 = any free port), ready to hand to uvicorn.

    Binding up front makes the port known at once. ``IPPROTO_TCP`` is explicit because asyncio
    sets TCP_NODELAY only on sockets that say they are TCP; without it every small response
    waits ~40 ms on Nagle's algorithm and a delayed ACK. Raises ``OSError`` if the bind fails.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock
