"""Bookings: create (idempotent), read, list, cancel, reschedule."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, Response

from scheduling_api.api.deps import ClinicDep, Context
from scheduling_api.api.params import DAY_PATTERN, parse_day
from scheduling_api.api.schemas import (
    BookingIn,
    BookingListOut,
    CancelIn,
    ErrorOut,
    RescheduleIn,
)
from scheduling_api.domain.records import Booking, BookingStatus
from scheduling_api.errors import ServiceError, invalid_fields
from scheduling_api.scheduling import BookAnswer, PatientDetails

router = APIRouter(tags=["bookings"])

MAX_IDEMPOTENCY_KEY_LENGTH = 200
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "slot_unavailable, with alternatives"}
}
_CREATE_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "model": Booking,
        "description": (
            "already_booked: the same patient (same phone, same name ignoring case and spacing) "
            "already holds a confirmed booking of this slot and appointment type. The body is "
            "that existing booking; nothing new was booked."
        ),
        "headers": {
            "Already-Booked": {
                "description": "`true`: the body is the patient's existing booking.",
                "schema": {"type": "string", "enum": ["true"]},
            },
            "Location": {"description": "The existing booking.", "schema": {"type": "string"}},
        },
    },
    201: {
        "description": (
            "Booked. A replay of the same Idempotency-Key and request answers the same "
            "booking again, with `Idempotent-Replayed: true`."
        ),
        "headers": {
            "Idempotent-Replayed": {
                "description": "`true` on a replay of an earlier request.",
                "schema": {"type": "string", "enum": ["true"]},
            },
            "Location": {"description": "The booking.", "schema": {"type": "string"}},
        },
    },
    400: {"model": ErrorOut, "description": "missing_idempotency_key"},
    409: {
        "model": ErrorOut,
        "description": "slot_unavailable: the slot is taken (by anyone else), with alternatives",
    },
    422: {
        "model": ErrorOut,
        "description": (
            "validation_error (with fields), invalid_slot, idempotency_key_reused, or "
            "slot_in_past (too soon or passed, with alternatives)"
        ),
    },
}

IdempotencyKey = Annotated[
    str | None,
    Header(
        description="Unique per booking attempt (1-200 characters); retries reuse it.",
    ),
]


def _checked_key(key: str | None, *, required: bool) -> str | None:
    if key is None:
        if required:
            raise ServiceError(
                400,
                "missing_idempotency_key",
                "Send an Idempotency-Key header, unique per booking attempt, so that "
                "retries cannot book twice.",
            )
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        raise invalid_fields(("Idempotency-Key", "must be 1 to 200 characters"))
    return key


def _booking_response(
    booking: Booking, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        booking.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


@router.post(
    "/v1/clinics/{clinic_id}/bookings",
    status_code=201,
    response_model=Booking,
    responses=_CREATE_ANSWERS,
    summary="Book a slot",
)
async def create_booking(
    clinic: ClinicDep,
    context: Context,
    body: BookingIn,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    key = _checked_key(idempotency_key, required=True)
    assert key is not None
    booking, answer = await context.scheduler.book(
        clinic,
        slot_id=body.slot_id,
        patient=PatientDetails(
            name=body.patient.name,
            phone=body.patient.phone,
            email=body.patient.email,
            date_of_birth=body.patient.date_of_birth,
        ),
        notes=body.notes,
        source=body.source,
        idempotency_key=key,
    )
    headers = {"Location": f"/v1/clinics/{clinic.clinic_id}/bookings/{booking.booking_id}"}
    if answer is BookAnswer.ALREADY_BOOKED:
        headers["Already-Booked"] = "true"
        return _booking_response(booking, 200, headers)
    if answer is BookAnswer.REPLAYED:
        headers["Idempotent-Replayed"] = "true"
    return _booking_response(booking, 201, headers)


@router.get(
    "/v1/clinics/{clinic_id}/bookings",
    response_model=BookingListOut,
    summary="Find bookings by phone, day and status",
)
async def list_bookings(
    clinic: ClinicDep,
    context: Context,
    phone: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    day: Annotated[
        str | None,
        Query(alias="date", pattern=DAY_PATTERN, description="Clinic-local day, YYYY-MM-DD."),
    ] = None,
    status: BookingStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    bookings = await context.scheduler.list_bookings(
        clinic, phone=phone, day=parse_day("date", day), status=status, limit=limit
    )
    return JSONResponse({"bookings": [b.model_dump(mode="json") for b in bookings]})


@router.get(
    "/v1/clinics/{clinic_id}/bookings/{booking_id}",
    response_model=Booking,
    summary="One booking",
)
async def get_booking(clinic: ClinicDep, context: Context, booking_id: str) -> Response:
    return _booking_response(await context.scheduler.get_booking(clinic, booking_id))


@router.post(
    "/v1/clinics/{clinic_id}/bookings/{booking_id}/cancel",
    response_model=Booking,
    responses={409: {"model": ErrorOut, "description": "booking_not_active"}},
    summary="Cancel a booking (idempotent)",
)
async def cancel_booking(
    clinic: ClinicDep,
    context: Context,
    booking_id: str,
    body: CancelIn | None = None,
) -> Response:
    reason = body.reason if body else None
    return _booking_response(await context.scheduler.cancel(clinic, booking_id, reason=reason))


@router.post(
    "/v1/clinics/{clinic_id}/bookings/{booking_id}/reschedule",
    response_model=Booking,
    responses=_CONFLICT,
    summary="Move a booking to another slot (atomic)",
)
async def reschedule_booking(
    clinic: ClinicDep,
    context: Context,
    booking_id: str,
    body: RescheduleIn,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    booking = await context.scheduler.reschedule(
        clinic,
        booking_id,
        slot_id=body.slot_id,
        idempotency_key=_checked_key(idempotency_key, required=False),
    )
    return _booking_response(booking)
