"""Pass/fail against a scenario's expectations."""

from __future__ import annotations

from call_sim.expectations import CallFacts, evaluate
from call_sim.scenario import Expectations
from call_sim.session_events import ToolCall

PHONE = "+14155550132"


def _facts(**overrides: object) -> CallFacts:
    values: dict[str, object] = {
        "bookings_by_phone": {
            PHONE: [
                {
                    "booking_id": "bk_1",
                    "status": "confirmed",
                    "appointment_type": "cleaning",
                    "patient": {"name": "Maria  Garcia", "phone": PHONE},
                }
            ]
        },
        "callbacks_by_phone": {},
        "seeded_booking_ids": set(),
        "tool_calls": [
            ToolCall("check_availability", "{}", "Free times", False, 1.0),
            ToolCall("book_appointment", "{}", "Booked.", False, 2.0),
        ],
        "booking_outcomes": {"created": 1.0},
        "agent_said": "Let me read that back. Is that all correct?",
        "ended_by": "agent",
    }
    values.update(overrides)
    return CallFacts(**values)  # type: ignore[arg-type]


EXPECT = Expectations.model_validate(
    {
        "bookings": [
            {
                "patient_phone": PHONE,
                "appointment_type": "cleaning",
                "patient_name": "maria garcia",
            }
        ],
        "tools": ["check_availability", "book_appointment"],
        "booking_outcomes": {"created": 1},
        "agent_says": ["is that ALL correct"],
    }
)


def test_a_call_that_did_what_was_expected_passes_every_check() -> None:
    checks = evaluate(EXPECT, _facts())
    assert all(check.passed for check in checks), [c for c in checks if not c.passed]
    assert len(checks) == 7


def test_each_difference_fails_its_own_check() -> None:
    facts = _facts(
        bookings_by_phone={PHONE: []},
        tool_calls=[ToolCall("check_availability", "{}", "", False, 1.0)],
        booking_outcomes={},
        agent_said="Goodbye",
        ended_by="caller",
        caller_errors=["no reply to caller turn 2 within 20 s"],
        script_problems=["template {{ x }}: no match"],
    )
    failed = {check.name for check in evaluate(EXPECT, facts) if not check.passed}
    assert failed == {
        "call completed",
        "model script fitted the conversation",
        "booking: 1 × confirmed cleaning for maria garcia",
        "tools the agent ran",
        "receptionist_bookings_total{outcome=created} +1",
        'receptionist said "is that ALL correct"',
        "call ended by the agent",
    }


def test_tool_errors_no_bookings_and_callbacks() -> None:
    expect = Expectations.model_validate(
        {
            "no_bookings_for": [PHONE],
            "callbacks": [{"phone": PHONE, "count": 0}],
            "tool_errors": ["book_appointment"],
            "ended_by": None,
        }
    )
    ok = evaluate(
        expect,
        _facts(
            bookings_by_phone={PHONE: [{"booking_id": "seeded"}]},
            seeded_booking_ids={"seeded"},
            tool_calls=[ToolCall("book_appointment", "{}", "down", True, 1.0)],
        ),
    )
    assert all(check.passed for check in ok)
    bad = evaluate(expect, _facts(callbacks_by_phone={PHONE: [{"callback_id": "cb"}]}))
    assert {c.name for c in bad if not c.passed} == {
        "no booking was made",
        "callback requests: 0",
        "book_appointment failed",
    }


def test_a_rescheduled_booking_must_come_from_the_seeded_one() -> None:
    expect = Expectations.model_validate(
        {"bookings": [{"patient_phone": PHONE, "rescheduled_from_seeded": True}], "ended_by": None}
    )
    moved = {"booking_id": "bk_new", "status": "confirmed", "rescheduled_from": "bk_seed"}
    assert all(
        c.passed
        for c in evaluate(
            expect, _facts(bookings_by_phone={PHONE: [moved]}, seeded_booking_ids={"bk_seed"})
        )
    )
    assert not all(
        c.passed
        for c in evaluate(
            expect, _facts(bookings_by_phone={PHONE: [moved]}, seeded_booking_ids={"bk_other"})
        )
    )


def test_the_stored_call_record_must_have_the_expected_outcome_and_a_summary() -> None:
    expect = Expectations.model_validate({"call_outcome": "booked", "ended_by": None})
    stored = {"call_id": "RM_1", "outcome": "booked", "summary": "Maria booked a cleaning."}

    def failed(record: dict[str, object] | None) -> set[str]:
        return {c.name for c in evaluate(expect, _facts(call_record=record)) if not c.passed}

    assert failed(stored) == set()
    assert failed({**stored, "outcome": "information_only"}) == {"call record: booked"}
    assert failed({**stored, "summary": None}) == {"call record has a summary"}
    assert failed({**stored, "summary": "  "}) == {"call record has a summary"}
    assert failed(None) == {"call record: booked"}


def test_no_call_record_check_without_an_expected_outcome() -> None:
    checks = evaluate(Expectations.model_validate({"ended_by": None}), _facts())
    assert not any(check.name.startswith("call record") for check in checks)
