"""Request bodies and response shapes of the v1 API (the OpenAPI document shows these)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field

from scheduling_api.domain.clinic import AppointmentType, Clinic
from scheduling_api.domain.records import Booking, Callback

ShortText = Annotated[str, Field(max_length=200)]
Source = Annotated[str, Field(max_length=64, examples=["voice-agent"])]


class PatientIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=500, examples=["Maria Garcia"])]
    phone: Annotated[str, Field(min_length=1, max_length=40, examples=["(512) 555-0199"])]
    email: Annotated[str | None, Field(max_length=254)] = None
    date_of_birth: date | None = None


class BookingIn(BaseModel):
    slot_id: Annotated[str, Field(min_length=1, max_length=512)]
    patient: PatientIn
    notes: Annotated[str | None, Field(max_length=2000)] = None
    source: Source | None = None


class CancelIn(BaseModel):
    reason: Annotated[str | None, Field(max_length=500)] = None


class RescheduleIn(BaseModel):
    slot_id: Annotated[str, Field(min_length=1, max_length=512)]


class CallbackIn(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=500)]
    phone: Annotated[str, Field(min_length=1, max_length=40)]
    reason: Annotated[str | None, Field(max_length=1000)] = None
    preferred_time: ShortText | None = None
    source: Source | None = None


class SlotOut(BaseModel):
    slot_id: str
    start: str
    end: str
    provider_id: str
    provider_name: str
    appointment_type: str


class AvailabilityOut(BaseModel):
    slots: list[SlotOut]
    next_available: str | None = Field(
        description="Start of the first slot listed, or when none is listed, of the first "
        "free slot after the searched window (up to the booking horizon); null if none."
    )


class BookingListOut(BaseModel):
    bookings: list[Booking]


class CallbackListOut(BaseModel):
    callbacks: list[Callback]


class ClinicSummary(BaseModel):
    clinic_id: str
    name: str
    timezone: str


class ClinicListOut(BaseModel):
    clinics: list[ClinicSummary]


class AppointmentTypeOut(AppointmentType):
    provider_ids: list[str]


class ClinicProfileOut(Clinic):
    """The clinic's YAML, plus which providers perform each appointment type."""

    appointment_types: list[AppointmentTypeOut]  # type: ignore[assignment]


class FieldProblem(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    """Every error body. Some codes add the id that was not found (`clinic_id`, ...)."""

    error: str = Field(examples=["slot_unavailable"])
    message: str
    fields: list[FieldProblem] | None = Field(
        default=None, description="validation_error: each bad field and why."
    )
    alternatives: list[SlotOut] | None = Field(
        default=None, description="slot_unavailable / slot_in_past: the nearest free slots."
    )
    error_id: str | None = Field(
        default=None, description="internal_error: the id under which the trace was logged."
    )
