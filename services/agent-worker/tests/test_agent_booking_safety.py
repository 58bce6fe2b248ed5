"""Booking safety, tried as a careless model would drive the tools.

Each test drives a real `AgentSession` with a scripted LLM while the tools call a real
scheduling-api process on real Redis, or, for the hung-API tests, a real TCP server that
accepts connections and never answers.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from receptionist.config import Settings
from receptionist.scheduling_client import SchedulingClient
from receptionist.spoken_time import full_date

PHONE = "512-555-0187"
PHONE_E164 = "+15125550187"
DETAILS = {"option": "option-1", "patient_name": "Maria Garcia", "patient_phone": PHONE}
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
OPTION_LINE = re.compile(r"option-\d+ = ")
FILLER = "One moment while I check."


async def book(call, script, user_input: str, **details: str):
    return await call.tool_turn(
        user_input,
        script.call("book_appointment", **(details or DETAILS)),
        script.speak_tool_result(),
    )


# ---- 1. a "no" (or anything but a clear yes to the read-back itself) voids it ----------


@pytest.mark.parametrize(
    ("answer", "agent_asks", "then"),
    [
        ("No, that's the wrong day.", "Shall I look at Wednesday instead?", "Yes."),
        ("What time was that again?", "It's the time I just said. Does that work?", "Yes."),
        ("Hmm.", "Would you like me to book it?", "Yes please."),
        ("Yes.", "Would you like a reminder text as well?", "Yes, please."),
    ],
)
async def test_a_yes_to_anything_but_the_read_back_itself_books_nothing(
    call, script, scheduling_api, answer: str, agent_asks: str, then: str
) -> None:
    await call.offer_times()
    await call.read_back_booking("option-1", "Maria Garcia", PHONE)
    call.llm.queue(script.say(agent_asks))  # the model asks a question of its own, no tool
    result = await call.session.run(user_input=answer)
    result.expect.next_event().is_message(role="assistant")

    refusal = await book(call, script, then)
    assert refusal.is_error
    assert "read" in refusal.output
    assert "confirm_booking_details" in refusal.output
    assert scheduling_api.bookings(PHONE_E164) == []

    # a fresh read-back, answered directly with a clear yes, books
    await call.read_back_booking("option-1", "Maria Garcia", PHONE)
    booked = await book(call, script, "Yes, that's right.")
    assert not booked.is_error, booked.output
    assert len(scheduling_api.bookings(PHONE_E164, status="confirmed")) == 1


# ---- 2. a repeated commit is recognised as already done ---------------------------------


async def test_repeating_a_booking_or_its_read_back_says_already_booked(
    call, script, scheduling_api
) -> None:
    await call.offer_times()
    await call.read_back_booking("option-1", "Maria Garcia", PHONE)
    assert not (await book(call, script, "Yes.")).is_error

    again = await book(call, script, "Thank you!")
    assert not again.is_error, again.output
    assert again.output.startswith("Already booked")
    assert "nothing more to do" in again.output

    reconfirm = await call.tool_turn(
        "Can you confirm it?", script.call("confirm_booking_details", **DETAILS), script.say("")
    )
    assert not reconfirm.is_error, reconfirm.output
    assert reconfirm.output.startswith("Already booked")
    assert "taken" not in reconfirm.output
    assert len(scheduling_api.bookings(PHONE_E164)) == 1


async def test_a_slot_the_caller_already_holds_is_reported_as_theirs(
    call, script, scheduling_api
) -> None:
    """The scheduling API answers the same patient's repeat booking with that booking."""
    await call.offer_times()
    await call.read_back_booking("option-1", "Maria Garcia", PHONE)
    chosen = call.agent.references.slot("option-1")
    scheduling_api.book_directly(chosen.slot_id, "maria garcia", PHONE, "an-earlier-attempt")

    output = await book(call, script, "Yes, correct.")
    assert not output.is_error, output.output
    assert output.output.startswith("Already booked")
    assert "taken" not in output.output
    assert len(scheduling_api.bookings(PHONE_E164)) == 1


async def test_repeating_a_reschedule_or_a_cancellation_says_already_done(
    call, script, scheduling_api
) -> None:
    first = scheduling_api.slots("cleaning")[0]
    scheduling_api.book_directly(first["slot_id"], "Maria Garcia", PHONE, "seed")
    find = script.call("find_appointments", patient_phone=PHONE, patient_name="Maria Garcia")
    await call.tool_turn("I need to move my cleaning", find, script.speak_tool_result())
    await call.offer_times()
    option = next(
        ref
        for ref in ("option-1", "option-2", "option-3")
        if call.agent.references.slot(ref).slot_id != first["slot_id"]
    )
    move = {"appointment": "appointment-1", "option": option}
    await call.confirm("confirm_reschedule_details", "The other time", **move)
    moved = await call.tool_turn(
        "Yes, go ahead", script.call("reschedule_appointment", **move), script.say("Done.")
    )
    assert not moved.is_error, moved.output
    again = await call.tool_turn(
        "Great", script.call("reschedule_appointment", **move), script.say("Done.")
    )
    assert not again.is_error, again.output
    assert again.output.startswith("Already moved")
    assert "nothing more to do" in again.output

    cancel = {"appointment": "appointment-1"}
    await call.confirm("confirm_cancellation_details", "Actually, cancel it", **cancel)
    done = await call.tool_turn("Yes", script.call("cancel_appointment", **cancel), script.say(""))
    assert not done.is_error, done.output
    again = await call.tool_turn("Ok", script.call("cancel_appointment", **cancel), script.say(""))
    assert not again.is_error, again.output
    assert again.output.startswith("Already cancelled")
    assert scheduling_api.bookings(PHONE_E164, status="confirmed") == []


