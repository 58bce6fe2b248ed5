"""Adapter for the scheduling API (contract v1) over one shared `httpx.AsyncClient`.

Short timeouts keep the caller from waiting in silence; bounded retries with backoff ride
out a pod restart. A refused connection (nothing listening) gets only one quick retry: it
will not heal within the backoff, and every retry is dead air on the call. A booking retry
re-sends the *same* Idempotency-Key, so a retry after a lost response can never create a
second booking. API errors become typed exceptions the agent turns into sentences the model
can act on.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from .resources import Availability, Booking, CallbackRequest, ClinicProfile, Slot

logger = logging.getLogger(__name__)

_RETRYABLE_STATUS = frozenset({500, 502, 503, 504})


class SchedulingError(Exception):
    """Base class of every failure talking to the scheduling API."""


class SchedulingUnavailable(SchedulingError):  # noqa: N818 - a state, not an "error" noun
    """The API could not be reached or kept failing (after retries)."""


class SlotUnavailable(SchedulingError):  # noqa: N818
    """The slot was taken meanwhile, or (`too_soon`) slipped inside the minimum notice;
    `alternatives` are the API's nearest free slots."""

    def __init__(self, message: str, alternatives: list[Slot], *, too_soon: bool = False) -> None:
        super().__init__(message)
        self.alternatives = alternatives
        self.too_soon = too_soon


class InvalidSlot(SchedulingError):  # noqa: N818
    """The slot id is forged or belongs to another clinic."""


class NotFound(SchedulingError):  # noqa: N818
    """The clinic, booking or other resource does not exist."""


class BookingNotActive(SchedulingError):  # noqa: N818
    """The booking was already cancelled or rescheduled."""


