"""What the watchdog's two inbound routes share: they take bodies signed with the LiveKit
API key (LiveKit's webhooks, the workers' heartbeats) and exist only while it runs."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from token_service.api.token import BodyTooLargeError, read_capped_body

WATCHDOG_OFF = "the dispatch watchdog is off (DISPATCH_WATCHDOG_ENABLED=false)"


def refuse(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


async def signed_body(
    request: Request, *, watchdog_on: bool, limit: int, what: str
) -> bytes | JSONResponse:
    """The raw body of a `what` (e.g. "webhook"), or the answer refusing it: 404 while the
    watchdog is off, 401 without Authorization (before any body byte is read), 413 past
    `limit`. The caller still verifies the signature against the body."""
    if not watchdog_on:
        return refuse(404, "not_found", WATCHDOG_OFF)
    if not request.headers.get("authorization", ""):
        return refuse(
            401, "unauthorized", f"missing Authorization: a {what} is signed with the API key"
        )
    try:
        return await read_capped_body(request, limit)
    except BodyTooLargeError:
        return refuse(413, "payload_too_large", f"{what} body larger than {limit} bytes")
