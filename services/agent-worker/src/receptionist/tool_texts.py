"""What the tools tell the model, built from plain values (pure, no I/O).

Every date and time in here is spoken the way the caller hears it (no ISO dates), and
nothing echoes the model's own arguments or the API's ids and messages back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from livekit.agents import ToolError

from .resources import ClinicProfile, Slot
from .spoken_time import full_date, group_options, spoken_datetime

NOTHING_FREE = "Nothing is free in the coming weeks. Apologise and offer a callback."


def search_start(preferred: str | None, today: date, max_days_ahead: int) -> tuple[date, str]:
    """The first day to search for `preferred` (YYYY-MM-DD), and a note for the model when
    that day has passed (the search then starts today)."""
    if not preferred:
        return today, ""
    try:
        day = date.fromisoformat(preferred.strip()[:10])
    except ValueError:
        raise ToolError(
            "preferred_date was not a date: write it as digits, year then month then day, "
            "joined by hyphens. If unsure which day the caller means, ask them."
        ) from None
    horizon = today + timedelta(days=max_days_ahead)
    if day > horizon:
        raise ToolError(
            f"That day is too far ahead: the clinic books at most {max_days_ahead} days "
            f"ahead, up to {full_date(horizon, today)}. Tell the caller and ask for an "
            "earlier day."
        )
    if day < today:
        return today, (
            f"The day asked for, {full_date(day, today)}, has already passed (today is "
            f"{full_date(today, today)}). Tell the caller, then offer these from today.\n"
        )
    return day, ""


def offer(
    refs: Sequence[str], slots: Sequence[Slot], heading: str, tz: ZoneInfo, today: date
) -> str:
    """Options (already in time order) as the caller will hear them, with references."""
    spoken = group_options([s.start for s in slots], tz, today)
    listing = "\n".join(
        f"{ref} = {spoken_datetime(s.start, tz, today, relative=True)} with {s.provider_name}"
        for ref, s in zip(refs, slots, strict=True)
    )
    return (
        f"{heading} (offer them like this): {spoken}.\n"
        f"References for the booking tools (never say them):\n{listing}"
    )


def slot_gone(offered: str | None, *, too_soon: bool) -> str:
    """The chosen time can no longer be booked; `offered` lists the nearest instead."""
    what = (
        "That time is now too soon to book"
        if too_soon
        else "That time was just taken by someone else"
    )
    if offered is None:
        return f"{what}. Apologise and check availability again for other times."
    return (
        f"{what}. Apologise, and offer these instead, then read back the new choice with the "
        f"confirm tool. {offered}"
    )


def urgent_advice(profile: ClinicProfile) -> str:
    """For an emergency whose earliest opening is beyond the clinic's own threshold."""
    hours = profile.booking_rules.emergency_max_wait_hours
    policy = profile.policies.get("emergencies")
    guidance = f" Give the caller the clinic's emergency guidance: {policy}" if policy else ""
    return (
        f"\nThe earliest opening is more than {hours} hours away.{guidance} Also offer an "
        "urgent callback (request_callback, with the reason marked urgent) so the team can "
        "call them back sooner."
    )


def already_booked(description: str) -> str:
    return (
        f"Already booked: {description}, nothing more to do. Tell the caller it is booked "
        "and ask if there is anything else."
    )


def already_moved(description: str) -> str:
    return (
        f"Already moved: the appointment is now the {description}, nothing more to do. Tell "
        "the caller and ask if there is anything else."
    )


def already_cancelled(description: str) -> str:
    return (
        f"Already cancelled: the {description}, nothing more to do. Tell the caller and offer "
        "to book a new time."
    )


# spoken when the turn hook commits on the caller's yes (no LLM round writes them)


def booked(what: str, advice: str | None = None) -> str:
    """`advice`: the clinic's own emergency guidance, said after an emergency booking."""
    said = f"You're all set: your {what} is confirmed."
    if advice:
        said += f" {' '.join(advice.split())}"
    return f"{said} Is there anything else I can help with?"


def moved(when: str) -> str:
    return f"Done: your appointment is now on {when}. Is there anything else I can help with?"


def cancelled(what: str) -> str:
    return (
        f"Done: your {what} is cancelled. Would you like to book a new time, or is there "
        "anything else?"
    )


def already_said(spoken: str) -> str:
    return f'Already told the caller: "{spoken}" Do not repeat it; wait for their answer.'
