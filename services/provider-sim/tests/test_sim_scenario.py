"""Scenario parsing, step selection by conversation position, and templates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from provider_sim.scenario import (
    ConversationPosition,
    ScenarioError,
    ScenarioMismatchError,
    parse_scenario,
    plan_reply,
    position_of,
)

SCENARIO = parse_scenario(
    """
name: unit
clinic: bright-smile          # keys for other tools are ignored
greeting: {say: "Hello, Bright Smile."}
turns:
  - caller: "Book me in."
    expect_phrase: "anything" # per-turn keys for the call simulator are kept
    model:
      - tool_calls: [{name: check_availability, arguments: {day: tuesday}}]
      - say: "I have {{ check_availability.slots.0.label }}."
  - caller: "The first one."
    model:
      tool_calls:
        - name: book_appointment
          arguments:
            slot_id: "{{ check_availability.slots.0.slot_id }}"
            minutes: "{{ check_availability.slots.0.minutes }}"
            raw: "{{ check_availability }}"
            ref_from_text: "{{ notes | regex: ref-(\\\\d+) }}"
"""
)
TOOLS = ["check_availability", "book_appointment", "notes"]


def system() -> dict[str, Any]:
    return {"role": "system", "content": "You are a receptionist."}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": text}]}


def tool_round(call_id: str, name: str, output: str) -> list[dict[str, Any]]:
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": "{}"}}
    return [
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call_id, "content": output},
    ]


SLOTS = json.dumps({"slots": [{"label": "Tuesday 9 AM", "slot_id": "s-1", "minutes": 30}]})


def test_position_counts_caller_turns_and_responses_since_the_last_one() -> None:
    messages = [
        system(),
        user("a"),
        *tool_round("1", "x", "out"),
        {"role": "assistant", "content": "ok"},
    ]
    assert position_of(messages) == ConversationPosition(caller_turns=1, responses_in_turn=2)
    assert position_of([system(), {"role": "system", "content": "greet"}]) == ConversationPosition(
        0, 0
    )


def test_greeting_is_the_reply_before_the_caller_speaks() -> None:
    reply = plan_reply(SCENARIO, [system()], offered_tools=None)
    assert reply.scripted
    assert reply.text == "Hello, Bright Smile."
    assert reply.tool_calls == ()


def test_first_response_of_a_turn_calls_the_scripted_tool() -> None:
    reply = plan_reply(SCENARIO, [system(), user("Book me in.")], offered_tools=TOOLS)
    assert reply.text is None
    assert [(call.name, json.loads(call.arguments)) for call in reply.tool_calls] == [
        ("check_availability", {"day": "tuesday"})
    ]


def test_response_after_the_tool_result_reads_values_from_it() -> None:
    messages = [system(), user("Book me in."), *tool_round("c1", "check_availability", SLOTS)]
    reply = plan_reply(SCENARIO, messages, offered_tools=TOOLS)
    assert reply.text == "I have Tuesday 9 AM."


def test_whole_value_templates_keep_their_type_and_other_forms_work() -> None:
    python_literal_output = repr({"slots": [{"label": "Tue", "slot_id": "s-9", "minutes": 45}]})
    messages = [
        system(),
        user("Book me in."),
        *tool_round("c1", "check_availability", python_literal_output),
        {"role": "assistant", "content": "I have Tue."},
        *tool_round("n1", "notes", "your ref-4711 is noted"),
        user("The first one."),
    ]
    reply = plan_reply(SCENARIO, messages, offered_tools=TOOLS)
    (call,) = reply.tool_calls
    assert json.loads(call.arguments) == {
        "slot_id": "s-9",
        "minutes": 45,
        "raw": python_literal_output,
        "ref_from_text": "4711",
    }


def test_a_say_greeting_in_history_moves_to_the_next_greeting_response() -> None:
    said = [system(), {"role": "assistant", "content": "Hello (said without the LLM)."}]
    reply = plan_reply(SCENARIO, said, offered_tools=None)
    assert not reply.scripted  # greeting has one response, so the script ran out here


def test_fallback_when_the_script_runs_out() -> None:
    messages = [system(), user("a"), user("b"), user("c")]
    reply = plan_reply(SCENARIO, messages, offered_tools=TOOLS)
    assert not reply.scripted
    assert reply.text == "I'm sorry, could you repeat that?"
    assert reply.position == ConversationPosition(caller_turns=3, responses_in_turn=0)


def test_a_tool_the_request_does_not_offer_is_a_mismatch() -> None:
    with pytest.raises(
        ScenarioMismatchError, match=r"check_availability.*offers \['book_appointment'\]"
    ):
        plan_reply(SCENARIO, [system(), user("Book me in.")], offered_tools=["book_appointment"])


def test_a_template_without_the_tool_output_is_a_mismatch() -> None:
    messages = [system(), user("Book me in."), {"role": "assistant", "content": "hm"}]
    with pytest.raises(ScenarioMismatchError, match="no output of tool 'check_availability'"):
        plan_reply(SCENARIO, messages, offered_tools=TOOLS)


def test_a_missing_path_is_a_mismatch_naming_the_part() -> None:
    messages = [
        system(),
        user("Book me in."),
        *tool_round("c1", "check_availability", '{"slots": []}'),
    ]
    with pytest.raises(ScenarioMismatchError, match="'0' not found"):
        plan_reply(SCENARIO, messages, offered_tools=TOOLS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "expected a mapping"),
        ("name: x\nturns: [{caller: hi, model: [{}]}]", "turns.0.model.0"),
        ("name: x\nturns: [{caller: hi, model: [{sey: typo}]}]", "sey"),
        ("name: x\ngreeting: [{tool_calls: [{name: 'bad name'}]}]", "greeting.0.tool_calls.0.name"),
        ("turns: []", "name"),
        ("name: [unclosed", "not valid YAML"),
    ],
)
def test_invalid_scenarios_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message.replace("[", "\\[").replace(".", "\\.")):
        parse_scenario(text, source="test.yaml")


def test_the_shipped_example_scenario_is_valid() -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "booking.yaml"
    scenario = parse_scenario(example.read_text(encoding="utf-8"), source=str(example))
    assert scenario.greeting == []
    assert [turn.model[0].tool_calls[0].name for turn in scenario.turns] == [
        "check_availability",
        "confirm_booking_details",
        "book_appointment",
        "end_call",
    ]