class RequestRejected(SchedulingError):  # noqa: N818
    """Any other 4xx: the API's own message says why."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(f"{status_code} {code}: {message}")
        self.status_code = status_code
        self.code = code


@dataclass(frozen=True)
class BookingOutcome:
    """A booking request's answer: the booking, and whether the patient already held it
    (the API's 200 `Already-Booked: true`) rather than it being created now."""

    booking: Booking
    already_booked: bool


def new_idempotency_key() -> str:
    return f"voice-{uuid.uuid4().hex}"


class SchedulingClient:
    """One instance per job process: it owns the process's single HTTP connection pool."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_seconds: float = 2.0,
        max_attempts: int = 3,
        backoff_seconds: float = 0.2,
        refused_max_attempts: int = 2,
        refused_retry_seconds: float = 0.05,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport,
        )
        self._max_attempts = max_attempts
        self._backoff_seconds = backoff_seconds
        self._refused_max_attempts = refused_max_attempts
        self._refused_retry_seconds = refused_retry_seconds

    async def aclose(self) -> None:
        await self._http.aclose()

    async def list_clinic_ids(self) -> list[str]:
        body = await self._request("GET", "/v1/clinics")
        return [str(entry["clinic_id"]) for entry in body.get("clinics", [])]

    async def get_clinic(self, clinic_id: str) -> ClinicProfile:
        body = await self._request("GET", f"/v1/clinics/{clinic_id}")
        return ClinicProfile.model_validate(body)

    async def availability(
        self,
        clinic_id: str,
        *,
        appointment_type: str,
        start_date: str | None = None,
        days: int | None = None,
        part_of_day: str | None = None,
        provider_id: str | None = None,
        limit: int | None = None,
    ) -> Availability:
        params: dict[str, str | int] = {"appointment_type": appointment_type}
        optional: dict[str, str | int | None] = {
            "start_date": start_date,
            "days": days,
            "part_of_day": part_of_day,
            "provider_id": provider_id,
            "limit": limit,
        }
        params.update({k: v for k, v in optional.items() if v is not None})
        body = await self._request("GET", f"/v1/clinics/{clinic_id}/availability", params=params)
        return Availability.model_validate(body)

    async def create_booking(
        self,
        clinic_id: str,
        *,
        slot_id: str,
        patient_name: str,
        patient_phone: str,
        idempotency_key: str,
        notes: str | None = None,
    ) -> BookingOutcome:
        payload: dict[str, Any] = {
            "slot_id": slot_id,
            "patient": {"name": patient_name, "phone": patient_phone},
            "source": "voice-agent",
        }
        if notes:
            payload["notes"] = notes
        headers: dict[str, str] = {}
        body = await self._request(
            "POST",
            f"/v1/clinics/{clinic_id}/bookings",
            json=payload,
            headers={"Idempotency-Key": idempotency_key},
            retry_after_send=True,
            response_headers=headers,
        )
        already = headers.get("already-booked", "").lower() == "true"
        return BookingOutcome(Booking.model_validate(body), already_booked=already)

    async def find_bookings(
        self, clinic_id: str, *, phone: str, status: str | None = "confirmed"
    ) -> list[Booking]:
        params = {"phone": phone} | ({"status": status} if status else {})
        body = await self._request("GET", f"/v1/clinics/{clinic_id}/bookings", params=params)
        return [Booking.model_validate(item) for item in body.get("bookings", [])]

    async def cancel_booking(
        self, clinic_id: str, booking_id: str, *, reason: str | None = None
    ) -> Booking:
        body = await self._request(
            "POST",
            f"/v1/clinics/{clinic_id}/bookings/{booking_id}/cancel",
            json={"reason": reason} if reason else {},
            retry_after_send=True,  # cancelling twice returns the same cancelled booking
        )
        return Booking.model_validate(body)

    async def reschedule_booking(
        self, clinic_id: str, booking_id: str, *, slot_id: str, idempotency_key: str
    ) -> Booking:
        body = await self._request(
            "POST",
            f"/v1/clinics/{clinic_id}/bookings/{booking_id}/reschedule",
            json={"slot_id": slot_id},
            headers={"Idempotency-Key": idempotency_key},
            retry_after_send=True,
        )
        return Booking.model_validate(body)

    async def request_callback(
        self,
        clinic_id: str,
        *,
        name: str,
        phone: str,
        reason: str | None = None,
        preferred_time: str | None = None,
    ) -> CallbackRequest:
        payload: dict[str, Any] = {"name": name, "phone": phone, "source": "voice-agent"}
        if reason:
            payload["reason"] = reason
        if preferred_time:
            payload["preferred_time"] = preferred_time
        # no idempotency on callbacks: only retry when the request surely never arrived
        body = await self._request(
            "POST", f"/v1/clinics/{clinic_id}/callbacks", json=payload, retry_after_send=False
        )
        return CallbackRequest.model_validate(body)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        retry_after_send: bool | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Send with bounded retries; GETs and idempotent POSTs retry on any transport
        error or 5xx, other requests only when the connection was never made."""
        safe_to_resend = method == "GET" if retry_after_send is None else retry_after_send
        last_problem = "no attempt made"
        refusals = 0
        for attempt in range(1, self._max_attempts + 1):
            refused = False
            try:
                response = await self._http.request(
                    method, path, params=params, json=json, headers=headers
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                last_problem = type(exc).__name__
                refused = _connection_refused(exc)
            except httpx.TransportError as exc:
                last_problem = type(exc).__name__
                if not safe_to_resend:
                    break
            else:
                if response.status_code not in _RETRYABLE_STATUS:
                    if response_headers is not None:
                        response_headers.update((k.lower(), v) for k, v in response.headers.items())
                    return _parse(response)
                last_problem = f"HTTP {response.status_code}"
                if not safe_to_resend:
                    break
            if refused:
                refusals += 1
                last_problem = "connection refused"
                if refusals >= self._refused_max_attempts:
                    break
                delay = self._refused_retry_seconds
            else:
                delay = self._backoff_seconds * 2 ** (attempt - 1)
            if attempt < self._max_attempts:
                logger.warning(
                    "scheduling api attempt failed, retrying",
                    extra={"attempt": attempt, "problem": last_problem, "method": method},
                )
                await asyncio.sleep(delay)
        raise SchedulingUnavailable(f"scheduling api unavailable: {last_problem}")


def _connection_refused(exc: BaseException) -> bool:
    """Whether nothing was listening: a ConnectionRefusedError somewhere in the cause chain
    (httpx wraps httpcore, which wraps the socket error)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, ConnectionRefusedError):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def _parse(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.is_success:
        return body
    code = str(body.get("error", ""))
    message = str(body.get("message", response.reason_phrase))
    if code in ("slot_unavailable", "slot_in_past"):
        alternatives = [Slot.model_validate(s) for s in body.get("alternatives") or []]
        raise SlotUnavailable(message, alternatives, too_soon=code == "slot_in_past")
    if response.status_code == 409 and code == "booking_not_active":
        raise BookingNotActive(message)
    if code == "invalid_slot":
        raise InvalidSlot(message)
    if response.status_code == 404:
        raise NotFound(message)
    if response.status_code in (401, 403):
        # a misconfigured token is an outage from the caller's point of view
        raise SchedulingUnavailable(f"scheduling api rejected our credentials: {code}")
    raise RequestRejected(response.status_code, code, message)
