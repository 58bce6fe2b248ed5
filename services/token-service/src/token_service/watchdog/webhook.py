"""`POST /v1/livekit/webhook`: LiveKit's room and participant events, signed with the API
key (a JWT in `Authorization` carrying the body's SHA-256). The watchdog only learns which
rooms to watch from them; what it does is decided from ListParticipants, so a lost or
repeated webhook costs nothing but a later look."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from livekit import api
from livekit.protocol.models import DisconnectReason, ParticipantInfo
from livekit.protocol.webhook import WebhookEvent

from token_service.api.schemas import documented_error
from token_service.watchdog.metrics import WatchdogMetrics
from token_service.watchdog.signed import refuse, signed_body
from token_service.watchdog.store import RoomRegistry

logger = logging.getLogger("token_service.watchdog")
router = APIRouter()
WEBHOOK_PATH = "/v1/livekit/webhook"
MAX_BODY_BYTES = 64 * 1024
_CALLER_KINDS = {ParticipantInfo.Kind.STANDARD, ParticipantInfo.Kind.SIP}
_AGENT = ParticipantInfo.Kind.AGENT
# an agent leaving for these reasons ended the call itself, or the room went away
_AGENT_ENDED_CALL = {
    DisconnectReason.CLIENT_INITIATED,
    DisconnectReason.ROOM_DELETED,
    DisconnectReason.ROOM_CLOSED,
    DisconnectReason.PARTICIPANT_REMOVED,
}


@dataclass(frozen=True)
class WebhookContext:
    receiver: api.WebhookReceiver
    registry: RoomRegistry
    grace_seconds: float
    metrics: WatchdogMetrics


@router.post(
    WEBHOOK_PATH,
    summary="LiveKit's room and participant events, for the dispatch watchdog",
    responses={
        200: {
            "description": "The event was verified and noted",
            "content": {"application/json": {"example": {"status": "ok"}}},
        },
        401: documented_error(
            "unauthorized: no Authorization, or a signature or body that does not verify "
            "against the LiveKit API key"
        ),
        404: documented_error("not_found: the dispatch watchdog is off"),
        413: documented_error(f"payload_too_large: the body is over {MAX_BODY_BYTES} bytes"),
        500: documented_error("internal_error: a bug; error_id names the log line"),
    },
)
async def livekit_webhook(request: Request) -> JSONResponse:
    context: WebhookContext | None = getattr(request.app.state, "webhooks", None)
    body = await signed_body(
        request, watchdog_on=context is not None, limit=MAX_BODY_BYTES, what="webhook"
    )
    if isinstance(body, JSONResponse):
        return body
    assert context is not None  # signed_body answered 404 otherwise
    authorization = request.headers["authorization"]
    try:
        event = context.receiver.receive(body.decode("utf-8", errors="replace"), authorization)
    except Exception:  # bad signature, wrong key, body hash mismatch, or not JSON
        return refuse(
            401, "unauthorized", "webhook signature or body did not verify against the API key"
        )
    await _track(context, event)
    return JSONResponse({"status": "ok"})


async def _track(context: WebhookContext, event: WebhookEvent) -> None:
    room = event.room.name
    if not room:
        return
    now = time.time()
    if event.event == "room_started" or (
        event.event == "participant_joined" and event.participant.kind in _CALLER_KINDS
    ):
        await context.registry.track(room, now, now + context.grace_seconds)
    elif event.event == "participant_joined" and event.participant.kind == _AGENT:
        await context.registry.agent_joined(room)
    elif (
        event.event == "participant_left"
        and event.participant.kind == _AGENT
        and event.participant.disconnect_reason not in _AGENT_ENDED_CALL
    ):
        # the receptionist vanished (its worker was killed, its node lost): the caller may
        # still be there; the next look dispatches a resumed receptionist
        logger.warning(
            "receptionist lost mid-call",
            extra={"reason": DisconnectReason.Name(event.participant.disconnect_reason)},
        )
        context.metrics.lost.labels(detected_by="livekit").inc()
        await context.registry.agent_lost(room, now)
