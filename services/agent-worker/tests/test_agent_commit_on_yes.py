"""Commit on the caller's yes in the turn hook, without an LLM round.

A real `AgentSession` (scripted LLM) with tools on a real scheduling-api: the hook is
handed the caller's finished turn the way LiveKit hands it over after the STT final.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

import pytest
from livekit.agents import StopResponse, llm
from receptionist.metrics import get_metrics
from receptionist.pipeline import PROVIDERS
from receptionist.telemetry import CallTelemetry

PHONE = "512-555-0187"
PHONE_E164 = "+15125550187"
NUDGE = "Are you still there?"


async def caller_says(call, text: str) -> bool:
    """Hand the agent's turn hook a finished caller turn; True if it answered the turn
    itself (`StopResponse`: no LLM reply)."""
    message = llm.ChatMessage(role="user", content=[text])
    try:
        await call.agent.on_user_turn_completed(call.agent.chat_ctx.copy(), new_message=message)
    except StopResponse:
        return True
    return False


async def spoken(call, words: str) -> str:
    """The agent's message containing `words`, once it is in the session history."""
    async with asyncio.timeout(20):
        while True:
            for item in call.session.history.items:
                if not isinstance(item, llm.ChatMessage) or item.role != "assistant":
                    continue
                if words in (text := item.text_content or ""):
                    return text
            await asyncio.sleep(0.05)


async def test_a_clear_yes_books_in_the_hook_and_the_model_sees_it_next_turn(
    call, script, scheduling_api
) -> None:
    await call.offer_times()
    await call.read_back_booking("option-1", "Maria Garcia", PHONE)
    rounds = len(call.llm.requests)

    assert await caller_says(call, "Yes, please book it.")

    [booking] = scheduling_api.bookings(PHONE_E164, status="confirmed")
    assert booking["patient"]["name"] == "Maria Garcia"
    assert len(call.llm.requests) == rounds  # no LLM round for the yes
    confirmation = await spoken(call, "is confirmed")
    assert confirmation.startswith("You're all set: your cleaning with ")
    call.llm.queue(script.say("You're welcome!"))
    await call.session.run(user_input="Thank you!")
    seen = call.llm.requests[-1]  # what the model is given on the next turn
    texts = [
        (item.role, item.text_content)
        for item in seen.items
        if isinstance(item, llm.ChatMessage) and item.role in ("user", "assistant")
    ]
    assert ("user", "Yes, please book it.") in texts
    assert ("assistant", confirmation) in texts
    [commit] = [
        item
        for item in seen.items
        if isinstance(item, llm.FunctionCallOutput) and item.name == "book_appointment"
    ]
    assert commit.output.startswith("Booked.")
    assert "Do not repeat it" in commit.output

    # a model that calls the commit tool anyway is told it is done, and nothing doubles
    again = await call.tool_turn(
        "Great.",
        script.call(
            "book_appointment", option="option-1", patient_name="Maria Garcia", patient_phone=PHONE
        ),
        script.speak_tool_result(),
    )
    assert again.output.startswith("Already booked")
    assert len(scheduling_api.bookings(PHONE_E164, status="confirmed")) == 1


@pytest.mark.parametrize(
    "answer", ["No, that's the wrong day.", "What time was that again?", "Hmm.", ""]
)
async def test_anything_but_a_clear_yes_commits_nothing_and_leaves_the_turn_to_the_model(
    call, scheduling_api, answer: str
) -> None:
    await call.offer_times()
    await call.read_back_booking("option-1", "Maria Garcia", PHONE)
    rounds = len(call.llm.requests)

    assert not await caller_says(call, answer)
    assert not await caller_says(call, "Yes.")  # the read-back was spent by the answer

    assert scheduling_api.bookings(PHONE_E164) == []
    assert len(call.llm.requests) == rounds


async def test_a_yes_to_the_silence_nudge_is_not_a_yes_to_the_read_back(
    call, scheduling_api
) -> None:
    await call.offer_times()
    await call.read_back_booking("option-1", "Maria Garcia", PHONE)
    await call.session.say(NUDGE)  # the caller stayed silent; the silence watcher nudged

    assert not await caller_says(call, "Yes.")
    assert scheduling_api.bookings(PHONE_E164) == []


