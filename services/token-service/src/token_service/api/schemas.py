"""Response shapes and the request body schema, as the OpenAPI document publishes them.

The handler writes its JSON by hand (it is the hot path); these models exist so clients
can generate code from `/openapi.json`, and the schemathesis run checks every answer
against them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from token_service.domain.token_claims import SERVICE_NAMED_FIELDS
from token_service.domain.token_request import TokenRequest


class TokenResponse(BaseModel):
    """LiveKit's standard token-endpoint answer."""

    server_url: str = Field(description="The LiveKit server to connect to (ws:// or wss://).")
    participant_token: str = Field(description="The signed LiveKit access token (a JWT).")
    room_name: str = Field(description="The room the service chose: new and unguessable.")
    participant_identity: str = Field(description="The identity the service chose.")
    expires_at: str = Field(description="When the token expires, ISO 8601 in UTC.")


class FieldProblem(BaseModel):
    field: str = Field(description="The request field at fault, dotted (`room_config.agents`).")
    message: str = Field(description="What is wrong with it.")


class ErrorBody(BaseModel):
    """Every error: a machine-readable `error` code and a sentence saying why."""

    error: str
    message: str
    fields: list[FieldProblem] | None = Field(
        default=None,
        description="One entry per request field at fault (422, and 400/404 naming fields).",
    )
    error_id: str | None = Field(
        default=None, description="For a 500: the id under which the error was logged."
    )


class StatusBody(BaseModel):
    """`/healthz` and `/readyz`: `checks` and `message` only on `/readyz`."""

    status: str
    checks: dict[str, str] | None = None
    message: str | None = None


def token_request_schema() -> dict[str, Any]:
    """TokenRequest's JSON schema, with the fields only the service may fill shown as such."""
    schema = TokenRequest.model_json_schema()
    for name in SERVICE_NAMED_FIELDS:
        schema["properties"][name] = {
            "type": "string",
            "maxLength": 0,
            "description": "Must be absent or empty: the service names rooms and identities "
            "itself, and refuses a chosen one with a 400.",
        }
    return schema


def documented_error(description: str) -> dict[str, Any]:
    """One documented error response."""
    return {"model": ErrorBody, "description": description}
