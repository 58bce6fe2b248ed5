"""Liveness, readiness and metrics endpoints (for the platform, not for callers)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from token_service.api.context import service_context
from token_service.api.schemas import StatusBody

router = APIRouter()


@router.get("/healthz", responses={200: {"model": StatusBody}})
async def healthz() -> JSONResponse:
    """The process is up and serving HTTP."""
    return JSONResponse({"status": "ok"})


@router.get(
    "/readyz",
    responses={
        200: {"model": StatusBody, "description": "Redis answers"},
        503: {"model": StatusBody, "description": "Redis is down: no token is issued"},
    },
)
async def readyz(request: Request) -> JSONResponse:
    """Ready only when Redis answers: without it no token can be issued."""
    if await service_context(request).rate_limiter.ping():
        return JSONResponse({"status": "ready", "checks": {"redis": "ok"}})
    return JSONResponse(
        {
            "status": "unavailable",
            "checks": {"redis": "down"},
            "message": "redis is down: token issuing is refused until it is back",
        },
        status_code=503,
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
async def metrics(request: Request) -> Response:
    registry = service_context(request).metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