async def test_a_clear_yes_moves_an_appointment_in_the_hook(call, script, scheduling_api) -> None:
    first = scheduling_api.slots("cleaning")[0]
    original = scheduling_api.book_directly(first["slot_id"], "Maria Garcia", PHONE, "seed-1")
    call.llm.queue(
        script.call("find_appointments", patient_phone=PHONE, patient_name="Maria Garcia"),
        script.speak_tool_result(),
    )
    await call.session.run(user_input="I need to move my appointment")
    await call.offer_times()
    option = next(
        ref
        for ref in ("option-1", "option-2", "option-3")
        if call.agent.references.slot(ref)
        and call.agent.references.slot(ref).slot_id != first["slot_id"]
    )
    args = {"appointment": "appointment-1", "option": option}
    await call.confirm("confirm_reschedule_details", "The other one works", **args)

    assert await caller_says(call, "Yes, go ahead.")

    old = scheduling_api.get(f"/v1/clinics/bright-smile/bookings/{original['booking_id']}")
    assert old["status"] == "rescheduled"
    assert old["rescheduled_to"] == call.agent.references.booking("appointment-1").booking_id
    assert (await spoken(call, "your appointment is now on")).startswith("Done:")


async def test_a_clear_yes_cancels_in_the_hook(call, script, scheduling_api) -> None:
    slot = scheduling_api.slots("exam")[0]
    booking = scheduling_api.book_directly(slot["slot_id"], "Maria Garcia", PHONE, "seed-3")
    call.llm.queue(
        script.call("find_appointments", patient_phone=PHONE, patient_name="Maria Garcia"),
        script.speak_tool_result(),
    )
    await call.session.run(user_input="I want to cancel my appointment")
    await call.confirm("confirm_cancellation_details", "That one", appointment="appointment-1")

    assert await caller_says(call, "Yes.")

    stored = scheduling_api.get(f"/v1/clinics/bright-smile/bookings/{booking['booking_id']}")
    assert stored["status"] == "cancelled"
    assert "your exam on" in await spoken(call, "is cancelled")


async def test_a_slot_taken_before_the_yes_leaves_the_reply_to_the_model_with_the_reason(
    call, script, scheduling_api
) -> None:
    await call.offer_times()
    await call.read_back_booking("option-1", "Maria Garcia", PHONE)
    chosen = call.agent.references.slot("option-1")
    scheduling_api.book_directly(chosen.slot_id, "Someone Else", "512-555-0111", "other-caller")

    turn = call.agent.chat_ctx.copy()
    message = llm.ChatMessage(role="user", content=["Yes."])
    await call.agent.on_user_turn_completed(turn, new_message=message)  # no StopResponse

    # the reply this turn (and every later one) reads the failed commit as its own tool call
    for context in (turn, call.agent.chat_ctx):
        failed = script.last_tool_output(context)
        assert failed.name == "book_appointment"
        assert failed.is_error
        assert "just taken" in failed.output
        assert re.search(r"option-\d+ = ", failed.output)
    assert scheduling_api.bookings(PHONE_E164) == []


async def test_the_hook_s_commit_is_reported_as_the_tool_it_ran(call) -> None:
    executed: list[tuple[str, bool]] = []
    call.session.on(
        "function_tools_executed",
        lambda event: executed.extend((o.name, o.is_error) for o in event.function_call_outputs),
    )
    await call.offer_times()
    await call.read_back_booking("option-1", "Maria Garcia", PHONE)
    executed.clear()

    assert await caller_says(call, "Yes.")
    assert executed == [("book_appointment", False)]


async def test_the_turn_the_hook_answers_is_measured_end_to_end(call, caplog) -> None:
    telemetry = CallTelemetry(get_metrics(), providers=PROVIDERS, clinic_id="bright-smile")
    telemetry.attach(call.session)
    caplog.set_level(logging.INFO, logger="receptionist.turns")
    await call.offer_times()
    await call.read_back_booking("option-1", "Maria Garcia", PHONE)
    stopped = time.time()
    caplog.clear()

    message = llm.ChatMessage(
        role="user", content=["Yes."], metrics={"stopped_speaking_at": stopped}
    )
    with pytest.raises(StopResponse):
        await call.agent.on_user_turn_completed(call.agent.chat_ctx.copy(), new_message=message)
    await spoken(call, "is confirmed")

    [turn] = [r for r in caplog.records if r.name == "receptionist.turns"]
    assert turn.latency_ms["end_to_end"] > 0
    assert turn.latency_ms["end_to_end"] < (time.time() - stopped) * 1000


async def test_an_emergency_booking_s_confirmation_carries_the_clinic_s_guidance(
    call, script, scheduling_api
) -> None:
    call.llm.queue(script.call("find_emergency_slot"), script.speak_tool_result())
    await call.session.run(user_input="I have a terrible toothache")
    await call.read_back_booking("option-1", "Sam Rivera", PHONE)

    assert await caller_says(call, "Yes, that's correct.")

    said = await spoken(call, "is confirmed")
    assert said.startswith("You're all set: your emergency visit with ")
    assert "call 911" in said
