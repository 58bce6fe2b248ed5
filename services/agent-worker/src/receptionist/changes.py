"""The details of a change to the appointment book, their read-backs, and what a caller's
answer means (pure, no I/O).

`approval.py` holds the rule that decides, from these, whether a change may be made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from zoneinfo import ZoneInfo

from .spoken_time import spoken_datetime, spoken_phone


class Reply(Enum):
    YES = "yes"
    NO = "no"
    UNCLEAR = "unclear"


_NEGATIVE = re.compile(
    r"\b(no|nope|nah|not|don't|dont|do not|wrong|incorrect|wait|hold on|actually|change|"
    r"isn't|isnt|cancel that|mistake|never mind|nevermind)\b"
)
_HESITANT = re.compile(r"\b(but|maybe|hmm|um|not sure|i guess|i think)\b")
_AFFIRMATIVE = re.compile(
    r"^(yes|yeah|yep|yup|yes please|correct|that's correct|thats correct|that is correct|"
    r"that's right|thats right|that is right|right|sure|absolutely|definitely|please do|"
    r"go ahead|book it|sounds good|sounds great|perfect|exactly|all correct|all good|"
    r"affirmative|uh huh|mm hmm)\b"
)


def classify_reply(utterance: str) -> Reply:
    """Whether the caller's words are an explicit yes, a no/correction, or neither."""
    text = re.sub(r"[^\w\s']", " ", utterance.lower().replace("’", "'"))
    text = " ".join(text.split())
    if _NEGATIVE.search(text):
        return Reply.NO
    if _HESITANT.search(text):
        return Reply.UNCLEAR
    return Reply.YES if _AFFIRMATIVE.match(text) else Reply.UNCLEAR


@dataclass(frozen=True)
class BookingDetails:
    slot_id: str
    starts_at: datetime
    appointment_type_name: str
    provider_name: str
    patient_name: str
    patient_phone: str


@dataclass(frozen=True)
class RescheduleDetails:
    booking_id: str
    old_start: datetime
    new_slot_id: str
    new_start: datetime
    appointment_type_name: str
    provider_name: str


@dataclass(frozen=True)
class CancellationDetails:
    booking_id: str
    starts_at: datetime
    appointment_type_name: str


ChangeDetails = BookingDetails | RescheduleDetails | CancellationDetails


# Each read-back opens with a short sentence of its own: the TTS speaks a sentence as soon as
# it is complete, so the caller hears audio after a handful of tokens instead of waiting for
# the whole list of details. (It stays at least 20 characters long, the TTS sentence
# tokenizer's minimum; anything shorter is merged into the next sentence.)
_READ_BACK_OPENING = "Let me read that back."
_CONFIRM_OPENING = "Let me just confirm that."


def booking_read_back(details: BookingDetails, tz: ZoneInfo, today: date) -> str:
    when = spoken_datetime(details.starts_at, tz, today)
    return (
        f"{_READ_BACK_OPENING} A {details.appointment_type_name.lower()} with "
        f"{details.provider_name} on {when}. That's for {details.patient_name}, and the best "
        f"number to reach you is {spoken_phone(details.patient_phone)}. Is that all correct?"
    )


def reschedule_read_back(details: RescheduleDetails, tz: ZoneInfo, today: date) -> str:
    old = spoken_datetime(details.old_start, tz, today)
    new = spoken_datetime(details.new_start, tz, today)
    return (
        f"{_CONFIRM_OPENING} I'll move your {details.appointment_type_name.lower()} from "
        f"{old} to {new} with {details.provider_name}. Shall I go ahead?"
    )


def cancellation_read_back(details: CancellationDetails, tz: ZoneInfo, today: date) -> str:
    when = spoken_datetime(details.starts_at, tz, today)
    return (
        f"{_CONFIRM_OPENING} You'd like to cancel your "
        f"{details.appointment_type_name.lower()} on {when}. Is that right?"
    )


def _name_tokens(name: str) -> list[str]:
    return re.sub(r"[^\w\s'-]", " ", name.lower()).split()


def same_caller(spoken_name: str, name_on_file: str) -> bool:
    """Verification: the caller's full name matches the booking's first and last name."""
    spoken, on_file = _name_tokens(spoken_name), _name_tokens(name_on_file)
    if len(spoken) < 2 or len(on_file) < 2:
        return spoken == on_file and bool(spoken)
    return spoken[0] == on_file[0] and spoken[-1] == on_file[-1]
