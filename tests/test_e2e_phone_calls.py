"""Phone calls through the real system, offline: the caller joins the real livekit-server as
LiveKit SIP would put a phone call in the room (a SIP participant with `sip.*` attributes,
dispatched by the clinic rule's metadata), speaks through an 8 kHz μ-law line, and the real
worker answers it as a phone call. The SIP leg itself (carrier → LiveKit SIP) is LiveKit's
and cannot run here; ours starts at the room.
"""

from __future__ import annotations

from typing import Any

import pytest
from call_sim import catalog, render
from call_sim.clients import scrape
from call_sim.runner import ScenarioRunner
from call_sim.scenario import parse_scenario_text
from call_sim.voice import CallerVoice
from call_sim.worker_metrics import parse
from livekit import api
from phone_line_clinics import (
    DESK_ALWAYS_OPEN,
    DESK_NEVER_OPEN,
    DIALLED_NUMBERS,
    FRONT_DESK_NUMBERS,
)
from receptionist.phone_call import FRONT_DESK_KEY, keypad_text

pytestmark = pytest.mark.slow

CALLER = "+15125550177"
KEYPAD_CALLER = "+15125550178"  # its own callback, beside the spoken request's


def ask_for_a_person(clinic: str) -> str:
    """A phone caller at `clinic` asks for a person; no transfer can complete here."""
    return f"""
name: phone-transfer-{clinic}
description: A phone caller asks for a person; the transfer cannot happen here.
clinic: {clinic}
channel: phone
phone: {{caller_number: "{CALLER}", dialled_number: "{DIALLED_NUMBERS[clinic]}"}}
turns:
  - caller: "Can I talk to someone at the front desk, please?"
    model:
      - say: "Of course, let me put you through to the front desk."
        tool_calls: [{{name: transfer_to_front_desk}}]
      - say: >-
          I'm sorry, I couldn't put you through right now. Can I take your name so the
          team can call you back?
  - caller: "Sure, it's Maria Garcia, on this number."
    model:
      - tool_calls:
          - name: request_callback
            arguments:
              caller_name: Maria Garcia
              caller_phone: "{CALLER}"
              reason: wants to talk to the front desk
      - say: "Done. The team will call you back at this number."
  - caller: "Thanks, goodbye."
    model:
      - say: "Thank you for calling. Goodbye!"
        tool_calls: [{{name: end_call}}]
expect:
  callbacks: [{{phone: "{CALLER}"}}]
  tools: [transfer_to_front_desk, request_callback, end_call]
  tool_errors: [transfer_to_front_desk]
  agent_says: ["put you through", "call you back"]
  call_outcome: callback_requested
  ended_by: agent
"""


@pytest.fixture(scope="module")
def runner(call_stack: Any) -> ScenarioRunner:
    return ScenarioRunner(call_stack, call_stack.settings, CallerVoice.load(), call_stack.console)


