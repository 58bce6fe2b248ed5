"""Reads each clinic's phone line from the scheduling API, the one place clinics are defined."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from .plan import PhoneLine


class ClinicSourceError(Exception):
    """The clinics could not be read; the message says what to check."""


async def read_phone_lines(
    base_url: str, token: str, *, wait_seconds: float, request_seconds: float = 10.0
) -> list[PhoneLine]:
    """Every clinic that has a phone line, with its inbound numbers.

    Waits up to `wait_seconds` for the API to answer at all (connection refused, 503),
    because a deploy hook can start before the API's pods are ready.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, timeout=request_seconds
    ) as client:
        listing = await _get_when_up(client, "/v1/clinics", wait_seconds)
        lines: list[PhoneLine] = []
        for entry in listing.get("clinics", []):
            clinic_id = str(entry["clinic_id"])
            profile = _json(await client.get(f"/v1/clinics/{clinic_id}"), clinic_id)
            phone_line = profile.get("phone_line") or {}
            numbers = tuple(str(number) for number in phone_line.get("inbound_numbers", []))
            if numbers:
                lines.append(PhoneLine(clinic_id, numbers))
        return lines


async def _get_when_up(client: httpx.AsyncClient, path: str, wait_seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            response = await client.get(path)
            if response.status_code != 503:
                return _json(response, "list")
            problem = "answered 503 (not ready)"
        except httpx.TransportError as exc:
            problem = f"is unreachable ({type(exc).__name__})"
        if time.monotonic() >= deadline:
            raise ClinicSourceError(
                f"the scheduling API at {client.base_url} {problem}; check SCHEDULING_API_URL "
                "and that the API is running"
            )
        await asyncio.sleep(1.0)


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code in (401, 403):
        raise ClinicSourceError(
            f"the scheduling API refused the clinic {what} ({response.status_code}): "
            "check SCHEDULING_API_TOKEN"
        )
    if response.status_code != 200:
        raise ClinicSourceError(
            f"the scheduling API answered {response.status_code} for clinic {what}: "
            f"{response.text[:200]}"
        )
    document = response.json()
    if not isinstance(document, dict):
        raise ClinicSourceError(f"the scheduling API sent a {type(document).__name__} for {what}")
    return document
