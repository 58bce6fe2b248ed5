"""A caller on a phone line: caller ID offered (never identity), keys pressed, and reaching
a person by transfer within the front desk's hours, else the callback path."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY
from receptionist.phone_call import (
    Keypad,
    PhoneCaller,
    PhoneLineControl,
    clinic_for_dialled,
    keypad_text,
    transfers_open,
)

CALLER = PhoneCaller("sip_+15125550199", "+15125550199", "+15125550142")
MONDAY_10AM = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)  # 10:00 in Austin
MONDAY_LUNCH = datetime(2026, 12, 7, 18, 30, tzinfo=UTC)  # 12:30: the desk's lunch break
SATURDAY_10AM = datetime(2026, 12, 5, 16, 0, tzinfo=UTC)  # open, but no transfer hours
CHRISTMAS_10AM = datetime(2026, 12, 25, 16, 0, tzinfo=UTC)  # a Friday, a clinic holiday


class Line:
    """The SIP line as the receptionist drives it: records each transfer it asks for."""

    def __init__(self, refuse: Exception | None = None) -> None:
        self.transfers: list[str] = []
        self.refuse = refuse

    async def transfer(self, number: str) -> None:
        self.transfers.append(number)
        if self.refuse is not None:
            raise self.refuse

    def control(self) -> PhoneLineControl:
        return PhoneLineControl(CALLER, self.transfer)


def greeting_of(call: Any) -> str:
    call.greeting.expect.skip_next_event_if(type="agent_handoff")
    return str(
        call.greeting.expect.next_event().is_message(role="assistant").event().item.text_content
    )


def transfers(outcome: str) -> float:
    return REGISTRY.get_sample_value("receptionist_transfers_total", {"outcome": outcome}) or 0.0


def test_transfer_hours_follow_the_clinic_clock_and_holidays(profile: Any) -> None:
    assert transfers_open(profile, MONDAY_10AM)
    assert not transfers_open(profile, MONDAY_LUNCH)
    assert not transfers_open(profile, SATURDAY_10AM)
    assert not transfers_open(profile, CHRISTMAS_10AM)
    no_desk = profile.model_copy(
        update={"phone_line": profile.phone_line.model_copy(update={"front_desk_number": None})}
    )
    assert not transfers_open(no_desk, MONDAY_10AM)


def test_the_dialled_number_finds_the_clinic(profile: Any) -> None:
    assert clinic_for_dialled("+15125550142", [profile]) == "bright-smile"
    assert clinic_for_dialled("+15125550000", [profile]) is None
    assert clinic_for_dialled(None, [profile]) is None


async def test_keys_make_entries_on_hash_or_a_pause() -> None:
    entries: list[str] = []
    keypad = Keypad(entries.append, pause_seconds=0.2)
    for key in "512555":
        keypad.press(key)
    keypad.press("#")
    assert entries == ["512555"]
    keypad.press("0")
    await asyncio.sleep(0.5)
    assert entries == ["512555", "0"]
    assert "front desk" in keypad_text("0")
    assert "5125550199" in keypad_text("5125550199")


async def test_caller_id_is_offered_as_the_number_but_not_as_identity(
    open_receptionist: Any, scheduling_client: Any, script: Any
) -> None:
    call = await open_receptionist(
        scheduling_client, phone=Line().control(), clock=lambda: MONDAY_10AM
    )
    instructions = call.agent.instructions
    assert "press 0 at any time for the front desk" in greeting_of(call)

    assert "Is 5 1 2, 5 5 5, 0 1 9 9 the best number for you?" in instructions
    assert "never proof of who they are" in instructions
    assert "transfer_to_front_desk" in instructions


async def test_a_web_caller_gets_no_phone_notes(call: Any) -> None:
    assert "On the phone line" not in call.agent.instructions
    assert "press 0" not in greeting_of(call)


@pytest.mark.parametrize(
    ("now", "refuse", "outcome", "says"),
    [
        (MONDAY_10AM, RuntimeError("twirp 404: no SIP service"), "failed", "did not go through"),
        (SATURDAY_10AM, None, "outside_hours", "not taking calls at this hour"),
    ],
)
async def test_a_transfer_that_cannot_happen_falls_back_to_a_callback(
    open_receptionist: Any,
    scheduling_client: Any,
    script: Any,
    now: datetime,
    refuse: Exception | None,
    outcome: str,
    says: str,
) -> None:
    line = Line(refuse)
    call = await open_receptionist(scheduling_client, phone=line.control(), clock=lambda: now)
    before = transfers(outcome)
    output = await call.tool_turn(
        "Can I talk to someone?",
        script.Reply(text="Let me put you through.", calls=[("transfer_to_front_desk", {})]),
        script.say("Sorry, I couldn't put you through. Can I take your name for a callback?"),
    )
    assert output.is_error
    assert says in output.output
    assert "request_callback" in output.output
    assert line.transfers == (["+15125550143"] if refuse else [])
    assert transfers(outcome) == before + 1


async def test_within_hours_the_caller_is_transferred_and_the_call_ends(
    open_receptionist: Any, scheduling_client: Any, script: Any
) -> None:
    line = Line()
    call = await open_receptionist(
        scheduling_client, phone=line.control(), clock=lambda: MONDAY_10AM
    )
    closed = asyncio.Event()
    call.session.on("close", lambda _: closed.set())
    before = transfers("transferred")
    call.llm.queue(
        script.Reply(text="Putting you through now.", calls=[("transfer_to_front_desk", {})])
    )
    await call.session.run(user_input="I'd like to speak to a person.")
    await asyncio.wait_for(closed.wait(), timeout=10)
    assert line.transfers == ["+15125550143"]  # the clinic's front desk, from its profile
    assert transfers("transferred") == before + 1


async def test_a_web_caller_keeps_the_callback_path(call: Any, script: Any) -> None:
    before = transfers("not_on_phone")
    output = await call.tool_turn(
        "Can I talk to someone?",
        script.call("transfer_to_front_desk"),
        script.say("I can have the team call you back."),
    )
    assert output.is_error
    assert "not on a phone line" in output.output
    assert transfers("not_on_phone") == before + 1