# ---- 3. a hung scheduling API never means dead air --------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [("check_availability", {"appointment_type": "cleaning"}), ("find_emergency_slot", {})],
)
async def test_a_hung_api_gets_a_filler_then_the_apology_by_the_deadline(
    open_receptionist, script, silent_port: int, tool: str, arguments: dict[str, str]
) -> None:
    # each attempt alone would hang for a minute: only the tool deadline can end it
    hung = SchedulingClient(f"http://127.0.0.1:{silent_port}", "t", timeout_seconds=60)
    call = await open_receptionist(hung, tool_deadline_seconds=1.0, filler_delay_seconds=0.2)
    call.llm.queue(script.call(tool, **arguments), script.speak_tool_result())

    async def run():
        return await call.session.run(user_input="Can someone see me soon?")

    result = await asyncio.wait_for(run(), timeout=30)
    await hung.aclose()
    spoken = [e.item.text_content for e in result.events if e.type == "message"]
    assert spoken[0] == FILLER
    output = result.expect.contains_function_call_output().event().item
    assert output.is_error
    assert "not responding" in output.output
    assert "request_callback" in output.output


async def test_no_filler_when_the_api_answers_quickly(
    open_receptionist, scheduling_client, script
) -> None:
    defaults = Settings()
    assert defaults.tool_deadline_seconds <= 2.5
    assert 0.5 <= defaults.tool_filler_delay_seconds <= defaults.tool_deadline_seconds
    call = await open_receptionist(
        scheduling_client, filler_delay_seconds=defaults.tool_filler_delay_seconds
    )
    await call.offer_times()  # tool call, its output, then the model's reply: no filler
    spoken = [i.text_content for i in call.session.history.items if i.type == "message"]
    assert FILLER not in spoken


# ---- smaller defects --------------------------------------------------------------------


async def test_a_slot_that_became_too_soon_offers_the_alternatives(
    call, script, scheduling_api
) -> None:
    await call.offer_times()
    await call.read_back_booking("option-1", "Maria Garcia", PHONE)
    chosen = call.agent.references.slot("option-1")
    minutes_away = int((chosen.start - datetime.now(UTC)).total_seconds() // 60)
    scheduling_api.restart(MIN_NOTICE_MINUTES=str(minutes_away + 24 * 60))

    output = await book(call, script, "Yes, that's right.")
    assert output.is_error
    assert "too soon" in output.output
    assert OPTION_LINE.search(output.output), output.output
    assert scheduling_api.bookings(PHONE_E164) == []


async def test_the_read_back_rechecks_the_slot_and_offers_alternatives(
    call, script, scheduling_api
) -> None:
    await call.offer_times()
    chosen = call.agent.references.slot("option-1")
    scheduling_api.book_directly(chosen.slot_id, "Someone Else", "512-555-0111", "other-caller")

    call.llm.queue(script.call("confirm_booking_details", **DETAILS), script.speak_tool_result())
    result = await call.session.run(user_input="Option one. Maria Garcia, 512 555 0187")
    output = result.expect.contains_function_call_output().event().item
    assert output.is_error
    assert "just taken" in output.output
    assert OPTION_LINE.search(output.output), output.output
    spoken = [e.item.text_content for e in result.events if e.type == "message"]
    assert not any("read that back" in text for text in spoken), spoken


@pytest.mark.parametrize("scheduling_api_env", [{"MIN_NOTICE_MINUTES": "2880"}])
async def test_an_emergency_opening_days_away_comes_with_urgent_advice(
    call, script, profile
) -> None:
    output = await call.tool_turn(
        "My jaw is swollen and it hurts a lot",
        script.call("find_emergency_slot"),
        script.speak_tool_result(),
    )
    assert not output.is_error, output.output
    assert OPTION_LINE.search(output.output)
    assert profile.policies["emergencies"] in output.output
    assert "request_callback" in output.output
    assert "urgent" in output.output


async def test_bad_input_is_never_echoed(call, script, scheduling_api) -> None:
    await call.offer_times()
    refusals = [
        ("confirm_booking_details", {**DETAILS, "option": "option-1" + "x" * 5000}),
        ("confirm_booking_details", {**DETAILS, "patient_name": "Maria " + "Garcia" * 900}),
        ("confirm_cancellation_details", {"appointment": "bk_0123456789abcdef0123"}),
    ]
    for tool, arguments in refusals:
        output = await call.tool_turn("...", script.call(tool, **arguments), script.say(""))
        assert output.is_error
        assert len(output.output) < 400, output.output
        for value in arguments.values():
            if len(value) > 20 or value.startswith("bk_"):
                assert value[-20:] not in output.output


async def test_dates_the_model_sees_are_spoken_and_a_past_date_is_flagged(
    call, script, profile
) -> None:
    today = datetime.now(ZoneInfo(profile.timezone)).date()
    too_far = today + timedelta(days=profile.booking_rules.max_days_ahead + 30)
    past = today - timedelta(days=3)

    async def check(preferred_date: str):
        return await call.tool_turn(
            "When can you see me?",
            script.call(
                "check_availability", appointment_type="cleaning", preferred_date=preferred_date
            ),
            script.say(""),
        )

    far = await check(too_far.isoformat())
    assert "ahead" in far.output
    assert not ISO_DATE.search(far.output), far.output

    unreadable = await check("next tuesday")
    assert unreadable.is_error
    assert not ISO_DATE.search(unreadable.output), unreadable.output

    earlier = await check(past.isoformat())
    assert not earlier.is_error, earlier.output
    assert "passed" in earlier.output
    assert full_date(past, today) in earlier.output
    assert OPTION_LINE.search(earlier.output)
    assert not ISO_DATE.search(earlier.output), earlier.output
