"""Per-client rate limit kept in Redis, so every replica enforces the same budget.

The limit is GCRA (the "generic cell rate algorithm", a leaky bucket kept as one
timestamp per client): a quiet client may send `burst` requests at once, after that
one request per `window / requests`. The whole decision runs as one Lua script, so
concurrent requests on different replicas cannot both take the last slot, and it
reads the clock from Redis (`TIME`), so replicas with skewed clocks still agree.

Redis being unreachable raises `RateLimiterUnavailableError`: the caller fails closed.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

KEY_PREFIX = "token-service:rate:"

# KEYS[1] = the client's bucket; ARGV[1] = emission interval (µs); ARGV[2] = burst.
# Returns {1, 0} when allowed, {0, µs until the next request would be allowed} when not.
_GCRA_SCRIPT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then
  tat = now
end
local new_tat = tat + interval
local allowed_from = new_tat - burst * interval
if allowed_from > now then
  return {0, allowed_from - now}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, 0}
"""


class RateLimiterUnavailableError(Exception):
    """Redis did not answer; no request may be allowed on a guess."""


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_seconds: float = 0.0

    @property
    def retry_after_header(self) -> str:
        """Whole seconds, rounded up and never 0, as `Retry-After` wants."""
        return str(max(1, math.ceil(self.retry_after_seconds)))


class RedisRateLimiter:
    """`requests` per `window_seconds` per client, with `burst` allowed at once."""

    def __init__(self, redis: Redis, *, requests: int, window_seconds: float, burst: int) -> None:
        self._redis = redis
        self._interval_us = max(1, round(window_seconds * 1_000_000 / requests))
        self._burst = burst
        self._script = redis.register_script(_GCRA_SCRIPT)

    async def hit(self, client_key: str) -> RateDecision:
        """Count one request from `client_key` and say whether it may proceed."""
        try:
            allowed, wait_us = await self._script(
                keys=[KEY_PREFIX + client_key], args=[self._interval_us, self._burst]
            )
        except (RedisError, OSError) as exc:
            raise RateLimiterUnavailableError(str(exc)) from exc
        if int(allowed) == 1:
            return RateDecision(allowed=True)
        return RateDecision(allowed=False, retry_after_seconds=int(wait_us) / 1_000_000)

    async def ping(self) -> bool:
        """Whether Redis answers right now (for `/readyz`)."""
        try:
            # redis-py types ping() for both clients; on the asyncio client it is awaitable.
            return bool(await cast(Awaitable[bool], self._redis.ping()))
        except (RedisError, OSError):
            return False
