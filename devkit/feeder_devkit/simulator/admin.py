"""``/_simulator/`` routes: the same controls as :class:`~feeder_devkit.simulator.engine.Simulator`.

======  ==================================  ============================================
GET     /_simulator/status                  counts, seed, clock, RSS, current faults
POST    /_simulator/pause                   stop the traffic model
POST    /_simulator/resume                  restart it
POST    /_simulator/step                    run what is due now: ``{"ran": n}``
GET     /_simulator/faults                  the fault settings
PUT     /_simulator/faults                  replace them (missing fields: off/default)
PATCH   /_simulator/faults                  change only the fields given
POST    /_simulator/sessions                create a session (camelCase body, all optional)
GET     /_simulator/sessions/{id}           one session as the API renders it
PATCH   /_simulator/sessions/{id}           change fields; ``updatedAt``/``visibleAfterS``
GET     /_simulator/ground-truth            transitions: ``after_seq``, ``limit``,
                                            ``session_id``, ``kind`` (repeatable),
                                            ``format=json`` (default) or ``jsonl``
POST    /_simulator/preload                 ``{"count": N}``: bulk preload, memory report
POST    /_simulator/revoke-tokens           invalidate every issued OAuth2 token
POST    /_simulator/replica                 freeze a replica of the visible sessions, which
                                            ``faults.replica_share`` of the pages come from
======  ==================================  ============================================

Bodies are JSON; errors answer ``{"message": ...}`` with 400, 401 (wrong admin token) or 404.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from feeder_devkit.simulator.asgi import (
    NDJSON,
    Receive,
    Scope,
    Send,
    header,
    read_body,
    send_bytes,
    send_json,
)
from feeder_devkit.simulator.engine import Simulator
from feeder_devkit.simulator.settings import FaultSettings


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CreateSessionBody(_Body):
    storeId: int | None = Field(None, ge=1)  # noqa: N815 - the API's spelling
    customerId: int | None = Field(None, ge=1)  # noqa: N815
    groupSize: int = Field(1, ge=0)  # noqa: N815
    status: str = "active"
    suspectedFraud: bool = False  # noqa: N815
    createdAt: AwareDatetime | None = None  # noqa: N815
    expiresAt: AwareDatetime | None = None  # noqa: N815
    updatedAt: AwareDatetime | None = None  # noqa: N815
    visibleAfterS: float = Field(0.0, ge=0)  # noqa: N815


class UpdateSessionBody(_Body):
    customerLastEnteredAt: AwareDatetime | None = None  # noqa: N815
    customerLastExitedAt: AwareDatetime | None = None  # noqa: N815
    codeLastSuccesfullyScannedAt: AwareDatetime | None = None  # noqa: N815
    suspectedFraud: bool | None = None  # noqa: N815
    status: str | None = None
    visitors: int | None = Field(None, ge=0)
    groupSize: int | None = Field(None, ge=0)  # noqa: N815
    expiresAt: AwareDatetime | None = None  # noqa: N815
    updatedAt: AwareDatetime | None = None  # noqa: N815
    visibleAfterS: float = Field(0.0, ge=0)  # noqa: N815


class PreloadBody(_Body):
    count: int = Field(ge=0, le=50_000_000)


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


async def _json_body(receive: Receive) -> object:
    raw = await read_body(receive)
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise HttpError(400, f"body is not JSON: {exc}") from exc


def _status(sim: Simulator, _scope: Scope, _body: object) -> object:
    return sim.status()


def _pause(sim: Simulator, _scope: Scope, _body: object) -> object:
    sim.pause()
    return sim.status()


def _resume(sim: Simulator, _scope: Scope, _body: object) -> object:
    sim.resume()
    return sim.status()


def _step(sim: Simulator, _scope: Scope, _body: object) -> object:
    return {"ran": sim.step()}


def _faults(sim: Simulator, _scope: Scope, _body: object) -> object:
    return sim.faults.model_dump(mode="json")


def _replace_faults(sim: Simulator, _scope: Scope, body: object) -> object:
    sim.set_faults(FaultSettings.model_validate(body))
    return sim.faults.model_dump(mode="json")


def _merge_faults(sim: Simulator, _scope: Scope, body: object) -> object:
    if not isinstance(body, dict):
        raise HttpError(400, "body must be a JSON object")
    merged = {**sim.faults.model_dump(), **body}
    sim.set_faults(FaultSettings.model_validate(merged))
    return sim.faults.model_dump(mode="json")


def _create(sim: Simulator, _scope: Scope, body: object) -> object:
    spec = CreateSessionBody.model_validate(body)
    try:
        session_id = sim.create_session(
            store_id=spec.storeId,
            customer_id=spec.customerId,
            group_size=spec.groupSize,
            status=spec.status,
            suspected_fraud=spec.suspectedFraud,
            created_at=_utc(spec.createdAt),
            expires_at=_utc(spec.expiresAt),
            updated_at=_utc(spec.updatedAt),
            visible_after_s=spec.visibleAfterS,
        )
    except ValueError as exc:
        raise HttpError(400, str(exc)) from exc
    return {"id": session_id, "session": sim.session(session_id)}


def _session_id(scope: Scope) -> str:
    return str(scope["path"]).removeprefix("/_simulator/sessions/")


def _get_session(sim: Simulator, scope: Scope, _body: object) -> object:
    found = sim.session(_session_id(scope)) if _session_id(scope).isdigit() else None
    if found is None:
        raise HttpError(404, f"no session {_session_id(scope)!r} is visible")
    return found


def _update(sim: Simulator, scope: Scope, body: object) -> object:
    spec = UpdateSessionBody.model_validate(body)
    session_id = _session_id(scope)
    try:
        sim.update_session(
            session_id,
            customer_last_entered_at=_utc(spec.customerLastEnteredAt),
            customer_last_exited_at=_utc(spec.customerLastExitedAt),
            code_last_scanned_at=_utc(spec.codeLastSuccesfullyScannedAt),
            suspected_fraud=spec.suspectedFraud,
            status=spec.status,
            visitors=spec.visitors,
            group_size=spec.groupSize,
            expires_at=_utc(spec.expiresAt),
            updated_at=_utc(spec.updatedAt),
            visible_after_s=spec.visibleAfterS,
        )
    except KeyError as exc:
        raise HttpError(404, f"no session {session_id!r}") from exc
    return {"id": session_id, "session": sim.session(session_id)}


def _preload(sim: Simulator, _scope: Scope, body: object) -> object:
    spec = PreloadBody.model_validate(body)
    return dataclasses.asdict(sim.preload(spec.count))


def _revoke(sim: Simulator, _scope: Scope, _body: object) -> object:
    return {"revoked": sim.auth.revoke_all()}


def _freeze_replica(sim: Simulator, _scope: Scope, _body: object) -> object:
    return {"sessions": sim.freeze_replica()}


Handler = Callable[[Simulator, Scope, object], object]
_ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "status"): _status,
    ("POST", "pause"): _pause,
    ("POST", "resume"): _resume,
    ("POST", "step"): _step,
    ("GET", "faults"): _faults,
    ("PUT", "faults"): _replace_faults,
    ("PATCH", "faults"): _merge_faults,
    ("POST", "sessions"): _create,
    ("GET", "sessions/*"): _get_session,
    ("PATCH", "sessions/*"): _update,
    ("POST", "preload"): _preload,
    ("POST", "revoke-tokens"): _revoke,
    ("POST", "replica"): _freeze_replica,
}


async def _ground_truth(sim: Simulator, scope: Scope, send: Send) -> None:
    query: dict[str, list[str]] = {}
    for name, value in parse_qsl(scope["query_string"].decode("latin-1")):
        query.setdefault(name, []).append(value)
    try:
        after_seq = int(query.get("after_seq", ["0"])[-1])
        limit = int(query["limit"][-1]) if "limit" in query else None
    except ValueError as exc:
        raise HttpError(400, "after_seq and limit must be integers") from exc
    kinds = [k for value in query.get("kind", []) for k in value.split(",") if k] or None
    session_id = query.get("session_id", [None])[-1]
    records = sim.ground_truth(after_seq, session_id, kinds, limit)
    if query.get("format", ["json"])[-1] == "jsonl":
        lines = b"".join(
            orjson.dumps(r.to_json(), option=orjson.OPT_APPEND_NEWLINE) for r in records
        )
        await send_bytes(send, 200, lines, NDJSON)
        return
    await send_json(
        send, 200, {"transitions": [r.to_json() for r in records], "last_seq": sim.last_seq}
    )


async def handle(sim: Simulator, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one ``/_simulator/`` request."""
    if not sim.auth.is_admin(header(scope, b"authorization")):
        await send_json(send, 401, {"message": "admin token required"})
        return
    route = str(scope["path"]).removeprefix("/_simulator/")
    method = str(scope["method"])
    pattern = "sessions/*" if route.startswith("sessions/") else route
    handler = _ROUTES.get((method, pattern))
    if handler is None and (method, route) != ("GET", "ground-truth"):
        await send_json(send, 404, {"message": f"no admin route {method} /_simulator/{route}"})
        return
    try:
        if handler is None:
            await _ground_truth(sim, scope, send)
            return
        body = await _json_body(receive)
        await send_json(
            send,
            201 if (method, pattern) == ("POST", "sessions") else 200,
            handler(sim, scope, body),
        )
    except HttpError as exc:
        await send_json(send, exc.status, {"message": exc.message})
    except ValidationError as exc:
        errors = orjson.loads(exc.json(include_url=False))
        await send_json(send, 400, {"message": "invalid body", "errors": errors})
