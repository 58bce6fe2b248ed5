"""Request-scoped dependencies (the application context, the clinic) and the token check.

The bearer token is checked by `RequestGuardMiddleware` (api/request_guard.py), before
any body is read, for every `/v1` route; `bearer_refusal` is the rule it applies.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from scheduling_api.api.slot_views import SlotViews
from scheduling_api.call_log import CallLog
from scheduling_api.callbacks import Callbacks
from scheduling_api.domain.clinic import Clinic
from scheduling_api.errors import ServiceError
from scheduling_api.scheduling import Scheduler
from scheduling_api.webhook_admin import WebhookAdmin


@dataclass(frozen=True, slots=True)
class AppContext:
    scheduler: Scheduler
    slot_views: SlotViews
    callbacks: Callbacks
    calls: CallLog
    webhooks: WebhookAdmin
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


def bearer_refusal(
    authorization: str | None, token_digests: tuple[bytes, ...]
) -> ServiceError | None:
    """The 401 for an `Authorization` header that carries no accepted token, else None.

    No digests means insecure dev mode: everything is accepted. Digests are compared
    (constant time, fixed length) against every accepted token without stopping early,
    so timing reveals neither which token nor how much matched.
    """
    if not token_digests:
        return None
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return ServiceError(401, "unauthorized", "Send Authorization: Bearer <token>.")
    presented = token_digest(token.strip())
    matched = False
    for accepted in token_digests:
        matched |= hmac.compare_digest(presented, accepted)
    if not matched:
        return ServiceError(401, "unauthorized", "The bearer token is not accepted.")
    return None


async def get_clinic(clinic_id: str, context: Context) -> Clinic:
    return context.scheduler.clinic(clinic_id)


ClinicDep = Annotated[Clinic, Depends(get_clinic)]
