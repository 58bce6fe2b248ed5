"""Free time: provider working hours − breaks − holidays − bookings − the past.

Everything here is pure: the caller passes the clinic, the bookings already fetched from
the store and "now". Times are handled as integer epoch seconds (absolute instants), so a
DST change in the clinic's timezone simply makes a working range one hour shorter or
longer; local wall-clock times appear only where the clinic's hours are read.

Slots start on a grid of `booking_rules.slot_granularity_minutes` (30 by default) counted
from the start of each working range, and a slot is free when its whole interval misses
every booked interval of its provider (a 60-minute booking at 10:00 blocks a 30-minute
slot at 10:30).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import NamedTuple
from zoneinfo import ZoneInfo

from scheduling_api.domain.clinic import AppointmentType, Clinic, Provider

Interval = tuple[int, int]
"""[start, end) in epoch seconds."""


class PartOfDay(StrEnum):
    MORNING = "morning"
    AFTERNOON = "afternoon"
    EVENING = "evening"

    @classmethod
    def of_hour(cls, local_hour: int) -> PartOfDay:
        if local_hour < 12:
            return cls.MORNING
        if local_hour < 17:
            return cls.AFTERNOON
        return cls.EVENING


class Refusal(StrEnum):
    """Why a slot id that verified correctly can still not be booked."""

    SLOT_IN_PAST = "slot_in_past"
    SLOT_UNAVAILABLE = "slot_unavailable"


class Slot(NamedTuple):
    """A free interval of one provider for one appointment type.

    A named tuple rather than a dataclass: slots are cache keys on the hot path, and a
    tuple hashes in C.
    """

    provider_id: str
    appointment_type_id: str
    start: int
    end: int


class BusyCalendar:
    """One provider's booked intervals, merged and sorted for fast overlap queries."""

    __slots__ = ("_ends", "_starts")

    def __init__(self, intervals: Iterable[Interval] = ()) -> None:
        merged: list[list[int]] = []
        for start, end in sorted(intervals):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self._starts = [start for start, _ in merged]
        self._ends = [end for _, end in merged]

    def overlaps(self, start: int, end: int) -> bool:
        """True when [start, end) shares any instant with a booked interval."""
        before = bisect.bisect_left(self._starts, end) - 1
        return before >= 0 and self._ends[before] > start


EMPTY_CALENDAR = BusyCalendar()


def local_instant(day: date, clock_time: time, tz: ZoneInfo) -> int:
    """Epoch seconds of a wall-clock time on a clinic-local day.

    A time that does not exist (skipped by a spring-forward) resolves with the offset in
    force before the change, i.e. one hour later on the new clock; an ambiguous time takes
    its first occurrence.
    """
    return int(datetime.combine(day, clock_time, tzinfo=tz).timestamp())


def day_span(first_day: date, last_day: date, tz: ZoneInfo) -> Interval:
    """From local midnight of `first_day` to local midnight after `last_day`."""
    return (
        local_instant(first_day, time(0), tz),
        local_instant(last_day + timedelta(days=1), time(0), tz),
    )


