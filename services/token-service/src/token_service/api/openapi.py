"""`/openapi.json`: the token endpoint's contract, for clients that generate code from it.

FastAPI builds the document from the routes; this adds the optional bearer scheme the
route's `security` refers to (keys are checked in the handler, not by a FastAPI class).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from token_service.api.auth import BEARER_SCHEME


def install_openapi(app: FastAPI) -> None:
    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes[BEARER_SCHEME] = {
                "type": "http",
                "scheme": "bearer",
                "description": "Required only when TOKEN_SERVICE_API_KEYS is set.",
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
