"""Speak first, then call the tool: a lookup turn's lead-in reaches the caller before the
tool's result, from the same LLM response, so the caller waits for one LLM round."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from receptionist.prompts import instructions

LOOKUP_TOOLS = ("check_availability", "find_appointments", "find_emergency_slot")


async def test_the_lead_in_is_spoken_then_the_tool_result(call: Any, script: Any) -> None:
    requests_before = len(call.llm.requests)
    call.llm.queue(
        script.Reply(
            text="Sure, let me check the mornings for you.",
            calls=[("check_availability", {"appointment_type": "cleaning"})],
        ),
        script.speak_tool_result(),
    )
    result = await call.session.run(user_input="I'd like a cleaning, mornings are best")
    lead_in = result.expect.next_event().is_message(role="assistant").event().item
    assert lead_in.text_content == "Sure, let me check the mornings for you."
    result.expect.next_event().is_function_call(name="check_availability")
    output = result.expect.next_event().is_function_call_output().event().item
    assert not output.is_error, output.output
    offer = result.expect.next_event().is_message(role="assistant").event().item
    result.expect.no_more_events()
    assert offer.text_content == output.output  # the options, after the lead-in
    # one response carried both the lead-in and the call; the second spoke the result
    assert len(call.llm.requests) == requests_before + 2
    history = [
        item.text_content
        for item in call.session.history.items
        if getattr(item, "role", None) == "assistant"
    ]
    assert history[-2:] == [lead_in.text_content, offer.text_content]


async def test_the_offer_made_after_a_lead_in_is_bookable(call: Any, script: Any) -> None:
    """The lead-in changes nothing for the booking: the option it led to reads back."""
    call.llm.queue(
        script.Reply(
            text="Sure, let me check.",
            calls=[("check_availability", {"appointment_type": "cleaning"})],
        ),
        script.speak_tool_result(),
    )
    await call.session.run(user_input="A cleaning, please")
    spoken = await call.read_back_booking("option-1", "Maria Garcia", "415 555 0132")
    assert "Maria Garcia" in spoken


@pytest.mark.parametrize("tool", LOOKUP_TOOLS)
def test_the_instructions_ask_for_a_lead_in_before_each_lookup(profile: Any, tool: str) -> None:
    text = instructions(profile, datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo(profile.timezone)))
    rule = next(line for line in text.splitlines() if "lead-in" in line)
    assert tool in rule
    assert "same response" in rule
