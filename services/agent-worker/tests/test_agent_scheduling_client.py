"""The scheduling API adapter against a real local HTTP server with scripted failures."""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from receptionist.scheduling_client import (
    InvalidSlot,
    SchedulingClient,
    SchedulingUnavailable,
    SlotUnavailable,
)

SLOT = {
    "slot_id": "opaque",
    "start": "2026-12-01T10:30:00-06:00",
    "end": "2026-12-01T11:30:00-06:00",
    "provider_id": "maria-lopez",
    "provider_name": "Maria Lopez, RDH",
    "appointment_type": "cleaning",
}
BOOKING = {
    "booking_id": "bk_1",
    "clinic_id": "bright-smile",
    "status": "confirmed",
    "start": SLOT["start"],
    "end": SLOT["end"],
    "provider_id": "maria-lopez",
    "provider_name": "Maria Lopez, RDH",
    "appointment_type": "cleaning",
    "patient": {"name": "Maria Garcia", "phone": "+15125550187"},
}
DROP = (0, None)  # close the connection without answering: a lost response


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FlakyServer:
    """Answers each request with the next scripted (status, body[, headers]); records every
    request."""

    replies: deque[tuple[Any, ...]] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)
    port: int = 0


@pytest.fixture
def flaky() -> Iterator[FlakyServer]:
    state = FlakyServer()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            state.requests.append(
                Recorded(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    json.loads(raw) if raw else None,
                )
            )
            status, body, *headers = state.replies.popleft() if state.replies else (500, {})
            if status == 0:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers[0] if headers else {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _handle  # noqa: N815 - the name http.server dispatches to
        do_POST = _handle  # noqa: N815

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def client_for(server: FlakyServer, attempts: int = 3) -> SchedulingClient:
    return SchedulingClient(
        f"http://127.0.0.1:{server.port}",
        "secret-token",
        timeout_seconds=2,
        max_attempts=attempts,
        backoff_seconds=0.01,
    )


async def book(client: SchedulingClient, key: str = "key-1") -> Any:
    return await client.create_booking(
        "bright-smile",
        slot_id="opaque",
        patient_name="Maria Garcia",
        patient_phone="+15125550187",
        idempotency_key=key,
    )


async def test_booking_retry_after_5xx_reuses_the_idempotency_key(flaky: FlakyServer) -> None:
    flaky.replies.extend([(503, {"error": "unavailable"}), (201, BOOKING)])
    client = client_for(flaky)
    booking = await book(client)
    await client.aclose()
    assert booking.booking.booking_id == "bk_1"
    assert len(flaky.requests) == 2
    first, second = flaky.requests
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"] == "key-1"
    assert first.body == second.body
    assert first.headers["authorization"] == "Bearer secret-token"


async def test_booking_retry_after_a_lost_response_reuses_the_key(flaky: FlakyServer) -> None:
    flaky.replies.extend([DROP, (200, BOOKING)])
    client = client_for(flaky)
    booking = await book(client, key="key-lost")
    await client.aclose()
    assert booking.booking.booking_id == "bk_1"
    assert [r.headers["idempotency-key"] for r in flaky.requests] == ["key-lost", "key-lost"]


async def test_retries_are_bounded(flaky: FlakyServer) -> None:
    flaky.replies.extend([(502, {})] * 5)
    client = client_for(flaky, attempts=3)
    with pytest.raises(SchedulingUnavailable):
        await client.availability("bright-smile", appointment_type="cleaning")
    await client.aclose()
    assert len(flaky.requests) == 3


async def test_callbacks_are_not_resent_once_they_may_have_arrived(flaky: FlakyServer) -> None:
    flaky.replies.extend([(503, {}), (201, {})])
    client = client_for(flaky)
    with pytest.raises(SchedulingUnavailable):
        await client.request_callback("bright-smile", name="Maria Garcia", phone="+15125550187")
    await client.aclose()
    assert len(flaky.requests) == 1


class CountingTransport(httpx.AsyncHTTPTransport):
    """The real HTTP transport, recording every attempt the client makes."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts.append(request)
        return await super().handle_async_request(request)


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def client_on_port(port: int, transport: CountingTransport, **options: Any) -> SchedulingClient:
    settings: dict[str, Any] = {"max_attempts": 5, "backoff_seconds": 0.01} | options
    return SchedulingClient(
        f"http://127.0.0.1:{port}", "t", timeout_seconds=2, transport=transport, **settings
    )


async def test_connection_refused_gets_one_quick_retry_not_the_full_backoff(
    closed_port: int,
) -> None:
    transport = CountingTransport()
    client = client_on_port(closed_port, transport)
    with pytest.raises(SchedulingUnavailable, match="refused"):
        await client.get_clinic("bright-smile")
    await client.aclose()
    assert len(transport.attempts) == 2


async def test_refused_attempts_are_a_setting(closed_port: int) -> None:
    transport = CountingTransport()
    client = client_on_port(closed_port, transport, refused_max_attempts=1)
    with pytest.raises(SchedulingUnavailable):
        await client.get_clinic("bright-smile")
    await client.aclose()
    assert len(transport.attempts) == 1


async def test_refused_booking_retry_reuses_the_idempotency_key(closed_port: int) -> None:
    transport = CountingTransport()
    client = client_on_port(closed_port, transport)
    with pytest.raises(SchedulingUnavailable):
        await book(client, key="key-refused")
    await client.aclose()
    assert [r.headers["idempotency-key"] for r in transport.attempts] == ["key-refused"] * 2


async def test_timeouts_keep_the_full_bounded_retries(silent_port: int) -> None:
    transport = CountingTransport()
    client = SchedulingClient(
        f"http://127.0.0.1:{silent_port}",
        "t",
        timeout_seconds=0.1,
        max_attempts=3,
        backoff_seconds=0.01,
        transport=transport,
    )
    with pytest.raises(SchedulingUnavailable, match="Timeout"):
        await client.availability("bright-smile", appointment_type="cleaning")
    await client.aclose()
    assert len(transport.attempts) == 3


async def test_slot_taken_carries_the_alternatives(flaky: FlakyServer) -> None:
    conflict = {"error": "slot_unavailable", "message": "taken", "alternatives": [SLOT]}
    flaky.replies.append((409, conflict))
    client = client_for(flaky)
    with pytest.raises(SlotUnavailable) as caught:
        await book(client)
    await client.aclose()
    assert [s.slot_id for s in caught.value.alternatives] == ["opaque"]
    assert len(flaky.requests) == 1


async def test_stale_slot_and_bad_credentials(flaky: FlakyServer) -> None:
    too_soon = {"error": "slot_in_past", "message": "too late", "alternatives": [SLOT]}
    flaky.replies.extend(
        [
            (422, too_soon),
            (422, {"error": "invalid_slot", "message": "forged"}),
            (401, {"error": "unauthorized"}),
        ]
    )
    client = client_for(flaky)
    with pytest.raises(SlotUnavailable) as caught:
        await book(client)
    assert caught.value.too_soon
    assert [s.slot_id for s in caught.value.alternatives] == ["opaque"]
    with pytest.raises(InvalidSlot):
        await book(client)
    with pytest.raises(SchedulingUnavailable):
        await client.get_clinic("bright-smile")
    await client.aclose()


async def test_a_booking_the_patient_already_holds_is_reported_as_such(
    flaky: FlakyServer,
) -> None:
    flaky.replies.extend([(200, BOOKING, {"Already-Booked": "true"}), (201, BOOKING)])
    client = client_for(flaky)
    held = await book(client)
    created = await book(client, key="key-2")
    await client.aclose()
    assert held.booking.booking_id == "bk_1"
    assert held.already_booked
    assert not created.already_booked


async def test_availability_query_parameters(flaky: FlakyServer) -> None:
    flaky.replies.append((200, {"slots": [SLOT], "next_available": None}))
    client = client_for(flaky)
    result = await client.availability(
        "bright-smile", appointment_type="cleaning", start_date="2026-12-01", days=3
    )
    await client.aclose()
    assert result.slots[0].provider_name == "Maria Lopez, RDH"
    assert flaky.requests[0].path == (
        "/v1/clinics/bright-smile/availability?appointment_type=cleaning"
        "&start_date=2026-12-01&days=3"
    )
