"""Builds the watchdog from the token service's settings and runs it beside the app."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from livekit import api
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from token_service.config import Settings
from token_service.watchdog import heartbeat, webhook
from token_service.watchdog.livekit_rooms import LiveKitRooms
from token_service.watchdog.metrics import WatchdogMetrics
from token_service.watchdog.policy import RetryPolicy
from token_service.watchdog.runner import DispatchWatchdog
from token_service.watchdog.store import LeaderLock, RoomRegistry, WorkerHeartbeats


def install_watchdog(
    app: FastAPI, settings: Settings, redis: Redis, registry: CollectorRegistry
) -> DispatchWatchdog | None:
    """Adds the webhook route; returns the loop to run in the app's lifespan (or None)."""
    app.include_router(webhook.router)
    app.include_router(heartbeat.router)
    if not settings.dispatch_watchdog_enabled:
        return None
    secret = settings.livekit_api_secret.get_secret_value()
    rooms = RoomRegistry(redis)
    workers = WorkerHeartbeats(redis)
    metrics = WatchdogMetrics(registry)
    verifier = api.TokenVerifier(settings.livekit_api_key, secret)
    app.state.webhooks = webhook.WebhookContext(
        receiver=api.WebhookReceiver(verifier),
        registry=rooms,
        grace_seconds=settings.dispatch_grace_seconds,
        metrics=metrics,
    )
    app.state.heartbeats = heartbeat.HeartbeatContext(verifier=verifier, heartbeats=workers)
    replica = f"{socket.gethostname()}-{secrets.token_hex(4)}"
    return DispatchWatchdog(
        registry=rooms,
        lock=LeaderLock(redis, replica, settings.dispatch_leader_ttl_seconds),
        rooms=LiveKitRooms(
            settings.livekit_server_api_url, settings.livekit_api_key, secret, settings.agent_name
        ),
        policy=RetryPolicy(
            grace_seconds=settings.dispatch_grace_seconds,
            window_seconds=settings.dispatch_retry_window_seconds,
            backoff_initial_seconds=settings.dispatch_backoff_initial_seconds,
            backoff_max_seconds=settings.dispatch_backoff_max_seconds,
        ),
        metrics=metrics,
        tick_seconds=settings.dispatch_watchdog_tick_seconds,
        heartbeats=workers,
        worker_silence_seconds=settings.dispatch_worker_silence_seconds,
    )


@asynccontextmanager
async def running(watchdog: DispatchWatchdog | None) -> AsyncIterator[None]:
    if watchdog is None:
        yield
        return
    task = asyncio.create_task(watchdog.run_forever(), name="dispatch-watchdog")
    try:
        yield
    finally:
        # redis-py can swallow a cancellation that lands inside a command: the loop also
        # stops at its next tick
        watchdog.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
