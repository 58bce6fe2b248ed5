"""The FastAPI app factory: wires settings to adapters, routers and middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from starlette.middleware.cors import CORSMiddleware

from token_service.adapters.minting import TokenMinter
from token_service.adapters.rate_limit import RedisRateLimiter
from token_service.api import health, token
from token_service.api.auth import BearerKeys
from token_service.api.context import ServiceContext
from token_service.api.errors import install_error_handlers
from token_service.api.middleware import (
    LastResortMiddleware,
    MetricsMiddleware,
    SecurityHeadersMiddleware,
)
from token_service.api.openapi import install_openapi
from token_service.api.web_client import install_web_client, web_client_csp
from token_service.config import Settings
from token_service.domain.token_claims import TokenPolicy
from token_service.metrics import Metrics
from token_service.watchdog.runner import DispatchWatchdog
from token_service.watchdog.wiring import install_watchdog
from token_service.watchdog.wiring import running as running_watchdog


def _redis_client(settings: Settings) -> Redis:
    """Short timeouts and one retry: a dead Redis must turn into a quick 503, not a hang."""
    return Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        retry=Retry(NoBackoff(), 1),
    )


def create_app(settings: Settings) -> FastAPI:
    redis = _redis_client(settings)
    watchdog: DispatchWatchdog | None = None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_watchdog(watchdog):
            yield
        await redis.aclose()

    metrics = Metrics()
    context = ServiceContext(
        server_url=settings.livekit_url,
        policy=TokenPolicy(
            agent_name=settings.agent_name,
            clinic_ids=tuple(settings.clinic_ids),
            ttl=settings.token_ttl,
        ),
        minter=TokenMinter(
            settings.livekit_api_key, settings.livekit_api_secret.get_secret_value()
        ),
        rate_limiter=RedisRateLimiter(
            redis,
            requests=settings.rate_limit_requests,
            window_seconds=settings.rate_limit_window_seconds,
            burst=settings.rate_limit_burst,
        ),
        api_keys=BearerKeys([key.get_secret_value() for key in settings.token_service_api_keys]),
        trusted_proxies=tuple(settings.trusted_proxy_cidrs),
        metrics=metrics,
    )

    # The contract is published at /openapi.json (clients generate code from it), but a
    # public front door serves no interactive docs pages. Metrics are our own Prometheus
    # ones, so FastAPI's OpenTelemetry hooks are off (they cost a provider lookup per
    # request).
    app = FastAPI(
        title="Bright Smile token service",
        version="1.0.0",
        description="LiveKit's standard token endpoint for the Bright Smile receptionist. "
        "Each token joins one new room, named by this service, with the receptionist.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.context = context
    install_error_handlers(app)
    install_openapi(app)
    app.include_router(token.router)
    app.include_router(health.router)
    watchdog = install_watchdog(app, settings, redis, metrics.registry)
    if settings.web_client_enabled:
        install_web_client(app, settings.web_client_path)

    # Added innermost first: metrics wraps everything, CORS sits next to the routes.
    if settings.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_methods=["POST"],
            allow_headers=["Authorization", "Content-Type"],
            allow_credentials=False,
            max_age=600,
        )
    app.add_middleware(LastResortMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, html_csp=web_client_csp(settings.livekit_url))
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
