"""The availability read cache and the change feed that keeps it honest."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from scheduling_api.store.change_feed import ChangeFeed
from scheduling_api.store.redis_store import RedisStore

WINDOW = (0, 10**10)
BUSY_KEY = "t:{c}:busy:p"


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> bool:
    """Poll `check` until it holds or `within` seconds pass."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.fixture
async def cached_store(redis_url: str) -> AsyncIterator[tuple[RedisStore, ChangeFeed, Redis]]:
    client = Redis.from_url(redis_url, decode_responses=True)
    feed = ChangeFeed(
        Redis.from_url(redis_url, decode_responses=True, retry=Retry(NoBackoff(), 0)),
        key_prefix="t",
    )
    store = RedisStore(
        client, key_prefix="t", idempotency_ttl_seconds=60, changes=feed, busy_cache_seconds=60
    )
    follower = asyncio.create_task(feed.follow())

    async def live() -> bool:
        return feed.generation("c") is not None

    assert await eventually(live)
    yield store, feed, client
    follower.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await follower
    await feed.close()
    await client.aclose()


async def test_reads_are_cached_until_the_clinic_announces_a_change(
    cached_store: tuple[RedisStore, ChangeFeed, Redis],
) -> None:
    store, _, client = cached_store
    assert await store.busy_intervals("c", ("p",), WINDOW) == {"p": ()}
    # A write that announces nothing is not seen while the entry lives: it is a cache.
    await client.zadd(BUSY_KEY, {"100:200:bk_x": 100})
    assert await store.busy_intervals("c", ("p",), WINDOW) == {"p": ()}
    # Another clinic's announcement changes nothing here.
    await client.publish("t:{other}:changes", "booked")
    await asyncio.sleep(0.2)
    assert await store.busy_intervals("c", ("p",), WINDOW) == {"p": ()}
    # The clinic's announcement (every write script makes one) invalidates.
    await client.publish("t:{c}:changes", "booked")

    async def fresh() -> bool:
        return await store.busy_intervals("c", ("p",), WINDOW) == {"p": ((100, 200),)}

    assert await eventually(fresh)


async def test_nothing_is_cached_while_the_feed_is_down(
    cached_store: tuple[RedisStore, ChangeFeed, Redis],
) -> None:
    store, feed, client = cached_store
    # Simulate a broken subscription: the feed is not live.
    feed._live = False
    assert await store.busy_intervals("c", ("p",), WINDOW) == {"p": ()}
    await client.zadd(BUSY_KEY, {"100:200:bk_x": 100})
    assert await store.busy_intervals("c", ("p",), WINDOW) == {"p": ((100, 200),)}


async def test_own_writes_are_visible_at_once(
    api_factory: Any, test_clinic: Any, booking_body: Callable[..., dict[str, Any]]
) -> None:
    served = await api_factory(clinics={"test-clinic": test_clinic}, availability_cache_seconds=60)
    client = served.client

    async def following() -> bool:
        return (await client.get("/readyz")).json()["checks"]["change_feed"] == "following"

    assert await eventually(following)
    url = "/v1/clinics/test-clinic/availability"
    params = {"appointment_type": "exam", "start_date": "2027-01-12", "days": 1}
    listed = (await client.get(url, params=params)).json()["slots"]
    booked = await client.post(
        "/v1/clinics/test-clinic/bookings",
        json=booking_body(listed[0]["slot_id"]),
        headers={"Idempotency-Key": "own-write"},
    )
    assert booked.status_code == 201
    after = (await client.get(url, params=params)).json()["slots"]
    assert listed[0]["start"] not in {slot["start"] for slot in after}


@pytest.mark.slow
def test_other_processes_see_bookings_through_the_feed_even_after_a_redis_restart(
    private_redis: Any,
    services: Any,
    process_env: dict[str, str],
    auth_headers: dict[str, str],
) -> None:
    """With a 60 s cache, only the change feed can make another process see a change."""
    env = {**process_env, "REDIS_URL": private_redis.url, "AVAILABILITY_CACHE_SECONDS": "60"}
    writer = services.start(["scheduling-api"], name="writer", env=env)
    reader = services.start(["scheduling-api"], name="reader", env=env)
    params = {"appointment_type": "exam", "provider_id": "dr-chen", "days": 9, "limit": 100}
    url = "/v1/clinics/bright-smile/availability"
    with (
        httpx.Client(base_url=writer.base_url, headers=auth_headers, timeout=10) as to_writer,
        httpx.Client(base_url=reader.base_url, headers=auth_headers, timeout=10) as to_reader,
    ):

        def reader_lists(start: str) -> bool:
            response = to_reader.get(url, params=params)
            return response.status_code == 200 and any(
                slot["start"] == start for slot in response.json()["slots"]
            )

        def within(seconds: float, condition: Callable[[], bool]) -> bool:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                if condition():
                    return True
                time.sleep(0.05)
            return False

        def reader_follows() -> bool:
            response = to_reader.get("/readyz")
            return response.status_code == 200 and (
                response.json()["checks"]["change_feed"] == "following"
            )

        assert within(10, reader_follows)
        slot = to_writer.get(url, params=params).json()["slots"][0]
        assert reader_lists(slot["start"])  # now cached by the reader
        booked = to_writer.post(
            "/v1/clinics/bright-smile/bookings",
            json={"slot_id": slot["slot_id"], "patient": {"name": "Eve", "phone": "5125550123"}},
            headers={"Idempotency-Key": "feed-1"},
        )
        assert booked.status_code == 201
        assert within(10, lambda: not reader_lists(slot["start"]))

        private_redis.restart()
        assert within(10, reader_follows)  # resubscribed after the restart
        assert not reader_lists(slot["start"])  # cached again under the new subscription
        cancelled = to_writer.post(
            f"/v1/clinics/bright-smile/bookings/{booked.json()['booking_id']}/cancel"
        )
        assert cancelled.status_code == 200
        assert within(10, lambda: reader_lists(slot["start"]))
