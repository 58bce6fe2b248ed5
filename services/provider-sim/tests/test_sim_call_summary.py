"""The receptionist's post-call summary request, answered offline from the call it sends:
over HTTP as the worker asks it (non-streaming, JSON schema response format), and pure."""

from __future__ import annotations

import json
from typing import Any

import httpx
from provider_sim.call_summary import is_summary_request, summary_reply

KEY = "sim-test-key"
BOOKING_CALL = [
    ("agent", "Thank you for calling Bright Smile Dental. How can I help?"),
    ("caller", "Hi, I'd like to book a cleaning. I'm a new patient."),
    ("agent", "I can offer Tuesday at 9 AM or Wednesday at 10 AM."),
    ("caller", "The first one. Maria Garcia, four one five, five five five, zero one three two."),
    ("agent", "You're all set: your cleaning with Maria Lopez on Tuesday is confirmed."),
    ("caller", "Thanks, bye."),
    ("agent", "Goodbye!"),
]
EMERGENCY_CALL = [
    ("caller", "I have a terrible toothache and my jaw is swollen."),
    ("agent", "The earliest emergency visit is today at 2 PM."),
]


def summary_request(outcome: str, lines: list[tuple[str, str]]) -> dict[str, Any]:
    """The request the worker sends (its shape, written out here: services never import
    each other)."""
    call = {"outcome": outcome, "transcript": [{"role": r, "text": t} for r, t in lines]}
    return {
        "model": "gpt-4o-mini",
        "stream": False,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": "You write the post-call summary for a dental clinic."},
            {"role": "user", "content": json.dumps(call)},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "call_summary", "strict": True, "schema": {"type": "object"}},
        },
    }


async def ask(base_url: str, body: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{base_url}/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {KEY}"},
        )
    assert response.status_code == 200, response.text
    content = response.json()["choices"][0]["message"]["content"]
    fields: dict[str, Any] = json.loads(content)
    return fields


async def test_a_booking_call_is_summarised_from_its_transcript(scripted_sim) -> None:
    fields = await ask(scripted_sim.base_url, summary_request("booked", BOOKING_CALL))
    assert set(fields) == {"summary", "reason", "patient_status", "urgency"}
    assert fields["reason"] == "cleaning"
    assert fields["patient_status"] == "new"
    assert fields["urgency"] == "routine"
    assert "your cleaning with Maria Lopez on Tuesday is confirmed" in fields["summary"]
    assert "booked" in fields["summary"]


async def test_an_emergency_call_is_urgent(scripted_sim) -> None:
    fields = await ask(scripted_sim.base_url, summary_request("emergency_advised", EMERGENCY_CALL))
    assert (fields["reason"], fields["urgency"]) == ("dental emergency", "urgent")
    assert "earliest emergency visit is today at 2 PM" in fields["summary"]


async def test_the_summary_request_leaves_the_scripted_conversation_alone(scripted_sim) -> None:
    """It is answered outside the script: no mismatch, whatever the script expects next."""
    await ask(scripted_sim.base_url, summary_request("booked", BOOKING_CALL))
    async with httpx.AsyncClient(timeout=30) as http:
        state = (await http.get(f"{scripted_sim.base_url}/sim/state")).json()
    assert not any("call_summary" in problem for problem in state.get("problems", []))


def test_different_calls_get_different_summaries() -> None:
    def reply(outcome: str, lines: list[tuple[str, str]]) -> dict[str, Any]:
        fields: dict[str, Any] = json.loads(
            summary_reply(summary_request(outcome, lines)["messages"])
        )
        return fields

    booked = reply("booked", BOOKING_CALL)
    cancelled = reply(
        "cancelled",
        [
            ("caller", "I need to cancel my appointment on Friday."),
            ("agent", "Done: your cleaning on Friday is cancelled."),
        ],
    )
    silent = reply("abandoned", [("agent", "Thank you for calling.")])
    assert booked["summary"] != cancelled["summary"]
    assert (cancelled["reason"], cancelled["patient_status"]) == (
        "cancel an appointment",
        "existing",
    )
    assert "is cancelled" in cancelled["summary"]
    assert silent["reason"] == "unknown"
    assert "hung up before saying anything" in silent["summary"]


def test_only_the_summary_schema_is_taken_for_a_summary_request() -> None:
    assert is_summary_request(summary_request("booked", BOOKING_CALL))
    assert not is_summary_request({"model": "m", "messages": []})
    assert not is_summary_request({"response_format": {"type": "json_object"}})
    other = {"response_format": {"type": "json_schema", "json_schema": {"name": "other"}}}
    assert not is_summary_request(other)