def _counter(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def _rooms(call_stack: Any) -> set[str]:
    async with api.LiveKitAPI(
        call_stack.urls.livekit_http, call_stack.livekit_api_key, call_stack.livekit_secret
    ) as lkapi:
        listed = await lkapi.room.list_rooms(api.ListRoomsRequest())
    return {room.name for room in listed.rooms}


async def test_a_phone_booking_takes_the_caller_id_number_and_hangs_up_for_real(
    call_stack: Any, runner: ScenarioRunner
) -> None:
    before = parse(await scrape(call_stack.urls.worker_metrics))
    report = await runner.run(catalog.load("phone-booking"))
    failed = [check for check in report["checks"] if not check["passed"]]
    assert not failed, render.full(report)
    after = parse(await scrape(call_stack.urls.worker_metrics))
    started = "receptionist_sessions_total"
    assert _counter(after, started, outcome="started", channel="phone") == (
        _counter(before, started, outcome="started", channel="phone") + 1
    )
    assert _counter(after, started, outcome="started", channel="web") == _counter(
        before, started, outcome="started", channel="web"
    )
    # the agent hung up: the room (and with it a real caller's SIP leg) is gone
    assert report["room"].startswith("call-bright-smile-")
    assert report["room"] not in await _rooms(call_stack)


async def test_a_number_typed_on_the_keypad_is_the_one_booked(
    call_stack: Any, runner: ScenarioRunner
) -> None:
    report = await runner.run(catalog.load("phone-keypad"))
    failed = [check for check in report["checks"] if not check["passed"]]
    assert not failed, render.full(report)


def _transfer_requests(call_stack: Any, since: int, caller: str = CALLER) -> list[str]:
    """TransferSIPParticipant requests for `caller`, as the real livekit-server logged
    them after its log was `since` characters long."""
    log = (call_stack.workdir / "logs" / "livekit-server.log").read_text()[since:]
    return [
        line
        for line in log.splitlines()
        if "API SIP.TransferSIPParticipant" in line and f"sip_{caller}" in line
    ]


def _log_size(call_stack: Any) -> int:
    return len((call_stack.workdir / "logs" / "livekit-server.log").read_text())


async def _ask_for_a_person(
    call_stack: Any, runner: ScenarioRunner, clinic: str, outcome: str
) -> list[str]:
    """Runs the scenario at `clinic`; checks its spoken callback path and that the transfer
    counter moved by one under `outcome`; returns the transfer requests livekit-server saw."""
    since = _log_size(call_stack)
    before = parse(await scrape(call_stack.urls.worker_metrics))
    report = await runner.run(parse_scenario_text(ask_for_a_person(clinic)))
    failed = [check for check in report["checks"] if not check["passed"]]
    assert not failed, render.full(report)
    after = parse(await scrape(call_stack.urls.worker_metrics))
    transfers = "receptionist_transfers_total"
    assert _counter(after, transfers, outcome=outcome) == (
        _counter(before, transfers, outcome=outcome) + 1
    ), render.full(report)
    return _transfer_requests(call_stack, since)


async def test_asking_for_a_person_within_hours_tries_the_front_desk_then_a_callback(
    call_stack: Any, runner: ScenarioRunner
) -> None:
    # the desk always takes transfers: the worker asks livekit-server for the REFER to the
    # clinic's front desk, which refuses it (no SIP service here); the caller hears so
    requests = await _ask_for_a_person(call_stack, runner, DESK_ALWAYS_OPEN, "failed")
    assert requests, "no TransferSIPParticipant request reached livekit-server"
    assert f'"transferTo": "tel:{FRONT_DESK_NUMBERS[DESK_ALWAYS_OPEN]}"' in requests[-1]
    assert '"code": "unavailable"' in requests[-1]


async def test_asking_for_a_person_after_hours_takes_a_callback_without_a_transfer(
    call_stack: Any, runner: ScenarioRunner
) -> None:
    requests = await _ask_for_a_person(call_stack, runner, DESK_NEVER_OPEN, "outside_hours")
    assert not requests


PRESS_ZERO = f"""
name: phone-press-zero
description: A phone caller presses 0 for the front desk; the transfer cannot happen here.
clinic: {DESK_ALWAYS_OPEN}
channel: phone
phone: {{caller_number: "{KEYPAD_CALLER}", dialled_number: "{DIALLED_NUMBERS[DESK_ALWAYS_OPEN]}"}}
turns:
  - caller: "(presses 0)"
    keypad: "0"
    model:
      - say: "Let me put you through to the front desk."
        tool_calls: [{{name: transfer_to_front_desk}}]
      - say: >-
          I'm sorry, I couldn't put you through right now. Can I take your name so the
          team can call you back?
  - caller: "Sure, it's Maria Garcia, on this number."
    model:
      - tool_calls:
          - name: request_callback
            arguments:
              caller_name: Maria Garcia
              caller_phone: "{KEYPAD_CALLER}"
              reason: pressed 0 for the front desk
      - say: "Done. The team will call you back at this number."
  - caller: "Thanks, goodbye."
    model:
      - say: "Thank you for calling. Goodbye!"
        tool_calls: [{{name: end_call}}]
expect:
  callbacks: [{{phone: "{KEYPAD_CALLER}"}}]
  tools: [transfer_to_front_desk, request_callback, end_call]
  tool_errors: [transfer_to_front_desk]
  agent_says: ["put you through", "call you back"]
  call_outcome: callback_requested
  ended_by: agent
"""


async def test_pressing_zero_reaches_the_model_and_tries_the_front_desk(
    call_stack: Any, runner: ScenarioRunner
) -> None:
    # the 0 goes out with publish_dtmf and no speech; the scripted model answers that turn
    # with the transfer, so the tools check above already needs the key to make a turn
    since = _log_size(call_stack)
    report = await runner.run(parse_scenario_text(PRESS_ZERO))
    failed = [check for check in report["checks"] if not check["passed"]]
    assert not failed, render.full(report)
    # the key reached the model as the caller's turn, in the words the worker gives it
    record = report["call_record"]
    assert record is not None, render.full(report)
    said = [line["text"] for line in record["transcript"] if line["role"] == "caller"]
    assert said[:1] == [keypad_text(FRONT_DESK_KEY)], said
    requests = _transfer_requests(call_stack, since, KEYPAD_CALLER)
    assert requests, "no TransferSIPParticipant request reached livekit-server"
    assert f'"transferTo": "tel:{FRONT_DESK_NUMBERS[DESK_ALWAYS_OPEN]}"' in requests[-1]
    assert '"code": "unavailable"' in requests[-1]
