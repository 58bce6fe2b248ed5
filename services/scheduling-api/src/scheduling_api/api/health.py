"""Liveness, readiness and metrics; open without a token (cluster probes, Prometheus)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from scheduling_api.api.deps import Context

router = APIRouter(tags=["operations"])

READINESS_TIMEOUT_SECONDS = 1.0


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Redis answers; ready for traffic",
    responses={503: {"description": "Redis does not answer: not ready"}},
)
async def readyz(context: Context) -> JSONResponse:
    try:
        await asyncio.wait_for(context.scheduler.store.ping(), READINESS_TIMEOUT_SECONDS)
    except Exception as exc:
        return JSONResponse(
            {"status": "unavailable", "checks": {"redis": f"error: {type(exc).__name__}"}},
            status_code=503,
        )
    # The change feed only decides whether availability may answer from memory; without
    # it the service reads Redis every time, so it does not gate readiness.
    feed = context.scheduler.store.change_feed_state
    return JSONResponse({"status": "ok", "checks": {"redis": "ok", "change_feed": feed}})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
