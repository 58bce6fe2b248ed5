"""`POST /v1/dispatch/worker-heartbeat`: each agent worker reports its calls about once a
second, signed like a LiveKit webhook (a JWT from the shared LiveKit API key carrying the
body's SHA-256). When a worker's reports stop, the leader resumes its calls at once
instead of waiting ~20 s for LiveKit to time its receptionists out."""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from livekit import api
from pydantic import BaseModel, Field, ValidationError

from token_service.api.schemas import documented_error
from token_service.watchdog.signed import refuse, signed_body
from token_service.watchdog.store import WorkerCall, WorkerHeartbeats

router = APIRouter()
HEARTBEAT_PATH = "/v1/dispatch/worker-heartbeat"
MAX_BODY_BYTES = 64 * 1024
MAX_CALLS = 200


class ReportedCall(BaseModel):
    room: str = Field(min_length=1, max_length=256)
    identity: str = Field(min_length=1, max_length=256)


class Heartbeat(BaseModel):
    """What one worker is doing now: every call it has a receptionist in."""

    worker_id: str = Field(min_length=1, max_length=128)
    calls: list[ReportedCall] = Field(default_factory=list, max_length=MAX_CALLS)


@dataclass(frozen=True)
class HeartbeatContext:
    verifier: api.TokenVerifier
    heartbeats: WorkerHeartbeats


def _signed_for(body: bytes, verifier: api.TokenVerifier, authorization: str) -> bool:
    token = authorization.removeprefix("Bearer ").strip()
    try:
        claims = verifier.verify(token)
    except Exception:  # malformed, expired, or signed with another secret
        return False
    if not claims.sha256:
        return False
    try:
        return base64.b64decode(claims.sha256) == hashlib.sha256(body).digest()
    except ValueError:
        return False


@router.post(
    HEARTBEAT_PATH,
    summary="An agent worker's calls, so the watchdog notices a dead worker in seconds",
    responses={
        200: {
            "description": "The heartbeat was verified and recorded",
            "content": {"application/json": {"example": {"status": "ok"}}},
        },
        401: documented_error(
            "unauthorized: no Authorization, or a signature or body that does not verify "
            "against the LiveKit API key"
        ),
        404: documented_error("not_found: the dispatch watchdog is off"),
        413: documented_error(f"payload_too_large: the body is over {MAX_BODY_BYTES} bytes"),
        422: documented_error("invalid_request: the body is not a heartbeat; message says why"),
        500: documented_error("internal_error: a bug; error_id names the log line"),
    },
)
async def worker_heartbeat(request: Request) -> JSONResponse:
    context: HeartbeatContext | None = getattr(request.app.state, "heartbeats", None)
    body = await signed_body(
        request, watchdog_on=context is not None, limit=MAX_BODY_BYTES, what="heartbeat"
    )
    if isinstance(body, JSONResponse):
        return body
    assert context is not None  # signed_body answered 404 otherwise
    authorization = request.headers["authorization"]
    if not _signed_for(body, context.verifier, authorization):
        return refuse(
            401, "unauthorized", "heartbeat signature or body did not verify against the API key"
        )
    try:
        beat = Heartbeat.model_validate_json(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        return refuse(422, "invalid_request", f"{where}: {first['msg']}")
    calls = [WorkerCall(room=c.room, identity=c.identity) for c in beat.calls]
    await context.heartbeats.beat(beat.worker_id, calls, time.time())
    return JSONResponse({"status": "ok"})
