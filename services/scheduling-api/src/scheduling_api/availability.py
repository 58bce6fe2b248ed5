"""The free-slot search (availability, and the nearest free times to a taken one).

Every cache on the availability path is listed here, so one reader sees them all (all
but the store's are sized here too). None can serve a stale answer:
- busy intervals (store/redis_store.py, at most `AVAILABILITY_CACHE_SECONDS` old):
  dropped through the change feed on every write to the book;
- free slots (below): keyed on everything the search depends on, the bookings read from
  Redis included;
- slot views and slot JSON (api/slot_views.py): a slot's public form depends only on the
  slot and the clinic configuration, which is fixed at start-up;
- availability answers (api/slot_views.py): the whole body, keyed on the slots in it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from scheduling_api.domain.clinic import AppointmentType, Clinic, Provider
from scheduling_api.domain.slots import (
    BusyCalendar,
    Interval,
    PartOfDay,
    Slot,
    SlotQuery,
    day_span,
    earliest_bookable,
    find_slots,
    local_date,
    nearest_slots,
)
from scheduling_api.errors import invalid_fields, not_found
from scheduling_api.store.redis_store import RedisStore

FREE_SLOTS_CACHE_SIZE = 4_096
SLOT_VIEWS_CACHE_SIZE = 16_384
ANSWERS_CACHE_SIZE = 1_024
ALTERNATIVES_COUNT = 3
ALTERNATIVES_DAYS_AFTER = 7


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


class AvailabilitySearch:
    def __init__(
        self,
        *,
        clinics: Mapping[str, Clinic],
        store: RedisStore,
        clock: Callable[[], datetime],
        min_notice_override: int | None = None,
    ) -> None:
        self.clinics = clinics
        self.store = store
        self._clock = clock
        self._min_notice_override = min_notice_override
        self._free_slots_memo = lru_cache(maxsize=FREE_SLOTS_CACHE_SIZE)(self._compute_free_slots)

    def today(self, clinic: Clinic) -> date:
        return self._clock().astimezone(clinic.tz).date()

    def earliest_start(self, clinic: Clinic) -> int:
        """The first bookable minute: now plus the clinic's (or the override's) notice."""
        notice = self._min_notice_override
        if notice is None:
            notice = clinic.booking_rules.min_notice_minutes
        return earliest_bookable(self._clock(), notice)

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
        appointment_type = clinic.appointment_types_by_id.get(appointment_type_id)
        if appointment_type is None:
            raise not_found("appointment_type", appointment_type_id)
        providers = _providers_for(clinic, appointment_type, provider_id)
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
            self.earliest_start(clinic),
            part_of_day,
        )
        slots = await self._free_slots(clinic, search, first_day, last_day, limit)
        if slots:
            return Availability(slots, slots[0])
        if last_day >= horizon:
            return Availability((), None)
        later = await self._free_slots(clinic, search, last_day + timedelta(days=1), horizon, 1)
        return Availability((), later[0] if later else None)

    async def alternatives(
        self, clinic: Clinic, appointment_type: AppointmentType, target: int
    ) -> tuple[Slot, ...]:
        """Up to three free slots of the type nearest to `target`, any provider."""
        today = self.today(clinic)
        target_day = local_date(target, clinic.tz)
        horizon = today + timedelta(days=clinic.booking_rules.max_days_ahead)
        first_day = max(today, target_day - timedelta(days=1))
        last_day = min(horizon, target_day + timedelta(days=ALTERNATIVES_DAYS_AFTER))
        if first_day > last_day:
            return ()
        providers = clinic.providers_for(appointment_type.appointment_type_id)
        query = SlotQuery(clinic, appointment_type, providers, self.earliest_start(clinic))
        intervals = await self.store.busy_intervals(
            clinic.clinic_id,
            tuple(provider.provider_id for provider in providers),
            day_span(first_day, last_day, clinic.tz),
        )
        busy = {provider_id: BusyCalendar(found) for provider_id, found in intervals.items()}
        return tuple(nearest_slots(query, first_day, last_day, busy, target, ALTERNATIVES_COUNT))

    async def _free_slots(
        self, clinic: Clinic, search: _Search, first_day: date, last_day: date, limit: int
    ) -> tuple[Slot, ...]:
        """Free slots in a window: the bookings are read from Redis every time, and the
        computation is memoised on everything it depends on, those bookings included."""
        busy = await self.store.busy_intervals(
            clinic.clinic_id, search.provider_ids, day_span(first_day, last_day, clinic.tz)
        )
        return self._free_slots_memo(search, first_day, last_day, limit, tuple(busy.items()))

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
    clinic: Clinic, appointment_type: AppointmentType, provider_id: str | None
) -> list[Provider]:
    if provider_id is None:
        return clinic.providers_for(appointment_type.appointment_type_id)
    provider = clinic.providers_by_id.get(provider_id)
    if provider is None:
        raise not_found("provider", provider_id)
    if appointment_type.appointment_type_id not in provider.appointment_types:
        raise invalid_fields(
            (
                "provider_id",
                f"{provider.name} does not do {appointment_type.name.lower()} appointments",
            )
        )
    return [provider]
