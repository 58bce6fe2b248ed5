"""The scheduling API from outside: what its process needs, and the test-side client that
arranges and inspects one clinic's book.

Synchronous on purpose: tests call it between the steps of a call, outside the event loop
the receptionist runs in. call-sim's own async client is `call_sim.clients.SchedulingApi`.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx


def scheduling_api_env(
    redis_url: str, tokens: str, slot_secret: str | None = None, **extra: str
) -> dict[str, str]:
    """The environment a scheduling-api process needs: its Redis, the bearer tokens it
    accepts (comma-separated) and the secret its slot ids are signed with."""
    return {
        "REDIS_URL": redis_url,
        "SCHEDULING_API_TOKENS": tokens,
        "SLOT_ID_SECRET": slot_secret or secrets.token_urlsafe(32),
        **extra,
    }


class SchedulingBook:
    """One clinic's appointment book over HTTP, with a bearer token."""

    def __init__(
        self, base_url: str, token: str, clinic_id: str = "bright-smile", timeout: float = 5.0
    ) -> None:
        self.base_url = base_url
        self.clinic_id = clinic_id
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )

    def __enter__(self) -> SchedulingBook:
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()

    @property
    def clinic_path(self) -> str:
        return f"/v1/clinics/{self.clinic_id}"

    def get(self, path: str, **params: Any) -> Any:
        """The JSON of a successful GET of `path` (absolute, or relative to the clinic)."""
        response = self.http.get(self._path(path), params=params)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return self.http.post(self._path(path), json=body, headers=headers)

    def _path(self, path: str) -> str:
        return path if path.startswith("/") else f"{self.clinic_path}/{path}"

    def slots(self, appointment_type: str, days: int = 14) -> list[dict[str, Any]]:
        body = self.get("availability", appointment_type=appointment_type, days=days, limit=100)
        slots: list[dict[str, Any]] = body["slots"]
        return slots

    def try_booking(self, slot_id: str, name: str, phone: str, key: str) -> httpx.Response:
        """The API's answer to booking `slot_id` for a patient, whatever it is."""
        patient = {"name": name, "phone": phone}
        return self.post(
            "bookings", {"slot_id": slot_id, "patient": patient}, **{"Idempotency-Key": key}
        )

    def book(self, slot_id: str, name: str, phone: str, key: str) -> dict[str, Any]:
        """Book `slot_id` for a patient, as another caller would; must succeed."""
        response = self.try_booking(slot_id, name, phone, key)
        assert response.status_code in (200, 201), response.text
        booking: dict[str, Any] = response.json()
        return booking

    def seed(
        self, appointment_type: str, phone: str, key: str, name: str = "Maria Garcia"
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The first free slot of a type and its booking for a patient who called before."""
        slot = self.slots(appointment_type)[0]
        return slot, self.book(slot["slot_id"], name, phone, key)

    def bookings(self, phone: str, status: str | None = None) -> list[dict[str, Any]]:
        params = {"phone": phone} | ({"status": status} if status else {})
        bookings: list[dict[str, Any]] = self.get("bookings", **params)["bookings"]
        return bookings
