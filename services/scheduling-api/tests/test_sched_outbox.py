"""The webhook outbox: every change and its event are written in one atomic step.

Writers book, cancel, request and resolve callbacks and record calls while redis-server
is SIGKILLed (AOF with appendfsync always, as the fixtures run it); after a restart every
change has exactly its event and every event its change, and every answered write is
there.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections import Counter
from typing import Any

import httpx
from redis import Redis
from scheduling_api.domain.clinic import Clinic

CLINIC = "/v1/clinics/test-clinic"
OUTBOX = "sched:{test-clinic}:outbox"


def call_report(call_id: str) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "channel": "web",
        "started_at": "2027-01-11T15:00:00Z",
        "ended_at": "2027-01-11T15:01:00Z",
        "outcome": "information_only",
        "latency": {"turns": 0},
    }


async def test_each_change_writes_its_event(api: Any, redis_url: str) -> None:
    exam = (
        await api.client.get(
            f"{CLINIC}/availability", params={"appointment_type": "exam", "limit": 2}
        )
    ).json()["slots"]
    body = {"slot_id": exam[0]["slot_id"], "patient": {"name": "Ana", "phone": "5125550142"}}
    booked = (
        await api.client.post(f"{CLINIC}/bookings", json=body, headers={"Idempotency-Key": "k"})
    ).json()
    replay = await api.client.post(
        f"{CLINIC}/bookings", json=body, headers={"Idempotency-Key": "k"}
    )
    assert replay.status_code == 201
    moved = (
        await api.client.post(
            f"{CLINIC}/bookings/{booked['booking_id']}/reschedule",
            json={"slot_id": exam[1]["slot_id"]},
        )
    ).json()
    await api.client.post(f"{CLINIC}/bookings/{moved['booking_id']}/cancel", json={})
    await api.client.post(f"{CLINIC}/bookings/{moved['booking_id']}/cancel", json={})
    callback = (
        await api.client.post(f"{CLINIC}/callbacks", json={"name": "Bo", "phone": "5125550199"})
    ).json()
    for _ in range(2):
        await api.client.post(f"{CLINIC}/callbacks/{callback['callback_id']}/resolve")
    await api.client.post(f"{CLINIC}/calls", json=call_report("RM_one"))

    events = _events(redis_url)
    assert [(e["type"], _subject(e)) for e in events] == [
        ("booking.created", booked["booking_id"]),
        ("booking.rescheduled", moved["booking_id"]),
        ("booking.cancelled", moved["booking_id"]),
        ("callback.created", callback["callback_id"]),
        ("callback.resolved", callback["callback_id"]),
        ("call.completed", "RM_one"),
    ]
    assert events[1]["data"]["rescheduled_from"] == booked["booking_id"]
    assert events[2]["data"]["status"] == "cancelled"
    assert events[4]["data"]["status"] == "resolved"
    assert len({e["id"] for e in events}) == len(events)


async def test_killing_redis_mid_stream_leaves_both_or_neither(
    api_factory: Any, test_clinic: Clinic, private_redis: Any
) -> None:
    served = await api_factory(clinics={"test-clinic": test_clinic}, redis=private_redis.url)
    slots = (
        await served.client.get(
            f"{CLINIC}/availability",
            params={"appointment_type": "exam", "days": 14, "limit": 100},
        )
    ).json()["slots"]
    rounds = 0
    acknowledged: set[str] = set()
    busy = asyncio.Event()
    redis_down = asyncio.Event()

    async def write(worker: int) -> None:
        nonlocal rounds
        for step in range(len(slots) // 3):
            if redis_down.is_set():
                return
            slot = slots[worker + 3 * step]
            try:
                await _one_round(served.client, f"w{worker}s{step}", slot, acknowledged)
            except httpx.HTTPError:
                return
            rounds += 1
            if rounds >= 12:
                busy.set()

    async def kill_when_busy() -> None:
        await busy.wait()
        private_redis.stop(sig=signal.SIGKILL)  # while the writers are mid-round
        redis_down.set()

    await asyncio.wait_for(
        asyncio.gather(kill_when_busy(), *(write(worker) for worker in range(3))), timeout=120
    )
    private_redis.launch(30)

    events = _events(private_redis.url)
    client = Redis.from_url(private_redis.url, decode_responses=True)
    try:
        changes = _changes(client)
    finally:
        client.close()
    by_event = Counter((e["type"], _subject(e)) for e in events)
    assert set(by_event) == changes
    assert all(count == 1 for count in by_event.values()), by_event
    assert acknowledged <= {subject for _, subject in changes}
    assert len(changes) >= 24  # the kill came mid-stream, after real work


async def _one_round(
    client: httpx.AsyncClient, tag: str, slot: dict[str, Any], acknowledged: set[str]
) -> None:
    """A booking (cancelled), a callback (resolved) and a call record; notes the ids of
    every answered write."""
    body = {"slot_id": slot["slot_id"], "patient": {"name": "Ana", "phone": "5125550142"}}
    booked = await client.post(f"{CLINIC}/bookings", json=body, headers={"Idempotency-Key": tag})
    if booked.status_code == 201:
        booking_id = booked.json()["booking_id"]
        acknowledged.add(booking_id)
        await client.post(f"{CLINIC}/bookings/{booking_id}/cancel", json={})
    callback = await client.post(f"{CLINIC}/callbacks", json={"name": "Bo", "phone": "5125550199"})
    if callback.status_code == 201:
        callback_id = callback.json()["callback_id"]
        acknowledged.add(callback_id)
        await client.post(f"{CLINIC}/callbacks/{callback_id}/resolve")
    call = await client.post(f"{CLINIC}/calls", json=call_report(f"RM_{tag}"))
    if call.status_code == 201:
        acknowledged.add(f"RM_{tag}")


def _events(redis_url: str) -> list[dict[str, Any]]:
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        entries = client.xrange(OUTBOX)
    finally:
        client.close()
    return [{**fields, "data": json.loads(fields["data"])} for _, fields in entries]


def _subject(event: dict[str, Any]) -> str:
    data = event["data"]
    for field in ("booking_id", "callback_id", "call_id"):
        if field in data:
            return str(data[field])
    raise AssertionError(f"event without a subject: {event}")


def _changes(client: Redis) -> set[tuple[str, str]]:
    """Every (event type, id) the stored state implies."""
    implied: set[tuple[str, str]] = set()
    for key in client.scan_iter("sched:{test-clinic}:booking:*"):
        booking = client.hgetall(key)
        booking_id = key.rsplit(":", 1)[1]
        implied.add(("booking.created", booking_id))
        if booking.get("status") == "cancelled":
            implied.add(("booking.cancelled", booking_id))
    for key in client.scan_iter("sched:{test-clinic}:callback:*"):
        callback_id = key.rsplit(":", 1)[1]
        implied.add(("callback.created", callback_id))
        if client.hget(key, "status") == "resolved":
            implied.add(("callback.resolved", callback_id))
    for key in client.scan_iter("sched:{test-clinic}:call:*"):
        if not key.endswith(":transcript"):
            implied.add(("call.completed", key.rsplit(":", 1)[1]))
    return implied
