"""Exception handlers: every error becomes the contract's JSON body, never a bare 500.

A 500 is reserved for true bugs: `ObservabilityMiddleware` logs those with their
traceback and request id and answers a generic body that reveals nothing.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from scheduling_api.errors import ServiceError
from scheduling_api.scheduling import SlotNotBookableError

logger = logging.getLogger(__name__)

_HTTP_ERROR_CODES: dict[int, tuple[str, str | None]] = {
    # FastAPI's answer to a body it cannot decode at all (not UTF-8, say).
    400: ("malformed_body", "The request body could not be read; send UTF-8 JSON."),
    404: ("not_found", "No such route."),
    405: ("method_not_allowed", "This route does not accept that method."),
    413: ("payload_too_large", None),  # the detail says what the cap is
}


def _field_name(location: tuple[Any, ...]) -> str:
    """`("body", "patient", "phone")` → `patient.phone`; `("query", "days")` → `days`."""
    source, *path = location or ("body",)
    names = [str(part) for part in path if isinstance(part, str)]
    if source == "header" and names:
        return "-".join(word.capitalize() for word in names[0].split("-"))
    return ".".join(names) or str(source)


def _message(error: dict[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        return "request body is not valid JSON"
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    body = exc.body()
    if isinstance(exc, SlotNotBookableError):
        slot_views = request.app.state.context.slot_views
        body["alternatives"] = slot_views.views(exc.clinic_id, exc.alternatives)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [
        {"field": _field_name(tuple(error.get("loc", ()))), "message": _message(error)}
        for error in exc.errors()
    ]
    return JSONResponse(
        {
            "error": "validation_error",
            "message": "; ".join(f"{f['field']}: {f['message']}" for f in fields),
            "fields": fields,
        },
        status_code=422,
    )


_PATH_PARAMETER = re.compile(r"\\{[^}/]+\\}")


def _method_table(app: Any) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    """Each documented path template as a pattern, with the methods it accepts."""
    table: list[tuple[re.Pattern[str], frozenset[str]]] | None = getattr(
        app.state, "allowed_methods", None
    )
    if table is None:
        table = []
        for template, operations in app.openapi()["paths"].items():
            methods = {method.upper() for method in operations}
            if "GET" in methods:
                methods.add("HEAD")
            pattern = _PATH_PARAMETER.sub("[^/]+", re.escape(template))
            table.append((re.compile(pattern), frozenset(methods)))
        app.state.allowed_methods = table
    return table


def _allowed_methods(request: Request) -> str:
    """Every method some route at this path accepts, read from the OpenAPI document.

    Starlette's own `Allow` names only the first route whose path matched, so GET and
    POST on one path (two routes) would each hide the other.
    """
    path = request.scope["path"]
    methods: set[str] = set()
    for pattern, accepted in _method_table(request.app):
        if pattern.fullmatch(path):
            methods |= accepted
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, message = _HTTP_ERROR_CODES.get(exc.status_code, ("http_error", None))
    headers = dict(exc.headers or {})
    if exc.status_code == 405:  # paths outside the document (/docs) keep Starlette's
        headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
    return JSONResponse(
        {"error": code, "message": message or str(exc.detail)},
        status_code=exc.status_code,
        headers=headers,
    )


async def _store_unavailable(_: Request, exc: Exception) -> JSONResponse:
    logger.error("redis unavailable", extra={"error_type": type(exc).__name__})
    return JSONResponse(
        {"error": "store_unavailable", "message": "The appointment book is unreachable; retry."},
        status_code=503,
        headers={"Retry-After": "1"},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RedisConnectionError, _store_unavailable)
    app.add_exception_handler(RedisTimeoutError, _store_unavailable)
