"""Request-scoped dependencies: the application context, bearer auth, the clinic."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from scheduling_api.domain.clinic import Clinic
from scheduling_api.errors import ServiceError
from scheduling_api.scheduling import Scheduler


@dataclass(frozen=True, slots=True)
class AppContext:
    scheduler: Scheduler
    token_digests: tuple[bytes, ...]
    """SHA-256 of each accepted bearer token; empty only in insecure dev mode."""
    clinic_profiles: dict[str, bytes]
    """Each clinic's profile, serialised once at startup."""


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


Context = Annotated[AppContext, Depends(get_context)]

BEARER_SCHEME = "bearerAuth"
"""Name of the security scheme the OpenAPI document declares for every /v1 route."""


async def require_token(request: Request) -> None:
    """401 unless the request carries an accepted bearer token.

    Digests are compared (constant time, fixed length) against every accepted token
    without stopping early, so timing reveals neither which token nor how much matched.
    The header is read directly rather than through `HTTPBearer`, which costs a nested
    dependency on every request of the hot path.
    """
    context: AppContext = request.app.state.context
    if not context.token_digests:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ServiceError(401, "unauthorized", "Send Authorization: Bearer <token>.")
    presented = token_digest(token.strip())
    matched = False
    for accepted in context.token_digests:
        matched |= hmac.compare_digest(presented, accepted)
    if not matched:
        raise ServiceError(401, "unauthorized", "The bearer token is not accepted.")


async def get_clinic(clinic_id: str, context: Context) -> Clinic:
    return context.scheduler.clinic(clinic_id)


ClinicDep = Annotated[Clinic, Depends(get_clinic)]
