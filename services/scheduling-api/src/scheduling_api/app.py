"""The FastAPI application factory and its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from scheduling_api.api import availability, bookings, callbacks, calls, health, webhooks
from scheduling_api.api import clinics as clinic_routes
from scheduling_api.api.deps import AppContext, token_digest
from scheduling_api.api.errors import install_error_handlers
from scheduling_api.api.middleware import ObservabilityMiddleware
from scheduling_api.api.openapi import install_openapi
from scheduling_api.api.request_guard import RequestGuardMiddleware
from scheduling_api.api.slot_views import SlotViews
from scheduling_api.availability import AvailabilitySearch
from scheduling_api.call_log import CallLog
from scheduling_api.callbacks import Callbacks
from scheduling_api.clinic_loader import load_clinics
from scheduling_api.config import Settings
from scheduling_api.dispatch.safety import OutboundPolicy
from scheduling_api.domain.clinic import Clinic
from scheduling_api.domain.slot_ids import SlotIdSigner
from scheduling_api.metrics import preinitialise
from scheduling_api.scheduling import Scheduler
from scheduling_api.store.call_store import CallStore
from scheduling_api.store.change_feed import ChangeFeed
from scheduling_api.store.redis_store import RedisStore
from scheduling_api.store.webhook_store import WebhookStore
from scheduling_api.webhook_admin import WebhookAdmin, environment, seeded_secrets

logger = logging.getLogger(__name__)

SEED_RETRY_SECONDS = 5.0

DESCRIPTION = """\
The appointment book of the Bright Smile voice receptionist: clinic facts, free slots,
bookings (idempotent, never double-booked), reschedules, cancellations, callback
requests, call records and signed webhooks. Every `/v1` route needs
`Authorization: Bearer <token>`.
"""


def utc_now() -> datetime:
    return datetime.now(UTC)


def _profile(clinic: Clinic, settings: Settings) -> dict[str, Any]:
    """The clinic's profile as served, with the notice actually enforced."""
    profile = clinic.profile()
    if settings.min_notice_minutes is not None:
        profile["booking_rules"]["min_notice_minutes"] = settings.min_notice_minutes
    return profile


async def _seed_webhooks(
    admin: WebhookAdmin, clinics: Mapping[str, Clinic], secrets_by_id: Mapping[str, str]
) -> None:
    """Save the YAML-declared endpoints, retrying while Redis is unreachable."""
    if not secrets_by_id:
        return
    while True:
        try:
            await admin.seed(clinics, secrets_by_id)
            return
        except RedisError as exc:
            logger.warning(
                "cannot seed webhooks yet; retrying", extra={"error_type": type(exc).__name__}
            )
            await asyncio.sleep(SEED_RETRY_SECONDS)


def create_app(
    settings: Settings,
    *,
    clinics: Mapping[str, Clinic] | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> FastAPI:
    """Build the app. Clinics load (and fail) here, before the server takes traffic.

    `clinics` and `clock` let tests pass a clinic built in code and a fixed "now".
    """
    clinics = clinics if clinics is not None else load_clinics(settings.clinics_config)
    webhook_secrets = seeded_secrets(clinics, environment())
    redis = Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        health_check_interval=30,
    )
    # The change feed must notice a broken subscription instead of having it silently
    # retried, so its client does not retry.
    changes = ChangeFeed(
        Redis.from_url(
            settings.redis_url,
            decode_responses=True,
            socket_connect_timeout=settings.redis_timeout_seconds,
            health_check_interval=10,
            retry=Retry(NoBackoff(), 0),
        ),
        key_prefix=settings.redis_key_prefix,
    )
    store = RedisStore(
        redis,
        key_prefix=settings.redis_key_prefix,
        idempotency_ttl_seconds=settings.idempotency_ttl_seconds,
        changes=changes,
        busy_cache_seconds=settings.availability_cache_seconds,
    )
    signer = SlotIdSigner(settings.slot_secret_bytes())
    search = AvailabilitySearch(
        clinics=clinics, store=store, clock=clock, min_notice_override=settings.min_notice_minutes
    )
    scheduler = Scheduler(search, signer=signer, clock=clock)
    context = AppContext(
        scheduler=scheduler,
        slot_views=SlotViews(clinics=clinics, signer=signer),
        callbacks=Callbacks(store=store, clock=clock),
        calls=CallLog(CallStore(redis, key_prefix=settings.redis_key_prefix), clock=clock),
        webhooks=WebhookAdmin(
            WebhookStore(redis, key_prefix=settings.redis_key_prefix),
            clock=clock,
            policy=OutboundPolicy(insecure_loopback=settings.webhooks_insecure_loopback),
        ),
        token_digests=tuple(
            token_digest(token.get_secret_value()) for token in settings.scheduling_api_tokens
        ),
        clinic_profiles={
            clinic_id: json.dumps(_profile(clinic, settings)).encode()
            for clinic_id, clinic in clinics.items()
        },
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if not settings.auth_enabled:
            logger.warning(
                "SCHEDULING_API_INSECURE_DEV: /v1 routes accept requests without a token"
            )
        logger.info("scheduling-api ready", extra={"clinics": sorted(clinics)})
        follower = asyncio.create_task(changes.follow(), name="change-feed")
        seeding = asyncio.create_task(
            _seed_webhooks(context.webhooks, clinics, webhook_secrets), name="webhook-seeding"
        )
        try:
            yield
        finally:
            seeding.cancel()
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
            await changes.close()
            await store.close()

    app = FastAPI(
        title="Bright Smile scheduling API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.context = context
    # Availability first: it is the hot path and routes are matched in order. The bearer
    # token of every /v1 route is checked by RequestGuardMiddleware, before the body.
    for module in (availability, clinic_routes, bookings, callbacks, calls, webhooks, health):
        app.include_router(module.router)
    install_error_handlers(app)
    install_openapi(app, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(
        RequestGuardMiddleware,
        token_digests=context.token_digests,
        max_body_bytes=settings.max_body_bytes,
    )
    app.add_middleware(ObservabilityMiddleware, access_log=settings.access_log)
    # `app.routes` holds included routers as wrappers (FastAPI >= 0.160), not their routes:
    # walk the route contexts, or no series would exist before its first request.
    preinitialise(
        (method, context.route.path)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.route, APIRoute)
        for method in sorted(context.route.methods or ())
    )
    return app
