"""Call records: what happened on one call, as the worker reports it when the call ends.

The worker posts `CallRecordIn`; the API stores a `CallRecord` (adding the clinic and the
duration) once per call id, so a retried post never makes a second record.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import phonenumbers
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

CALL_ID_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
MAX_TRANSCRIPT_LINES = 2_000
MAX_IDS = 50
EARLIEST_CALL = datetime(2020, 1, 1, tzinfo=UTC)
LATEST_CALL = datetime(2100, 1, 1, tzinfo=UTC)
MAX_CALL_DURATION = timedelta(hours=24)


class Channel(StrEnum):
    WEB = "web"
    PHONE = "phone"


class CallOutcome(StrEnum):
    BOOKED = "booked"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    CALLBACK_REQUESTED = "callback_requested"
    TRANSFERRED = "transferred"
    INFORMATION_ONLY = "information_only"
    EMERGENCY_ADVISED = "emergency_advised"
    ABANDONED = "abandoned"
    FAILED = "failed"


class PatientStatus(StrEnum):
    NEW = "new"
    EXISTING = "existing"
    UNKNOWN = "unknown"


class Urgency(StrEnum):
    ROUTINE = "routine"
    SOON = "soon"
    URGENT = "urgent"
    UNKNOWN = "unknown"


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CallLatency(_Input):
    """Per-turn response latency of the call; the figures are null when no turn was timed."""

    turns: Annotated[int, Field(ge=0, le=100_000)]
    p50_ms: Annotated[float | None, Field(ge=0, le=3_600_000)] = None
    p95_ms: Annotated[float | None, Field(ge=0, le=3_600_000)] = None
    worst_ms: Annotated[float | None, Field(ge=0, le=3_600_000)] = None

    @model_validator(mode="after")
    def _figures_match_turns(self) -> CallLatency:
        figures = (self.p50_ms, self.p95_ms, self.worst_ms)
        if self.turns == 0 and any(value is not None for value in figures):
            raise ValueError("p50_ms, p95_ms and worst_ms must be null when turns is 0")
        if self.turns > 0 and any(value is None for value in figures):
            raise ValueError("p50_ms, p95_ms and worst_ms are required when turns > 0")
        return self


class TranscriptLine(_Input):
    role: Annotated[str, Field(pattern=r"^(caller|agent|system)$")]
    text: Annotated[str, Field(max_length=4_000)]
    at: AwareDatetime | None = None


class CallRecordIn(_Input):
    """The body of `POST /v1/clinics/{clinic_id}/calls` (the worker's end-of-call report)."""

    call_id: Annotated[str, Field(pattern=CALL_ID_PATTERN, examples=["RM_9dXk2LmQ"])]
    channel: Channel
    started_at: AwareDatetime
    ended_at: AwareDatetime
    caller_phone: Annotated[str | None, Field(max_length=16, examples=["+15125550142"])] = None
    patient_name: Annotated[str | None, Field(max_length=100)] = None
    outcome: CallOutcome
    booking_ids: Annotated[
        list[Annotated[str, Field(max_length=64)]], Field(max_length=MAX_IDS)
    ] = []
    callback_ids: Annotated[
        list[Annotated[str, Field(max_length=64)]], Field(max_length=MAX_IDS)
    ] = []
    latency: CallLatency
    summary: Annotated[str | None, Field(max_length=2_000)] = None
    reason: Annotated[str | None, Field(max_length=200)] = None
    patient_status: PatientStatus = PatientStatus.UNKNOWN
    urgency: Urgency = Urgency.UNKNOWN
    transcript: Annotated[list[TranscriptLine] | None, Field(max_length=MAX_TRANSCRIPT_LINES)] = (
        None
    )

    @field_validator("caller_phone")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parsed = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException as exc:
            raise ValueError("must be E.164, like +15125550142") from exc
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if value != e164 or not phonenumbers.is_possible_number(parsed):
            raise ValueError("must be E.164, like +15125550142")
        return value

    @field_validator("started_at", "ended_at")
    @classmethod
    def _plausible_time(cls, value: datetime) -> datetime:
        if not EARLIEST_CALL <= value < LATEST_CALL:
            raise ValueError("must be a time between 2020 and 2100")
        return value

    @model_validator(mode="after")
    def _ends_after_start(self) -> CallRecordIn:
        if self.ended_at < self.started_at:
            raise ValueError("ended_at must not be before started_at")
        if self.ended_at - self.started_at > MAX_CALL_DURATION:
            raise ValueError("a call cannot last more than 24 hours")
        return self


class CallRecord(BaseModel):
    """A stored call. `transcript` is null unless the clinic keeps transcripts (and until
    its retention expires it)."""

    call_id: str
    clinic_id: str
    channel: Channel
    started_at: datetime
    ended_at: datetime
    duration_seconds: float
    caller_phone: str | None
    patient_name: str | None
    outcome: CallOutcome
    booking_ids: list[str]
    callback_ids: list[str]
    latency: CallLatency
    summary: str | None
    reason: str | None
    patient_status: PatientStatus
    urgency: Urgency
    transcript: list[TranscriptLine] | None = None


def call_record(clinic_id: str, report: CallRecordIn, *, keep_transcript: bool) -> CallRecord:
    """The record as stored for a report: with its clinic and duration, and the transcript
    only when the clinic keeps transcripts."""
    fields: dict[str, Any] = report.model_dump(exclude={"transcript"})
    return CallRecord(
        **fields,
        clinic_id=clinic_id,
        duration_seconds=round((report.ended_at - report.started_at).total_seconds(), 3),
        transcript=report.transcript if keep_transcript else None,
    )


def local_day(moment: datetime, timezone: ZoneInfo) -> date:
    """The clinic-local calendar day a call started on (what `?date=` filters by)."""
    return moment.astimezone(timezone).date()
