"""Dates, times and phone numbers the way a receptionist says them (pure, no I/O).

Everything is rendered in the clinic's timezone so "10:30 in the morning" means the
clinic's morning, never the server's. Nothing here ever produces an ISO string.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from itertools import groupby
from zoneinfo import ZoneInfo

MORNING_ENDS = 12
AFTERNOON_ENDS = 17


def ordinal(day: int) -> str:
    """1 → "1st", 2 → "2nd", 11 → "11th", 23 → "23rd"."""
    teens = 10 <= day % 100 <= 20
    suffix = "th" if teens else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def part_of_day(moment: time) -> str:
    if moment.hour < MORNING_ENDS:
        return "in the morning"
    if moment.hour < AFTERNOON_ENDS:
        return "in the afternoon"
    return "in the evening"


def clock_time(moment: time) -> str:
    """The time without its part of day: "9", "10:30", "noon"."""
    if moment.minute == 0 and moment.hour == 12:
        return "noon"
    if moment.minute == 0 and moment.hour == 0:
        return "midnight"
    hour = moment.hour % 12 or 12
    return f"{hour}" if moment.minute == 0 else f"{hour}:{moment.minute:02d}"


def spoken_clock(moment: time) -> str:
    """ "10:30 in the morning", "2 in the afternoon", "noon"."""
    text = clock_time(moment)
    if text in ("noon", "midnight"):
        return text
    return f"{text} {part_of_day(moment)}"


def full_date(day: date, today: date) -> str:
    """ "Tuesday, December 2nd" (with the year only when it is not this year)."""
    text = f"{day:%A}, {day:%B} {ordinal(day.day)}"
    return text if day.year == today.year else f"{text}, {day.year}"


def spoken_date(day: date, today: date) -> str:
    """ "today", "tomorrow", otherwise the full date."""
    delta = (day - today).days
    if delta == 0:
        return "today"
    if delta == 1:
        return "tomorrow"
    return full_date(day, today)


def spoken_datetime(moment: datetime, tz: ZoneInfo, today: date, *, relative: bool = False) -> str:
    """ "Tuesday, December 2nd at 10:30 in the morning" in the clinic's timezone.

    `relative=True` allows "today"/"tomorrow"; read-backs keep the full date so the caller
    hears exactly which day is being booked.
    """
    local = moment.astimezone(tz)
    day_text = spoken_date(local.date(), today) if relative else full_date(local.date(), today)
    return f"{day_text} at {spoken_clock(local.time())}"


def join_alternatives(items: Sequence[str]) -> str:
    """["9", "10:30", "11"] → "9, 10:30, or 11"."""
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return f"{items[0]} or {items[1]}"
    return f"{', '.join(items[:-1])}, or {items[-1]}"


def _times_within_part_of_day(times: Sequence[time]) -> str:
    """Times of one part of the day, in time order: "noon, or 1 or 4 in the afternoon"."""
    part = part_of_day(times[0])
    phrases: list[str] = []
    run: list[str] = []
    for label in (clock_time(t) for t in times):
        if label in ("noon", "midnight"):
            if run:
                phrases.append(f"{join_alternatives(run)} {part}")
                run = []
            phrases.append(label)
        else:
            run.append(label)
    if run:
        phrases.append(f"{join_alternatives(run)} {part}")
    return ", or ".join(phrases)


def group_options(moments: Sequence[datetime], tz: ZoneInfo, today: date) -> str:
    """Several start times grouped the way people say them.

    [Tue 9:00, Tue 10:30, Tue 14:00, Wed 11:00] →
    "tomorrow at 9 or 10:30 in the morning, or 2 in the afternoon; or Wednesday,
    December 3rd at 11 in the morning".
    """
    local = sorted(m.astimezone(tz) for m in moments)
    day_phrases = []
    for day, same_day in groupby(local, key=lambda m: m.date()):
        day_times = [m.time() for m in same_day]
        part_phrases = [
            _times_within_part_of_day(list(times))
            for _, times in groupby(day_times, key=part_of_day)
        ]
        day_phrases.append(f"{spoken_date(day, today)} at {', or '.join(part_phrases)}")
    if len(day_phrases) <= 1:
        return "".join(day_phrases)
    return "; or ".join(day_phrases)


def spoken_phone(e164: str) -> str:
    """ "+15125550142" → "5 1 2, 5 5 5, 0 1 4 2" (digit by digit, grouped like a number)."""
    digits = "".join(ch for ch in e164 if ch.isdigit())
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) == 10:
        groups = [digits[:3], digits[3:6], digits[6:]]
    else:
        groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return ", ".join(" ".join(group) for group in groups)
