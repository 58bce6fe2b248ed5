"""The approval rule for changes to the appointment book, as a pure state machine.

A change may be committed only when the caller's very next words after the whole read-back
were a clear yes. Anything else (a no, a correction, a question, an agent question in
between, a read-back cut off, more words after the yes) spends the read-back.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from receptionist.approval import Approval, ConfirmationRequired, Refusal, Stage
from receptionist.changes import BookingDetails, CancellationDetails

CHICAGO = ZoneInfo("America/Chicago")
DETAILS = BookingDetails(
    slot_id="opaque-slot",
    starts_at=datetime(2026, 12, 1, 10, 30, tzinfo=CHICAGO),
    appointment_type_name="Cleaning",
    provider_name="Maria Lopez, RDH",
    patient_name="Maria Garcia",
    patient_phone="+15125550187",
)
CANCEL = CancellationDetails("b-1", DETAILS.starts_at, "Cleaning")


def refusal_of(approval: Approval, details: object) -> Refusal:
    with pytest.raises(ConfirmationRequired) as caught:
        approval.authorize(details)  # type: ignore[arg-type]
    return caught.value.refusal


def heard(details: object = DETAILS) -> Approval:
    """An approval whose read-back of `details` the caller has just heard in full."""
    approval = Approval()
    approval.read_back_started(details)  # type: ignore[arg-type]
    approval.read_back_finished(details, heard_whole=True)  # type: ignore[arg-type]
    return approval


def test_nothing_is_approved_without_a_read_back() -> None:
    approval = Approval()
    assert approval.caller_turn("yes") is None
    assert refusal_of(approval, DETAILS) is Refusal.NOT_READ_BACK


def test_a_clear_yes_right_after_the_read_back_approves_exactly_those_details() -> None:
    approval = heard()
    assert approval.caller_turn("Yes, that's right.") == DETAILS
    assert approval.stage is Stage.APPROVED
    approval.authorize(DETAILS)
    changed = replace(DETAILS, patient_phone="+15125550100")
    assert refusal_of(approval, changed) is Refusal.DETAILS_CHANGED


def test_no_answer_yet_while_the_read_back_is_being_spoken_or_awaited() -> None:
    approval = Approval()
    approval.read_back_started(DETAILS)
    assert refusal_of(approval, DETAILS) is Refusal.NO_ANSWER_YET
    approval.read_back_finished(DETAILS, heard_whole=True)
    assert refusal_of(approval, DETAILS) is Refusal.NO_ANSWER_YET


@pytest.mark.parametrize(
    ("answer", "refusal"),
    [
        ("No, that's the wrong day.", Refusal.DECLINED),
        ("Actually, make it Tuesday", Refusal.DECLINED),
        ("What time was that again?", Refusal.UNCLEAR),
        ("hmm", Refusal.UNCLEAR),
        ("Do you have parking?", Refusal.UNCLEAR),
    ],
)
def test_anything_but_a_clear_yes_spends_the_read_back(answer: str, refusal: Refusal) -> None:
    approval = heard()
    assert approval.caller_turn(answer) is None
    assert approval.stage is Stage.SPENT
    assert refusal_of(approval, DETAILS) is refusal
    # a later yes, to whatever the agent asked meanwhile, does not revive it
    approval.agent_turn()
    assert approval.caller_turn("Yes.") is None
    assert refusal_of(approval, DETAILS) is refusal


def test_an_agent_question_between_the_read_back_and_the_yes_spends_it() -> None:
    approval = heard()
    approval.agent_turn()
    assert approval.caller_turn("Yes") is None
    assert refusal_of(approval, DETAILS) is Refusal.NOT_DIRECT


def test_more_words_after_the_yes_spend_the_approval() -> None:
    approval = heard()
    assert approval.caller_turn("yes") == DETAILS
    approval.agent_turn()  # the agent replying to the yes does not matter...
    approval.authorize(DETAILS)
    assert approval.caller_turn("oh wait") is None  # ...the caller speaking again does
    assert refusal_of(approval, DETAILS) is Refusal.DECLINED


def test_a_read_back_cut_off_or_refused_over_is_not_a_read_back() -> None:
    cut_off = Approval()
    cut_off.read_back_started(DETAILS)
    cut_off.read_back_finished(DETAILS, heard_whole=False)
    assert cut_off.caller_turn("yes") is None
    assert refusal_of(cut_off, DETAILS) is Refusal.NOT_DIRECT

    refused_over_it = Approval()
    refused_over_it.read_back_started(DETAILS)
    assert refused_over_it.caller_turn("no wait") is None
    refused_over_it.read_back_finished(DETAILS, heard_whole=True)
    assert refused_over_it.caller_turn("yes") is None
    assert refusal_of(refused_over_it, DETAILS) is Refusal.DECLINED


def test_words_over_the_read_back_neither_approve_nor_spend_it() -> None:
    approval = Approval()
    approval.read_back_started(DETAILS)
    assert approval.caller_turn("mm-hmm") is None
    assert approval.caller_turn("yes") is None  # not yet heard in full
    assert refusal_of(approval, DETAILS) is Refusal.NO_ANSWER_YET
    approval.read_back_finished(DETAILS, heard_whole=True)
    assert approval.caller_turn("yes, that's right") == DETAILS


def test_agent_speech_before_the_read_back_is_heard_does_not_count() -> None:
    approval = Approval()
    approval.read_back_started(DETAILS)
    approval.agent_turn()  # e.g. "Sure." spoken in the same step, before the read-back
    approval.read_back_finished(DETAILS, heard_whole=True)
    assert approval.caller_turn("yes") == DETAILS


def test_a_new_read_back_replaces_the_old_one() -> None:
    approval = heard()
    approval.read_back_started(CANCEL)
    approval.read_back_finished(DETAILS, heard_whole=True)  # a stale one finishing: ignored
    assert refusal_of(approval, DETAILS) is Refusal.DETAILS_CHANGED
    approval.read_back_finished(CANCEL, heard_whole=True)
    assert approval.caller_turn("yes please") == CANCEL
    approval.authorize(CANCEL)


def test_a_completed_change_needs_a_new_read_back() -> None:
    approval = heard()
    approval.caller_turn("yes")
    approval.completed()
    assert approval.stage is Stage.IDLE
    assert refusal_of(approval, DETAILS) is Refusal.NOT_READ_BACK


def test_the_same_caller_turn_reported_twice_counts_once() -> None:
    """The turn hook and the transcript may both report one caller turn."""
    approval = heard()
    assert approval.caller_turn("yes", turn_id="item-1") == DETAILS
    assert approval.caller_turn("yes", turn_id="item-1") is None
    approval.authorize(DETAILS)


def test_guidance_tells_the_model_what_to_do_next() -> None:
    approval = heard()
    approval.caller_turn("no, wrong number")
    with pytest.raises(ConfirmationRequired) as caught:
        approval.authorize(DETAILS)
    assert "did not confirm" in caught.value.guidance
    assert "confirm_" in caught.value.guidance
