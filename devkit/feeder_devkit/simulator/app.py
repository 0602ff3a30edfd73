"""The ASGI application: the sessions API, the OAuth2 token endpoint, and the admin routes.

Order of checks for ``GET /api/admin/v2/sessions``, as a real deployment would apply them:
bearer token (401), per-client rate limit (503), then injected faults (latency, hang, 429, 5xx),
then query validation (400), then the page (maybe truncated, non-JSON or with malformed records).
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

import orjson

from feeder_devkit.simulator import admin
from feeder_devkit.simulator.asgi import (
    HTML,
    JSON,
    Receive,
    Scope,
    Send,
    header,
    read_body,
    send_bytes,
    send_json,
    wait_politely,
)
from feeder_devkit.simulator.engine import Simulator
from feeder_devkit.simulator.faults import NO_FAULTS, NON_JSON_BODY, RequestFaults
from feeder_devkit.simulator.query import InvalidQueryError, parse_query

SESSIONS_PATH = "/api/admin/v2/sessions"
OAUTH2_PATH = "/oauth2/token"
ADMIN_PREFIX = "/_simulator/"

_Answer = tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]
"""status, body, content type, extra headers"""

_UNAUTHORIZED = orjson.dumps(
    {"message": "Unauthorized: missing, invalid or expired token", "type": "E_UNAUTHORIZED"}
)
_RATE_LIMITED = orjson.dumps(
    {
        "message": "Service Unavailable: too many requests from this client",
        "type": "E_SERVICE_UNAVAILABLE",
    }
)
_THROTTLED = orjson.dumps({"message": "Too Many Requests", "type": "E_TOO_MANY_REQUESTS"})
_INTERNAL = orjson.dumps({"message": "Internal Server Error", "type": "E_INTERNAL"})
_HUNG = orjson.dumps({"message": "Gateway Timeout", "type": "E_GATEWAY_TIMEOUT"})
_PROXY_ERROR = b"<html><head><title>%d</title></head><body><h1>%d</h1>upstream error</body></html>"


class SimulatorApp:
    """Plain ASGI app over one :class:`Simulator`; ``stopping`` ends hangs at shutdown."""

    def __init__(self, simulator: Simulator, stopping: asyncio.Event) -> None:
        self._sim = simulator
        self._stopping = stopping

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == SESSIONS_PATH:
            if scope["method"] != "GET":
                await send_json(send, 405, {"message": "Method Not Allowed", "type": "E_METHOD"})
                return
            await self._sessions(scope, receive, send)
        elif path == OAUTH2_PATH:
            await self._token(scope, receive, send)
        elif path.startswith(ADMIN_PREFIX):
            await admin.handle(self._sim, scope, receive, send)
        else:
            await send_json(
                send, 404, {"message": f"Cannot {scope['method']} {path}", "type": "E_NOT_FOUND"}
            )

    async def _sessions(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal, faults = await self._refusal(scope, receive)
        if refusal is not None:
            status, body, content_type, headers = refusal
            await send_bytes(send, status, body, content_type, headers)
            return
        sim = self._sim
        pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        try:
            body = sim.page_body(
                parse_query(pairs), delivered=not (faults.non_json or faults.truncate)
            )
        except InvalidQueryError as exc:
            errors = [error.to_json() for error in exc.errors]
            invalid = {
                "message": "Invalid request body",
                "type": "E_INVALID_BODY",
                "errors": errors,
            }
            await send_json(send, 400, invalid)
            return
        if faults.non_json:
            await send_bytes(send, 200, NON_JSON_BODY, HTML)
        elif faults.truncate:
            await send_bytes(send, 200, body[: max(1, len(body) // 2)], JSON)
        else:
            await send_bytes(send, 200, body, JSON)

    async def _refusal(
        self, scope: Scope, receive: Receive
    ) -> tuple[_Answer | None, RequestFaults]:
        """The answer that stops a sessions request before its page (401, 503, faults), if any."""
        sim = self._sim
        client = sim.auth.client_of(header(scope, b"authorization"))
        if client is None:
            return (401, _UNAUTHORIZED, JSON, [(b"www-authenticate", b"Bearer")]), NO_FAULTS
        if not sim.limiter.allow(client):
            return (503, _RATE_LIMITED, JSON, []), NO_FAULTS
        await read_body(receive)
        faults = sim.fault_injector.for_request()
        if not await wait_politely(faults.delay_s, receive, self._stopping):
            return (499, b"", JSON, []), faults  # the client left; nobody reads this
        answer: _Answer | None = None
        if faults.hang:
            await wait_politely(sim.faults.hang_s, receive, self._stopping)
            answer = (504, _HUNG, JSON, [])
        elif faults.throttle:
            retry_after = sim.fault_injector.retry_after(sim.clock()).encode("latin-1")
            answer = (429, _THROTTLED, JSON, [(b"retry-after", retry_after)])
        elif faults.error_status == 500:
            answer = (500, _INTERNAL, JSON, [])
        elif faults.error_status is not None:
            status = faults.error_status
            answer = (status, _PROXY_ERROR % (status, status), HTML, [])
        return answer, faults

    async def _token(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await send_json(send, 405, {"error": "invalid_request"})
            return
        try:
            body = await read_body(receive, 64 * 1024)
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except (ValueError, UnicodeDecodeError):
            await send_json(send, 400, {"error": "invalid_request"})
            return
        answer = self._sim.auth.issue(form, header(scope, b"authorization"))
        extra = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
        if answer.status == 401:
            extra.append((b"www-authenticate", b'Basic realm="oauth2"'))
        await send_json(send, answer.status, answer.body, extra)
