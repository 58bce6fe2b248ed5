"""Pass or fail: a scenario's expectations against what happened. Pure.

Every check names what it looked at, so a failing report says why without reading logs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from call_sim.scenario import Expectations, ExpectedBooking
from call_sim.session_events import ToolCall


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "passed": self.passed, "detail": self.detail}


@dataclass
class CallFacts:
    """What the simulator observed, from the outside and from the agent's own record."""

    bookings_by_phone: Mapping[str, Sequence[Mapping[str, Any]]]
    callbacks_by_phone: Mapping[str, Sequence[Mapping[str, Any]]]
    seeded_booking_ids: set[str]
    tool_calls: Sequence[ToolCall]
    booking_outcomes: Mapping[str, float]  # receptionist_bookings_total growth
    agent_said: str
    ended_by: str | None
    call_record: Mapping[str, Any] | None = None  # what the worker stored after the call
    caller_errors: Sequence[str] = field(default_factory=list)
    script_problems: Sequence[str] = field(default_factory=list)


def _normalised(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower().replace("’", "'")).split())


def _booking_matches(
    booking: Mapping[str, Any], expected: ExpectedBooking, seeded: set[str]
) -> bool:
    if booking.get("status") != expected.status:
        return False
    if expected.appointment_type and booking.get("appointment_type") != expected.appointment_type:
        return False
    patient = booking.get("patient") or {}
    if expected.patient_name and _normalised(str(patient.get("name", ""))) != _normalised(
        expected.patient_name
    ):
        return False
    if expected.rescheduled_from_seeded:
        return booking.get("rescheduled_from") in seeded
    return True


def _describe(expected: ExpectedBooking) -> str:
    parts = [expected.status, expected.appointment_type or "any type"]
    if expected.patient_name:
        parts.append(f"for {expected.patient_name}")
    if expected.rescheduled_from_seeded:
        parts.append("moved from the seeded booking")
    return " ".join(parts)


def evaluate(expect: Expectations, facts: CallFacts) -> list[Check]:
    checks = [
        Check(
            "call completed",
            not facts.caller_errors,
            "; ".join(facts.caller_errors) or "greeted, every caller turn answered",
        ),
        Check(
            "model script fitted the conversation",
            not facts.script_problems,
            "; ".join(facts.script_problems) or "provider-sim recorded no problem",
        ),
    ]
    for expected in expect.bookings:
        found = [
            booking
            for booking in facts.bookings_by_phone.get(expected.patient_phone, [])
            if _booking_matches(booking, expected, facts.seeded_booking_ids)
        ]
        checks.append(
            Check(
                f"booking: {expected.count} × {_describe(expected)}",
                len(found) == expected.count,
                f"found {len(found)} in the scheduling API for that phone",
            )
        )
    for phone in expect.no_bookings_for:
        new = [
            b
            for b in facts.bookings_by_phone.get(phone, [])
            if b.get("booking_id") not in facts.seeded_booking_ids
        ]
        checks.append(
            Check("no booking was made", not new, f"found {len(new)} new booking(s) for that phone")
        )
    for callback in expect.callbacks:
        found_callbacks = len(facts.callbacks_by_phone.get(callback.phone, []))
        checks.append(
            Check(
                f"callback requests: {callback.count}",
                found_callbacks == callback.count,
                f"found {found_callbacks} for that phone",
            )
        )
    executed = [call.name for call in facts.tool_calls]
    if expect.tools is not None:
        checks.append(
            Check(
                "tools the agent ran",
                executed == expect.tools,
                f"expected {expect.tools}, the agent reported {executed}",
            )
        )
    for tool in expect.tool_errors:
        failed = [call for call in facts.tool_calls if call.name == tool and call.is_error]
        checks.append(
            Check(f"{tool} failed", bool(failed), f"{len(failed)} failed call(s) of {tool}")
        )
    for outcome, count in expect.booking_outcomes.items():
        seen = round(facts.booking_outcomes.get(outcome, 0.0))
        checks.append(
            Check(
                f"receptionist_bookings_total{{outcome={outcome}}} +{count}",
                seen == count,
                f"grew by {seen}",
            )
        )
    said = _normalised(facts.agent_said)
    for phrase in expect.agent_says:
        checks.append(
            Check(
                f'receptionist said "{phrase}"',
                _normalised(phrase) in said,
                "found in what the agent reported saying"
                if _normalised(phrase) in said
                else "not in what the agent reported saying",
            )
        )
    if expect.call_outcome is not None:
        checks.extend(_call_record_checks(expect.call_outcome, facts.call_record))
    if expect.ended_by is not None:
        checks.append(
            Check(
                f"call ended by the {expect.ended_by}",
                facts.ended_by == expect.ended_by,
                f"ended by the {facts.ended_by or 'nobody'}",
            )
        )
    return checks


def _call_record_checks(expected: str, record: Mapping[str, Any] | None) -> list[Check]:
    if record is None:
        return [Check(f"call record: {expected}", False, "no call record was stored")]
    summary = record.get("summary")
    return [
        Check(
            f"call record: {expected}",
            record.get("outcome") == expected,
            f"stored with outcome {record.get('outcome')}",
        ),
        Check(
            "call record has a summary",
            isinstance(summary, str) and bool(summary.strip()),
            f"summary: {summary!r}",
        ),
    ]
