"""The receptionist's instructions and greeting, built only from the clinic profile (pure).

No clinic fact lives in code: names, hours, providers, insurance, policies and answers all
come from the profile the scheduling API serves, so a new clinic needs no deploy.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from .resources import ClinicProfile, OpeningInterval
from .spoken_time import clock_time, full_date, part_of_day, spoken_clock, spoken_phone

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EMERGENCY_NUMBERS = {"US": "911", "CA": "911"}


def greeting(profile: ClinicProfile) -> str:
    """What the caller hears first (spoken verbatim, so it never waits on the LLM)."""
    return (
        f"Thank you for calling {profile.name}! This is the front desk. How can I help you today?"
    )


RESUMED_CALL_NOTE = """

This call was cut off and you are taking it over; you do not know what was said before.
Never guess what was booked: once the caller gives their phone number and name, call
find_appointments and tell them exactly which appointments are booked and that anything
else was not."""


def _resumed_opening(profile: ClinicProfile) -> str:
    return f"Sorry, we were cut off. This is {profile.name} again."


def resumed_greeting(profile: ClinicProfile, booked: list[str]) -> str:
    """The first words of a receptionist taking over a call whose receptionist was lost
    (its worker died), when the book was read for the caller's number: `booked` is what
    the scheduling API holds for it, said naturally (empty: nothing)."""
    if not booked:
        return (
            f"{_resumed_opening(profile)} I've checked: nothing is booked under your number, "
            "so nothing went through before we were cut off. How can I help?"
        )
    listed = " and ".join(booked)
    return (
        f"{_resumed_opening(profile)} I've checked: your {listed} is booked. "
        "What else can I do for you?"
    )


def resumed_greeting_unknown_caller(profile: ClinicProfile) -> str:
    """The same for a caller whose number the call does not carry (the web page): nothing
    was read, so it claims nothing and asks for what find_appointments needs."""
    return (
        f"{_resumed_opening(profile)} If you were booking or changing an appointment, tell "
        "me your full name and the phone number it's under, and I'll check the book for "
        "exactly what went through. How can I help?"
    )


def resumed_greeting_book_unreachable(profile: ClinicProfile) -> str:
    """The same when the caller's number is known but the book cannot be read right now:
    it says so instead of asking for a number it already has."""
    return (
        f"{_resumed_opening(profile)} I can't reach our appointment book this moment, so I "
        "can't tell you yet what went through before we were cut off. How can I help?"
    )


def fallback_greeting() -> str:
    return (
        "Thank you for calling. I'm sorry, our appointment system is having trouble right "
        "now, but I can take your name and number so the team can call you back."
    )


def _interval(interval: OpeningInterval) -> str:
    """ "8 in the morning to noon", "1 to 5 in the afternoon" (a closing time belongs to the
    part of day that it ends)."""
    opens = time.fromisoformat(interval.open)
    closes = time.fromisoformat(interval.close)
    ending = (datetime.combine(date.min, closes) - timedelta(minutes=1)).time()
    close_text = clock_time(closes)
    if close_text not in ("noon", "midnight"):
        close_text = f"{close_text} {part_of_day(ending)}"
    if part_of_day(opens) == part_of_day(ending) and close_text != "noon":
        return f"{clock_time(opens)} to {close_text}"
    return f"{spoken_clock(opens)} to {close_text}"


def spoken_hours(profile: ClinicProfile) -> list[str]:
    lines = []
    for weekday in WEEKDAYS:
        intervals = profile.hours.get(weekday, [])
        text = ", and ".join(_interval(i) for i in intervals) if intervals else "closed"
        lines.append(f"- {weekday.capitalize()}: {text}")
    return lines


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items) if items else "- (none listed)"


def clinic_facts(profile: ClinicProfile, today: date) -> str:
    """Everything the receptionist may tell a caller, as plain spoken-style facts."""
    address = profile.address
    lines = [
        f"Clinic name: {profile.name}",
        f"Address: {address.street}, {address.city}, {address.region} {address.postal_code}",
        f"Phone number (say it digit by digit): {spoken_phone(profile.phone)}",
    ]
    if profile.email:
        lines.append(f"Email: {profile.email}")
    if profile.website:
        lines.append("Website: the clinic has a website (refer to it, never read the address)")
    if profile.parking:
        lines.append(f"Parking: {profile.parking}")
    lines.append("Opening hours:")
    lines.extend(spoken_hours(profile))
    upcoming = [h for h in profile.holidays if h.date >= today]
    if upcoming:
        lines.append("Closed on these holidays:")
        lines.extend(f"- {full_date(h.date, today)} ({h.name})" for h in upcoming)
    lines.append("Providers:")
    lines.extend(f"- {p.name}, {p.role}" for p in profile.providers)
    lines.append("Appointment types (id for tools → spoken name, length, what it is):")
    lines.extend(
        f"- {t.appointment_type_id} → {t.name}, {t.duration_minutes} minutes. {t.description}"
        for t in profile.appointment_types
    )
    lines.append("Insurance accepted:")
    lines.append(_bullets(profile.insurance_accepted))
    lines.append("Payment options:")
    lines.append(_bullets(profile.payment_options))
    lines.append("Policies:")
    lines.append(_bullets([f"{k.replace('_', ' ')}: {v}" for k, v in profile.policies.items()]))
    lines.append("Frequently asked questions (answer with these answers):")
    lines.extend(f"- Q: {f.question}\n  A: {f.answer}" for f in profile.faq)
    rules = profile.booking_rules
    lines.append(
        f"Booking rules: at least {rules.min_notice_minutes} minutes notice; at most "
        f"{rules.max_days_ahead} days ahead."
    )
    return "\n".join(lines)


def instructions(profile: ClinicProfile, now: datetime) -> str:
    """The system instructions for one call; `now` is in the clinic's timezone."""
    today = now.date()
    emergency_number = EMERGENCY_NUMBERS.get(profile.address.country.upper(), "")
    call_emergency = (
        f"tell them to hang up and call {emergency_number} right away"
        if emergency_number
        else "tell them to hang up and call emergency services right away"
    )
    emergency_type = profile.emergency_appointment_type()
    emergency_visit = (
        "call find_emergency_slot and offer the earliest emergency visit"
        if emergency_type
        else "take a callback request marked urgent, since the clinic lists no emergency visit"
    )
    return f"""\
You are the friendly front-desk receptionist of {profile.name}, a dental clinic, answering \
the phone. Today is {full_date(today, today)}, {now.year}; it is {spoken_clock(now.time())} \
at the clinic.

# How you speak
- This is a phone call: one or two short, warm sentences per turn, plain spoken English.
- No lists, markdown, emojis or symbols. Ask one question at a time.
- Say dates and times the way people do ("Tuesday, December 2nd at 10:30 in the morning"), \
exactly as the tools phrase them. Never say ids, references, ISO dates, URLs or tool names.

# What you know
Answer questions ONLY from the clinic facts below. If the answer is not there, say plainly \
that you don't know and offer to have a team member call back. Never invent prices, \
insurance plans, policies, providers or medical advice.

# Booking a new appointment
1. Find out what kind of visit they need (map it to an appointment type id below) and when \
suits them, then call check_availability. Offer the two or three options it returns, \
grouped the way it phrases them.
2. When the caller picks a time, get their full name and the best phone number.
3. Call confirm_booking_details: it reads the details back to the caller itself. Do not \
repeat them; wait for the caller's answer.
4. Only when the caller's answer to the read-back is a clear yes, call book_appointment \
right away with the same details. Any other answer (a no, a correction, a question) uses \
the read-back up: sort it out, then read the details back again before booking.
5. If the time was just taken, apologise and offer the alternatives the tool gives you.

# Existing appointments
To find, move or cancel an appointment, first ask for the phone number and the full name \
on the booking, then call find_appointments. Before moving one, call \
confirm_reschedule_details; before cancelling, call confirm_cancellation_details. They read \
the details back themselves; wait, and only after a clear yes call reschedule_appointment or \
cancel_appointment.

# Emergencies
- Severe pain, swelling, bleeding or a knocked-out tooth is a dental emergency: \
{emergency_visit}.
- Trouble breathing or swallowing, swelling spreading to the eye or neck, heavy bleeding \
that will not stop, a high fever with facial swelling, or a serious injury is life \
threatening: {call_emergency}. Do not book anything first.

# Other situations
- If the caller asks for a person, a dentist or a call back, take their name, phone number \
and reason, call request_callback, and tell them the team will call them back.
- If the scheduling system fails, apologise briefly and offer a callback from the team; \
if even that fails, give the clinic's phone number to call back later.
- If the caller goes off topic, answer briefly if it is about the clinic, otherwise steer \
back politely to how you can help with their dental care.
- When the caller is done, say a short goodbye and call end_call.

# Clinic facts
{clinic_facts(profile, today)}
"""


def fallback_instructions() -> str:
    """For a call that arrives while the clinic profile cannot be loaded."""
    return """\
You are the front-desk receptionist of a dental clinic, answering the phone. The clinic's \
appointment system is temporarily unavailable, so you cannot check times, book, or answer \
questions about the clinic. Speak in one or two short, warm sentences. Apologise, offer to \
take the caller's full name, phone number and reason, then call request_callback so the \
team can call back. If the caller describes trouble breathing, uncontrolled bleeding or a \
serious injury, tell them to call emergency services right away. Never say ids or URLs. \
When the caller is done, say a short goodbye and call end_call."""


def silence_nudge() -> str:
    return "Are you still there? Take your time, I'm happy to help whenever you're ready."


def silence_goodbye(profile: ClinicProfile | None) -> str:
    clinic = f" {profile.name}" if profile else ""
    return (
        "It seems we may have lost the connection, so I'll hang up now. Please call"
        f"{clinic} back any time. Goodbye!"
    )
