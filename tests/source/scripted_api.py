"""A programmable HTTP server for the API client's tests: a real uvicorn in the test's loop.

Each path has a queue of scripted answers (status, headers, body, a hang, a trickle, a body cut
short); each request pops one and is recorded. An unscripted request gets a 418, which the client
treats as fatal, so a test that under-scripts fails loudly instead of retrying.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn

SESSIONS = "/api/admin/v2/sessions"
OAUTH = "/oauth/token"

_Scope = dict[str, Any]
_Message = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Scripted:
    """One scripted answer."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0  # before the status line: a hanging server
    chunk_delay_s: float = 0.0  # between body bytes: a trickling server
    declared_length: int | None = None  # a Content-Length above len(body): dropped mid-body


def json_answer(document: object, status: int = 200, *headers: tuple[str, str]) -> Scripted:
    """A JSON answer."""
    return Scripted(
        status, orjson.dumps(document), (("content-type", "application/json"), *headers)
    )


def page_answer(
    records: list[object], after: str | None = None, *, pagination: object = ...
) -> Scripted:
    """A sessions page with ``pagination.next.after`` set to ``after`` (``null`` if None)."""
    if pagination is ...:
        following = None if after is None else {"count": len(records), "after": after}
        pagination = {"previous": None, "next": following}
    return json_answer({"data": records, "pagination": pagination})


def token_answer(token: str, expires_in: object = 3600) -> Scripted:
    """A client-credentials token response."""
    return json_answer({"access_token": token, "token_type": "Bearer", "expires_in": expires_in})


@dataclass(frozen=True, slots=True)
class Received:
    """One request the server got."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class ScriptedApi:
    """The ASGI app: per-path queues of scripted answers, and every request received."""

    base_url: str = ""
    requests: list[Received] = field(default_factory=list)
    _scripts: dict[str, deque[Scripted]] = field(default_factory=dict)
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    def script(self, path: str, *answers: Scripted) -> None:
        """Queue ``answers`` for ``path``, after any already queued."""
        self._scripts.setdefault(path, deque()).extend(answers)

    def received(self, path: str) -> list[Received]:
        """The requests made to ``path``, in order."""
        return [request for request in self.requests if request.path == path]

    def release(self) -> None:
        """End every pending delay (at teardown)."""
        self._released.set()

    async def __call__(
        self,
        scope: _Scope,
        receive: Callable[[], Awaitable[_Message]],
        send: Callable[[_Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        self.requests.append(
            Received(
                method=scope["method"],
                path=path,
                query=scope["query_string"].decode("ascii"),
                headers={k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
                body=body,
            )
        )
        queue = self._scripts.get(path)
        answer = queue.popleft() if queue else Scripted(418, b"unscripted request")
        await self._pause(answer.delay_s)
        length = len(answer.body) if answer.declared_length is None else answer.declared_length
        headers = [(k.encode(), v.encode()) for k, v in answer.headers]
        headers.append((b"content-length", str(length).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        if answer.chunk_delay_s:
            for index in range(len(answer.body)):
                await send(
                    {
                        "type": "http.response.body",
                        "body": answer.body[index : index + 1],
                        "more_body": True,
                    }
                )
                await self._pause(answer.chunk_delay_s)
            await send({"type": "http.response.body", "body": b""})
        else:
            await send({"type": "http.response.body", "body": answer.body})

    async def _pause(self, delay_s: float) -> None:
        if delay_s > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay_s):
                    await self._released.wait()


class _InProcessServer(uvicorn.Server):
    """uvicorn without its signal handlers (the test runner owns them) and without its 0.1 s
    polling main loop (it stops as soon as ``stop()`` is called)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self.should_exit = True
        self._stopping.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        await self._stopping.wait()


@contextlib.asynccontextmanager
async def serving_scripted_api() -> AsyncIterator[ScriptedApi]:
    """A real HTTP server on a free local port, answering as scripted, until the block ends."""
    app = ScriptedApi()
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto says
    # TCP, and without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="critical",
        access_log=False,
        http="h11",
        date_header=False,  # a Date header is whatever the script says, or none
        server_header=False,
        timeout_graceful_shutdown=2,
    )
    server = _InProcessServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
    app.base_url = f"http://127.0.0.1:{port}"
    try:
        yield app
    finally:
        app.release()
        server.stop()
        await task
        sock.close()