def local_date(instant: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(instant, tz).date()


def working_intervals(clinic: Clinic, provider: Provider, day: date) -> list[Interval]:
    """When the provider works on a clinic-local day (empty on holidays and days off).

    Memoised per clinic: the answer depends only on static configuration, and every
    availability request asks again for the same few days.
    """
    key = (provider.provider_id, day)
    found = clinic.working_time_memo.get(key)
    if found is None:
        found = clinic.working_time_memo[key] = _working_intervals(clinic, provider, day)
    return found


def _working_intervals(clinic: Clinic, provider: Provider, day: date) -> list[Interval]:
    if day in clinic.holiday_dates or day in provider.days_off:
        return []
    tz = clinic.tz
    return [
        (local_instant(day, opening.open, tz), local_instant(day, opening.close, tz))
        for opening in provider.hours.for_weekday(day.weekday())
    ]


@dataclass(frozen=True, slots=True)
class SlotQuery:
    """What is being looked for: a type, who may do it, from when, which part of day."""

    clinic: Clinic
    appointment_type: AppointmentType
    providers: Sequence[Provider]
    earliest_start: int
    part_of_day: PartOfDay | None = None


def earliest_bookable(now: datetime, min_notice_minutes: int) -> int:
    """First instant a new appointment may start: now plus the notice, to the next minute.

    Slots start on whole minutes, so rounding up changes no answer, and it keeps the
    value (and anything computed from it) the same for a whole minute.
    """
    return -(-(int(now.timestamp()) + min_notice_minutes * 60) // 60) * 60


def slots_on_day(query: SlotQuery, day: date, busy: Mapping[str, BusyCalendar]) -> list[Slot]:
    """Every free slot on one clinic-local day, ordered by start then provider order."""
    clinic = query.clinic
    duration = query.appointment_type.duration_minutes * 60
    step = clinic.booking_rules.slot_granularity_minutes * 60
    type_id = query.appointment_type.appointment_type_id
    tz = clinic.tz
    found: list[tuple[int, int, Slot]] = []
    for rank, provider in enumerate(query.providers):
        calendar = busy.get(provider.provider_id, EMPTY_CALENDAR)
        for range_start, range_end in working_intervals(clinic, provider, day):
            start = range_start
            if start < query.earliest_start:
                start += -(-(query.earliest_start - start) // step) * step
            while start + duration <= range_end:
                end = start + duration
                if not calendar.overlaps(start, end) and (
                    query.part_of_day is None
                    or PartOfDay.of_hour(datetime.fromtimestamp(start, tz).hour)
                    is query.part_of_day
                ):
                    found.append((start, rank, Slot(provider.provider_id, type_id, start, end)))
                start += step
    found.sort(key=lambda item: (item[0], item[1]))
    return [slot for _, _, slot in found]


def find_slots(
    query: SlotQuery,
    first_day: date,
    last_day: date,
    busy: Mapping[str, BusyCalendar],
    limit: int,
) -> list[Slot]:
    """The first `limit` free slots from `first_day` to `last_day` inclusive, in time order."""
    slots: list[Slot] = []
    day = first_day
    while day <= last_day and len(slots) < limit:
        slots.extend(slots_on_day(query, day, busy))
        day += timedelta(days=1)
    return slots[:limit]


def nearest_slots(
    query: SlotQuery,
    first_day: date,
    last_day: date,
    busy: Mapping[str, BusyCalendar],
    target: int,
    count: int,
) -> list[Slot]:
    """The `count` free slots closest in time to `target` (before or after), in time order."""
    candidates: list[Slot] = []
    day = first_day
    while day <= last_day:
        candidates.extend(slots_on_day(query, day, busy))
        day += timedelta(days=1)
    closest = sorted(candidates, key=lambda slot: (abs(slot.start - target), slot.start))
    return sorted(closest[:count], key=lambda slot: slot.start)


def slot_refusal(
    clinic: Clinic,
    provider: Provider,
    appointment_type: AppointmentType,
    start: int,
    earliest_start: int,
) -> Refusal | None:
    """Why a (signed, so once offered) slot cannot be booked now, ignoring other bookings.

    A slot id stays valid after it is issued while the world moves on: time passes, a
    holiday or day off is added, hours change. Bookings are checked separately (in Redis).
    """
    if start < earliest_start:
        return Refusal.SLOT_IN_PAST
    if appointment_type.appointment_type_id not in provider.appointment_types:
        return Refusal.SLOT_UNAVAILABLE
    duration = appointment_type.duration_minutes * 60
    step = clinic.booking_rules.slot_granularity_minutes * 60
    day = local_date(start, clinic.tz)
    for range_start, range_end in working_intervals(clinic, provider, day):
        if range_start <= start and start + duration <= range_end:
            return None if (start - range_start) % step == 0 else Refusal.SLOT_UNAVAILABLE
    return Refusal.SLOT_UNAVAILABLE
