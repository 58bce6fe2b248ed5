"""Slot computation: pure functions, a fixed "now", clinics built in code."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from scheduling_api.domain.clinic import Clinic
from scheduling_api.domain.slots import (
    BusyCalendar,
    PartOfDay,
    Refusal,
    Slot,
    SlotQuery,
    earliest_bookable,
    find_slots,
    nearest_slots,
    slot_refusal,
    slots_on_day,
)

CHICAGO = ZoneInfo("America/Chicago")
MONDAY = date(2027, 1, 11)
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def at(day: date, hour: int, minute: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=CHICAGO).timestamp())


def hhmm(slots: list[Slot]) -> list[str]:
    return [datetime.fromtimestamp(s.start, CHICAGO).strftime("%H:%M") for s in slots]


def query(
    clinic: Clinic,
    type_id: str,
    *,
    providers: list[str] | None = None,
    now: datetime = LONG_AGO,
    notice: int = 0,
    part_of_day: PartOfDay | None = None,
) -> SlotQuery:
    chosen = (
        [clinic.providers_by_id[p] for p in providers]
        if providers
        else clinic.providers_for(type_id)
    )
    return SlotQuery(
        clinic,
        clinic.appointment_types_by_id[type_id],
        chosen,
        earliest_bookable(now, notice),
        part_of_day,
    )


def test_working_hours_and_lunch_break(test_clinic: Clinic) -> None:
    slots = slots_on_day(query(test_clinic, "exam"), MONDAY, {})
    assert hhmm(slots) == [
        "08:00", "08:30", "09:00", "09:30", "10:00", "10:30", "11:00", "11:30",
        "13:00", "13:30", "14:00", "14:30", "15:00", "15:30", "16:00", "16:30",
    ]  # fmt: skip
    assert all(s.end - s.start == 30 * 60 for s in slots)


def test_longer_appointments_must_fit_before_the_break(test_clinic: Clinic) -> None:
    slots = slots_on_day(query(test_clinic, "whitening"), MONDAY, {})
    assert hhmm(slots) == ["08:00", "08:30", "09:00", "09:30", "10:00", "10:30",
                           "13:00", "13:30", "14:00", "14:30", "15:00", "15:30"]  # fmt: skip


def test_closed_days_holidays_and_days_off(test_clinic: Clinic) -> None:
    sunday, holiday, day_off = date(2027, 1, 17), date(2027, 1, 18), date(2027, 1, 22)
    assert slots_on_day(query(test_clinic, "exam"), sunday, {}) == []
    assert slots_on_day(query(test_clinic, "cleaning"), holiday, {}) == []
    assert slots_on_day(query(test_clinic, "exam"), day_off, {}) == []
    saturday = slots_on_day(query(test_clinic, "exam"), date(2027, 1, 16), {})
    assert hhmm(saturday)[0] == "08:00"
    assert hhmm(saturday)[-1] == "11:30"


def test_a_booking_blocks_every_overlapping_slot(test_clinic: Clinic) -> None:
    """A 60-minute booking at 10:00 blocks 30-minute slots at 10:00 and 10:30 only."""
    busy = {"dr-test": BusyCalendar([(at(MONDAY, 10), at(MONDAY, 11))])}
    exams = hhmm(slots_on_day(query(test_clinic, "exam"), MONDAY, busy))
    assert "09:30" in exams
    assert "11:00" in exams
    assert "10:00" not in exams
    assert "10:30" not in exams
    fillings = hhmm(slots_on_day(query(test_clinic, "filling"), MONDAY, busy))
    assert "09:00" in fillings
    assert "11:00" in fillings
    assert "09:30" not in fillings  # would run 09:30-10:30, into the booking


def test_bookings_only_block_their_own_provider(test_clinic: Clinic) -> None:
    busy = {"hyg-b": BusyCalendar([(at(MONDAY, 13), at(MONDAY, 17))])}
    slots = slots_on_day(query(test_clinic, "cleaning"), MONDAY, busy)
    assert {s.provider_id for s in slots} == {"hyg-a"}


def test_providers_work_their_own_schedules(test_clinic: Clinic) -> None:
    slots = slots_on_day(query(test_clinic, "cleaning"), MONDAY, {})
    morning = [s for s in slots if s.start < at(MONDAY, 12)]
    afternoon = [s for s in slots if s.start >= at(MONDAY, 13)]
    assert {s.provider_id for s in morning} == {"hyg-a"}
    assert {s.provider_id for s in afternoon} == {"hyg-a", "hyg-b"}
    # Same start: ordered by the clinic's provider order.
    assert [s.provider_id for s in afternoon[:2]] == ["hyg-a", "hyg-b"]
    thursday = slots_on_day(query(test_clinic, "cleaning"), date(2027, 1, 14), {})
    assert thursday == []


def test_minimum_notice_rounds_up_to_the_slot_grid(test_clinic: Clinic) -> None:
    now = datetime(2027, 1, 11, 8, 10, tzinfo=CHICAGO)
    slots = slots_on_day(query(test_clinic, "exam", now=now, notice=120), MONDAY, {})
    assert hhmm(slots)[0] == "10:30"
    no_notice = slots_on_day(query(test_clinic, "exam", now=now, notice=0), MONDAY, {})
    assert hhmm(no_notice)[0] == "08:30"


def test_nothing_is_offered_in_the_past(test_clinic: Clinic) -> None:
    evening = datetime(2027, 1, 11, 18, 0, tzinfo=CHICAGO)
    assert slots_on_day(query(test_clinic, "exam", now=evening), MONDAY, {}) == []
    tomorrow = slots_on_day(query(test_clinic, "exam", now=evening), date(2027, 1, 12), {})
    assert hhmm(tomorrow)[0] == "08:00"


def test_part_of_day(test_clinic: Clinic, clinic_document: dict[str, Any]) -> None:
    mornings = slots_on_day(query(test_clinic, "exam", part_of_day=PartOfDay.MORNING), MONDAY, {})
    assert hhmm(mornings)[-1] == "11:30"
    assert len(mornings) == 8
    afternoons = slots_on_day(
        query(test_clinic, "exam", part_of_day=PartOfDay.AFTERNOON), MONDAY, {}
    )
    assert hhmm(afternoons) == [
        "13:00", "13:30", "14:00", "14:30", "15:00", "15:30", "16:00", "16:30",
    ]  # fmt: skip
    late = [{"open": "08:00", "close": "12:00"}, {"open": "13:00", "close": "19:00"}]
    clinic_document["hours"]["monday"] = late
    clinic_document["providers"][0]["hours"]["monday"] = late
    evening_clinic = Clinic.model_validate(clinic_document)
    evenings = slots_on_day(
        query(evening_clinic, "exam", part_of_day=PartOfDay.EVENING), MONDAY, {}
    )
    assert hhmm(evenings) == ["17:00", "17:30", "18:00", "18:30"]


def test_find_slots_stops_at_limit_in_time_order(test_clinic: Clinic) -> None:
    slots = find_slots(query(test_clinic, "exam"), MONDAY, date(2027, 1, 20), {}, limit=20)
    assert len(slots) == 20
    assert [s.start for s in slots] == sorted(s.start for s in slots)
    assert hhmm(slots[16:]) == ["08:00", "08:30", "09:00", "09:30"]  # Tuesday


def test_find_slots_skips_empty_days(test_clinic: Clinic) -> None:
    saturday_evening = datetime(2027, 1, 16, 18, 0, tzinfo=CHICAGO)
    slots = find_slots(
        query(test_clinic, "cleaning", now=saturday_evening),
        date(2027, 1, 16),
        date(2027, 1, 20),
        {},
        limit=1,
    )
    # Sunday closed, Monday 18th a holiday: Tuesday 19th, hygienist B.
    assert slots[0].start == at(date(2027, 1, 19), 8)
    assert slots[0].provider_id == "hyg-b"


@pytest.mark.parametrize(
    ("day", "hours_of_real_time", "expected"),
    [
        # Spring forward: 02:00 CST jumps to 03:00 CDT; 00:00-06:00 local is 5 real hours.
        (
            date(2027, 3, 14),
            5,
            ["00:00-0600", "00:30-0600", "01:00-0600", "01:30-0600", "03:00-0500",
             "03:30-0500", "04:00-0500", "04:30-0500", "05:00-0500", "05:30-0500"],
        ),
        # Fall back: 01:00-02:00 happens twice; 00:00-06:00 local is 7 real hours.
        (
            date(2027, 11, 7),
            7,
            ["00:00-0500", "00:30-0500", "01:00-0500", "01:30-0500", "01:00-0600",
             "01:30-0600", "02:00-0600", "02:30-0600", "03:00-0600", "03:30-0600",
             "04:00-0600", "04:30-0600", "05:00-0600", "05:30-0600"],
        ),
    ],
)  # fmt: skip
def test_dst_change_in_the_clinic_timezone(
    clinic_document: dict[str, Any], day: date, hours_of_real_time: int, expected: list[str]
) -> None:
    """Slots are spaced in real time, labelled in local time with the offset of the day."""
    night = [{"open": "00:00", "close": "06:00"}]
    clinic_document["hours"]["sunday"] = night
    clinic_document["providers"][0]["hours"]["sunday"] = night
    clinic = Clinic.model_validate(clinic_document)
    slots = slots_on_day(query(clinic, "exam"), day, {})
    labels = [datetime.fromtimestamp(s.start, CHICAGO).strftime("%H:%M%z") for s in slots]
    assert labels == expected
    assert len(slots) == hours_of_real_time * 2
    assert all(b.start - a.start == 30 * 60 for a, b in itertools.pairwise(slots))
    assert all(s.end - s.start == 30 * 60 for s in slots)


def test_weekday_hours_follow_local_time_across_dst(test_clinic: Clinic) -> None:
    before, after = date(2027, 3, 12), date(2027, 3, 15)
    first_before = slots_on_day(query(test_clinic, "exam"), before, {})[0]
    first_after = slots_on_day(query(test_clinic, "exam"), after, {})[0]
    assert datetime.fromtimestamp(first_before.start, UTC).hour == 14  # 08:00 CST
    assert datetime.fromtimestamp(first_after.start, UTC).hour == 13  # 08:00 CDT


def test_nearest_slots_look_both_ways(test_clinic: Clinic) -> None:
    """Nearest by distance from the wanted time (ties go to the earlier), then in order."""
    busy = {"dr-test": BusyCalendar([(at(MONDAY, 10), at(MONDAY, 11))])}
    nearest = nearest_slots(
        query(test_clinic, "exam"), MONDAY, MONDAY, busy, target=at(MONDAY, 10, 30), count=3
    )
    assert hhmm(nearest) == ["09:30", "11:00", "11:30"]


def test_busy_calendar_merges_and_answers_overlaps() -> None:
    calendar = BusyCalendar([(50, 60), (10, 20), (15, 30)])
    assert calendar.overlaps(25, 35)
    assert not calendar.overlaps(30, 50)  # touching ends do not overlap
    assert calendar.overlaps(0, 11)
    assert not calendar.overlaps(60, 70)
    assert calendar.overlaps(40, 100)
    assert not BusyCalendar().overlaps(0, 100)


@pytest.mark.parametrize(
    ("start", "type_id", "provider", "expected"),
    [
        (at(MONDAY, 9), "exam", "dr-test", None),
        (at(MONDAY, 9, 15), "exam", "dr-test", Refusal.SLOT_UNAVAILABLE),  # off the grid
        (at(MONDAY, 11, 30), "filling", "dr-test", Refusal.SLOT_UNAVAILABLE),  # into lunch
        (at(MONDAY, 12), "exam", "dr-test", Refusal.SLOT_UNAVAILABLE),  # lunch
        (at(date(2027, 1, 18), 9), "exam", "dr-test", Refusal.SLOT_UNAVAILABLE),  # holiday
        (at(MONDAY, 9), "cleaning", "dr-test", Refusal.SLOT_UNAVAILABLE),  # not their type
        (at(MONDAY, 8), "exam", "dr-test", Refusal.SLOT_IN_PAST),  # inside the notice
    ],
)
def test_slot_refusal(
    test_clinic: Clinic,
    start: int,
    type_id: str,
    provider: str,
    expected: Refusal | None,
) -> None:
    now = datetime(2027, 1, 11, 6, 30, tzinfo=CHICAGO)
    refusal = slot_refusal(
        test_clinic,
        test_clinic.providers_by_id[provider],
        test_clinic.appointment_types_by_id[type_id],
        start,
        earliest_bookable(now, 120),
    )
    assert refusal == expected


def test_offered_slots_are_never_refused(test_clinic: Clinic) -> None:
    check: Callable[[Slot], Refusal | None] = lambda slot: slot_refusal(  # noqa: E731
        test_clinic,
        test_clinic.providers_by_id[slot.provider_id],
        test_clinic.appointment_types_by_id[slot.appointment_type_id],
        slot.start,
        0,
    )
    for type_id in ("exam", "cleaning", "filling", "whitening"):
        slots = find_slots(query(test_clinic, type_id), MONDAY, date(2027, 1, 24), {}, 1000)
        assert slots
        assert all(check(slot) is None for slot in slots)
