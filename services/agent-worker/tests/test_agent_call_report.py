"""The call record derived from what a call did (pure): outcome precedence, latency
figures, and the body the scheduling API is sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from receptionist.call_report import (
    CallLedger,
    CallSummary,
    Person,
    call_record,
    latency_summary,
    outcome,
)

START = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
MARIA = Person("  Maria   Garcia ", "+15125550187")


def answered_call() -> CallLedger:
    ledger = CallLedger(started_at=START)
    ledger.receptionist_said("Thank you for calling.", START)
    ledger.caller_said("What are your hours?", START + timedelta(seconds=3))
    ledger.receptionist_said("We open at eight.", START + timedelta(seconds=5))
    return ledger


def test_a_call_that_only_answered_questions_is_information_only() -> None:
    assert outcome(answered_call()) == "information_only"


def test_a_caller_who_left_during_the_greeting_abandoned_the_call() -> None:
    ledger = CallLedger(started_at=START)
    ledger.receptionist_said("Thank you for calling.", START)
    assert outcome(ledger) == "abandoned"
    ledger.caller_said("Hello?", START + timedelta(seconds=2))  # hung up before the answer
    assert outcome(ledger) == "abandoned"


@pytest.mark.parametrize(
    ("happened", "expected"),
    [
        (["callback"], "callback_requested"),
        (["cancel"], "cancelled"),
        (["cancel", "reschedule"], "rescheduled"),
        (["cancel", "reschedule", "book"], "booked"),
        (["book", "failure"], "booked"),
        (["failure"], "failed"),
        (["failure", "callback"], "callback_requested"),
        (["book", "emergency"], "emergency_advised"),
        (["emergency"], "emergency_advised"),
        (["emergency", "book", "transfer"], "transferred"),
    ],
)
def test_outcome_precedence_when_several_things_happened(
    happened: list[str], expected: str
) -> None:
    ledger = answered_call()
    for index, what in enumerate(happened):
        booking_id, callback_id = f"bk_{index}", f"cb_{index}"
        if what == "book":
            ledger.booking_created(booking_id, MARIA)
        elif what == "reschedule":
            ledger.booking_rescheduled(f"moved_{index}", booking_id, MARIA)
        elif what == "cancel":
            ledger.booking_cancelled(booking_id, MARIA)
        elif what == "callback":
            ledger.callback_saved(callback_id, MARIA)
        elif what == "failure":
            ledger.system_failure()
        elif what == "emergency":
            ledger.emergency_handled()
        else:
            ledger.call_transferred()
    assert outcome(ledger) == expected


def test_a_failure_of_a_call_nobody_spoke_in_is_still_failed() -> None:
    ledger = CallLedger(started_at=START)
    ledger.system_failure()  # e.g. the clinic profile could not be loaded
    assert outcome(ledger) == "failed"


def test_ids_are_kept_once_each_in_order_with_the_first_name_and_number_given() -> None:
    ledger = answered_call()
    ledger.booking_cancelled("bk_old", MARIA)
    ledger.booking_created("bk_new", Person("Someone Else", "+15125550100"))
    ledger.booking_cancelled("bk_old", MARIA)
    ledger.booking_rescheduled("bk_new", "bk_moved", MARIA)
    ledger.callback_saved("cb_1", MARIA)
    assert ledger.booking_ids == ["bk_old", "bk_new", "bk_moved"]
    assert ledger.callback_ids == ["cb_1"]
    assert ledger.patient_name == "Maria Garcia"
    assert ledger.caller_phone == "+15125550187"


def test_a_phone_lines_own_number_is_not_replaced_by_a_number_the_caller_said() -> None:
    ledger = answered_call()
    ledger.channel, ledger.caller_phone = "phone", "+15125550142"
    ledger.booking_created("bk_1", MARIA)
    assert ledger.caller_phone == "+15125550142"


def test_latency_figures_are_turns_that_happened_in_milliseconds() -> None:
    turns = [1.0 + i / 100 for i in range(19)] + [2.5]  # 20 turns, one slow
    assert latency_summary(turns) == {
        "turns": 20,
        "p50_ms": 1090.0,
        "p95_ms": 1180.0,
        "worst_ms": 2500.0,
    }
    assert latency_summary([0.8]) == {
        "turns": 1,
        "p50_ms": 800.0,
        "p95_ms": 800.0,
        "worst_ms": 800.0,
    }
    assert latency_summary([]) == {"turns": 0, "p50_ms": None, "p95_ms": None, "worst_ms": None}


def test_the_record_body_follows_the_call_record_contract() -> None:
    ledger = answered_call()
    ledger.booking_created("bk_1", MARIA)
    summary = CallSummary("Maria booked a cleaning.", "cleaning", "new", "routine")
    record = call_record(
        ledger,
        call_id="RM_abc123",
        ended_at=START + timedelta(minutes=3, seconds=10),
        turn_seconds=[1.04],
        summary=summary,
    )
    assert record == {
        "call_id": "RM_abc123",
        "channel": "web",
        "started_at": "2026-12-03T15:00:00Z",
        "ended_at": "2026-12-03T15:03:10Z",
        "caller_phone": "+15125550187",
        "patient_name": "Maria Garcia",
        "outcome": "booked",
        "booking_ids": ["bk_1"],
        "callback_ids": [],
        "latency": {"turns": 1, "p50_ms": 1040.0, "p95_ms": 1040.0, "worst_ms": 1040.0},
        "summary": "Maria booked a cleaning.",
        "reason": "cleaning",
        "patient_status": "new",
        "urgency": "routine",
        "transcript": [
            {
                "role": "agent",
                "text": "Thank you for calling.",
                "at": "2026-12-03T15:00:00Z",
            },
            {"role": "caller", "text": "What are your hours?", "at": "2026-12-03T15:00:03Z"},
            {"role": "agent", "text": "We open at eight.", "at": "2026-12-03T15:00:05Z"},
        ],
    }


def test_without_a_summary_the_record_says_unknown_and_has_no_summary() -> None:
    record = call_record(
        CallLedger(started_at=START), call_id="RM_1", ended_at=START, turn_seconds=[], summary=None
    )
    assert (record["summary"], record["reason"]) == (None, None)
    assert (record["patient_status"], record["urgency"]) == ("unknown", "unknown")
    assert record["transcript"] is None
    assert record["outcome"] == "abandoned"
