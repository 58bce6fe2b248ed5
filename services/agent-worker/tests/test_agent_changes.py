"""What a caller's answer means, read-back texts, and caller verification."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from livekit.agents.tokenize import blingfire
from receptionist.changes import (
    BookingDetails,
    CancellationDetails,
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
