"""The scheduling use cases: availability, booking, rescheduling, cancelling, callbacks.

This layer joins the pure domain (clinics, slot maths, signed slot ids) to the Redis
store and turns outcomes into `ServiceError`s with the contract's codes. It knows
nothing about HTTP requests beyond those codes, and takes "now" from an injected clock.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from scheduling_api.domain.clinic import AppointmentType, Clinic, Provider
from scheduling_api.domain.patients import (
    clean_name,
    clean_text,
    normalize_email,
    normalize_phone,
)
from scheduling_api.domain.records import (
    Booking,
    BookingStatus,
    Callback,
    CallbackStatus,
    Patient,
    booking_fingerprint,
    reschedule_fingerprint,
)
from scheduling_api.domain.slot_ids import InvalidSlotIdError, SlotIdSigner, SlotRef
from scheduling_api.domain.slots import (
    BusyCalendar,
    Interval,
    PartOfDay,
    Refusal,
    Slot,
    SlotQuery,
    day_span,
    earliest_bookable,
    find_slots,
    local_date,
    nearest_slots,
    slot_refusal,
)
from scheduling_api.errors import ServiceError, invalid_fields, not_found
from scheduling_api.metrics import BOOKINGS, CALLBACKS
from scheduling_api.store.redis_store import RedisStore, WriteOutcome

logger = logging.getLogger(__name__)

ALTERNATIVES_COUNT = 3
ALTERNATIVES_DAYS_AFTER = 7
SLOT_VIEW_CACHE_SIZE = 16_384
SLOT_MEMO_SIZE = 4_096
OLDEST_BIRTH_DATE = date(1900, 1, 1)
DEFAULT_SOURCE = "api"


@dataclass(frozen=True, slots=True)
class Availability:
    slots: tuple[Slot, ...]
    next_available: Slot | None


@dataclass(frozen=True, slots=True)
class _Search:
    """What an availability search depends on besides the window and the bookings."""

    clinic_id: str
    appointment_type_id: str
    provider_ids: tuple[str, ...]
    earliest_start: int
    part_of_day: PartOfDay | None


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


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


class Scheduler:
    def __init__(
        self,
        *,
        clinics: Mapping[str, Clinic],
        store: RedisStore,
        signer: SlotIdSigner,
        clock: Callable[[], datetime],
        min_notice_override: int | None = None,
    ) -> None:
        self.clinics = clinics
        self.store = store
        self._signer = signer
        self._clock = clock
        self._min_notice_override = min_notice_override
        # A slot's public form depends only on the slot and static configuration, and the
        # same near-future slots are shown again and again: render each once.
        self._slot_views = lru_cache(maxsize=SLOT_VIEW_CACHE_SIZE)(self._render_slot)
        self._slot_json = lru_cache(maxsize=SLOT_VIEW_CACHE_SIZE)(self._render_slot_json)
        self._slot_memo = lru_cache(maxsize=SLOT_MEMO_SIZE)(self._compute_free_slots)

    # -- lookups ------------------------------------------------------------------------

    def clinic(self, clinic_id: str) -> Clinic:
        clinic = self.clinics.get(clinic_id)
        if clinic is None:
            raise not_found("clinic", clinic_id)
        return clinic

    @staticmethod
    def appointment_type(clinic: Clinic, appointment_type_id: str) -> AppointmentType:
        found = clinic.appointment_types_by_id.get(appointment_type_id)
        if found is None:
            raise not_found("appointment_type", appointment_type_id)
        return found

    @staticmethod
    def provider(clinic: Clinic, provider_id: str) -> Provider:
        found = clinic.providers_by_id.get(provider_id)
        if found is None:
            raise not_found("provider", provider_id)
        return found

    def min_notice_minutes(self, clinic: Clinic) -> int:
        if self._min_notice_override is not None:
            return self._min_notice_override
        return clinic.booking_rules.min_notice_minutes

    def today(self, clinic: Clinic) -> date:
        return self._clock().astimezone(clinic.tz).date()

    def _earliest_start(self, clinic: Clinic) -> int:
        return earliest_bookable(self._clock(), self.min_notice_minutes(clinic))

    # -- availability -------------------------------------------------------------------

    async def availability(
        self,
        clinic: Clinic,
        *,
        appointment_type_id: str,
        start_date: date | None,
        days: int,
        provider_id: str | None,
        part_of_day: PartOfDay | None,
        limit: int,
    ) -> Availability:
        appointment_type = self.appointment_type(clinic, appointment_type_id)
        providers = self._providers_for(clinic, appointment_type, provider_id)
        today = self.today(clinic)
        first_day = start_date or today
        horizon = today + timedelta(days=clinic.booking_rules.max_days_ahead)
        if first_day < today:
            raise invalid_fields(
                ("start_date", f"{first_day} is in the past (today is {today} at the clinic)")
            )
        if first_day > horizon:
            raise invalid_fields(
                (
                    "start_date",
                    f"appointments can be booked at most {clinic.booking_rules.max_days_ahead}"
                    f" days ahead (until {horizon})",
                )
            )
        last_day = min(first_day + timedelta(days=days - 1), horizon)
        search = _Search(
            clinic.clinic_id,
            appointment_type.appointment_type_id,
            tuple(provider.provider_id for provider in providers),
            self._earliest_start(clinic),
            part_of_day,
        )
        slots = await self._free_slots(clinic, search, first_day, last_day, limit)
        if slots:
            return Availability(slots, slots[0])
        if last_day >= horizon:
            return Availability((), None)
        later = await self._free_slots(clinic, search, last_day + timedelta(days=1), horizon, 1)
        return Availability((), later[0] if later else None)

    async def _free_slots(
        self, clinic: Clinic, search: _Search, first_day: date, last_day: date, limit: int
    ) -> tuple[Slot, ...]:
        """Free slots in a window: the bookings are read from Redis every time, and the
        computation is memoised on everything it depends on, those bookings included."""
        busy = await self.store.busy_intervals(
            clinic.clinic_id, search.provider_ids, day_span(first_day, last_day, clinic.tz)
        )
        return self._slot_memo(search, first_day, last_day, limit, tuple(busy.items()))

    def _compute_free_slots(
        self,
        search: _Search,
        first_day: date,
        last_day: date,
        limit: int,
        busy: tuple[tuple[str, tuple[Interval, ...]], ...],
    ) -> tuple[Slot, ...]:
        clinic = self.clinics[search.clinic_id]
        query = SlotQuery(
            clinic,
            clinic.appointment_types_by_id[search.appointment_type_id],
            [clinic.providers_by_id[provider_id] for provider_id in search.provider_ids],
            search.earliest_start,
            search.part_of_day,
        )
        calendars = {provider_id: BusyCalendar(found) for provider_id, found in busy}
        return tuple(find_slots(query, first_day, last_day, calendars, limit))

    def _providers_for(
        self, clinic: Clinic, appointment_type: AppointmentType, provider_id: str | None
    ) -> list[Provider]:
        if provider_id is None:
            return clinic.providers_for(appointment_type.appointment_type_id)
        provider = self.provider(clinic, provider_id)
        if appointment_type.appointment_type_id not in provider.appointment_types:
            raise invalid_fields(
                (
                    "provider_id",
                    f"{provider.name} does not do {appointment_type.name.lower()} appointments",
                )
            )
        return [provider]

    async def _busy(
        self, clinic: Clinic, providers: Sequence[Provider], first_day: date, last_day: date
    ) -> dict[str, BusyCalendar]:
        intervals = await self.store.busy_intervals(
            clinic.clinic_id,
            tuple(provider.provider_id for provider in providers),
            day_span(first_day, last_day, clinic.tz),
        )
        return {provider_id: BusyCalendar(found) for provider_id, found in intervals.items()}

    def slot_view(self, clinic: Clinic, slot: Slot) -> dict[str, str]:
        """A slot as the API shows it, with its signed id (shared: do not modify)."""
        return self._slot_views(clinic.clinic_id, slot)

    def slot_json(self, clinic: Clinic, slot: Slot) -> str:
        """`slot_view` serialised as a JSON object."""
        return self._slot_json(clinic.clinic_id, slot)

    def _render_slot_json(self, clinic_id: str, slot: Slot) -> str:
        return json.dumps(self._slot_views(clinic_id, slot), separators=(",", ":"))

    def _render_slot(self, clinic_id: str, slot: Slot) -> dict[str, str]:
        clinic = self.clinics[clinic_id]
        tz = clinic.tz
        ref = SlotRef(clinic_id, slot.provider_id, slot.appointment_type_id, slot.start)
        return {
            "slot_id": self._signer.sign(ref),
            "start": datetime.fromtimestamp(slot.start, tz).isoformat(),
            "end": datetime.fromtimestamp(slot.end, tz).isoformat(),
            "provider_id": slot.provider_id,
            "provider_name": clinic.providers_by_id[slot.provider_id].name,
            "appointment_type": slot.appointment_type_id,
        }

    async def alternatives(
        self, clinic: Clinic, appointment_type: AppointmentType, target: int
    ) -> list[dict[str, str]]:
        """Up to three free slots of the type nearest to `target`, any provider."""
        today = self.today(clinic)
        target_day = local_date(target, clinic.tz)
        horizon = today + timedelta(days=clinic.booking_rules.max_days_ahead)
        first_day = max(today, target_day - timedelta(days=1))
        last_day = min(horizon, target_day + timedelta(days=ALTERNATIVES_DAYS_AFTER))
        if first_day > last_day:
            return []
        providers = clinic.providers_for(appointment_type.appointment_type_id)
        query = SlotQuery(clinic, appointment_type, providers, self._earliest_start(clinic))
        busy = await self._busy(clinic, providers, first_day, last_day)
        nearest = nearest_slots(query, first_day, last_day, busy, target, ALTERNATIVES_COUNT)
        return [self.slot_view(clinic, slot) for slot in nearest]

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
        if birth is not None and not OLDEST_BIRTH_DATE <= birth <= self.today(clinic):
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
            booking_id=_new_id("bk"),
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
            self._earliest_start(clinic),
        )

    async def _slot_not_bookable(
        self, clinic: Clinic, slot: _ResolvedSlot, outcome: WriteOutcome
    ) -> ServiceError:
        alternatives = await self.alternatives(clinic, slot.appointment_type, slot.ref.start)
        if outcome is WriteOutcome.SLOT_IN_PAST:
            return ServiceError(
                422,
                "slot_in_past",
                "That time has passed or is too soon to book; pick another slot.",
                alternatives=alternatives,
            )
        BOOKINGS.labels("conflict").inc()
        return ServiceError(
            409,
            "slot_unavailable",
            "That time is no longer free; here are the nearest free times.",
            alternatives=alternatives,
        )

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
        notes = _optional_text(notes)
        source = _optional_text(source) or DEFAULT_SOURCE
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
        if outcome in (
            WriteOutcome.CONFLICT,
            WriteOutcome.SLOT_UNAVAILABLE,
            WriteOutcome.SLOT_IN_PAST,
        ):
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
        reason = _optional_text(reason)
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
        if outcome in (
            WriteOutcome.CONFLICT,
            WriteOutcome.SLOT_UNAVAILABLE,
            WriteOutcome.SLOT_IN_PAST,
        ):
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

    # -- callbacks ----------------------------------------------------------------------

    async def request_callback(
        self,
        clinic: Clinic,
        *,
        name: str,
        phone: str,
        reason: str | None,
        preferred_time: str | None,
        source: str | None,
    ) -> Callback:
        problems: list[tuple[str, str]] = []
        try:
            name = clean_name(name)
        except ValueError as exc:
            problems.append(("name", str(exc)))
        try:
            phone = normalize_phone(phone, clinic.address.country)
        except ValueError as exc:
            problems.append(("phone", str(exc)))
        if problems:
            raise invalid_fields(*problems)
        now = self._clock()
        callback = Callback(
            callback_id=_new_id("cb"),
            clinic_id=clinic.clinic_id,
            status=CallbackStatus.OPEN,
            name=name,
            phone=phone,
            reason=_optional_text(reason),
            preferred_time=_optional_text(preferred_time),
            source=_optional_text(source) or DEFAULT_SOURCE,
            created_at=now,
            updated_at=now,
        )
        await self.store.create_callback(callback)
        CALLBACKS.inc()
        logger.info(
            "callback requested",
            extra={"clinic_id": clinic.clinic_id, "callback_id": callback.callback_id},
        )
        return callback

    async def list_callbacks(
        self, clinic: Clinic, *, status: CallbackStatus | None, limit: int
    ) -> list[Callback]:
        return await self.store.list_callbacks(clinic.clinic_id, status=status, limit=limit)

    async def resolve_callback(self, clinic: Clinic, callback_id: str) -> Callback:
        callback = await self.store.resolve_callback(
            clinic.clinic_id, callback_id, now=self._clock()
        )
        if callback is None:
            raise not_found("callback", callback_id)
        return callback


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


def _optional_text(value: str | None) -> str | None:
    """Cleaned free text, with blank treated as absent."""
    if value is None:
        return None
    return clean_text(value) or None


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
