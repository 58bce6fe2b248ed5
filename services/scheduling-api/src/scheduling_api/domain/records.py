"""Bookings and callback requests as the service stores and returns them."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel

from scheduling_api.domain.slot_ids import SlotRef


class BookingStatus(StrEnum):
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    RESCHEDULED = "rescheduled"


DEFAULT_SOURCE = "api"
"""A record's `source` when the client names none."""


def new_id(prefix: str) -> str:
    """A record id: `bk_…` for bookings, `cb_…` for callbacks; 80 random bits."""
    return f"{prefix}_{secrets.token_hex(10)}"


class CallbackStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class Patient(BaseModel):
    name: str
    phone: str
    email: str | None = None
    date_of_birth: date | None = None


class Booking(BaseModel):
    """One appointment. Never deleted: cancelling or rescheduling changes its status."""

    booking_id: str
    clinic_id: str
    status: BookingStatus
    start: datetime
    end: datetime
    provider_id: str
    provider_name: str
    appointment_type: str
    patient: Patient
    notes: str | None = None
    source: str
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    rescheduled_from: str | None = None
    rescheduled_to: str | None = None


IMMUTABLE_BOOKING_FIELDS = frozenset(
    {
        "booking_id",
        "clinic_id",
        "start",
        "end",
        "provider_id",
        "provider_name",
        "appointment_type",
        "patient",
        "notes",
        "source",
        "created_at",
        "rescheduled_from",
    }
)
"""Fields fixed at creation; the rest change atomically inside Redis."""


class Callback(BaseModel):
    """A caller's request to be phoned back by a person at the front desk."""

    callback_id: str
    clinic_id: str
    status: CallbackStatus
    name: str
    phone: str
    reason: str | None = None
    preferred_time: str | None = None
    source: str
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None


def booking_fingerprint(slot: SlotRef, patient: Patient, notes: str | None, source: str) -> str:
    """A digest of what a booking request means, to tell a replay from a reused key.

    Built from the cleaned values, so a retry that formats the phone differently is
    still the same request.
    """
    canonical = json.dumps(
        {
            "slot": [slot.clinic_id, slot.provider_id, slot.appointment_type_id, slot.start],
            "patient": patient.model_dump(mode="json"),
            "notes": notes,
            "source": source,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def reschedule_fingerprint(booking_id: str, slot: SlotRef) -> str:
    canonical = f"{booking_id}|{slot.provider_id}|{slot.appointment_type_id}|{slot.start}"
    return hashlib.sha256(canonical.encode()).hexdigest()
