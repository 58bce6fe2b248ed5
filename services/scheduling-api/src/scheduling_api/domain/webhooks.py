"""Webhook endpoints and deliveries: what an event is, how it is signed, when it is retried.

Signing follows the Standard Webhooks specification (standardwebhooks.com): the secret is
`whsec_` + base64 of random bytes; the signature is `v1,` + base64(HMAC-SHA256(secret,
"{webhook-id}.{webhook-timestamp}.{body}")), so receivers verify with existing libraries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import secrets
from datetime import datetime
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format marker, not a secret
SECRET_BYTES = 32
ENDPOINT_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class EventType(StrEnum):
    BOOKING_CREATED = "booking.created"
    BOOKING_RESCHEDULED = "booking.rescheduled"
    BOOKING_CANCELLED = "booking.cancelled"
    CALLBACK_CREATED = "callback.created"
    CALLBACK_RESOLVED = "callback.resolved"
    CALL_COMPLETED = "call.completed"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a `whsec_…` secret stands for."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def valid_secret(secret: str) -> bool:
    if not secret.startswith(SECRET_PREFIX):
        return False
    try:
        return len(base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)) >= 24
    except ValueError:
        return False


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one delivery attempt."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def retry_delay(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Seconds before the attempt after `attempt` failed ones: exponential, full jitter
    (AWS Architecture Blog), so a clinic backend coming back is not hit by every
    dispatcher at once."""
    ceiling = min(cap, base * 2 ** min(attempt - 1, 32))
    return rng.uniform(ceiling / 2, ceiling)


def past_horizon(first_attempt_due: datetime, now: datetime, horizon_seconds: float) -> bool:
    return (now - first_attempt_due).total_seconds() >= horizon_seconds


def _http_url(value: AnyHttpUrl) -> AnyHttpUrl:
    parts = urlsplit(str(value))
    if parts.username or parts.password:
        raise ValueError("must not carry credentials; use the signature to authenticate")
    return value


class EndpointIn(BaseModel):
    """The body of `POST /v1/clinics/{clinic_id}/webhooks`."""

    model_config = ConfigDict(extra="forbid")

    url: Annotated[AnyHttpUrl, Field(examples=["https://desk.example.com/hooks/bright-smile"])]
    events: Annotated[list[EventType], Field(min_length=1, max_length=len(EventType))]
    description: Annotated[str | None, Field(max_length=200)] = None

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, value: AnyHttpUrl) -> AnyHttpUrl:
        return _http_url(value)


class Endpoint(BaseModel):
    """A clinic backend's URL, the events it wants, and (stored, never listed) its secret."""

    endpoint_id: str
    clinic_id: str
    url: str
    events: list[EventType]
    description: str | None = None
    seeded: bool = Field(
        default=False, description="Seeded from the clinic YAML (its secret is in a Secret)."
    )
    created_at: datetime


class EndpointCreated(Endpoint):
    secret: str = Field(description="Shown once: `whsec_` + base64, per Standard Webhooks.")


class Delivery(BaseModel):
    """One event's delivery to one endpoint."""

    delivery_id: str
    endpoint_id: str
    event_id: str = Field(description="The `webhook-id`; the same on every redelivery.")
    event_type: EventType
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
    occurred_at: datetime
    updated_at: datetime
