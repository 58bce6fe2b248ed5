"""The call recorder fills the ledger from a real receptionist session (scripted LLM) on a
real scheduling API: the ids come from the API, the outcome from what the tools did."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime

import pytest
from livekit.agents import StopResponse, llm
from receptionist.agent import FallbackReceptionist
from receptionist.call_recorder import CallRecorder, CallScheduling
from receptionist.call_records import CallRecordSender
from receptionist.call_report import CallLedger, CallSummary, Person, call_record, outcome
from receptionist.scheduling_client import SchedulingClient

PHONE = "512-555-0187"
PHONE_E164 = "+15125550187"
API_TOKEN = "test-token"  # conftest's scheduling API token


def public_requests(cls: type) -> set[str]:
    return {
        name
        for name, member in vars(cls).items()
        if not name.startswith("_") and inspect.iscoroutinefunction(member)
    }


def test_every_scheduling_request_goes_through_the_shared_client() -> None:
    """A request `CallScheduling` missed would run on its (never opened) own connection."""
    assert public_requests(SchedulingClient) <= public_requests(CallScheduling)
    for name in public_requests(SchedulingClient) - {"aclose"}:
        assert inspect.signature(getattr(CallScheduling, name)) == inspect.signature(
            getattr(SchedulingClient, name)
        ), name


async def recorded_call(open_receptionist, scheduling: SchedulingClient, **options):
    ledger = CallLedger(started_at=datetime.now(UTC))
    call = await open_receptionist(CallScheduling(scheduling, ledger), **options)
    CallRecorder(ledger).attach(call.session)
    return call, ledger


async def test_a_booking_call_is_booked_with_the_apis_booking_id(
    open_receptionist, scheduling_client, scheduling_api
) -> None:
    call, ledger = await recorded_call(open_receptionist, scheduling_client)
    await call.offer_times()
    await call.read_back_booking("option-1", "Maria Garcia", PHONE)
    message = llm.ChatMessage(role="user", content=["Yes, please book it."])
    with pytest.raises(StopResponse):  # committed in the turn hook, as on a real call
        await call.agent.on_user_turn_completed(call.agent.chat_ctx.copy(), new_message=message)

    [booking] = scheduling_api.bookings(PHONE_E164, status="confirmed")
    assert ledger.booking_ids == [booking["booking_id"]]
    assert (ledger.patient_name, ledger.caller_phone) == ("Maria Garcia", PHONE_E164)
    assert outcome(ledger) == "booked"
    said = [(line.role, line.text) for line in ledger.transcript]
    assert ("caller", "I'd like to book a cleaning") in said
    assert any(role == "agent" and "Is that all correct?" in text for role, text in said)

    # the record the worker would post, stored by the real scheduling API, once
    record = call_record(
        ledger,
        call_id="RM_recorder_test",
        ended_at=datetime.now(UTC),
        turn_seconds=[0.9, 1.1],
        summary=CallSummary("Maria Garcia booked a cleaning.", "cleaning", "new", "routine"),
    )
    sender = CallRecordSender(
        scheduling_api.base_url, API_TOKEN, timeout_seconds=5, max_attempts=2, backoff_seconds=0
    )
    assert await sender.send("bright-smile", record)
    assert await sender.send("bright-smile", record)  # a retry: the record already stored
    stored = scheduling_api.get("/v1/clinics/bright-smile/calls/RM_recorder_test")
    assert stored["outcome"] == "booked"
    assert stored["booking_ids"] == [booking["booking_id"]]
    assert stored["summary"] == "Maria Garcia booked a cleaning."
    assert stored["caller_phone"] == PHONE_E164
    [listed] = scheduling_api.get("/v1/clinics/bright-smile/calls", phone=PHONE_E164)["calls"]
    assert listed["call_id"] == "RM_recorder_test"


async def test_a_cancellation_is_cancelled_with_its_id(
    script, scheduling_api, open_receptionist, scheduling_client
) -> None:
    _, seeded = scheduling_api.seed("cleaning", PHONE_E164, "seed-1")
    recorded, ledger = await recorded_call(open_receptionist, scheduling_client)
    await recorded.tool_turn(
        "I need to cancel my appointment. Maria Garcia, 512 555 0187.",
        script.call("find_appointments", patient_phone=PHONE, patient_name="Maria Garcia"),
        script.say("I found it."),
    )
    await recorded.confirm(
        "confirm_cancellation_details", "The cleaning.", appointment="appointment-1"
    )
    message = llm.ChatMessage(role="user", content=["Yes, cancel it."])
    with pytest.raises(StopResponse):
        await recorded.agent.on_user_turn_completed(
            recorded.agent.chat_ctx.copy(), new_message=message
        )
    assert ledger.booking_ids == [seeded["booking_id"]]
    assert outcome(ledger) == "cancelled"


async def test_an_emergency_search_advises_an_emergency(
    open_receptionist, scheduling_client, script
) -> None:
    call, ledger = await recorded_call(open_receptionist, scheduling_client)
    await call.tool_turn(
        "My jaw is swollen and it hurts a lot.",
        script.call("find_emergency_slot"),
        script.speak_tool_result(),
    )
    assert outcome(ledger) == "emergency_advised"


async def test_an_unreachable_scheduling_api_fails_the_call(
    open_receptionist, script, silent_port: int
) -> None:
    hung = SchedulingClient(f"http://127.0.0.1:{silent_port}", "t", timeout_seconds=60)
    call, ledger = await recorded_call(
        open_receptionist, hung, tool_deadline_seconds=0.5, filler_delay_seconds=5.0
    )
    output = await call.tool_turn(
        "I'd like a cleaning.",
        script.call("check_availability", appointment_type="cleaning"),
        script.say("Sorry, the system is down."),
    )
    assert output.is_error
    assert outcome(ledger) == "failed"
    await hung.aclose()


async def test_questions_answered_are_information_only(
    open_receptionist, scheduling_client, script
) -> None:
    call, ledger = await recorded_call(open_receptionist, scheduling_client)
    call.llm.queue(script.say("We open at eight."))
    await call.session.run(user_input="When do you open?")
    assert outcome(ledger) == "information_only"
    assert ledger.booking_ids == []
    assert ledger.callback_ids == []


def test_a_transfer_tool_marks_the_call_transferred_through_the_hook() -> None:
    ledger = CallLedger(started_at=datetime.now(UTC))
    ledger.booking_created("bk_1", Person("Maria Garcia", PHONE_E164))
    desk = FallbackReceptionist(
        clinic_id="bright-smile", scheduling=SchedulingClient("http://127.0.0.1:9", "unused")
    )
    desk.mark_transferred()  # no ledger set: nothing to mark, and no error
    desk.call_ledger = ledger
    desk.mark_transferred()
    assert outcome(ledger) == "transferred"
