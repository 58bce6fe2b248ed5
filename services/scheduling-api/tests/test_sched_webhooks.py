"""Signed webhooks end to end: endpoints through the API, events from real changes, the
dispatcher delivering them to a real loopback receiver that verifies every signature with
the `standardwebhooks` library. Real redis-server throughout; short retry settings."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from scheduling_api.dispatch.dispatcher import Dispatcher
from scheduling_api.dispatch.safety import (
    OutboundPolicy,
    RefusedDestinationError,
    resolve,
)
from scheduling_api.dispatch.sender import Sender
from scheduling_api.domain.clinic import Clinic
from scheduling_api.store.webhook_store import WebhookStore
from webhook_receiver import Receiver, free_port

CLINIC = "/v1/clinics/test-clinic"
RETRY_BASE = 0.05
DispatcherFactory = Callable[..., Dispatcher]


@pytest.fixture
async def hooks_api(api_factory: Any, test_clinic: Clinic) -> Any:
    return await api_factory(clinics={"test-clinic": test_clinic}, webhooks_insecure_loopback=True)


@pytest.fixture
async def make_dispatcher(redis_url: str) -> AsyncIterator[DispatcherFactory]:
    clients: list[Redis] = []
    senders: list[Sender] = []

    def build(horizon: float = 60.0, insecure_loopback: bool = True) -> Dispatcher:
        redis = Redis.from_url(redis_url, decode_responses=True)
        sender = Sender(
            policy=OutboundPolicy(insecure_loopback=insecure_loopback),
            timeout_seconds=5.0,
            max_response_bytes=1024,
        )
        clients.append(redis)
        senders.append(sender)
        return Dispatcher(
            store=WebhookStore(redis, key_prefix="sched"),
            clinic_ids=["test-clinic"],
            sender=sender,
            clock=lambda: datetime.now(UTC),
            retry_base_seconds=RETRY_BASE,
            retry_max_delay_seconds=RETRY_BASE,
            retry_horizon_seconds=horizon,
            lease_seconds=30.0,
        )

    yield build
    for sender in senders:
        await sender.close()
    for client in clients:
        await client.aclose()


@pytest.fixture
def receiver() -> Any:
    the_receiver = Receiver(port=free_port())
    yield the_receiver
    the_receiver.down()


async def subscribe(api: Any, receiver: Receiver, events: list[str] | None = None) -> str:
    response = await api.client.post(
        f"{CLINIC}/webhooks",
        json={
            "url": receiver.url,
            "events": events or ["booking.created", "callback.created", "call.completed"],
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["secret"].startswith("whsec_")
    receiver.secret = created["secret"]
    return str(created["endpoint_id"])


async def callback(api: Any, name: str) -> str:
    response = await api.client.post(
        f"{CLINIC}/callbacks", json={"name": name, "phone": "5125550199"}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["callback_id"])


async def pass_after_retry_delay(dispatcher: Dispatcher) -> int:
    await asyncio.sleep(RETRY_BASE * 1.5)
    return await dispatcher.run_once()


async def test_events_wait_for_a_receiver_that_is_down_then_arrive_verified_in_order(
    hooks_api: Any, make_dispatcher: DispatcherFactory, receiver: Receiver
) -> None:
    await subscribe(hooks_api, receiver)
    resolved_first = await callback(hooks_api, "Ana")
    await hooks_api.client.post(f"{CLINIC}/callbacks/{resolved_first}/resolve")  # unsubscribed
    ids = [resolved_first, await callback(hooks_api, "Bo"), await callback(hooks_api, "Cy")]
    dispatcher = make_dispatcher()

    for _ in range(3):  # down: connection refused, and only the head is tried
        assert await pass_after_retry_delay(dispatcher) == 1
    pending = (
        await hooks_api.client.get(f"{CLINIC}/webhooks/deliveries", params={"status": "pending"})
    ).json()["deliveries"]
    assert [(d["attempts"], d["last_error"]) for d in pending] == [
        (3, "connection failed: ConnectError")
    ]

    receiver.up()
    assert await pass_after_retry_delay(dispatcher) == 3
    assert receiver.subjects() == ids
    assert receiver.rejected == 0
    assert [item.event_type for item in receiver.received] == ["callback.created"] * 3
    delivered = (
        await hooks_api.client.get(f"{CLINIC}/webhooks/deliveries", params={"status": "delivered"})
    ).json()["deliveries"]
    assert sorted(d["attempts"] for d in delivered) == [1, 1, 4]
    assert await dispatcher.run_once() == 0  # nothing is sent twice


async def test_redelivery_carries_the_same_webhook_id(
    hooks_api: Any, make_dispatcher: DispatcherFactory, receiver: Receiver
) -> None:
    await subscribe(hooks_api, receiver)
    receiver.up()
    await callback(hooks_api, "Ana")
    dispatcher = make_dispatcher()
    await dispatcher.run_once()
    (delivery,) = (
        await hooks_api.client.get(f"{CLINIC}/webhooks/deliveries", params={"status": "delivered"})
    ).json()["deliveries"]
    again = await hooks_api.client.post(
        f"{CLINIC}/webhooks/deliveries/{delivery['delivery_id']}/redeliver"
    )
    assert again.status_code == 202, again.text
    assert again.json()["status"] == "pending"
    await dispatcher.run_once()
    assert len(receiver.ids()) == 2
    assert receiver.ids()[0] == receiver.ids()[1] == delivery["event_id"]


async def test_past_the_horizon_an_event_is_dead_lettered_and_can_be_redelivered(
    hooks_api: Any, make_dispatcher: DispatcherFactory, receiver: Receiver
) -> None:
    await subscribe(hooks_api, receiver)
    first = await callback(hooks_api, "Ana")
    dispatcher = make_dispatcher(horizon=0.3)
    deadline = time.monotonic() + 30
    failed: list[dict[str, Any]] = []
    while not failed and time.monotonic() < deadline:
        await pass_after_retry_delay(dispatcher)
        failed = (
            await hooks_api.client.get(f"{CLINIC}/webhooks/deliveries", params={"status": "failed"})
        ).json()["deliveries"]
    assert len(failed) == 1
    assert failed[0]["attempts"] >= 2
    assert failed[0]["last_error"].startswith("connection failed")

    second = await callback(hooks_api, "Bo")  # the dead letter no longer blocks the line
    receiver.up()
    await dispatcher.run_once()
    assert receiver.subjects() == [second]
    response = await hooks_api.client.post(
        f"{CLINIC}/webhooks/deliveries/{failed[0]['delivery_id']}/redeliver"
    )
    assert response.status_code == 202
    await dispatcher.run_once()
    assert receiver.subjects() == [second, first]
    assert receiver.ids()[1] == failed[0]["event_id"]
    after = (
        await hooks_api.client.get(f"{CLINIC}/webhooks/deliveries", params={"status": "failed"})
    ).json()["deliveries"]
    assert after == []


async def test_two_dispatchers_deliver_each_event_once_in_order(
    hooks_api: Any, make_dispatcher: DispatcherFactory, receiver: Receiver
) -> None:
    await subscribe(hooks_api, receiver)
    receiver.up()
    ids = [await callback(hooks_api, f"Caller {n}") for n in range(30)]
    first, second = make_dispatcher(), make_dispatcher()
    stop = asyncio.Event()
    runs = [
        asyncio.create_task(first.run(stop, poll_seconds=0.01)),
        asyncio.create_task(second.run(stop, poll_seconds=0.01)),
    ]
    more = [await callback(hooks_api, f"Late {n}") for n in range(10)]
    for _ in range(1200):  # up to a minute on a busy machine
        if len(receiver.received) >= 40:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # a duplicate would arrive now
    stop.set()
    await asyncio.gather(*runs)
    assert receiver.subjects() == ids + more
    assert len(set(receiver.ids())) == 40


async def test_endpoint_crud_never_shows_the_secret_again(hooks_api: Any) -> None:
    created = (
        await hooks_api.client.post(
            f"{CLINIC}/webhooks",
            json={"url": "https://desk.example.com/hooks", "events": ["booking.created"]},
        )
    ).json()
    endpoint_id = created["endpoint_id"]
    listed = (await hooks_api.client.get(f"{CLINIC}/webhooks")).json()["webhooks"]
    assert [e["endpoint_id"] for e in listed] == [endpoint_id]
    assert "secret" not in listed[0]
    fetched = await hooks_api.client.get(f"{CLINIC}/webhooks/{endpoint_id}")
    assert "secret" not in fetched.json()
    changed = await hooks_api.client.put(
        f"{CLINIC}/webhooks/{endpoint_id}",
        json={"url": "https://desk.example.com/v2", "events": ["call.completed"]},
    )
    assert changed.json()["events"] == ["call.completed"]
    assert (await hooks_api.client.delete(f"{CLINIC}/webhooks/{endpoint_id}")).status_code == 204
    missing = await hooks_api.client.get(f"{CLINIC}/webhooks/{endpoint_id}")
    assert missing.status_code == 404
    assert missing.json()["error"] == "webhook_not_found"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"url": "http://desk.example.com/h", "events": ["booking.created"]}, "https"),
        ({"url": "https://metadata.google.internal/x", "events": ["booking.created"]}, "meta"),
        ({"url": "https://u:p@desk.example.com/h", "events": ["booking.created"]}, "credent"),
        ({"url": "https://desk.example.com/h", "events": ["booking.eaten"]}, "events"),
        ({"url": "https://desk.example.com/h", "events": []}, "events"),
        ({"url": "not a url", "events": ["booking.created"]}, "url"),
    ],
)
async def test_bad_endpoints_are_422_with_the_reason(
    api: Any, body: dict[str, Any], reason: str
) -> None:
    response = await api.client.post(f"{CLINIC}/webhooks", json=body)
    assert response.status_code == 422, response.text
    assert reason in response.text


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://10.1.2.3/h", "private"),
        ("https://192.168.0.10/h", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[fd00:ec2::254]/h", "private"),
        ("https://[::ffff:10.0.0.1]/h", "private"),
        ("https://100.100.100.200/h", "not a public"),
        ("https://127.0.0.1/h", "loopback"),
        ("https://localhost/h", "loopback"),  # a name is checked on what it resolves to
        ("https://metadata.google.internal/h", "metadata"),
        ("https://metadata/h", "metadata"),
        ("http://93.184.215.14/h", "https"),
    ],
)
async def test_private_link_local_and_metadata_destinations_are_refused(
    url: str, reason: str
) -> None:
    with pytest.raises(RefusedDestinationError, match=reason):
        await resolve(url, OutboundPolicy())


async def test_an_allowlisted_network_and_dev_loopback_are_let_through() -> None:
    allowed = OutboundPolicy(allowed_networks=(ipaddress.ip_network("10.1.0.0/16"),))
    destination = await resolve("https://10.1.2.3:8443/h?x=1", allowed)
    assert destination.url() == "https://10.1.2.3:8443/h?x=1"
    with pytest.raises(RefusedDestinationError):
        await resolve("https://10.2.0.1/h", allowed)
    dev = await resolve("http://localhost:9/h", OutboundPolicy(insecure_loopback=True))
    assert dev.address.is_loopback
    assert dev.url().startswith(f"http://{dev.address}:9")  # connects to what was checked
    with pytest.raises(RefusedDestinationError, match="loopback"):
        await resolve("http://93.184.215.14/h", OutboundPolicy(insecure_loopback=True))


async def test_a_refused_destination_is_retried_then_dead_lettered_never_sent(
    hooks_api: Any, make_dispatcher: DispatcherFactory, receiver: Receiver
) -> None:
    """The check is made at delivery time: a receiver that is fine for the API (http in
    dev) but loopback for a dispatcher without the dev setting is refused."""
    await subscribe(hooks_api, receiver)
    receiver.up()
    await callback(hooks_api, "Ana")
    strict = make_dispatcher(horizon=0.0, insecure_loopback=False)
    await strict.run_once()
    (failed,) = (
        await hooks_api.client.get(f"{CLINIC}/webhooks/deliveries", params={"status": "failed"})
    ).json()["deliveries"]
    assert failed["last_error"].startswith("refused:")
    assert receiver.received == []


async def test_redirects_are_not_followed(
    hooks_api: Any, make_dispatcher: DispatcherFactory, receiver: Receiver
) -> None:
    redirect = Receiver(port=free_port())
    await subscribe(hooks_api, redirect)
    await callback(hooks_api, "Ana")

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(307)
            self.send_header("Location", receiver.url)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return

    receiver.up()
    server = ThreadingHTTPServer(("127.0.0.1", redirect.port), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        await make_dispatcher(horizon=0.0).run_once()
    finally:
        server.shutdown()
        server.server_close()
    (failed,) = (
        await hooks_api.client.get(f"{CLINIC}/webhooks/deliveries", params={"status": "failed"})
    ).json()["deliveries"]
    assert (failed["last_status_code"], failed["last_error"]) == (307, "redirect not followed")
    assert receiver.received == []


async def test_secrets_never_reach_the_logs(
    hooks_api: Any,
    make_dispatcher: DispatcherFactory,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await subscribe(hooks_api, receiver)
    receiver.up()
    await callback(hooks_api, "Ana")
    await make_dispatcher().run_once()
    assert receiver.received
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert receiver.secret not in logged
    assert receiver.secret.removeprefix("whsec_") not in logged


async def test_seeded_endpoints_take_their_secret_from_the_environment(
    api_factory: Any,
    clinic_document: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from scheduling_api.clinic_loader import ClinicConfigError
    from scheduling_api.domain.webhooks import new_secret

    clinic_document["webhooks"] = [
        {
            "endpoint_id": "front-desk",
            "url": "https://desk.example.com/hooks",
            "events": ["booking.created"],
            "secret_env": "TEST_FRONT_DESK_WEBHOOK_SECRET",
        }
    ]
    clinic = Clinic.model_validate(clinic_document)
    with pytest.raises(ClinicConfigError, match="TEST_FRONT_DESK_WEBHOOK_SECRET"):
        await api_factory(clinics={"test-clinic": clinic})
    monkeypatch.setenv("TEST_FRONT_DESK_WEBHOOK_SECRET", new_secret())
    served = await api_factory(clinics={"test-clinic": clinic})
    deadline = time.monotonic() + 10
    listed: list[dict[str, Any]] = []
    while not listed and time.monotonic() < deadline:
        listed = (await served.client.get(f"{CLINIC}/webhooks")).json()["webhooks"]
        await asyncio.sleep(0.05)
    assert [(e["endpoint_id"], e["seeded"]) for e in listed] == [("front-desk", True)]
    refused = await served.client.delete(f"{CLINIC}/webhooks/front-desk")
    assert refused.status_code == 409
    assert refused.json()["error"] == "webhook_seeded"
    profile = (await served.client.get(CLINIC)).json()
    assert "webhooks" not in profile


def test_the_dispatch_command_serves_metrics_and_delivers(
    services: Any, redis_url: str, process_env: dict[str, str], receiver: Receiver
) -> None:
    api = services.start(
        ["scheduling-api"],
        name="scheduling-api",
        env={**process_env, "WEBHOOKS_INSECURE_LOOPBACK": "true"},
    )
    headers = {"Authorization": f"Bearer {process_env['SCHEDULING_API_TOKENS'].split(',')[0]}"}
    clinic = f"{api.base_url}/v1/clinics/bright-smile"
    created = httpx.post(
        f"{clinic}/webhooks",
        json={"url": receiver.url, "events": ["callback.created"]},
        headers=headers,
    ).json()
    receiver.secret = created["secret"]
    receiver.up()
    metrics_port = free_port()
    services.start(
        ["scheduling-api", "dispatch"],
        name="dispatcher",
        env={
            "REDIS_URL": redis_url,
            "DISPATCH_METRICS_PORT": str(metrics_port),
            "DISPATCH_INSECURE_LOOPBACK": "true",
            "DISPATCH_POLL_SECONDS": "0.1",
        },
        port=metrics_port,
        ready_path="/metrics",
    )
    httpx.post(
        f"{clinic}/callbacks", json={"name": "Ana", "phone": "5125550199"}, headers=headers
    ).raise_for_status()
    deadline = time.monotonic() + 30
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [item.event_type for item in receiver.received] == ["callback.created"]
    metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
    assert 'scheduling_dispatch_deliveries_total{outcome="delivered"} 1.0' in metrics
    assert 'scheduling_dispatch_deliveries_total{outcome="dead_lettered"} 0.0' in metrics
    assert "scheduling_dispatch_oldest_undelivered_seconds" in metrics
    assert "scheduling_dispatch_dead_letters 0.0" in metrics
