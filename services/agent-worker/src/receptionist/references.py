"""Short, call-scoped references the model uses for slots and appointments (pure, no I/O).

The model never sees the API's long opaque ids: it refers to "option-3" or
"appointment-1", so it can neither mistype one nor read one aloud.
"""

from __future__ import annotations

from collections.abc import Sequence

from .resources import Booking, Slot


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
