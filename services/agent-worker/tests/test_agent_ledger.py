"""The call's change ledger: a repeat of a done change is recognised, and a retry reuses
its idempotency key."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from receptionist.changes import BookingDetails
from receptionist.ledger import ChangeLedger, already_cancelled, already_moved
from receptionist.resources import Booking, Slot

CHICAGO = ZoneInfo("America/Chicago")
START = datetime(2026, 12, 1, 10, 30, tzinfo=CHICAGO)
DETAILS = BookingDetails(
    slot_id="slot-1",
    starts_at=START,
    appointment_type_name="Cleaning",
    provider_name="Maria Lopez, RDH",
    patient_name="Maria Garcia",
    patient_phone="+15125550187",
)


def booking(
    booking_id: str = "b-1", *, status: str = "confirmed", name: str = "Maria Garcia"
) -> Booking:
    return Booking.model_validate(
        {
            "booking_id": booking_id,
            "clinic_id": "bright-smile",
            "status": status,
            "start": START,
            "end": START + timedelta(minutes=45),
            "provider_id": "p-1",
            "provider_name": "Maria Lopez, RDH",
            "appointment_type": "cleaning",
            "patient": {"name": name, "phone": "+15125550187"},
        }
    )


def test_a_booking_made_in_this_call_answers_a_repeat_of_exactly_it() -> None:
    ledger = ChangeLedger()
    assert ledger.already_booked(DETAILS) is None
    ledger.booked("slot-1", booking())
    assert ledger.already_booked(DETAILS) == booking()
    other_name = BookingDetails(**{**DETAILS.__dict__, "patient_name": "Mario Garcia"})
    assert ledger.already_booked(other_name) is None


def test_a_retry_reuses_the_key_until_the_change_is_done() -> None:
    ledger = ChangeLedger()
    first = ledger.idempotency_key(DETAILS)
    assert ledger.idempotency_key(DETAILS) == first
    ledger.done(DETAILS)
    assert ledger.idempotency_key(DETAILS) != first


def test_a_moved_or_cancelled_booking_no_longer_counts() -> None:
    ledger = ChangeLedger()
    ledger.booked("slot-1", booking("b-1"))
    ledger.changed("b-2")
    assert ledger.already_booked(DETAILS) == booking("b-1")
    ledger.changed("b-1")
    assert ledger.already_booked(DETAILS) is None


def test_already_moved_and_cancelled_read_the_booking_itself() -> None:
    slot = Slot.model_validate(
        {
            "slot_id": "slot-1",
            "start": START,
            "end": START + timedelta(minutes=45),
            "provider_id": "p-1",
            "provider_name": "Maria Lopez, RDH",
            "appointment_type": "cleaning",
        }
    )
    assert already_moved(booking(), slot)
    assert not already_moved(booking(status="cancelled"), slot)
    assert not already_moved(None, slot)
    assert already_cancelled(booking(status="cancelled"))
    assert not already_cancelled(booking())
    assert not already_cancelled(None)
