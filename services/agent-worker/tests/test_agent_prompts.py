"""Instructions and greeting come from the clinic profile and nothing else."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from receptionist import prompts
from receptionist.resources import ClinicProfile

PROFILE = ClinicProfile.model_validate(
    {
        "clinic_id": "sunny-teeth",
        "name": "Sunny Teeth Family Dentistry",
        "timezone": "America/Denver",
        "phone": "+13035550123",
        "website": "https://sunny.example",
        "address": {
            "street": "1 Main St",
            "city": "Boulder",
            "region": "CO",
            "postal_code": "80302",
            "country": "US",
        },
        "hours": {
            "monday": [{"open": "08:00", "close": "12:00"}, {"open": "13:00", "close": "17:30"}],
            "tuesday": [{"open": "13:00", "close": "17:00"}],
            "saturday": [{"open": "09:00", "close": "12:00"}],
        },
        "holidays": [{"date": "2026-12-25", "name": "Christmas Day"}],
        "providers": [{"provider_id": "dr-ruiz", "name": "Dr. Ana Ruiz", "role": "dentist"}],
        "appointment_types": [
            {
                "appointment_type_id": "checkup",
                "name": "Checkup",
                "duration_minutes": 45,
                "description": "Exam and cleaning.",
            },
            {
                "appointment_type_id": "urgent-emergency",
                "name": "Emergency visit",
                "duration_minutes": 30,
            },
        ],
        "insurance_accepted": ["Acme Dental"],
        "payment_options": ["cash"],
        "policies": {"cancellation": "Please give 24 hours notice."},
        "faq": [{"question": "Do you see children?", "answer": "Yes, from age three."}],
    }
)
NOW = datetime(2026, 11, 30, 9, 15, tzinfo=ZoneInfo("America/Denver"))


def test_greeting_names_the_clinic() -> None:
    assert prompts.greeting(PROFILE).startswith(
        "Thank you for calling Sunny Teeth Family Dentistry!"
    )


def test_instructions_carry_the_profiles_facts() -> None:
    text = prompts.instructions(PROFILE, NOW)
    for fact in [
        "Sunny Teeth Family Dentistry",
        "Dr. Ana Ruiz",
        "checkup → Checkup, 45 minutes",
        "Acme Dental",
        "Please give 24 hours notice.",
        "Q: Do you see children?\n  A: Yes, from age three.",
        "- Monday: 8 in the morning to noon, and 1 in the afternoon to 5:30 in the evening",
        "- Tuesday: 1 to 5 in the afternoon",
        "- Saturday: 9 in the morning to noon",
        "- Sunday: closed",
        "Friday, December 25th (Christmas Day)",
        "3 0 3, 5 5 5, 0 1 2 3",
        "Today is Monday, November 30th, 2026; it is 9:15 in the morning",
    ]:
        assert fact in text, fact


def test_no_other_clinic_and_no_urls_leak_in() -> None:
    text = prompts.instructions(PROFILE, NOW)
    assert "Bright Smile" not in text
    assert "https://" not in text


def test_emergencies_by_severity() -> None:
    text = prompts.instructions(PROFILE, NOW)
    assert "call find_emergency_slot" in text
    assert "call 911 right away" in text
    abroad = PROFILE.model_copy(
        update={"address": PROFILE.address.model_copy(update={"country": "GB"})}
    )
    assert "call emergency services right away" in prompts.instructions(abroad, NOW)


def test_a_clinic_without_emergency_visits_takes_urgent_callbacks() -> None:
    routine_only = PROFILE.model_copy(update={"appointment_types": PROFILE.appointment_types[:1]})
    text = prompts.instructions(routine_only, NOW)
    assert "find_emergency_slot" not in text
    assert "callback request marked urgent" in text


def test_fallback_has_no_clinic_facts() -> None:
    assert "Sunny" not in prompts.fallback_instructions()
    assert "request_callback" in prompts.fallback_instructions()


def test_a_resumed_call_opens_with_the_apology_and_only_what_the_book_says() -> None:
    nothing = prompts.resumed_greeting(PROFILE, [])
    assert nothing.startswith("Sorry, we were cut off.")
    assert "nothing is booked" in nothing
    booked = prompts.resumed_greeting(PROFILE, ["cleaning with Maria Lopez tomorrow at 10 AM"])
    assert "your cleaning with Maria Lopez tomorrow at 10 AM is booked" in booked


def test_a_resumed_caller_without_a_number_is_asked_what_the_book_needs() -> None:
    """The web page carries no number: the apology claims no check it did not make, and
    asks for both things find_appointments verifies."""
    unknown = prompts.resumed_greeting_unknown_caller(PROFILE)
    assert unknown.startswith("Sorry, we were cut off.")
    assert "I've checked" not in unknown
    assert "your full name and the phone number" in unknown


def test_a_resumed_caller_is_told_when_the_book_cannot_be_read() -> None:
    unreachable = prompts.resumed_greeting_book_unreachable(PROFILE)
    assert "can't reach our appointment book" in unreachable
    assert "phone number" not in unreachable  # the line carried it already
    assert "I've checked" not in unreachable
