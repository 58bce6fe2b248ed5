"""The read-back-and-yes rule for changes to the appointment book (pure, no I/O).

A booking, reschedule or cancellation happens only after the receptionist has read the
exact details back to the caller and the caller's *own next words* were an explicit yes.
The caller's words come from the session transcript, not from the model, so a model that
skips the question (or imagines an answer) cannot book: the tool refuses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
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


class Refusal(Enum):
    NOT_READ_BACK = "not_read_back"
    DETAILS_CHANGED = "details_changed"
    NO_ANSWER_YET = "no_answer_yet"
    DECLINED = "declined"
    UNCLEAR = "unclear"


_GUIDANCE = {
    Refusal.NOT_READ_BACK: (
        "Not done: the details have not been read back yet. Call the matching confirm_* "
        "tool first, read its text to the caller and wait for their answer."
    ),
    Refusal.DETAILS_CHANGED: (
        "Not done: these details differ from what the caller confirmed. Call the matching "
        "confirm_* tool again with the new details and read them back."
    ),
    Refusal.NO_ANSWER_YET: (
        "Not done: the caller has not answered the read-back yet. Read the details back "
        "and wait for the caller to say yes."
    ),
    Refusal.DECLINED: (
        "Not done: the caller did not confirm. Ask what should change, then read the "
        "corrected details back with the confirm_* tool."
    ),
    Refusal.UNCLEAR: (
        "Not done: the caller's answer was not a clear yes. Ask them plainly whether the "
        "details are correct, and wait for an explicit yes."
    ),
}


class ConfirmationRequired(Exception):  # noqa: N818 - reads as the condition it signals
    """The change is not authorised; `guidance` tells the model what to do instead."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(_GUIDANCE[refusal])
        self.refusal = refusal
        self.guidance = _GUIDANCE[refusal]


@dataclass(frozen=True)
class _ReadBack:
    details: ChangeDetails
    caller_turns_before: int


class ConfirmationFlow:
    """Tracks the one change awaiting the caller's yes, for one call."""

    def __init__(self) -> None:
        self._pending: _ReadBack | None = None

    @property
    def pending(self) -> ChangeDetails | None:
        return self._pending.details if self._pending else None

    def read_back(self, details: ChangeDetails, *, caller_turns_so_far: int) -> None:
        """Record that `details` are being read back now, after that many caller turns."""
        self._pending = _ReadBack(details=details, caller_turns_before=caller_turns_so_far)

    def authorize(self, details: ChangeDetails, caller_utterances: Sequence[str]) -> None:
        """Allow the change only if exactly these details got an explicit yes after the
        read-back; `caller_utterances` is every caller turn of the call so far, in order."""
        if self._pending is None:
            raise ConfirmationRequired(Refusal.NOT_READ_BACK)
        if self._pending.details != details:
            raise ConfirmationRequired(Refusal.DETAILS_CHANGED)
        answers = caller_utterances[self._pending.caller_turns_before :]
        if not answers:
            raise ConfirmationRequired(Refusal.NO_ANSWER_YET)
        reply = classify_reply(answers[-1])
        if reply is Reply.NO:
            self._pending = None
            raise ConfirmationRequired(Refusal.DECLINED)
        if reply is Reply.UNCLEAR:
            raise ConfirmationRequired(Refusal.UNCLEAR)

    def complete(self) -> None:
        """The change was carried out (or is impossible): nothing is pending any more."""
        self._pending = None


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
