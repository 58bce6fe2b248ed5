"""What a call did, and the call record the scheduling API stores for it (pure, no I/O).

A `CallLedger` is filled while the call runs (by the call recorder, from the session's
events and from the scheduling requests the call made); `call_record` turns it into the
body of `POST /v1/clinics/{clinic_id}/calls` once the call has ended.

The outcome, when several things happened in one call, is the first that applies:

1. `transferred` — a person took the call over;
2. `emergency_advised` — the caller had a dental emergency (the receptionist looked for an
   emergency visit), even when it was booked: staff must see the emergency first;
3. `booked`, then `rescheduled`, then `cancelled` — a change the call made to the book;
4. `callback_requested` — a callback request was saved;
5. `failed` — the system failed the caller (the scheduling API was unavailable, the clinic
   profile could not be loaded, or the session ended in an error) and nothing above was done;
6. `abandoned` — the caller left before the receptionist answered anything they said
   (hung up during the greeting, or never spoke);
7. `information_only` — everything else: the caller's questions were answered.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Channel = Literal["web", "phone"]
Outcome = Literal[
    "booked",
    "rescheduled",
    "cancelled",
    "callback_requested",
    "transferred",
    "information_only",
    "emergency_advised",
    "abandoned",
    "failed",
]
TranscriptRole = Literal["caller", "agent"]

# the scheduling API's limits on a record: a long call is trimmed, never refused
MAX_PATIENT_NAME_CHARACTERS = 100
MAX_TRANSCRIPT_LINES = 2000
MAX_LINE_CHARACTERS = 4000
MAX_IDS = 50


@dataclass(frozen=True)
class TranscriptLine:
    role: TranscriptRole
    text: str
    at: datetime


@dataclass(frozen=True)
class Person:
    """The name and E.164 number a booking or a callback request was made with."""

    name: str
    phone: str | None


@dataclass(frozen=True)
class CallSummary:
    """What the LLM wrote about the call after it ended."""

    summary: str
    reason: str | None
    patient_status: Literal["new", "existing", "unknown"]
    urgency: Literal["routine", "soon", "urgent", "unknown"]


@dataclass
class CallLedger:
    """One call's facts, as they happen. Ids are kept in order, each once."""

    started_at: datetime
    channel: Channel = "web"
    caller_phone: str | None = None
    patient_name: str | None = None
    booking_ids: list[str] = field(default_factory=list)
    callback_ids: list[str] = field(default_factory=list)
    booked: int = 0
    rescheduled: int = 0
    cancelled: int = 0
    emergency: bool = False
    transferred: bool = False
    system_failed: bool = False
    caller_turns_answered: int = 0
    transcript: list[TranscriptLine] = field(default_factory=list)
    _caller_waiting: bool = False

    def booking_created(self, booking_id: str, patient: Person) -> None:
        self.booked += 1
        self._touched(booking_id, patient)

    def booking_rescheduled(self, moved_from: str, booking_id: str, patient: Person) -> None:
        """A move: the booking `moved_from` was replaced by the linked `booking_id`."""
        self.rescheduled += 1
        self._touched(moved_from, patient)
        self._touched(booking_id, patient)

    def booking_cancelled(self, booking_id: str, patient: Person) -> None:
        self.cancelled += 1
        self._touched(booking_id, patient)

    def callback_saved(self, callback_id: str, caller: Person) -> None:
        if callback_id not in self.callback_ids:
            self.callback_ids.append(callback_id)
        self._identify(caller)

    def emergency_handled(self) -> None:
        self.emergency = True

    def call_transferred(self) -> None:
        """The hook for a transfer to a person (a phone transfer marks the call with it)."""
        self.transferred = True

    def system_failure(self) -> None:
        self.system_failed = True

    def caller_said(self, text: str, at: datetime) -> None:
        self.transcript.append(TranscriptLine("caller", text, at))
        self._caller_waiting = True

    def receptionist_said(self, text: str, at: datetime) -> None:
        self.transcript.append(TranscriptLine("agent", text, at))
        if self._caller_waiting:
            self.caller_turns_answered += 1
            self._caller_waiting = False

    def _touched(self, booking_id: str, patient: Person) -> None:
        if booking_id not in self.booking_ids:
            self.booking_ids.append(booking_id)
        self._identify(patient)

    def _identify(self, person: Person) -> None:
        """The first name and number given stand; a phone line's own number (set when the
        call starts) wins over a number the caller said."""
        name = " ".join(person.name.split())[:MAX_PATIENT_NAME_CHARACTERS]
        if name and self.patient_name is None:
            self.patient_name = name
        if person.phone and self.caller_phone is None:
            self.caller_phone = person.phone


def outcome(ledger: CallLedger) -> Outcome:
    """The one outcome of the call, by the precedence in this module's docstring."""
    if ledger.transferred:
        return "transferred"
    if ledger.emergency:
        return "emergency_advised"
    if ledger.booked:
        return "booked"
    if ledger.rescheduled:
        return "rescheduled"
    if ledger.cancelled:
        return "cancelled"
    if ledger.callback_ids:
        return "callback_requested"
    if ledger.system_failed:
        return "failed"
    if ledger.caller_turns_answered == 0:
        return "abandoned"
    return "information_only"


def nearest_rank(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values (never interpolated, so every
    figure is a turn that really happened)."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(turn_seconds: Sequence[float]) -> dict[str, Any]:
    """Per-turn end-to-end latency (caller stopped speaking → receptionist audio) in ms."""
    values = sorted(seconds * 1000 for seconds in turn_seconds)
    if not values:
        return {"turns": 0, "p50_ms": None, "p95_ms": None, "worst_ms": None}
    return {
        "turns": len(values),
        "p50_ms": round(nearest_rank(values, 0.50), 1),
        "p95_ms": round(nearest_rank(values, 0.95), 1),
        "worst_ms": round(values[-1], 1),
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def transcript_items(ledger: CallLedger) -> list[dict[str, str]]:
    """The transcript as the API takes it: its last lines (the outcome is there), each
    within the line limit."""
    return [
        {"role": line.role, "text": line.text[:MAX_LINE_CHARACTERS], "at": _iso(line.at)}
        for line in ledger.transcript[-MAX_TRANSCRIPT_LINES:]
    ]


def call_record(
    ledger: CallLedger,
    *,
    call_id: str,
    ended_at: datetime,
    turn_seconds: Sequence[float],
    summary: CallSummary | None,
) -> dict[str, Any]:
    """The body of `POST /v1/clinics/{clinic_id}/calls`. The transcript is always sent;
    the API keeps it only for clinics that opted in."""
    return {
        "call_id": call_id,
        "channel": ledger.channel,
        "started_at": _iso(ledger.started_at),
        "ended_at": _iso(max(ended_at, ledger.started_at)),
        "caller_phone": ledger.caller_phone,
        "patient_name": ledger.patient_name,
        "outcome": outcome(ledger),
        "booking_ids": ledger.booking_ids[:MAX_IDS],
        "callback_ids": ledger.callback_ids[:MAX_IDS],
        "latency": latency_summary(turn_seconds),
        "summary": summary.summary if summary else None,
        "reason": summary.reason if summary else None,
        "patient_status": summary.patient_status if summary else "unknown",
        "urgency": summary.urgency if summary else "unknown",
        "transcript": transcript_items(ledger) or None,
    }
