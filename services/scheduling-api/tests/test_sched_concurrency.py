"""Races against two real `scheduling-api` processes sharing one redis-server.

The processes run the packaged bright-smile clinic on the real clock, so every test
finds its slots through the availability endpoint instead of assuming dates.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

CLINIC = "/v1/clinics/bright-smile"
PROVIDER = "dr-chen"

pytestmark = pytest.mark.slow


@pytest.fixture
async def clients(
    server_pair: tuple[Any, Any], redis_url: str, auth_headers: dict[str, str]
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """One HTTP client per server process, over a freshly emptied database."""
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with (
        httpx.AsyncClient(
            base_url=server_pair[0].base_url, headers=auth_headers, limits=limits, timeout=30
        ) as first,
        httpx.AsyncClient(
            base_url=server_pair[1].base_url, headers=auth_headers, limits=limits, timeout=30
        ) as second,
    ):
        yield [first, second]


async def day_slots(
    client: httpx.AsyncClient, type_id: str, day: str, provider: str = PROVIDER
) -> dict[str, dict[str, Any]]:
    """Free slots of a type on one day, by start time."""
    response = await client.get(
        f"{CLINIC}/availability",
        params={
            "appointment_type": type_id,
            "provider_id": provider,
            "start_date": day,
            "days": 1,
            "limit": 100,
        },
    )
    assert response.status_code == 200, response.text
    return {slot["start"]: slot for slot in response.json()["slots"]}


def shifted(start: str, minutes: int) -> str:
    return (datetime.fromisoformat(start) + timedelta(minutes=minutes)).isoformat()


async def find_free_run(
    client: httpx.AsyncClient, pattern: list[tuple[str, int]]
) -> list[dict[str, Any]]:
    """The first day and time X at which every (type, X + minutes) in `pattern` is free."""
    response = await client.get(
        f"{CLINIC}/availability",
        params={"appointment_type": "whitening", "provider_id": PROVIDER, "days": 30, "limit": 100},
    )
    days = sorted({slot["start"][:10] for slot in response.json()["slots"]})
    for day in days:
        by_type = {t: await day_slots(client, t, day) for t in {t for t, _ in pattern}}
        for anchor in sorted(by_type[pattern[0][0]]):
            wanted = [by_type[t].get(shifted(anchor, minutes)) for t, minutes in pattern]
            if all(wanted):
                return [slot for slot in wanted if slot is not None]
    raise AssertionError("no day in the next 30 with the free run this test needs")


def interval(booking: dict[str, Any]) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(booking["start"]), datetime.fromisoformat(booking["end"])


def overlaps(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def body(slot_id: str, n: int) -> dict[str, Any]:
    return {
        "slot_id": slot_id,
        "patient": {"name": f"Racer {n}", "phone": f"(512) 555-{2000 + n}"},
        "source": "race-test",
    }


async def confirmed_on(client: httpx.AsyncClient, day: str) -> list[dict[str, Any]]:
    response = await client.get(f"{CLINIC}/bookings", params={"date": day, "status": "confirmed"})
    bookings: list[dict[str, Any]] = response.json()["bookings"]
    return bookings


async def test_overlapping_bookings_race_has_exactly_one_winner_per_group(
    clients: list[httpx.AsyncClient], server_pair: tuple[Any, Any]
) -> None:
    """60 concurrent requests over two groups of mutually overlapping slots.

    Group one: whitening X (90 min), filling X+30 (60), exam X+60 (30): all contain
    X+60..X+90. Group two the same from X+90. So exactly two requests can win, one per
    group, whatever the interleaving.
    """
    group = [("whitening", 0), ("filling", 30), ("exam", 60)]
    run = await find_free_run(clients[0], group + [(t, minutes + 90) for t, minutes in group])
    requests = [
        clients[n % 2].post(
            f"{CLINIC}/bookings",
            json=body(run[n % len(run)]["slot_id"], n),
            headers={"Idempotency-Key": f"race-{n}"},
        )
        for n in range(60)
    ]
    responses = await asyncio.gather(*requests)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 2, 409: 58}, statuses
    winners = [r.json() for r in responses if r.status_code == 201]
    assert not overlaps(interval(winners[0]), interval(winners[1]))
    first_group_end = datetime.fromisoformat(run[0]["start"]) + timedelta(minutes=90)
    assert sorted(interval(w)[0] < first_group_end for w in winners) == [False, True]
    assert all(r.json()["error"] == "slot_unavailable" for r in responses if r.status_code == 409)
    stored = await confirmed_on(clients[1], run[0]["start"][:10])
    assert sorted(b["booking_id"] for b in stored) == sorted(w["booking_id"] for w in winners)
    logs = server_pair[0].log() + server_pair[1].log()
    assert "Racer" not in logs
    assert "555-20" not in logs
    assert "+1512555" not in logs
    assert '"message": "booking created"' in logs


async def test_many_overlapping_slots_never_double_book(
    clients: list[httpx.AsyncClient],
) -> None:
    """70 requests over 7 hour-long fillings starting every 30 minutes (each overlaps its
    neighbours): winners never overlap, and every loser lost to an overlapping winner."""
    run = await find_free_run(clients[0], [("filling", 30 * k) for k in range(7)])
    requests = [
        clients[n % 2].post(
            f"{CLINIC}/bookings",
            json=body(run[n % 7]["slot_id"], n),
            headers={"Idempotency-Key": f"fill-{n}"},
        )
        for n in range(70)
    ]
    responses = await asyncio.gather(*requests)
    assert {r.status_code for r in responses} <= {201, 409}
    winners = [interval(r.json()) for r in responses if r.status_code == 201]
    assert 4 >= len(winners) >= 3  # a maximal set of non-overlapping hours in 4 hours
    for i, a in enumerate(winners):
        for b in winners[i + 1 :]:
            assert not overlaps(a, b)
    for slot in run:
        wanted = (datetime.fromisoformat(slot["start"]), datetime.fromisoformat(slot["end"]))
        assert any(overlaps(wanted, w) for w in winners)
    stored = await confirmed_on(clients[0], run[0]["start"][:10])
    assert len(stored) == len(winners)


async def test_concurrent_replays_of_one_key_make_one_booking(
    clients: list[httpx.AsyncClient],
) -> None:
    run = await find_free_run(clients[0], [("exam", 0)])
    request = body(run[0]["slot_id"], 1)
    responses = await asyncio.gather(
        *(
            clients[n % 2].post(
                f"{CLINIC}/bookings", json=request, headers={"Idempotency-Key": "one-key"}
            )
            for n in range(40)
        )
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["booking_id"] for r in responses}) == 1
    fresh = [r for r in responses if "Idempotent-Replayed" not in r.headers]
    assert len(fresh) == 1
    assert len(await confirmed_on(clients[0], run[0]["start"][:10])) == 1


async def test_one_key_with_two_different_bodies_books_once(
    clients: list[httpx.AsyncClient],
) -> None:
    run = await find_free_run(clients[0], [("exam", 0), ("exam", 60)])
    bodies = [body(run[0]["slot_id"], 1), body(run[1]["slot_id"], 2)]
    responses = await asyncio.gather(
        *(
            clients[n % 2].post(
                f"{CLINIC}/bookings", json=bodies[n % 2], headers={"Idempotency-Key": "shared"}
            )
            for n in range(40)
        )
    )
    created = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code == 422]
    assert len(created) + len(refused) == 40
    assert len({r.json()["booking_id"] for r in created}) == 1
    assert len(created) == 20
    assert len(refused) == 20
    assert all(r.json()["error"] == "idempotency_key_reused" for r in refused)
    assert len(await confirmed_on(clients[0], run[0]["start"][:10])) == 1


async def test_concurrent_reschedules_into_one_slot(clients: list[httpx.AsyncClient]) -> None:
    """Seven bookings race to move into one free slot: one moves, six stay put."""
    run = await find_free_run(clients[0], [("exam", 30 * k) for k in range(8)])
    target, sources = run[0], run[1:8]
    bookings = []
    for n, slot in enumerate(sources):
        response = await clients[0].post(
            f"{CLINIC}/bookings",
            json=body(slot["slot_id"], n),
            headers={"Idempotency-Key": f"s{n}"},
        )
        assert response.status_code == 201, response.text
        bookings.append(response.json())
    responses = await asyncio.gather(
        *(
            clients[n % 2].post(
                f"{CLINIC}/bookings/{booking['booking_id']}/reschedule",
                json={"slot_id": target["slot_id"]},
            )
            for n, booking in enumerate(bookings)
        )
    )
    assert Counter(r.status_code for r in responses) == {200: 1, 409: len(bookings) - 1}
    moved = next(r.json() for r in responses if r.status_code == 200)
    assert moved["start"] == target["start"]
    for booking, response in zip(bookings, responses, strict=True):
        current = (await clients[1].get(f"{CLINIC}/bookings/{booking['booking_id']}")).json()
        if response.status_code == 200:
            assert current["status"] == "rescheduled"
            assert current["rescheduled_to"] == moved["booking_id"]
        else:
            assert current == booking  # untouched
    confirmed = await confirmed_on(clients[0], target["start"][:10])
    assert len(confirmed) == len(bookings)
    intervals = [interval(b) for b in confirmed]
    for i, a in enumerate(intervals):
        for b in intervals[i + 1 :]:
            assert not overlaps(a, b)


async def test_one_booking_rescheduled_concurrently_moves_once(
    clients: list[httpx.AsyncClient],
) -> None:
    run = await find_free_run(clients[0], [("exam", 30 * k) for k in range(6)])
    created = await clients[0].post(
        f"{CLINIC}/bookings", json=body(run[0]["slot_id"], 0), headers={"Idempotency-Key": "m"}
    )
    booking = created.json()
    responses = await asyncio.gather(
        *(
            clients[n % 2].post(
                f"{CLINIC}/bookings/{booking['booking_id']}/reschedule",
                json={"slot_id": slot["slot_id"]},
            )
            for n, slot in enumerate(run[1:])
        )
    )
    assert Counter(r.status_code for r in responses) == {200: 1, 409: len(run) - 2}
    assert all(r.json()["error"] == "booking_not_active" for r in responses if r.status_code == 409)
    confirmed = await confirmed_on(clients[0], run[0]["start"][:10])
    assert [b["booking_id"] for b in confirmed] == [
        next(r.json()["booking_id"] for r in responses if r.status_code == 200)
    ]
