"""Clinic profiles: everything the receptionist may say about a clinic."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from scheduling_api.api.deps import ClinicDep, Context
from scheduling_api.api.schemas import ClinicListOut, ClinicProfileOut

router = APIRouter(tags=["clinics"])


@router.get("/v1/clinics", response_model=ClinicListOut, summary="List clinics")
async def list_clinics(context: Context) -> Response:
    clinics = context.scheduler.clinics.values()
    return JSONResponse(
        {
            "clinics": [
                {"clinic_id": c.clinic_id, "name": c.name, "timezone": c.timezone} for c in clinics
            ]
        }
    )


@router.get("/v1/clinics/{clinic_id}", response_model=ClinicProfileOut, summary="Clinic profile")
async def clinic_profile(clinic: ClinicDep, context: Context) -> Response:
    return Response(context.clinic_profiles[clinic.clinic_id], media_type="application/json")
