"""Call records: the worker's report of every call, and the front desk's view of them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from scheduling_api.api.deps import ClinicDep, Context
from scheduling_api.api.params import DAY_PATTERN, parse_day
from scheduling_api.domain.calls import CallOutcome, CallRecord, CallRecordIn

router = APIRouter(tags=["calls"])


class CallListOut(BaseModel):
    calls: list[CallRecord]


_RECORD_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "model": CallRecord,
        "description": (
            "A record with this call_id was already stored: the body is that first record "
            "(the first write wins, so a retried post never makes two)."
        ),
    },
    201: {"description": "Stored; the `call.completed` event was queued with it."},
}


def _record_response(record: CallRecord, status_code: int = 200) -> Response:
    return Response(
        record.model_dump_json(), status_code=status_code, media_type="application/json"
    )


@router.post(
    "/v1/clinics/{clinic_id}/calls",
    status_code=201,
    response_model=CallRecord,
    responses=_RECORD_ANSWERS,
    summary="Store the record of a call that ended (idempotent by call_id)",
)
async def record_call(clinic: ClinicDep, context: Context, body: CallRecordIn) -> Response:
    written = await context.calls.record(clinic, body)
    return _record_response(written.record, 201 if written.created else 200)


@router.get(
    "/v1/clinics/{clinic_id}/calls",
    response_model=CallListOut,
    summary="Call records, newest first (without transcripts)",
)
async def list_calls(
    clinic: ClinicDep,
    context: Context,
    day: Annotated[
        str | None,
        Query(
            alias="date",
            pattern=DAY_PATTERN,
            description="Clinic-local day the call started, YYYY-MM-DD.",
        ),
    ] = None,
    outcome: CallOutcome | None = None,
    phone: Annotated[
        str | None, Query(min_length=1, max_length=40, description="The caller's number.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    calls = await context.calls.list(
        clinic, day=parse_day("date", day), outcome=outcome, phone=phone, limit=limit
    )
    return JSONResponse({"calls": [c.model_dump(mode="json") for c in calls]})


@router.get(
    "/v1/clinics/{clinic_id}/calls/{call_id}",
    response_model=CallRecord,
    summary="One call record, with its transcript while the clinic keeps it",
)
async def get_call(clinic: ClinicDep, context: Context, call_id: str) -> Response:
    return _record_response(await context.calls.get(clinic, call_id))
