"""The name and phone number the scripted model takes from the caller's words."""

from __future__ import annotations

import json
from typing import Any

import pytest
from provider_sim.heard import heard_name, heard_phone
from provider_sim.scenario import parse_scenario, plan_reply

SCRIPTED_LINE = (
    "The first one, please. My name is Maria Garcia and my number is four one five, "
    "five five five, zero one three two."
)


def test_the_scripted_callers_line_gives_its_name_and_number() -> None:
    assert heard_name([SCRIPTED_LINE]) == "Maria Garcia"
    assert heard_phone([SCRIPTED_LINE]) == "(415) 555-0132"


@pytest.mark.parametrize(
    ("heard", "phone"),
    [
        # pocketsphinx's own transcripts of Piper-spoken numbers
        ("my name is maria garcia him my number is four one five five five five zero won three two",
         "(415) 555-0132"),
        ("my phone number is two one two five five five one two three four", "(212) 555-1234"),
        ("my numbers by want to buy five five tier one nine nine", "(512) 555-0199"),
        ("my phone numbers to want to five five five one two three four", "(212) 555-1234"),
        ("with foam a risk you want to buy five five one two three four", None),  # no "number"
        ("my numbers by twenty five five five tier one nine nine", None),  # nine digits
        ("my number is 512 555 0199", "(512) 555-0199"),
        ("my number is five one two five five five zero one nine nine i want to come in",
         "(512) 555-0199"),
        ("my number is five one two five five five one nine nine thank you want to", None),
        ("number one five one two five five five zero one nine nine", "(512) 555-0199"),
        ("it's five one two five five five oh one nine nine that's my number", None),
        ("my number is five one two five five five", None),  # too few digits
        ("my number is zero one two five five five zero one nine nine", None),  # no such area
        ("the first one please", None),
    ],
)  # fmt: skip
def test_a_phone_number_needs_ten_plausible_digits_after_number(
    heard: str, phone: str | None
) -> None:
    assert heard_phone([heard]) == phone


def test_the_latest_caller_line_with_a_number_wins() -> None:
    lines = ["my number is four one five five five five zero one three two", "yes please"]
    assert heard_phone(lines) == "(415) 555-0132"
    assert heard_phone([*lines, "sorry my number is 212 555 1234"]) == "(212) 555-1234"


@pytest.mark.parametrize(
    ("heard", "name"),
    [
        ("my name is john smith in my numbers by want to", "John Smith"),
        ("the first one my name is o'brien and my number is", "O'brien"),
        ("yes please book it", None),
        ("i'm looking for a cleaning", None),
        ("my name is and", None),
    ],
)
def test_a_name_is_up_to_two_words_after_my_name_is(heard: str, name: str | None) -> None:
    assert heard_name([heard]) == name


BOOKING = parse_scenario(
    """
name: heard
turns:
  - caller: "My name is Maria Garcia."
    model:
      - tool_calls:
          - name: book_appointment
            arguments:
              patient_name: "{{ heard name or Maria Garcia }}"
              patient_phone: "{{ heard phone or (415) 555-0132 }}"
      - say: "Booked for {{ heard name or Maria Garcia }}."
"""
)


def _booking_arguments(caller_says: str) -> dict[str, Any]:
    messages = [{"role": "user", "content": caller_says}]
    reply = plan_reply(BOOKING, messages, offered_tools=["book_appointment"])
    (call,) = reply.tool_calls
    arguments: dict[str, Any] = json.loads(call.arguments)
    return arguments


def test_the_script_books_what_the_caller_said() -> None:
    said = "my name is david brown my phone number is two one two five five five one two three four"
    assert _booking_arguments(said) == {
        "patient_name": "David Brown",
        "patient_phone": "(212) 555-1234",
    }


def test_the_script_falls_back_to_its_defaults_when_nothing_was_heard() -> None:
    assert _booking_arguments("mumble mumble") == {
        "patient_name": "Maria Garcia",
        "patient_phone": "(415) 555-0132",
    }
    call = [{"id": "c1", "type": "function", "function": {"name": "book_appointment"}}]
    messages = [
        {"role": "user", "content": "my name is ann lee"},
        {"role": "assistant", "tool_calls": call},
        {"role": "tool", "tool_call_id": "c1", "content": "booked"},
    ]
    assert plan_reply(BOOKING, messages, offered_tools=[]).text == "Booked for Ann Lee."
