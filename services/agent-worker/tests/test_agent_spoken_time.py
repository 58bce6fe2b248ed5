"""Dates, times and numbers as a receptionist says them."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from receptionist.spoken_time import (
    group_options,
    join_alternatives,
    ordinal,
    spoken_clock,
    spoken_datetime,
    spoken_phone,
)

CHICAGO = ZoneInfo("America/Chicago")
TODAY = date(2026, 11, 30)  # a Monday


def chicago(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=CHICAGO)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (1, "1st"),
        (2, "2nd"),
        (3, "3rd"),
        (4, "4th"),
        (11, "11th"),
        (12, "12th"),
        (13, "13th"),
        (21, "21st"),
        (22, "22nd"),
        (23, "23rd"),
        (31, "31st"),
    ],
)
def test_ordinals(day: int, expected: str) -> None:
    assert ordinal(day) == expected


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (time(9, 0), "9 in the morning"),
        (time(10, 30), "10:30 in the morning"),
        (time(12, 0), "noon"),
        (time(12, 30), "12:30 in the afternoon"),
        (time(16, 45), "4:45 in the afternoon"),
        (time(17, 0), "5 in the evening"),
    ],
)
def test_clock_times(moment: time, expected: str) -> None:
    assert spoken_clock(moment) == expected


def test_full_datetime_in_the_clinic_timezone() -> None:
    # 16:30 UTC is 10:30 in the morning in Chicago in December
    moment = datetime(2026, 12, 1, 16, 30, tzinfo=UTC)
    assert (
        spoken_datetime(moment, CHICAGO, TODAY) == "Tuesday, December 1st at 10:30 in the morning"
    )


def test_relative_days_and_other_years() -> None:
    assert (
        spoken_datetime(chicago(1, 9), CHICAGO, TODAY, relative=True)
        == "tomorrow at 9 in the morning"
    )
    assert spoken_datetime(chicago(30, 14, month=11), CHICAGO, TODAY, relative=True) == (
        "today at 2 in the afternoon"
    )
    next_year = datetime(2027, 1, 4, 8, tzinfo=CHICAGO)
    assert (
        spoken_datetime(next_year, CHICAGO, TODAY)
        == "Monday, January 4th, 2027 at 8 in the morning"
    )


def test_groups_options_by_day_and_part_of_day() -> None:
    options = [chicago(2, 14), chicago(1, 9), chicago(1, 10, 30), chicago(1, 14)]
    assert group_options(options, CHICAGO, TODAY) == (
        "tomorrow at 9 or 10:30 in the morning, or 2 in the afternoon; "
        "or Wednesday, December 2nd at 2 in the afternoon"
    )


def test_noon_is_grouped_by_name() -> None:
    assert group_options([chicago(3, 11), chicago(3, 12)], CHICAGO, TODAY) == (
        "Thursday, December 3rd at 11 in the morning, or noon"
    )


def test_noon_keeps_its_place_in_time_order() -> None:
    assert group_options([chicago(3, 14), chicago(3, 12)], CHICAGO, TODAY) == (
        "Thursday, December 3rd at noon, or 2 in the afternoon"
    )
    assert group_options([chicago(3, 12), chicago(3, 13), chicago(3, 16)], CHICAGO, TODAY) == (
        "Thursday, December 3rd at noon, or 1 or 4 in the afternoon"
    )


def test_lists_of_alternatives() -> None:
    assert join_alternatives(["9"]) == "9"
    assert join_alternatives(["9", "10"]) == "9 or 10"
    assert join_alternatives(["9", "10", "11"]) == "9, 10, or 11"


def test_phone_numbers_digit_by_digit() -> None:
    assert spoken_phone("+15125550142") == "5 1 2, 5 5 5, 0 1 4 2"
    assert spoken_phone("+442079460958") == "4 4 2, 0 7 9, 4 6 0, 9 5 8"
