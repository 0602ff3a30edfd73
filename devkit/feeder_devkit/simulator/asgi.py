"""Small helpers for plain ASGI handlers: read a request, send a response, wait politely."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON = b"application/json; charset=utf-8"
HTML = b"text/html; charset=utf-8"
NDJSON = b"application/x-ndjson"


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of request header ``name`` (lower-case), decoded as latin-1."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def read_body(receive: Receive, limit_bytes: int = 1 << 20) -> bytes:
    """The whole request body (at most ``limit_bytes``; ``ValueError`` beyond that)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit_bytes:
            raise ValueError("request body too large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = JSON,
    extra_headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        *extra_headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send,
    status: int,
    document: object,
    extra_headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    await send_bytes(send, status, orjson.dumps(document), JSON, extra_headers)


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def wait_politely(seconds: float, receive: Receive, stopping: asyncio.Event) -> bool:
    """Sleep ``seconds``; stop early if the client leaves or the server stops.

    Returns true if the full time passed. Call it only after the request body was read.
    """
    if seconds <= 0:
        return True
    gone = asyncio.ensure_future(_until_disconnect(receive))
    stopped = asyncio.ensure_future(stopping.wait())
    try:
        done, _ = await asyncio.wait(
            {gone, stopped}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for task in (gone, stopped):
            task.cancel()
        for task in (gone, stopped):
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return not done
