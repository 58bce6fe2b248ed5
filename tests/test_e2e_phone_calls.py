"""Phone calls through the real system, offline: the caller joins the real livekit-server as
LiveKit SIP would put a phone call in the room (a SIP participant with `sip.*` attributes,
dispatched by the clinic rule's metadata), speaks through an 8 kHz μ-law line, and the real
worker answers it as a phone call. The SIP leg itself (carrier → LiveKit SIP) is LiveKit's
and cannot run here; ours starts at the room.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from call_sim import catalog, render
from call_sim.clients import scrape
from call_sim.runner import ScenarioRunner
from call_sim.scenario import parse_scenario_text
from call_sim.voice import CallerVoice
from call_sim.worker_metrics import parse
from livekit import api
from receptionist.phone_call import transfers_open
from receptionist.resources import ClinicProfile

pytestmark = pytest.mark.slow

CALLER = "+15125550177"
ASK_FOR_A_PERSON = f"""
name: phone-transfer
description: A phone caller asks for a person; the transfer cannot happen here.
clinic: bright-smile
channel: phone
phone: {{caller_number: "{CALLER}", dialled_number: "+15125550142"}}
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
      - say: "Thank you for calling Bright Smile Dental. Goodbye!"
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


async def test_asking_for_a_person_tries_the_front_desk_then_takes_a_callback(
    call_stack: Any, runner: ScenarioRunner
) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(
            f"{call_stack.urls.scheduling_api}/v1/clinics/bright-smile",
            headers={"Authorization": f"Bearer {call_stack.scheduling_token}"},
        )
    profile = ClinicProfile.model_validate(response.json())
    # within the desk's hours the transfer is attempted and livekit-server refuses it (no
    # SIP service); outside them it is not attempted. Both end in the spoken callback path.
    expected = "failed" if transfers_open(profile, datetime.now(UTC)) else "outside_hours"
    before = parse(await scrape(call_stack.urls.worker_metrics))
    report = await runner.run(parse_scenario_text(ASK_FOR_A_PERSON))
    failed = [check for check in report["checks"] if not check["passed"]]
    assert not failed, render.full(report)
    after = parse(await scrape(call_stack.urls.worker_metrics))
    transfers = "receptionist_transfers_total"
    assert _counter(after, transfers, outcome=expected) == (
        _counter(before, transfers, outcome=expected) + 1
    ), render.full(report)
    # the request itself, as the real livekit-server logged it: this caller, the clinic's
    # front desk (from its profile), refused because no SIP service is connected
    api_calls = [
        line
        for line in (call_stack.workdir / "logs" / "livekit-server.log").read_text().splitlines()
        if "API SIP.TransferSIPParticipant" in line and f"sip_{CALLER}" in line
    ]
    if expected == "failed":
        assert api_calls, "no TransferSIPParticipant request reached livekit-server"
        assert '"transferTo": "tel:+15125550143"' in api_calls[-1]
        assert '"code": "unavailable"' in api_calls[-1]
    else:
        assert not api_calls
