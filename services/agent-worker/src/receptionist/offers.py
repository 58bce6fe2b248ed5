"""Choosing which free slots to offer a caller, and the short references the model uses
for them (pure, no I/O).

A caller can hold two or three options in their head, not twenty: offer a few, spread
out in time. The model never sees the API's long opaque slot ids — it refers to
"option-3" — so it can neither mistype one nor read one aloud.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from .models import Booking, Slot

MAX_OPTIONS = 3
MAX_DAYS_OFFERED = 2
MIN_GAP = timedelta(minutes=90)


def pick_options(slots: Sequence[Slot], *, limit: int = MAX_OPTIONS) -> list[Slot]:
    """The earliest slots that are at least `MIN_GAP` apart, over at most two days."""
    chosen: list[Slot] = []
    days: set[object] = set()
    for slot in sorted(slots, key=lambda s: s.start):
        day = slot.start.date()
        if day not in days and len(days) == MAX_DAYS_OFFERED:
            break
        if any(abs(slot.start - other.start) < MIN_GAP for other in chosen):
            continue
        chosen.append(slot)
        days.add(day)
        if len(chosen) == limit:
            break
    return chosen


def nearest_options(
    slots: Sequence[Slot], target: datetime, *, limit: int = MAX_OPTIONS
) -> list[Slot]:
    """The slots nearest to `target` (a time that fell through), in time order."""
    nearest = sorted(slots, key=lambda s: (abs(s.start - target), s.start))[:limit]
    return sorted(nearest, key=lambda s: s.start)


class References:
    """Short, call-scoped names for slots offered and appointments found.

    Numbers only grow during a call, so an option mentioned earlier keeps meaning the
    same slot even after newer options were offered.
    """

    def __init__(self) -> None:
        self._slots: dict[str, Slot] = {}
        self._bookings: dict[str, Booking] = {}

    def add_slots(self, slots: Sequence[Slot]) -> list[str]:
        refs = []
        for slot in slots:
            ref = f"option-{len(self._slots) + 1}"
            self._slots[ref] = slot
            refs.append(ref)
        return refs

    def slot(self, ref: str) -> Slot | None:
        return self._slots.get(ref.strip().lower())

    def slot_ref(self, slot_id: str) -> str | None:
        """The latest reference given to a slot, if it was offered."""
        found = [ref for ref, slot in self._slots.items() if slot.slot_id == slot_id]
        return found[-1] if found else None

    def add_booking(self, booking: Booking) -> str:
        for ref, known in self._bookings.items():
            if known.booking_id == booking.booking_id:
                self._bookings[ref] = booking
                return ref
        ref = f"appointment-{len(self._bookings) + 1}"
        self._bookings[ref] = booking
        return ref

    def booking(self, ref: str) -> Booking | None:
        return self._bookings.get(ref.strip().lower())

    def booking_ref(self, booking_id: str) -> str | None:
        found = [ref for ref, known in self._bookings.items() if known.booking_id == booking_id]
        return found[-1] if found else None

    def replace_booking(self, ref: str, booking: Booking) -> None:
        self._bookings[ref] = booking
