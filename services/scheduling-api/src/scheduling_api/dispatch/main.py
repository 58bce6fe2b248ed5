"""`scheduling-api dispatch`: the webhook dispatcher process."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import UTC, datetime

from prometheus_client import start_http_server
from pydantic import ValidationError
from redis.asyncio import Redis

from scheduling_api.clinic_loader import ClinicConfigError, load_clinics
from scheduling_api.dispatch.config import Settings
from scheduling_api.dispatch.dispatcher import Dispatcher
from scheduling_api.dispatch.metrics import preinitialise
from scheduling_api.dispatch.safety import OutboundPolicy
from scheduling_api.dispatch.sender import Sender
from scheduling_api.logs import configure_logging
from scheduling_api.store.webhook_store import WebhookStore

logger = logging.getLogger("scheduling_api.dispatch")

EXIT_BAD_CONFIGURATION = 2


def run() -> None:
    try:
        settings = Settings()
    except ValidationError as exc:
        configure_logging("INFO")
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'settings'}: "
            f"{error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors()
        )
        logger.critical("invalid configuration: %s", problems)
        sys.exit(EXIT_BAD_CONFIGURATION)
    configure_logging(settings.log_level)
    try:
        clinics = load_clinics(settings.clinics_config)
    except ClinicConfigError as exc:
        logger.critical("invalid clinic configuration: %s", exc)
        sys.exit(EXIT_BAD_CONFIGURATION)
    if settings.dispatch_lease_seconds <= settings.dispatch_timeout_seconds:
        logger.critical("DISPATCH_LEASE_SECONDS must exceed DISPATCH_TIMEOUT_SECONDS")
        sys.exit(EXIT_BAD_CONFIGURATION)
    preinitialise()
    start_http_server(settings.dispatch_metrics_port)
    asyncio.run(_dispatch(settings, sorted(clinics)))


async def _dispatch(settings: Settings, clinic_ids: list[str]) -> None:
    redis = Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        health_check_interval=30,
    )
    sender = Sender(
        policy=OutboundPolicy(
            allowed_networks=tuple(settings.dispatch_allowed_networks),
            insecure_loopback=settings.dispatch_insecure_loopback,
        ),
        timeout_seconds=settings.dispatch_timeout_seconds,
        max_response_bytes=settings.dispatch_max_response_bytes,
    )
    dispatcher = Dispatcher(
        store=WebhookStore(redis, key_prefix=settings.redis_key_prefix),
        clinic_ids=clinic_ids,
        sender=sender,
        clock=lambda: datetime.now(UTC),
        retry_base_seconds=settings.dispatch_retry_base_seconds,
        retry_max_delay_seconds=settings.dispatch_retry_max_delay_seconds,
        retry_horizon_seconds=settings.dispatch_retry_horizon_seconds,
        lease_seconds=settings.dispatch_lease_seconds,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if settings.dispatch_insecure_loopback:
        logger.warning("DISPATCH_INSECURE_LOOPBACK: http:// and loopback receivers allowed")
    logger.info(
        "dispatcher ready",
        extra={
            "clinics": clinic_ids,
            "owner": dispatcher.owner,
            "metrics_port": settings.dispatch_metrics_port,
        },
    )
    try:
        await dispatcher.run(stop, poll_seconds=settings.dispatch_poll_seconds)
    finally:
        await sender.close()
        await redis.aclose()
