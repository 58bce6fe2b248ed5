"""Webhook endpoints per clinic, and their deliveries (failed ones can be redelivered)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from scheduling_api.api.deps import ClinicDep, Context
from scheduling_api.api.schemas import ErrorOut
from scheduling_api.domain.webhooks import (
    Delivery,
    DeliveryStatus,
    Endpoint,
    EndpointCreated,
    EndpointIn,
)

router = APIRouter(tags=["webhooks"])

_SEEDED: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "webhook_seeded: declared in the clinic YAML"}
}


class EndpointListOut(BaseModel):
    webhooks: list[Endpoint]


class DeliveryListOut(BaseModel):
    deliveries: list[Delivery]


def _json(model: BaseModel, status_code: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


@router.post(
    "/v1/clinics/{clinic_id}/webhooks",
    status_code=201,
    response_model=EndpointCreated,
    summary="Add a webhook endpoint (its secret is shown only in this answer)",
)
async def create_webhook(clinic: ClinicDep, context: Context, body: EndpointIn) -> Response:
    return _json(await context.webhooks.create(clinic, body), 201)


@router.get(
    "/v1/clinics/{clinic_id}/webhooks",
    response_model=EndpointListOut,
    summary="Webhook endpoints (without secrets)",
)
async def list_webhooks(clinic: ClinicDep, context: Context) -> Response:
    endpoints = await context.webhooks.endpoints(clinic)
    return JSONResponse({"webhooks": [e.model_dump(mode="json") for e in endpoints]})


@router.get(
    "/v1/clinics/{clinic_id}/webhooks/deliveries",
    response_model=DeliveryListOut,
    summary="Deliveries by status, most recent first (failed = dead letters)",
)
async def list_deliveries(
    clinic: ClinicDep,
    context: Context,
    status: DeliveryStatus = DeliveryStatus.FAILED,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    deliveries = await context.webhooks.deliveries(clinic, status=status, limit=limit)
    return JSONResponse({"deliveries": [d.model_dump(mode="json") for d in deliveries]})


@router.post(
    "/v1/clinics/{clinic_id}/webhooks/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=Delivery,
    responses={409: {"model": ErrorOut, "description": "delivery_pending: still retrying"}},
    summary="Deliver an event again (same webhook-id), with a fresh retry horizon",
)
async def redeliver(clinic: ClinicDep, context: Context, delivery_id: str) -> Response:
    return _json(await context.webhooks.redeliver(clinic, delivery_id), 202)


@router.get(
    "/v1/clinics/{clinic_id}/webhooks/{endpoint_id}",
    response_model=Endpoint,
    summary="One webhook endpoint (without its secret)",
)
async def get_webhook(clinic: ClinicDep, context: Context, endpoint_id: str) -> Response:
    return _json(await context.webhooks.get(clinic, endpoint_id))


@router.put(
    "/v1/clinics/{clinic_id}/webhooks/{endpoint_id}",
    response_model=Endpoint,
    responses=_SEEDED,
    summary="Change a webhook endpoint's URL, events or description (the secret stays)",
)
async def update_webhook(
    clinic: ClinicDep, context: Context, endpoint_id: str, body: EndpointIn
) -> Response:
    return _json(await context.webhooks.update(clinic, endpoint_id, body))


@router.delete(
    "/v1/clinics/{clinic_id}/webhooks/{endpoint_id}",
    status_code=204,
    responses=_SEEDED,
    summary="Remove a webhook endpoint (its undelivered events are dropped)",
)
async def delete_webhook(clinic: ClinicDep, context: Context, endpoint_id: str) -> Response:
    await context.webhooks.delete(clinic, endpoint_id)
    return Response(status_code=204)
