"""Behaviour of the receptionist in whole conversations.

Each test drives a real `AgentSession` (no room; text in, text out) with a scripted LLM,
while the tools call a real scheduling-api process over HTTP on real Redis. The scripted
model plays a well-behaved model; the assertions are about what the *tools* allow and
return, and what reaches the appointment book.
"""

from __future__ import annotations

import re

from livekit.agents import llm

PHONE = "512-555-0187"
PHONE_E164 = "+15125550187"


async def test_greets_as_the_clinic_from_the_profile(call, profile) -> None:
    call.greeting.expect.skip_next_event_if(type="agent_handoff")
    greeting = call.greeting.expect.next_event().is_message(role="assistant").event().item
    assert profile.name in greeting.text_content
    assert greeting.text_content.rstrip().endswith("?")


async def test_answers_faq_from_the_profile(call, script, profile) -> None:
    entry = profile.faq[0]

    def answer_from_instructions(chat_ctx: llm.ChatContext) -> script.Reply:
        # a faithful model: find the caller's question among the FAQ it was given
        instructions = script.instructions_of(chat_ctx)
        match = re.search(rf"Q: {re.escape(entry.question)}\n\s+A: (.+)", instructions)
        return script.say(match.group(1) if match else "I'm not sure, let me have someone call.")

    call.llm.queue(answer_from_instructions)
    result = await call.session.run(user_input=entry.question)
    reply = result.expect.next_event().is_message(role="assistant").event().item
    assert reply.text_content == entry.answer
    result.expect.no_more_events()
    instructions = script.instructions_of(call.llm.requests[-1])
    for fact in (profile.name, profile.insurance_accepted[0], profile.providers[0].name):
        assert fact in instructions


async def test_offers_two_or_three_grouped_options(call, script, scheduling_api) -> None:
    output = await call.offer_times()
    references = re.findall(r"^(option-\d+) = ", output, flags=re.MULTILINE)
    assert 2 <= len(references) <= 3
    spoken = output.split("\n", 1)[0]
    assert re.search(r"in the (morning|afternoon|evening)", spoken)
    slot_ids = [s["slot_id"] for s in scheduling_api.slots("cleaning")]
    script.assert_speakable(output, slot_ids)


async def test_books_after_read_back_and_explicit_yes(call, script, scheduling_api) -> None:
    await call.offer_times()
    read_back = await call.read_back_booking("option-1", "Maria Garcia", PHONE)
    assert "Maria Garcia" in read_back
    assert "5 1 2, 5 5 5, 0 1 8 7" in read_back
    script.assert_speakable(read_back)

    details = {"option": "option-1", "patient_name": "Maria Garcia", "patient_phone": PHONE}
    call.llm.queue(script.call("book_appointment", **details), script.speak_tool_result())
    result = await call.session.run(user_input="Yes, that's right.")
    result.expect.next_event().is_function_call(name="book_appointment")
    output = result.expect.next_event().is_function_call_output().event().item
    assert not output.is_error, output.output
    assert output.output.startswith("Booked")

    booked = scheduling_api.bookings(PHONE_E164, status="confirmed")
    assert [b["patient"]["name"] for b in booked] == ["Maria Garcia"]
    assert booked[0]["source"] == "voice-agent"


