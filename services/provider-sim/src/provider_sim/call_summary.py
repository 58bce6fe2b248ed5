"""The receptionist's post-call summary request, answered offline from the call itself (pure).

The worker asks for it with `response_format.json_schema.name == "call_summary"` and a user
message holding `{"outcome": ..., "transcript": [{"role", "text"}, ...]}`. The answer is
built from that transcript — why the caller called, what the receptionist last confirmed —
so a record's summary shows what really happened in the simulated call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from provider_sim.scenario import message_text

SUMMARY_SCHEMA_NAME = "call_summary"

# first match wins: (words in what the caller said, reason)
_REASONS = (
    (("toothache", "pain", "swollen", "bleeding", "broken", "emergency"), "dental emergency"),
    (("cancel",), "cancel an appointment"),
    (("reschedule", "move my", "change my"), "reschedule an appointment"),
    (("cleaning",), "cleaning"),
    (("check-up", "checkup", "exam"), "check-up"),
    (("hours", "open", "insurance", "parking", "where", "cost", "price"), "question"),
)
_EMERGENCY = "dental emergency"
_DONE_WORDS = ("confirmed", "all set", "booked", "cancelled", "moved", "call you back")


def is_summary_request(body: Mapping[str, Any]) -> bool:
    response_format = body.get("response_format")
    if not isinstance(response_format, Mapping):
        return False
    schema = response_format.get("json_schema")
    return isinstance(schema, Mapping) and schema.get("name") == SUMMARY_SCHEMA_NAME


def _call_of(messages: Sequence[Mapping[str, Any]]) -> tuple[str, list[tuple[str, str]]]:
    """The outcome and the (role, text) lines in the request's last user message."""
    users = [message_text(m) for m in messages if m.get("role") == "user"]
    try:
        call = json.loads(users[-1]) if users else {}
    except json.JSONDecodeError:
        call = {}
    if not isinstance(call, Mapping):
        call = {}
    lines = [
        (str(item.get("role", "")), str(item.get("text", "")))
        for item in call.get("transcript") or []
        if isinstance(item, Mapping)
    ]
    return str(call.get("outcome") or "unknown"), lines


def summary_reply(messages: Sequence[Mapping[str, Any]]) -> str:
    """The JSON content of the answer: summary, reason, patient_status, urgency."""
    outcome, lines = _call_of(messages)
    said = " ".join(text for role, text in lines if role == "caller").lower()
    replies = [text for role, text in lines if role == "agent"]
    if not said:
        return json.dumps(
            {
                "summary": "The caller hung up before saying anything. Nothing was done.",
                "reason": "unknown",
                "patient_status": "unknown",
                "urgency": "unknown",
            }
        )
    reason = next(
        (reason for words, reason in _REASONS if any(word in said for word in words)),
        "general enquiry",
    )
    done = next(
        (text for text in reversed(replies) if any(w in text.lower() for w in _DONE_WORDS)),
        replies[-1] if replies else "nothing",
    )
    if "new patient" in said:
        status = "new"
    elif reason in ("cancel an appointment", "reschedule an appointment"):
        status = "existing"
    else:
        status = "unknown"
    summary = (
        f'The caller called about: {reason}. The receptionist\'s last word on it: "{done}" '
        f"Outcome: {outcome.replace('_', ' ')}."
    )
    return json.dumps(
        {
            "summary": summary,
            "reason": reason,
            "patient_status": status,
            "urgency": "urgent" if reason == _EMERGENCY else "routine",
        }
    )
