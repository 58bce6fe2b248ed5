"""HTTP clients for the stack's services: the scheduling API (seed and inspect the
appointment book), provider-sim (load the model script, read its state) and the worker's
Prometheus endpoint."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from call_sim.scenario import Patient, SeedBooking, SlotGrab

SOURCE = "call-sim"
CALL_RECORD_POLL_SECONDS = 0.25


class StackServiceError(RuntimeError):
    """A service answered with an error the simulator cannot work around."""


def _raise_for(response: httpx.Response, what: str) -> None:
    if response.status_code >= 400:
        raise StackServiceError(f"{what}: HTTP {response.status_code}: {response.text[:500]}")


class SchedulingApi:
    def __init__(self, base_url: str, token: str, clinic_id: str) -> None:
        self._base = f"{base_url.rstrip('/')}/v1/clinics/{clinic_id}"
        self._headers = {"Authorization": f"Bearer {token}"}

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(headers=self._headers, timeout=10.0)

    async def availability(
        self, appointment_type: str, *, part_of_day: str | None = None, days: int = 7
    ) -> list[dict[str, Any]]:
        params: dict[str, str | int] = {
            "appointment_type": appointment_type,
            "days": days,
            "limit": 100,
        }
        if part_of_day:
            params["part_of_day"] = part_of_day
        async with self._client() as client:
            response = await client.get(f"{self._base}/availability", params=params)
        _raise_for(response, f"availability of {appointment_type}")
        slots: list[dict[str, Any]] = response.json()["slots"]
        return slots

    async def book(self, slot_id: str, patient: Patient, *, key: str) -> dict[str, Any]:
        body = {
            "slot_id": slot_id,
            "patient": {"name": patient.name, "phone": patient.phone},
            "source": SOURCE,
        }
        async with self._client() as client:
            response = await client.post(
                f"{self._base}/bookings", json=body, headers={"Idempotency-Key": key}
            )
        _raise_for(response, "booking a slot")
        booking: dict[str, Any] = response.json()
        return booking

    async def seed(self, seed: SeedBooking, *, key: str) -> dict[str, Any]:
        """Book the earliest free slot that fits (for a call that changes a booking)."""
        slots = await self.availability(seed.appointment_type, part_of_day=seed.part_of_day)
        if not slots:
            raise StackServiceError(f"no free {seed.appointment_type} slot to seed a booking")
        return await self.book(slots[0]["slot_id"], seed.patient, key=key)

    async def take_earliest(self, grab: SlotGrab, *, key_prefix: str) -> list[dict[str, Any]]:
        """Book, for someone else, every free slot at the earliest time of the query."""
        slots = await self.availability(
            grab.appointment_type, part_of_day=grab.part_of_day, days=grab.days
        )
        if not slots:
            return []
        earliest = min(slot["start"] for slot in slots)
        taken = []
        for index, slot in enumerate(s for s in slots if s["start"] == earliest):
            taken.append(
                await self.book(slot["slot_id"], grab.patient, key=f"{key_prefix}-{index}")
            )
        return taken

    async def bookings_for(self, phone: str) -> list[dict[str, Any]]:
        async with self._client() as client:
            response = await client.get(f"{self._base}/bookings", params={"phone": phone})
        _raise_for(response, "listing bookings")
        bookings: list[dict[str, Any]] = response.json()["bookings"]
        return bookings

    async def callbacks_for(self, phone: str) -> list[dict[str, Any]]:
        async with self._client() as client:
            response = await client.get(f"{self._base}/callbacks")
        _raise_for(response, "listing callbacks")
        callbacks: list[dict[str, Any]] = response.json()["callbacks"]
        return [callback for callback in callbacks if callback.get("phone") == phone]

    async def call_record(self, call_id: str, *, wait_seconds: float) -> dict[str, Any] | None:
        """The record the worker stored for the call, once it is there (the worker posts it
        after the call, after the summary); None if it never came within `wait_seconds`."""
        deadline = time.monotonic() + wait_seconds
        async with self._client() as client:
            while True:
                try:
                    response = await client.get(f"{self._base}/calls/{call_id}")
                except httpx.TransportError:
                    response = None  # e.g. the API is still restarting after the call
                if response is not None and response.status_code != 404:
                    _raise_for(response, "reading the call record")
                    record: dict[str, Any] = response.json()
                    return record
                if time.monotonic() >= deadline:
                    return None
                await asyncio.sleep(CALL_RECORD_POLL_SECONDS)

    async def cancel(self, booking_id: str, reason: str) -> None:
        async with self._client() as client:
            response = await client.post(
                f"{self._base}/bookings/{booking_id}/cancel", json={"reason": reason}
            )
        _raise_for(response, "cancelling a booking")


class ProviderSim:
    def __init__(self, base_url: str) -> None:
        self._base = base_url.rstrip("/")

    async def load_script(self, script_yaml: str) -> None:
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.post(
                f"{self._base}/sim/scenario",
                content=script_yaml.encode(),
                headers={"Content-Type": "application/yaml"},
            )
        _raise_for(response, "provider-sim refused the model script")

    async def state(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.get(f"{self._base}/sim/state")
        _raise_for(response, "provider-sim state")
        state: dict[str, Any] = response.json()
        return state


async def scrape(url: str) -> str:
    async with httpx.AsyncClient(timeout=10.0) as client:
        response = await client.get(url)
    _raise_for(response, f"scraping {url}")
    return response.text
