"""The Redis rate limiter (GCRA in one Lua script) against a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis
from token_service.adapters.rate_limit import (
    KEY_PREFIX,
    RateDecision,
    RateLimiterUnavailableError,
    RedisRateLimiter,
)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
    yield client
    await client.aclose()


@pytest.fixture
def limiter(redis: Redis) -> Callable[..., RedisRateLimiter]:
    def make(requests: int, window_seconds: float, burst: int) -> RedisRateLimiter:
        return RedisRateLimiter(
            redis, requests=requests, window_seconds=window_seconds, burst=burst
        )

    return make


async def test_burst_then_refusal_with_retry_after(limiter) -> None:
    rate = limiter(requests=10, window_seconds=60, burst=3)
    decisions = [await rate.hit("client") for _ in range(4)]
    assert [decision.allowed for decision in decisions] == [True, True, True, False]
    # One request per 6 s sustains 10/min: the refused one may retry in at most 6 s.
    assert 0 < decisions[-1].retry_after_seconds <= 6.0


async def test_refused_requests_do_not_use_up_budget(limiter) -> None:
    rate = limiter(requests=10, window_seconds=60, burst=1)
    assert (await rate.hit("client")).allowed
    refusals = [await rate.hit("client") for _ in range(5)]
    assert not any(decision.allowed for decision in refusals)
    # Still a single interval to wait, not six: refusals are not counted as spent.
    assert refusals[-1].retry_after_seconds <= 6.0


async def test_budget_comes_back_after_retry_after(limiter) -> None:
    rate = limiter(requests=10, window_seconds=1, burst=1)
    assert (await rate.hit("client")).allowed
    refused = await rate.hit("client")
    assert not refused.allowed
    await asyncio.sleep(refused.retry_after_seconds + 0.02)
    assert (await rate.hit("client")).allowed


async def test_clients_are_counted_separately(limiter) -> None:
    rate = limiter(requests=1, window_seconds=60, burst=1)
    assert (await rate.hit("a")).allowed
    assert not (await rate.hit("a")).allowed
    assert (await rate.hit("b")).allowed


async def test_concurrent_hits_never_exceed_the_burst(limiter) -> None:
    rate = limiter(requests=1, window_seconds=60, burst=5)
    decisions = await asyncio.gather(*(rate.hit("crowd") for _ in range(40)))
    assert sum(decision.allowed for decision in decisions) == 5


async def test_bucket_key_expires_so_idle_clients_cost_nothing(limiter, redis) -> None:
    rate = limiter(requests=10, window_seconds=60, burst=3)
    await rate.hit("idle")
    ttl_ms = await redis.pttl(KEY_PREFIX + "idle")
    assert 0 < ttl_ms <= 6_000


async def test_script_survives_a_redis_script_flush(limiter, redis) -> None:
    rate = limiter(requests=10, window_seconds=60, burst=3)
    assert (await rate.hit("client")).allowed
    await redis.script_flush()
    assert (await rate.hit("client")).allowed


async def test_unreachable_redis_raises_and_ping_says_so(private_redis) -> None:
    client = Redis.from_url(private_redis.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    rate = RedisRateLimiter(client, requests=10, window_seconds=60, burst=3)
    assert await rate.ping()
    private_redis.stop()
    with pytest.raises(RateLimiterUnavailableError):
        await rate.hit("client")
    assert not await rate.ping()
    await client.aclose()


@pytest.mark.parametrize(
    ("seconds", "header"), [(0.0, "1"), (0.2, "1"), (1.0, "1"), (1.01, "2"), (59.5, "60")]
)
def test_retry_after_header_is_whole_seconds_rounded_up(seconds, header) -> None:
    assert RateDecision(allowed=False, retry_after_seconds=seconds).retry_after_header == header
