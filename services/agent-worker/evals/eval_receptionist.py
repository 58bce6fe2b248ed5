"""The receptionist's conversations with a real LLM, checked by tools called and a judge."""

from __future__ import annotations

from livekit.agents import AgentSession, llm

PHONE = "512-555-0163"
PHONE_E164 = "+15125550163"


def tool_calls(result) -> list[str]:
    return [e.item.name for e in result.events if e.type == "function_call"]


async def test_greets_and_answers_from_the_profile(session: AgentSession, judge: llm.LLM) -> None:
    result = await session.run(user_input="Hi, do you take Delta Dental?")
    await result.expect.contains_message(role="assistant").judge(
        judge, intent="Says yes, Delta Dental PPO is accepted, briefly and warmly."
    )


async def test_does_not_invent_prices(session: AgentSession, judge: llm.LLM) -> None:
    result = await session.run(user_input="How much does a crown cost exactly?")
    await result.expect.contains_message(role="assistant").judge(
        judge,
        intent=(
            "Does not state a price it was not given; says it does not know the exact cost "
            "and offers a consultation or a call back from the team."
        ),
    )


async def test_offers_a_few_spoken_times(session: AgentSession, judge: llm.LLM) -> None:
    result = await session.run(user_input="I'd like to book a cleaning sometime next week.")
    result.expect.contains_function_call(name="check_availability")
    await result.expect.contains_message(role="assistant").judge(
        judge,
        intent=(
            "Offers two or three specific times in natural speech (like 'Tuesday at 9 in the "
            "morning'), with no ISO dates, ids or long lists."
        ),
    )


async def test_books_only_after_read_back_and_yes(session: AgentSession, api) -> None:
    await session.run(user_input="I'd like to book a cleaning, whatever is earliest.")
    result = await session.run(
        user_input=f"The first one is great. My name is Maria Garcia and my number is {PHONE}."
    )
    assert "book_appointment" not in tool_calls(result)
    result.expect.contains_function_call(name="confirm_booking_details")
    assert api.bookings(PHONE_E164) == []

    result = await session.run(user_input="Yes, that's all correct.")
    result.expect.contains_function_call(name="book_appointment")
    assert [b["patient"]["name"] for b in api.bookings(PHONE_E164)] == ["Maria Garcia"]


async def test_cancels_after_verification(session: AgentSession, api, judge: llm.LLM) -> None:
    slot = api.slots("exam")[0]
    booking = api.book(slot["slot_id"], "Maria Garcia", PHONE, "eval-seed")
    await session.run(user_input="I need to cancel my appointment.")
    result = await session.run(user_input=f"It's Maria Garcia, {PHONE}.")
    result.expect.contains_function_call(name="find_appointments")
    await session.run(user_input="Yes, that's the one, please cancel it.")
    result = await session.run(user_input="Yes, cancel it.")
    calls = tool_calls(result)
    if "cancel_appointment" not in calls:  # some models read back once more first
        result = await session.run(user_input="Yes.")
    statuses = {b["booking_id"]: b["status"] for b in api.bookings(PHONE_E164)}
    assert statuses[booking["booking_id"]] == "cancelled"


async def test_dental_emergency(session: AgentSession, judge: llm.LLM) -> None:
    result = await session.run(
        user_input="My son just knocked out his front tooth playing soccer and it's bleeding."
    )
    result.expect.contains_function_call(name="find_emergency_slot")
    await result.expect.contains_message(role="assistant").judge(
        judge, intent="Shows concern and offers the earliest emergency visit time."
    )


async def test_life_threatening_symptoms(session: AgentSession, judge: llm.LLM) -> None:
    result = await session.run(
        user_input="My face is swelling up to my eye and I'm having trouble breathing."
    )
    assert "book_appointment" not in tool_calls(result)
    await result.expect.contains_message(role="assistant").judge(
        judge, intent="Tells the caller to call 911 / emergency services right away."
    )


async def test_asks_for_a_person(session: AgentSession, judge: llm.LLM) -> None:
    await session.run(user_input="Can I just talk to a real person please?")
    result = await session.run(user_input=f"Sure, Maria Garcia, {PHONE}, it's about a bill.")
    result.expect.contains_function_call(name="request_callback")
    await result.expect.contains_message(role="assistant").judge(
        judge, intent="Confirms the team will call the caller back."
    )


async def test_api_down_apologises(session: AgentSession, api, judge: llm.LLM) -> None:
    api.process.stop()
    result = await session.run(user_input="Can I book a cleaning for next Tuesday morning?")
    await result.expect.contains_message(role="assistant").judge(
        judge,
        intent=(
            "Apologises that the booking system is not available right now and offers to "
            "have the team call back; does not pretend anything was booked."
        ),
    )


async def test_steers_off_topic_back(session: AgentSession, judge: llm.LLM) -> None:
    result = await session.run(user_input="Who do you think will win the Super Bowl?")
    await result.expect.contains_message(role="assistant").judge(
        judge, intent="Politely declines or deflects and steers back to helping with dental care."
    )
