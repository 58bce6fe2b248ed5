"""The read-back-and-explicit-yes rule, as a pure state machine."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from livekit.agents.tokenize import blingfire
from receptionist.booking_flow import (
    BookingDetails,
    CancellationDetails,
    ConfirmationFlow,
    ConfirmationRequired,
    Refusal,
    Reply,
    RescheduleDetails,
    booking_read_back,
    cancellation_read_back,
    classify_reply,
    reschedule_read_back,
    same_caller,
)

CHICAGO = ZoneInfo("America/Chicago")
DETAILS = BookingDetails(
    slot_id="opaque-slot",
    starts_at=datetime(2026, 12, 1, 10, 30, tzinfo=CHICAGO),
    appointment_type_name="Cleaning",
    provider_name="Maria Lopez, RDH",
    patient_name="Maria Garcia",
    patient_phone="+15125550187",
)


def refusal_of(flow: ConfirmationFlow, details: object, said: list[str]) -> Refusal:
    with pytest.raises(ConfirmationRequired) as caught:
        flow.authorize(details, said)  # type: ignore[arg-type]
    return caught.value.refusal


@pytest.mark.parametrize(
    "utterance",
    [
        "Yes",
        "yes please",
        "Yeah, that's right.",
        "Correct!",
        "That’s correct",
        "Yep",
        "sure",
        "Sounds good",
        "go ahead",
    ],
)
def test_explicit_yes(utterance: str) -> None:
    assert classify_reply(utterance) is Reply.YES


@pytest.mark.parametrize(
    "utterance",
    [
        "No",
        "no, the number is wrong",
        "Yes, but wait, it's Tuesday",
        "actually, change it",
        "that's not right",
        "nope",
    ],
)
def test_no_or_correction(utterance: str) -> None:
    assert classify_reply(utterance) is Reply.NO


@pytest.mark.parametrize("utterance", ["", "hmm", "what time was that?", "okay", "Maria Garcia"])
def test_anything_else_is_not_a_yes(utterance: str) -> None:
    assert classify_reply(utterance) is Reply.UNCLEAR


def test_booking_needs_a_read_back_first() -> None:
    assert refusal_of(ConfirmationFlow(), DETAILS, ["yes"]) is Refusal.NOT_READ_BACK


def test_yes_before_the_read_back_does_not_count() -> None:
    flow = ConfirmationFlow()
    said = ["book option one", "yes"]
    flow.read_back(DETAILS, caller_turns_so_far=len(said))
    assert refusal_of(flow, DETAILS, said) is Refusal.NO_ANSWER_YET


def test_yes_after_the_read_back_authorises_exactly_those_details() -> None:
    flow = ConfirmationFlow()
    flow.read_back(DETAILS, caller_turns_so_far=1)
    flow.authorize(DETAILS, ["book option one", "yes, that's right"])
    changed = BookingDetails(**{**DETAILS.__dict__, "patient_phone": "+15125550100"})
    assert refusal_of(flow, changed, ["book option one", "yes"]) is Refusal.DETAILS_CHANGED


def test_no_clears_the_read_back() -> None:
    flow = ConfirmationFlow()
    flow.read_back(DETAILS, caller_turns_so_far=1)
    assert refusal_of(flow, DETAILS, ["book it", "no, wrong day"]) is Refusal.DECLINED
    assert flow.pending is None
    assert refusal_of(flow, DETAILS, ["book it", "no, wrong day", "yes"]) is Refusal.NOT_READ_BACK


def test_an_unclear_answer_keeps_waiting() -> None:
    flow = ConfirmationFlow()
    flow.read_back(DETAILS, caller_turns_so_far=1)
    assert refusal_of(flow, DETAILS, ["book it", "hmm"]) is Refusal.UNCLEAR
    flow.authorize(DETAILS, ["book it", "hmm", "yes"])


def test_completed_change_needs_a_new_read_back() -> None:
    flow = ConfirmationFlow()
    flow.read_back(DETAILS, caller_turns_so_far=0)
    flow.authorize(DETAILS, ["yes"])
    flow.complete()
    assert refusal_of(flow, DETAILS, ["yes"]) is Refusal.NOT_READ_BACK


def test_a_new_read_back_replaces_the_old_one() -> None:
    flow = ConfirmationFlow()
    flow.read_back(DETAILS, caller_turns_so_far=0)
    cancel = CancellationDetails("b-1", DETAILS.starts_at, "Cleaning")
    flow.read_back(cancel, caller_turns_so_far=1)
    assert refusal_of(flow, DETAILS, ["x", "yes"]) is Refusal.DETAILS_CHANGED
    flow.authorize(cancel, ["x", "yes"])


def test_read_back_text_is_spoken_style() -> None:
    text = booking_read_back(DETAILS, CHICAGO, date(2026, 11, 30))
    assert text == (
        "Let me read that back. A cleaning with Maria Lopez, RDH on Tuesday, December 1st at "
        "10:30 in the morning. That's for Maria Garcia, and the best number to reach you is "
        "5 1 2, 5 5 5, 0 1 8 7. Is that all correct?"
    )
    assert "opaque-slot" not in text


TODAY = date(2026, 11, 30)
READ_BACKS = {
    "booking": booking_read_back(DETAILS, CHICAGO, TODAY),
    "reschedule": reschedule_read_back(
        RescheduleDetails(
            booking_id="b-1",
            old_start=DETAILS.starts_at,
            new_slot_id="opaque-new-slot",
            new_start=datetime(2026, 12, 3, 14, 0, tzinfo=CHICAGO),
            appointment_type_name="Cleaning",
            provider_name="Maria Lopez, RDH",
        ),
        CHICAGO,
        TODAY,
    ),
    "cancellation": cancellation_read_back(
        CancellationDetails("b-1", DETAILS.starts_at, "Cleaning"), CHICAGO, TODAY
    ),
}


@pytest.mark.parametrize("kind", sorted(READ_BACKS))
def test_read_back_opens_with_a_short_sentence_the_tts_can_speak_at_once(kind: str) -> None:
    """The TTS starts speaking after the first sentence its tokenizer emits; a short one
    means the caller hears the read-back start after a few tokens, not the whole list."""
    text = READ_BACKS[kind]
    sentences = blingfire.SentenceTokenizer().tokenize(text)  # the Cartesia plugin's default
    assert len(sentences[0].split()) <= 6, sentences[0]
    assert len(sentences) >= 3, sentences
    assert " ".join(sentences) == text


@pytest.mark.parametrize(
    ("spoken", "on_file", "same"),
    [
        ("maria garcia", "Maria Garcia", True),
        ("Maria  Garcia.", "Maria Elena Garcia", True),
        ("Garcia", "Maria Garcia", False),
        ("John Garcia", "Maria Garcia", False),
        ("", "Maria Garcia", False),
    ],
)
def test_caller_verification_by_name(spoken: str, on_file: str, same: bool) -> None:
    assert same_caller(spoken, on_file) is same