async def test_refuses_to_book_without_the_callers_yes(call, script, scheduling_api) -> None:
    await call.offer_times()
    details = {"option": "option-1", "patient_name": "Maria Garcia", "patient_phone": PHONE}

    # 1. straight to booking, nothing read back
    call.llm.queue(script.call("book_appointment", **details), script.say("Let me check."))
    result = await call.session.run(user_input="Book option one for Maria Garcia, 512 555 0187")
    refusal = result.expect.contains_function_call_output().event().item
    assert refusal.is_error
    assert "read back" in refusal.output

    # 2. read back and book in the same breath, before the caller answered
    call.llm.queue(
        script.Reply(calls=[("confirm_booking_details", details), ("book_appointment", details)]),
        script.say("Is that right?"),
    )
    result = await call.session.run(user_input="Yes just book it")
    outputs = {e.item.name: e.item for e in result.events if e.type == "function_call_output"}
    assert not outputs["confirm_booking_details"].is_error
    assert outputs["book_appointment"].is_error
    assert outputs["book_appointment"].output.startswith("Not done")

    # 3. the caller corrects a fresh read-back instead of saying yes (the one above was
    # followed by the model's own question, so it is spent already)
    await call.read_back_booking("option-1", "Maria Garcia", PHONE)
    call.llm.queue(script.call("book_appointment", **details), script.say("Sorry about that."))
    result = await call.session.run(user_input="No, the number is wrong.")
    refusal = result.expect.contains_function_call_output().event().item
    assert refusal.is_error
    assert "did not confirm" in refusal.output

    assert scheduling_api.bookings(PHONE_E164) == []


async def test_slot_taken_offers_the_alternatives(call, script, scheduling_api) -> None:
    await call.offer_times()
    await call.read_back_booking("option-1", "Maria Garcia", PHONE)
    chosen = call.agent.references.slot("option-1")
    scheduling_api.book_directly(chosen.slot_id, "Someone Else", "512-555-0111", "other-caller")

    details = {"option": "option-1", "patient_name": "Maria Garcia", "patient_phone": PHONE}
    call.llm.queue(script.call("book_appointment", **details), script.speak_tool_result())
    result = await call.session.run(user_input="Yes please")
    output = result.expect.contains_function_call_output().event().item
    assert output.is_error
    assert "just taken" in output.output
    assert re.search(r"option-\d+ = ", output.output)
    slot_ids = [s["slot_id"] for s in scheduling_api.slots("cleaning")]
    script.assert_speakable(output.output, [*slot_ids, chosen.slot_id])
    assert scheduling_api.bookings(PHONE_E164) == []


async def test_reschedules_after_verification_and_yes(call, script, scheduling_api) -> None:
    first = scheduling_api.slots("cleaning")[0]
    original = scheduling_api.book_directly(first["slot_id"], "Maria Garcia", PHONE, "seed-1")

    call.llm.queue(
        script.call("find_appointments", patient_phone=PHONE, patient_name="maria garcia"),
        script.speak_tool_result(),
    )
    result = await call.session.run(user_input="I need to move my appointment")
    found = result.expect.contains_function_call_output().event().item
    assert not found.is_error
    assert "appointment-1 = " in found.output

    await call.offer_times()
    option = next(
        ref
        for ref in ("option-1", "option-2", "option-3")
        if call.agent.references.slot(ref)
        and call.agent.references.slot(ref).slot_id != first["slot_id"]
    )
    args = {"appointment": "appointment-1", "option": option}
    read_back = await call.confirm("confirm_reschedule_details", "The other one works", **args)
    assert "move your cleaning" in read_back

    call.llm.queue(script.call("reschedule_appointment", **args), script.speak_tool_result())
    result = await call.session.run(user_input="Yes, go ahead")
    moved = result.expect.contains_function_call_output().event().item
    assert not moved.is_error, moved.output

    old = scheduling_api.get(f"/v1/clinics/bright-smile/bookings/{original['booking_id']}")
    assert old["status"] == "rescheduled"
    assert old["rescheduled_to"] == call.agent.references.booking("appointment-1").booking_id


async def test_does_not_reveal_appointments_to_the_wrong_name(call, script, scheduling_api) -> None:
    first = scheduling_api.slots("cleaning")[0]
    scheduling_api.book_directly(first["slot_id"], "Maria Garcia", PHONE, "seed-2")
    call.llm.queue(
        script.call("find_appointments", patient_phone=PHONE, patient_name="John Smith"),
        script.speak_tool_result(),
    )
    result = await call.session.run(user_input="What time is my appointment?")
    output = result.expect.contains_function_call_output().event().item
    assert "No upcoming appointment" in output.output
    assert "appointment-1" not in output.output


