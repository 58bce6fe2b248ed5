"""What this call has changed in the appointment book, so a repeat is answered as done and
a retried commit replays instead of duplicating (pure, no I/O).
"""

from __future__ import annotations

from .changes import BookingDetails, ChangeDetails
from .resources import Booking, Slot
from .scheduling_client import new_idempotency_key


class ChangeLedger:
    """The bookings this call made (or found the caller already held), and one idempotency
    key per exact change until it is done."""

    def __init__(self) -> None:
        self._booked: dict[str, Booking] = {}
        self._idempotency_keys: dict[ChangeDetails, str] = {}

    def idempotency_key(self, details: ChangeDetails) -> str:
        """The same key for every attempt at the same change: the API replays the first."""
        return self._idempotency_keys.setdefault(details, new_idempotency_key())

    def done(self, details: ChangeDetails) -> None:
        self._idempotency_keys.pop(details, None)

    def booked(self, slot_id: str, booking: Booking) -> None:
        self._booked[slot_id] = booking

    def changed(self, booking_id: str) -> None:
        """The booking `booking_id` was moved or cancelled: it no longer counts as booked
        in this call."""
        self._booked = {k: b for k, b in self._booked.items() if b.booking_id != booking_id}

    def already_booked(self, details: BookingDetails) -> Booking | None:
        """The booking this call already holds for exactly these details, if any."""
        booking = self._booked.get(details.slot_id)
        if (
            booking is None
            or booking.status != "confirmed"
            or booking.patient.phone != details.patient_phone
            or booking.patient.name.casefold() != details.patient_name.casefold()
        ):
            return None
        return booking


def already_moved(booking: Booking | None, slot: Slot | None) -> bool:
    """Is the active `booking` already at `slot` (the move it asks for is done)?"""
    if booking is None or slot is None or booking.status != "confirmed":
        return False
    return (booking.start, booking.provider_id, booking.appointment_type) == (
        slot.start,
        slot.provider_id,
        slot.appointment_type,
    )


def already_cancelled(booking: Booking | None) -> bool:
    return booking is not None and booking.status == "cancelled"
