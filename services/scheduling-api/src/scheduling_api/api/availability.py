"""Free slots: the hot path of every call, so it avoids per-request framework work.

Measured choices: query parameters are validated with one pydantic model rather than
FastAPI's per-parameter machinery (each FastAPI dependency level costs a second pass of
its per-request introspection). The OpenAPI document still lists the parameters, errors
are the same 422 bodies, and answers are rendered from caches (api/slot_views.py).
The bearer token is checked by RequestGuardMiddleware, as for every /v1 route.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError

from scheduling_api.api.deps import AppContext
from scheduling_api.api.params import DAY_PATTERN, parse_day
from scheduling_api.api.schemas import AvailabilityOut
from scheduling_api.domain.slots import PartOfDay

router = APIRouter(tags=["availability"])


class AvailabilityQuery(BaseModel):
    appointment_type: Annotated[
        str, Field(min_length=1, max_length=64, description="An appointment_type_id.")
    ]
    start_date: Annotated[
        str | None,
        Field(pattern=DAY_PATTERN, description="YYYY-MM-DD; default today at the clinic."),
    ] = None
    days: Annotated[int, Field(ge=1, le=60, description="Days to search, 1-60.")] = 7
    provider_id: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    part_of_day: Annotated[
        Literal["morning", "afternoon", "evening"] | None,
        Field(description="morning < 12:00 ≤ afternoon < 17:00 ≤ evening, clinic time."),
    ] = None
    limit: Annotated[int, Field(ge=1, le=100, description="At most this many slots.")] = 20


def _openapi_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "description": field.get("description", ""),
            "schema": {k: v for k, v in field.items() if k not in ("title", "description")},
        }
        for name, field in schema["properties"].items()
    ]


@router.get(
    "/v1/clinics/{clinic_id}/availability",
    response_model=AvailabilityOut,
    summary="Free slots for an appointment type",
    openapi_extra={"parameters": _openapi_parameters(AvailabilityQuery)},
)
async def availability(clinic_id: str, request: Request) -> Response:
    try:
        query = AvailabilityQuery.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]
        ) from exc
    context: AppContext = request.app.state.context
    clinic = context.scheduler.clinic(clinic_id)
    found = await context.scheduler.search.availability(
        clinic,
        appointment_type_id=query.appointment_type,
        start_date=parse_day("start_date", query.start_date),
        days=query.days,
        provider_id=query.provider_id,
        part_of_day=PartOfDay(query.part_of_day) if query.part_of_day else None,
        limit=query.limit,
    )
    body = context.slot_views.availability_body(clinic.clinic_id, found.slots, found.next_available)
    return Response(body, media_type="application/json")
