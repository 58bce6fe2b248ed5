"""The service as a real process: durability across a Redis restart, startup checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

CLINIC = "/v1/clinics/bright-smile"
SCRIPT = str(Path(sys.executable).parent / "scheduling-api")


def first_slot(client: httpx.Client, type_id: str = "exam") -> dict[str, Any]:
    response = client.get(f"{CLINIC}/availability", params={"appointment_type": type_id})
    assert response.status_code == 200, response.text
    slot: dict[str, Any] = response.json()["slots"][0]
    return slot


def book(client: httpx.Client, slot_id: str, key: str, name: str = "Ana Ruiz") -> httpx.Response:
    return client.post(
        f"{CLINIC}/bookings",
        json={"slot_id": slot_id, "patient": {"name": name, "phone": "5125550177"}},
        headers={"Idempotency-Key": key},
    )


@pytest.mark.slow
def test_bookings_survive_a_redis_restart(
    private_redis: Any, services: Any, process_env: dict[str, str], auth_headers: dict[str, str]
) -> None:
    env = {**process_env, "REDIS_URL": private_redis.url}
    server = services.start(["scheduling-api"], name="scheduling-api", env=env)
    with httpx.Client(base_url=server.base_url, headers=auth_headers, timeout=10) as client:
        slot = first_slot(client)
        created = book(client, slot["slot_id"], key="durable-1")
        assert created.status_code == 201
        booking = created.json()
        other = book(client, first_slot(client)["slot_id"], key="durable-2", name="Ben Ode")
        cancelled = client.post(f"{CLINIC}/bookings/{other.json()['booking_id']}/cancel").json()

        private_redis.restart()  # AOF on: the fixture runs appendonly yes

        # The same process reconnects; the booking, its status and its index are intact.
        assert client.get(f"{CLINIC}/bookings/{booking['booking_id']}").json() == booking
        assert client.get(f"{CLINIC}/bookings/{cancelled['booking_id']}").json() == cancelled
        found = client.get(f"{CLINIC}/bookings", params={"phone": "(512) 555-0177"}).json()
        assert [b["booking_id"] for b in found["bookings"]] == [
            booking["booking_id"],
            cancelled["booking_id"],
        ]
        # The interval is still taken, and the idempotency record still answers.
        assert book(client, slot["slot_id"], key="durable-3", name="Cy").status_code == 409
        replay = book(client, slot["slot_id"], key="durable-1")
        assert replay.status_code == 201
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json() == booking
        assert client.get("/readyz").status_code == 200

    # A fresh process after the restart sees the same book.
    server.stop()
    fresh = services.start(["scheduling-api"], name="scheduling-api-2", env=env)
    with httpx.Client(base_url=fresh.base_url, headers=auth_headers, timeout=10) as client:
        assert client.get(f"{CLINIC}/bookings/{booking['booking_id']}").json() == booking
        assert first_slot(client)["start"] != slot["start"]


def test_readiness_follows_redis(
    private_redis: Any, services: Any, process_env: dict[str, str]
) -> None:
    server = services.start(
        ["scheduling-api"],
        name="scheduling-api",
        env={**process_env, "REDIS_URL": private_redis.url},
    )
    assert httpx.get(f"{server.base_url}/readyz").status_code == 200
    private_redis.stop()
    down = httpx.get(f"{server.base_url}/readyz", timeout=10)
    assert down.status_code == 503
    assert down.json()["status"] == "unavailable"
    assert httpx.get(f"{server.base_url}/healthz").status_code == 200
    private_redis.launch()
    assert httpx.get(f"{server.base_url}/readyz", timeout=10).status_code == 200


def run_script(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SCHEDULING_", "SLOT_"))}
    return subprocess.run(
        [SCRIPT],
        env={**clean, "PORT": "1", **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"SLOT_ID_SECRET": "x" * 32}, "SCHEDULING_API_TOKENS"),
        ({"SCHEDULING_API_TOKENS": "t"}, "SLOT_ID_SECRET"),
        ({"SCHEDULING_API_TOKENS": "t", "SLOT_ID_SECRET": "short"}, "SLOT_ID_SECRET"),
        ({"SCHEDULING_API_TOKENS": "t", "SLOT_ID_SECRET": "x" * 32, "PORT": "http"}, "port"),
    ],
)
def test_refuses_to_start_insecure_or_misconfigured(env: dict[str, str], complaint: str) -> None:
    result = run_script(env)
    assert result.returncode == 2, result.stderr
    assert complaint in result.stderr
    assert "x" * 32 not in result.stderr  # secrets are not echoed


def test_refuses_to_start_with_a_broken_clinic(tmp_path: Path) -> None:
    (tmp_path / "clinic.yaml").write_text("clinic_id: Not A Slug\n")
    result = run_script(
        {
            "SCHEDULING_API_TOKENS": "t",
            "SLOT_ID_SECRET": "x" * 32,
            "CLINICS_CONFIG": str(tmp_path),
        }
    )
    assert result.returncode == 2
    assert "clinic.yaml" in result.stderr
    assert "clinic_id" in result.stderr
