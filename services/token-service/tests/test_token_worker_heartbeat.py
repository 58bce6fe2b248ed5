"""Agent workers' heartbeats to the dispatch watchdog: only a worker holding the LiveKit
API key is heard, and what it reports is what the watchdog reads back when it goes silent.
(The takeover itself, against real LiveKit and workers: tests/test_dispatch_resume.py.)"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any

import pytest
from livekit import api
from redis.asyncio import Redis
from token_service.watchdog.store import WORKERS_KEY, WorkerCall, WorkerHeartbeats

PATH = "/v1/dispatch/worker-heartbeat"


def _signed(body: str, key: str, secret: str) -> str:
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    return "Bearer " + api.AccessToken(key, secret).with_sha256(digest).to_jwt()


def _beat(worker_id: str, *rooms: str) -> str:
    calls = [{"room": room, "identity": f"agent-{room}"} for room in rooms]
    return json.dumps({"worker_id": worker_id, "calls": calls})


async def test_a_signed_heartbeat_is_what_a_silent_worker_is_known_by(
    open_client: Any, lk: dict[str, str], redis_url: str
) -> None:
    client = await open_client(livekit_api_url="http://127.0.0.1:9")
    worker = f"worker-{secrets.token_hex(4)}"
    body = _beat(worker, "call-a", "call-b")
    response = await client.post(
        PATH, content=body, headers={"Authorization": _signed(body, lk["key"], lk["secret"])}
    )
    assert response.status_code == 200, response.text
    redis = Redis.from_url(redis_url)
    try:
        beats = WorkerHeartbeats(redis)
        assert worker not in {w for w, _ in await beats.silent_since(time.time() - 60, 100)}
        silent = dict(await beats.silent_since(time.time() + 1, 1000))
        assert silent[worker] == [
            WorkerCall(room="call-a", identity="agent-call-a"),
            WorkerCall(room="call-b", identity="agent-call-b"),
        ]
        await beats.forget(worker)
        assert await redis.zscore(WORKERS_KEY, worker) is None
    finally:
        await redis.aclose()


@pytest.mark.parametrize("authorization", ["", "Bearer not-a-jwt", "wrong-secret", "other-body"])
async def test_an_unsigned_or_forged_heartbeat_is_refused(
    open_client: Any, lk: dict[str, str], redis_url: str, authorization: str
) -> None:
    client = await open_client(livekit_api_url="http://127.0.0.1:9")
    worker = f"forger-{secrets.token_hex(4)}"
    body = _beat(worker, "call-x")
    if authorization == "wrong-secret":
        authorization = _signed(body, lk["key"], "another-secret-that-is-long-enough-012345")
    elif authorization == "other-body":
        authorization = _signed(_beat(worker, "call-y"), lk["key"], lk["secret"])
    response = await client.post(PATH, content=body, headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    redis = Redis.from_url(redis_url)
    try:
        assert await redis.zscore(WORKERS_KEY, worker) is None
    finally:
        await redis.aclose()


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"calls": []}', "worker_id"),
        ('{"worker_id": "w", "calls": [{"room": ""}]}', "calls.0.room"),
        ("not json", "body"),
    ],
)
async def test_a_malformed_heartbeat_is_a_clear_422(
    open_client: Any, lk: dict[str, str], body: str, where: str
) -> None:
    client = await open_client(livekit_api_url="http://127.0.0.1:9")
    response = await client.post(
        PATH, content=body, headers={"Authorization": _signed(body, lk["key"], lk["secret"])}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"
    assert where in response.json()["message"]


async def test_heartbeats_are_refused_while_the_watchdog_is_off(
    open_client: Any, lk: dict[str, str]
) -> None:
    client = await open_client(dispatch_watchdog_enabled=False)
    body = _beat("w", "call-z")
    response = await client.post(
        PATH, content=body, headers={"Authorization": _signed(body, lk["key"], lk["secret"])}
    )
    assert response.status_code == 404
    assert "DISPATCH_WATCHDOG_ENABLED" in response.json()["message"]
