"""Every error leaves the service as `{"error": <code>, "message": <reason>, ...}`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

_HTTP_ERROR_CODES = {
    404: "not_found",
    405: "method_not_allowed",
}


def error_response(
    status: int,
    error: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "message": message, **extra}, status_code=status, headers=headers
    )


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    """Framework errors (unknown path, wrong method) in the same shape as ours."""
    assert isinstance(exc, HTTPException)
    code = _HTTP_ERROR_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_exception)
