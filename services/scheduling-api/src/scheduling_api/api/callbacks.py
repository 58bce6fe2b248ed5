"""Callback requests: the caller wants a person to phone them back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from scheduling_api.api.deps import ClinicDep, Context
from scheduling_api.api.schemas import CallbackIn, CallbackListOut
from scheduling_api.domain.records import Callback, CallbackStatus

router = APIRouter(tags=["callbacks"])


def _callback_response(callback: Callback, status_code: int = 200) -> Response:
    return Response(
        callback.model_dump_json(), status_code=status_code, media_type="application/json"
    )


@router.post(
    "/v1/clinics/{clinic_id}/callbacks",
    status_code=201,
    response_model=Callback,
    summary="Ask the front desk to call a patient back",
)
async def request_callback(clinic: ClinicDep, context: Context, body: CallbackIn) -> Response:
    callback = await context.callbacks.request(
        clinic,
        name=body.name,
        phone=body.phone,
        reason=body.reason,
        preferred_time=body.preferred_time,
        source=body.source,
    )
    return _callback_response(callback, 201)


@router.get(
    "/v1/clinics/{clinic_id}/callbacks",
    response_model=CallbackListOut,
    summary="Callback requests, oldest first",
)
async def list_callbacks(
    clinic: ClinicDep,
    context: Context,
    status: CallbackStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    callbacks = await context.callbacks.find(clinic, status=status, limit=limit)
    return JSONResponse({"callbacks": [c.model_dump(mode="json") for c in callbacks]})


@router.post(
    "/v1/clinics/{clinic_id}/callbacks/{callback_id}/resolve",
    response_model=Callback,
    summary="Mark a callback request done (idempotent)",
)
async def resolve_callback(clinic: ClinicDep, context: Context, callback_id: str) -> Response:
    return _callback_response(await context.callbacks.resolve(clinic, callback_id))