async def test_cancels_after_verification_and_yes(call, script, scheduling_api) -> None:
    slot = scheduling_api.slots("exam")[0]
    booking = scheduling_api.book_directly(slot["slot_id"], "Maria Garcia", PHONE, "seed-3")
    call.llm.queue(
        script.call(
            "find_appointments", patient_phone="(512) 555-0187", patient_name="Maria Garcia"
        ),
        script.speak_tool_result(),
    )
    await call.session.run(user_input="I want to cancel my appointment")

    read_back = await call.confirm(
        "confirm_cancellation_details", "That one", appointment="appointment-1"
    )
    assert "cancel your exam" in read_back

    call.llm.queue(
        script.call("cancel_appointment", appointment="appointment-1"), script.speak_tool_result()
    )
    result = await call.session.run(user_input="Yes")
    output = result.expect.contains_function_call_output().event().item
    assert not output.is_error, output.output
    stored = scheduling_api.get(f"/v1/clinics/bright-smile/bookings/{booking['booking_id']}")
    assert stored["status"] == "cancelled"


async def test_api_down_apologises_and_offers_a_callback(call, script, scheduling_api) -> None:
    scheduling_api.process.stop()
    call.llm.queue(
        script.call("check_availability", appointment_type="cleaning"),
        lambda ctx: script.say(
            "I'm so sorry, our booking system isn't responding right now. "
            "Would you like the team to call you back?"
            if script.last_tool_output(ctx).is_error
            else "Here are some times."
        ),
    )
    result = await call.session.run(user_input="Can I book a cleaning?")
    output = result.expect.contains_function_call_output().event().item
    assert output.is_error
    assert "not responding" in output.output
    assert "request_callback" in output.output
    reply = result.expect.contains_message(role="assistant").event().item
    assert "sorry" in reply.text_content.lower()

    call.llm.queue(
        script.call(
            "request_callback", caller_name="Maria Garcia", caller_phone=PHONE, reason="booking"
        ),
        script.speak_tool_result(),
    )
    result = await call.session.run(user_input="Yes please, Maria Garcia, 512 555 0187")
    output = result.expect.contains_function_call_output().event().item
    assert output.is_error  # the API is still down: the model is told what to say instead
    assert "5 1 2, 5 5 5, 0 1 4 2" in output.output  # the clinic's number, from the profile


async def test_callback_request_reaches_the_staff_list(call, script, scheduling_api) -> None:
    call.llm.queue(
        script.call(
            "request_callback",
            caller_name="Maria Garcia",
            caller_phone=PHONE,
            reason="wants to talk to a person about billing",
        ),
        script.speak_tool_result(),
    )
    result = await call.session.run(user_input="Can I talk to a real person?")
    output = result.expect.contains_function_call_output().event().item
    assert not output.is_error, output.output
    callbacks = scheduling_api.get("/v1/clinics/bright-smile/callbacks", status="open")["callbacks"]
    assert [(c["name"], c["phone"]) for c in callbacks] == [("Maria Garcia", PHONE_E164)]


async def test_emergency_offers_the_earliest_emergency_slot(call, script, scheduling_api) -> None:
    call.llm.queue(script.call("find_emergency_slot"), script.speak_tool_result())
    result = await call.session.run(user_input="My tooth got knocked out and it's bleeding")
    output = result.expect.contains_function_call_output().event().item
    assert not output.is_error, output.output
    earliest = scheduling_api.slots("emergency", days=7)[0]
    offered = call.agent.references.slot("option-1")
    assert offered.slot_id == earliest["slot_id"]
    assert "visit visits" not in output.output
    script.assert_speakable(output.output, [earliest["slot_id"]])
