"""Fixtures for the token-service suite: settings, in-process clients, token decoding."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import jwt
import pytest
from token_service.app import create_app
from token_service.config import Settings

LIVEKIT_URL = "wss://livekit.bright-smile.test"
LIVEKIT_API_KEY = "APItestkey"
LIVEKIT_API_SECRET = "test-secret-that-is-long-enough-0123456789"
AGENT_NAME = "bright-smile-receptionist"
CLINIC_IDS = "bright-smile,bright-smile-north"
DEFAULT_PEER = "203.0.113.7"

OpenClient = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
def lk() -> dict[str, str]:
    """The LiveKit coordinates every test's service is configured with."""
    return {
        "url": LIVEKIT_URL,
        "key": LIVEKIT_API_KEY,
        "secret": LIVEKIT_API_SECRET,
        "agent_name": AGENT_NAME,
    }


@pytest.fixture
def token_env(redis_url: str) -> dict[str, str]:
    """Environment for a token-service process on the shared test redis."""
    return {
        "LIVEKIT_URL": LIVEKIT_URL,
        "LIVEKIT_API_KEY": LIVEKIT_API_KEY,
        "LIVEKIT_API_SECRET": LIVEKIT_API_SECRET,
        "CLINIC_IDS": CLINIC_IDS,
        "REDIS_URL": redis_url,
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture
async def open_client(redis_url: str) -> AsyncIterator[OpenClient]:
    """Start the app in-process (lifespan included) and return an httpx client for it.

    `peer` is the TCP peer address the app sees; keyword overrides are settings
    (field names). The rate limit is generous unless a test sets its own.
    """
    async with AsyncExitStack() as stack:

        async def open_(*, peer: str = DEFAULT_PEER, **overrides: Any) -> httpx.AsyncClient:
            values: dict[str, Any] = {
                "livekit_url": LIVEKIT_URL,
                "livekit_api_key": LIVEKIT_API_KEY,
                "livekit_api_secret": LIVEKIT_API_SECRET,
                "clinic_ids": CLINIC_IDS,
                "redis_url": redis_url,
                "rate_limit_requests": 10_000,
                "rate_limit_burst": 10_000,
                **overrides,
            }
            app = create_app(Settings(**values))
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app, client=(peer, 40_000))
            return await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://token.test")
            )

        yield open_


@pytest.fixture
def decode() -> Callable[[str], dict[str, Any]]:
    """Verify a token's signature with the LiveKit secret and return its claims."""

    def decode_(token: str) -> dict[str, Any]:
        return jwt.decode(
            token,
            LIVEKIT_API_SECRET,
            algorithms=["HS256"],
            issuer=LIVEKIT_API_KEY,
            options={"require": ["exp", "nbf", "iss", "sub"]},
        )

    return decode_


def metric_value(metrics_text: str, name: str, labels: str = "") -> float:
    """One sample's value from a Prometheus text exposition; the series must exist."""
    prefix = f"{name}{{{labels}}} " if labels else f"{name} "
    for line in metrics_text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    raise KeyError(f"no sample {prefix.strip()!r} in the exposition")


@pytest.fixture
def metric() -> Callable[..., float]:
    """`metric(text, name, labels="")`: a sample's value from /metrics output."""
    return metric_value
