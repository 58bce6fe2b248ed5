"""The dispatch watchdog's decisions, and its webhook endpoint's signature check.
(Against real LiveKit and workers: tests/test_dispatch_watchdog.py.)"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from livekit import api
from redis.asyncio import Redis
from token_service.watchdog.policy import Action, RetryPolicy, RoomView, decide
from token_service.watchdog.store import ROOMS_KEY

POLICY = RetryPolicy(
    grace_seconds=3, window_seconds=45, backoff_initial_seconds=1, backoff_max_seconds=8
)
ALONE = RoomView(callers=1, agents=0, dispatch_in_flight=False)


@pytest.mark.parametrize(
    ("age", "attempts", "view", "action"),
    [
        (1.0, 0, ALONE, Action.WAIT),  # the normal dispatch still has its grace
        (3.5, 0, ALONE, Action.DISPATCH),
        (10.0, 3, ALONE, Action.DISPATCH),
        (10.0, 3, RoomView(1, 0, dispatch_in_flight=True), Action.HOLD),
        (10.0, 3, RoomView(1, 1, dispatch_in_flight=False), Action.SERVED),
        (45.0, 7, ALONE, Action.GIVE_UP),
        (1.0, 0, RoomView(0, 0, dispatch_in_flight=False), Action.WAIT),  # caller joining
        (5.0, 1, RoomView(0, 0, dispatch_in_flight=False), Action.CALLER_LEFT),
        (5.0, 1, None, Action.CALLER_LEFT),  # the room is gone
    ],
)
def test_what_the_watchdog_does_with_a_room(
    age: float, attempts: int, view: RoomView | None, action: Action
) -> None:
    assert decide(POLICY, age_seconds=age, attempts=attempts, view=view) is action


def test_a_room_whose_receptionist_was_lost_is_dispatched_at_once() -> None:
    """No grace, and the dead worker's job, still "running" on the server, holds nothing."""
    stale = RoomView(callers=1, agents=0, dispatch_in_flight=True)
    assert decide(POLICY, age_seconds=0, attempts=0, view=stale, resumed=True) is Action.DISPATCH
    assert decide(POLICY, age_seconds=2, attempts=1, view=stale, resumed=True) is Action.HOLD


def test_backoff_doubles_up_to_its_ceiling() -> None:
    assert [POLICY.backoff(n) for n in range(1, 7)] == [1, 2, 4, 8, 8, 8]


def _signed(body: str, key: str, secret: str) -> str:
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    return api.AccessToken(key, secret).with_sha256(digest).to_jwt()


def _room_started(room: str) -> str:
    return json.dumps({"event": "room_started", "room": {"name": room}, "id": "EV_1"})


async def test_a_signed_webhook_puts_the_room_under_watch(
    open_client: Any, lk: dict[str, str], redis_url: str
) -> None:
    client = await open_client(livekit_api_url="http://127.0.0.1:9")
    body = _room_started("call-abc")
    response = await client.post(
        "/v1/livekit/webhook",
        content=body,
        headers={
            "Authorization": _signed(body, lk["key"], lk["secret"]),
            "Content-Type": "application/webhook+json",
        },
    )
    assert response.status_code == 200, response.text
    redis = Redis.from_url(redis_url)
    try:
        assert await redis.zscore(ROOMS_KEY, "call-abc") is not None
    finally:
        await redis.aclose()


@pytest.mark.parametrize(
    "authorization",
    ["", "not-a-jwt", "wrong-secret", "other-body"],
)
async def test_an_unsigned_or_forged_webhook_is_refused(
    open_client: Any, lk: dict[str, str], redis_url: str, authorization: str
) -> None:
    client = await open_client(livekit_api_url="http://127.0.0.1:9")
    body = _room_started("call-forged")
    if authorization == "wrong-secret":
        authorization = _signed(body, lk["key"], "another-secret-that-is-long-enough-012345")
    elif authorization == "other-body":
        authorization = _signed(_room_started("call-other"), lk["key"], lk["secret"])
    response = await client.post(
        "/v1/livekit/webhook", content=body, headers={"Authorization": authorization}
    )
    assert response.status_code == 401
    assert "error" in response.json()
    redis = Redis.from_url(redis_url)
    try:
        assert await redis.zscore(ROOMS_KEY, "call-forged") is None
    finally:
        await redis.aclose()
