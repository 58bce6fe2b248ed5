"""The appointment book's use cases: booking, rescheduling and cancelling.

This layer joins the pure domain (clinics, slot maths, signed slot ids) to the Redis
store and turns outcomes into `ServiceError`s with the contract's codes. It knows
nothing about HTTP requests beyond those codes, and takes "now" from an injected clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from scheduling_api.availability import AvailabilitySearch
from scheduling_api.domain.clinic import AppointmentType, Clinic, Provider
from scheduling_api.domain.patients import (
    clean_name,
    normalize_email,
    normalize_phone,
    optional_text,
)
from scheduling_api.domain.records import (
    DEFAULT_SOURCE,
    Booking,
    BookingStatus,
    Patient,
    booking_fingerprint,
    new_id,
    reschedule_fingerprint,
)
from scheduling_api.domain.slot_ids import InvalidSlotIdError, SlotIdSigner, SlotRef
from scheduling_api.domain.slots import (
    Refusal,
    Slot,
    slot_refusal,
)
from scheduling_api.errors import ServiceError, invalid_fields, not_found
from scheduling_api.metrics import BOOKINGS
from scheduling_api.store.redis_store import WriteOutcome

logger = logging.getLogger(__name__)

OLDEST_BIRTH_DATE = date(1900, 1, 1)
# a write refused for the slot itself: answered with the nearest free times
_SLOT_REFUSED = frozenset(
    {WriteOutcome.CONFLICT, WriteOutcome.SLOT_UNAVAILABLE, WriteOutcome.SLOT_IN_PAST}
)


class BookAnswer(StrEnum):
    """How a booking request was answered."""

    CREATED = "created"
    REPLAYED = "replayed"  # the same Idempotency-Key and request again
    ALREADY_BOOKED = "already_booked"  # the same patient already holds this slot and type


@dataclass(frozen=True, slots=True)
class PatientDetails:
    """A patient as typed or transcribed, before cleaning."""

    name: str
    phone: str
    email: str | None = None
    date_of_birth: date | None = None


@dataclass(frozen=True, slots=True)
class _ResolvedSlot:
    ref: SlotRef
    provider: Provider
    appointment_type: AppointmentType


class SlotNotBookableError(ServiceError):
    """A taken (409) or too-soon (422) slot, with the nearest free times, which the API
    renders (api/slot_views.py)."""

    def __init__(self, clinic_id: str, alternatives: tuple[Slot, ...], *, in_past: bool) -> None:
        if in_past:
            super().__init__(
                422,
                "slot_in_past",
                "That time has passed or is too soon to book; pick another slot.",
            )
        else:
            super().__init__(
                409,
                "slot_unavailable",
                "That time is no longer free; here are the nearest free times.",
            )
        self.clinic_id = clinic_id
        self.alternatives = alternatives


class Scheduler:
    """Changes to the appointment book, on the clinics and store the search reads."""

    def __init__(
        self, search: AvailabilitySearch, *, signer: SlotIdSigner, clock: Callable[[], datetime]
    ) -> None:
        self.search = search
        self.clinics = search.clinics
        self.store = search.store
        self._signer = signer
        self._clock = clock

    # -- lookups ------------------------------------------------------------------------

    def clinic(self, clinic_id: str) -> Clinic:
        clinic = self.clinics.get(clinic_id)
        if clinic is None:
            raise not_found("clinic", clinic_id)
        return clinic

    # -- bookings -----------------------------------------------------------------------

    def _resolve_slot(self, clinic: Clinic, slot_id: str) -> _ResolvedSlot:
        try:
            ref = self._signer.verify(slot_id)
        except InvalidSlotIdError as exc:
            raise ServiceError(422, "invalid_slot", str(exc)) from exc
        if ref.clinic_id != clinic.clinic_id:
            raise ServiceError(422, "invalid_slot", "slot_id belongs to another clinic")
        provider = clinic.providers_by_id.get(ref.provider_id)
        appointment_type = clinic.appointment_types_by_id.get(ref.appointment_type_id)
        if provider is None or appointment_type is None:
            raise ServiceError(
                422,
                "invalid_slot",
                "slot_id names a provider or appointment type the clinic no longer has",
            )
        return _ResolvedSlot(ref, provider, appointment_type)

    def clean_patient(self, clinic: Clinic, details: PatientDetails) -> Patient:
        """Normalised patient details, or a 422 naming every field that is wrong."""
        problems: list[tuple[str, str]] = []
        name = phone = email = ""
        try:
            name = clean_name(details.name)
        except ValueError as exc:
            problems.append(("patient.name", str(exc)))
        try:
            phone = normalize_phone(details.phone, clinic.address.country)
        except ValueError as exc:
            problems.append(("patient.phone", str(exc)))
        if details.email is not None:
            try:
                email = normalize_email(details.email)
            except ValueError as exc:
                problems.append(("patient.email", str(exc)))
        birth = details.date_of_birth
        if birth is not None and not OLDEST_BIRTH_DATE <= birth <= self.search.today(clinic):
            problems.append(("patient.date_of_birth", "must be a past date after 1900-01-01"))
        if problems:
            raise invalid_fields(*problems)
        return Patient(name=name, phone=phone, email=email or None, date_of_birth=birth)

    def _new_booking(
        self,
        clinic: Clinic,
        slot: _ResolvedSlot,
        *,
        patient: Patient,
        notes: str | None,
        source: str,
        rescheduled_from: str | None = None,
    ) -> Booking:
        now = self._clock()
        start = slot.ref.start
        end = start + slot.appointment_type.duration_minutes * 60
        return Booking(
            booking_id=new_id("bk"),
            clinic_id=clinic.clinic_id,
            status=BookingStatus.CONFIRMED,
            start=datetime.fromtimestamp(start, clinic.tz),
            end=datetime.fromtimestamp(end, clinic.tz),
            provider_id=slot.provider.provider_id,
            provider_name=slot.provider.name,
            appointment_type=slot.appointment_type.appointment_type_id,
            patient=patient,
            notes=notes,
            source=source,
            created_at=now,
            updated_at=now,
            rescheduled_from=rescheduled_from,
        )

    def _refusal(self, clinic: Clinic, slot: _ResolvedSlot) -> Refusal | None:
        return slot_refusal(
            clinic,
            slot.provider,
            slot.appointment_type,
            slot.ref.start,
            self.search.earliest_start(clinic),
        )

    async def _slot_not_bookable(
        self, clinic: Clinic, slot: _ResolvedSlot, outcome: WriteOutcome
    ) -> ServiceError:
        alternatives = await self.search.alternatives(clinic, slot.appointment_type, slot.ref.start)
        in_past = outcome is WriteOutcome.SLOT_IN_PAST
        if not in_past:
            BOOKINGS.labels("conflict").inc()
        return SlotNotBookableError(clinic.clinic_id, alternatives, in_past=in_past)

    async def book(
        self,
        clinic: Clinic,
        *,
        slot_id: str,
        patient: PatientDetails,
        notes: str | None,
        source: str | None,
        idempotency_key: str,
    ) -> tuple[Booking, BookAnswer]:
        """Book a slot; returns the booking and how the request was answered."""
        slot = self._resolve_slot(clinic, slot_id)
        cleaned = self.clean_patient(clinic, patient)
        notes = optional_text(notes)
        source = optional_text(source) or DEFAULT_SOURCE
        booking = self._new_booking(clinic, slot, patient=cleaned, notes=notes, source=source)
        write = await self.store.create_booking(
            booking,
            idempotency_key=idempotency_key,
            fingerprint=booking_fingerprint(slot.ref, cleaned, notes, source),
            refusal=self._refusal(clinic, slot),
        )
        outcome = write.outcome
        if outcome is WriteOutcome.CREATED:
            BOOKINGS.labels("created").inc()
            self._log("booking created", booking)
            return booking, BookAnswer.CREATED
        if outcome is WriteOutcome.REPLAYED and write.booking is not None:
            BOOKINGS.labels("idempotent_replay").inc()
            return write.booking, BookAnswer.REPLAYED
        if outcome is WriteOutcome.KEY_REUSED:
            raise _key_reused()
        if outcome is WriteOutcome.CONFLICT and _holds(write.booking, booking):
            assert write.booking is not None
            BOOKINGS.labels("already_booked").inc()
            return write.booking, BookAnswer.ALREADY_BOOKED
        if outcome in _SLOT_REFUSED:
            raise await self._slot_not_bookable(clinic, slot, outcome)
        raise RuntimeError(f"unexpected booking outcome {outcome}")

    async def get_booking(self, clinic: Clinic, booking_id: str) -> Booking:
        booking = await self.store.get_booking(clinic.clinic_id, booking_id)
        if booking is None:
            raise not_found("booking", booking_id)
        return booking

    async def list_bookings(
        self,
        clinic: Clinic,
        *,
        phone: str | None,
        day: date | None,
        status: BookingStatus | None,
        limit: int,
    ) -> list[Booking]:
        normalised: str | None = None
        if phone is not None:
            try:
                normalised = normalize_phone(phone, clinic.address.country)
            except ValueError as exc:
                raise invalid_fields(("phone", str(exc))) from exc
        return await self.store.list_bookings(
            clinic.clinic_id, phone=normalised, day=day, status=status, limit=limit
        )

    async def cancel(self, clinic: Clinic, booking_id: str, *, reason: str | None) -> Booking:
        booking = await self.get_booking(clinic, booking_id)
        reason = optional_text(reason)
        write = await self.store.cancel_booking(booking, reason=reason, now=self._clock())
        if write.outcome is WriteOutcome.NOT_FOUND or write.booking is None:
            raise not_found("booking", booking_id)
        if write.outcome is WriteOutcome.NOT_ACTIVE:
            raise _not_active(write.booking, "cancelled")
        if write.outcome is WriteOutcome.CANCELLED:
            BOOKINGS.labels("cancelled").inc()
            self._log("booking cancelled", write.booking)
        return write.booking

    async def reschedule(
        self,
        clinic: Clinic,
        booking_id: str,
        *,
        slot_id: str,
        idempotency_key: str | None,
    ) -> Booking:
        old = await self.get_booking(clinic, booking_id)
        slot = self._resolve_slot(clinic, slot_id)
        if slot.appointment_type.appointment_type_id != old.appointment_type:
            raise ServiceError(
                422,
                "invalid_slot",
                f"slot_id is for a {slot.appointment_type.appointment_type_id} appointment but "
                f"the booking is a {old.appointment_type}; book a new appointment instead",
            )
        new = self._new_booking(
            clinic,
            slot,
            patient=old.patient,
            notes=old.notes,
            source=old.source,
            rescheduled_from=old.booking_id,
        )
        write = await self.store.reschedule_booking(
            old,
            new,
            idempotency_key=idempotency_key,
            fingerprint=reschedule_fingerprint(old.booking_id, slot.ref),
            refusal=self._refusal(clinic, slot),
        )
        outcome = write.outcome
        if outcome is WriteOutcome.RESCHEDULED:
            BOOKINGS.labels("rescheduled").inc()
            self._log("booking rescheduled", new)
            return new
        if outcome is WriteOutcome.REPLAYED and write.booking is not None:
            BOOKINGS.labels("idempotent_replay").inc()
            return write.booking
        if outcome is WriteOutcome.KEY_REUSED:
            raise _key_reused()
        if outcome is WriteOutcome.NOT_FOUND:
            raise not_found("booking", booking_id)
        if outcome is WriteOutcome.NOT_ACTIVE:
            raise _not_active(await self.get_booking(clinic, booking_id), "moved")
        if outcome in _SLOT_REFUSED:
            raise await self._slot_not_bookable(clinic, slot, outcome)
        raise RuntimeError(f"unexpected reschedule outcome {outcome}")

    @staticmethod
    def _log(event: str, booking: Booking) -> None:
        logger.info(
            event,
            extra={
                "clinic_id": booking.clinic_id,
                "booking_id": booking.booking_id,
                "provider_id": booking.provider_id,
                "appointment_type": booking.appointment_type,
                "start": booking.start.isoformat(),
            },
        )


def _holds(existing: Booking | None, wanted: Booking) -> bool:
    """Whether `existing` (holding exactly `wanted`'s interval with the same provider) is
    the same patient's confirmed booking of the same type: the request is already done."""
    return (
        existing is not None
        and existing.status is BookingStatus.CONFIRMED
        and existing.appointment_type == wanted.appointment_type
        and existing.patient.phone == wanted.patient.phone
        and existing.patient.name.casefold() == wanted.patient.name.casefold()
    )


def _key_reused() -> ServiceError:
    return ServiceError(
        422,
        "idempotency_key_reused",
        "This Idempotency-Key was already used with a different request body; "
        "use a new key for a new request.",
    )


def _not_active(booking: Booking, verb: str) -> ServiceError:
    extra: dict[str, Any] = {"booking_id": booking.booking_id, "status": booking.status}
    if booking.rescheduled_to:
        extra["rescheduled_to"] = booking.rescheduled_to
    return ServiceError(
        409,
        "booking_not_active",
        f"Booking {booking.booking_id} is {booking.status}; only a confirmed booking can be "
        f"{verb}.",
        **extra,
    )
