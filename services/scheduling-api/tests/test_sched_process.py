"""The service as a real process: durability across a Redis restart, startup checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from call_sim.stack import SchedulingBook

SCRIPT = str(Path(sys.executable).parent / "scheduling-api")
PHONE = "5125550177"


def first_slot(book: SchedulingBook) -> dict[str, Any]:
    return book.slots("exam")[0]


@pytest.mark.slow
def test_bookings_survive_a_redis_restart(
    private_redis: Any, services: Any, process_env: dict[str, str], auth_headers: dict[str, str]
) -> None:
    env = {**process_env, "REDIS_URL": private_redis.url}
    token = auth_headers["Authorization"].removeprefix("Bearer ")
    server = services.start(["scheduling-api"], name="scheduling-api", env=env)
    with SchedulingBook(server.base_url, token, timeout=10) as api:
        slot = first_slot(api)
        booking = api.book(slot["slot_id"], "Ana Ruiz", PHONE, key="durable-1")
        other = api.book(first_slot(api)["slot_id"], "Ben Ode", PHONE, key="durable-2")
        cancelled = api.post(f"bookings/{other['booking_id']}/cancel", {}).json()

        private_redis.restart()  # AOF on: the fixture runs appendonly yes

        # The same process reconnects; the booking, its status and its index are intact.
        assert api.get(f"bookings/{booking['booking_id']}") == booking
        assert api.get(f"bookings/{cancelled['booking_id']}") == cancelled
        assert [b["booking_id"] for b in api.bookings("(512) 555-0177")] == [
            booking["booking_id"],
            cancelled["booking_id"],
        ]
        # The interval is still taken, and the idempotency record still answers.
        assert api.try_booking(slot["slot_id"], "Cy", PHONE, key="durable-3").status_code == 409
        replay = api.try_booking(slot["slot_id"], "Ana Ruiz", PHONE, key="durable-1")
        assert replay.status_code == 201
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json() == booking
        assert api.http.get("/readyz").status_code == 200

    # A fresh process after the restart sees the same book.
    server.stop()
    fresh = services.start(["scheduling-api"], name="scheduling-api-2", env=env)
    with SchedulingBook(fresh.base_url, token, timeout=10) as api:
        assert api.get(f"bookings/{booking['booking_id']}") == booking
        assert first_slot(api)["start"] != slot["start"]


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
