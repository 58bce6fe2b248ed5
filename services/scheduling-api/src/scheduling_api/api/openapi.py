"""The OpenAPI document, made to tell the truth: every status each route can answer.

FastAPI documents only what a route declares, plus a 422 in its own `{detail}` shape.
The service answers more than that from layers the routes never see: the request guard
(401, 413), the body decoder (400), the clinic/booking/callback lookups (404), the store
(503), the last-resort handler (500), all in the `{error, message, ...}` shape. Clinic
backends generate their clients from this document, so those answers are added here,
per route, from what the route is: its path parameters, whether it takes a body, and
whether it reaches Redis. A schemathesis run (tests/test_api_contracts.py) fails on any
status or body this document does not describe.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from scheduling_api.api.deps import BEARER_SCHEME
from scheduling_api.api.schemas import ErrorOut

ERROR_SCHEMA = "ErrorOut"
_NOT_FOUND = {
    "{clinic_id}": "clinic_not_found",
    "{booking_id}": "booking_not_found",
    "{callback_id}": "callback_not_found",
    "{call_id}": "call_not_found",
    "{endpoint_id}": "webhook_not_found",
    "{delivery_id}": "delivery_not_found, webhook_not_found",
}
_AVAILABILITY_NOT_FOUND = ("appointment_type_not_found", "provider_not_found")
_STORE_PREFIX = "/v1/clinics/{clinic_id}/"
"""Routes under a clinic read or write the book in Redis; the clinic list and profile
are served from memory."""


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}
        },
    }


def _add(responses: dict[str, Any], status: int, description: str) -> None:
    """Document `status`; a route's own description of it comes first."""
    own = (responses.get(str(status)) or {}).get("description")
    if own and own not in (description, HTTPStatus(status).phrase):
        description = f"{own}; {description}"
    responses[str(status)] = _error(description)


def _document_errors(path: str, operation: dict[str, Any], max_body_bytes: int) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    takes_input = bool(operation.get("parameters")) or "requestBody" in operation
    if path.startswith("/v1/"):
        _add(responses, 401, "unauthorized: no accepted bearer token")
    not_found = [code for part, code in _NOT_FOUND.items() if part in path]
    if path.endswith("/availability"):
        not_found += _AVAILABILITY_NOT_FOUND
    if not_found:
        _add(responses, 404, ", ".join(not_found))
    if "requestBody" in operation:
        _add(responses, 400, "malformed_body: the body cannot be decoded")
    if takes_input:
        _add(responses, 422, "validation_error (each bad field in `fields`) or a refused value")
    _add(responses, 413, f"payload_too_large: a body over {max_body_bytes} bytes")
    if path.startswith(_STORE_PREFIX):
        _add(responses, 503, "store_unavailable: Redis is unreachable; retry")
    _add(responses, 500, "internal_error: a bug; `error_id` names the logged trace")


def _error_schemas() -> dict[str, Any]:
    """ErrorOut and the models it refers to, as components."""
    schema = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    components: dict[str, Any] = schema.pop("$defs", {})
    components[ERROR_SCHEMA] = schema
    return components


def install_openapi(app: FastAPI, *, max_body_bytes: int) -> None:
    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = schema.setdefault("components", {})
            components["securitySchemes"] = {
                BEARER_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "One of the tokens in SCHEDULING_API_TOKENS.",
                }
            }
            schemas = components.setdefault("schemas", {})
            schemas.update(_error_schemas())
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            for path, operations in schema["paths"].items():
                for operation in operations.values():
                    if path.startswith("/v1/"):
                        operation["security"] = [{BEARER_SCHEME: []}]
                    _document_errors(path, operation, max_body_bytes)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
