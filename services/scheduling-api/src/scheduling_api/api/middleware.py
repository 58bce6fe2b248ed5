"""Per-request observability: request id, latency histogram, access log, last-resort 500.

A plain ASGI middleware (not BaseHTTPMiddleware, which costs a task per request). It
labels latency by route *template* so ids in paths never become label values, and logs
the template rather than the URL so query strings (which may hold a phone) never reach
the logs.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import string
import time

from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scheduling_api.logs import request_id_var
from scheduling_api.metrics import REQUEST_DURATION, UNMATCHED_ROUTE, status_class

access_logger = logging.getLogger("scheduling_api.access")
error_logger = logging.getLogger("scheduling_api.errors")

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Anything else is labelled "other": clients must not be able to mint label values."""
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_INTERNAL_ERROR_HEADERS = [
    (b"content-type", b"application/json"),
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
]


def new_error_id() -> str:
    """16 random letters (75 bits). No digits: a phone-number scrubber (the agent worker's
    log filter, a log pipeline's) could mask part of the id the client is told to quote."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(16))


def _internal_error(error_id: str) -> bytes:
    """The last-resort body: nothing about the bug but the id its logged trace carries."""
    return json.dumps(
        {
            "error": "internal_error",
            "message": "Something went wrong on our side; quote error_id if you report it.",
            "error_id": error_id,
        }
    ).encode()


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _CLIENT_REQUEST_ID.match(candidate):
                return candidate
            break
    return secrets.token_hex(8)


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, *, access_log: bool) -> None:
        self.app = app
        self.access_log = access_log
        # `labels()` takes a lock and validates on every call; the set of label tuples is
        # small and fixed, so keep the children.
        self._histograms: dict[tuple[str, str, str], Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = request_id_var.set(request_id)
        header = (b"x-request-id", request_id.encode())
        status = 500
        started_response = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        began = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            error_id = new_error_id()
            error_logger.exception("unhandled error", extra={"error_id": error_id})
            status = 500
            if not started_response:
                await send_with_request_id(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": _INTERNAL_ERROR_HEADERS,
                    }
                )
                await send({"type": "http.response.body", "body": _internal_error(error_id)})
        finally:
            elapsed = time.perf_counter() - began
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED_ROUTE
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
            labels = (method, template, status_class(status))
            histogram = self._histograms.get(labels)
            if histogram is None:
                histogram = self._histograms[labels] = REQUEST_DURATION.labels(*labels)
            histogram.observe(elapsed)
            if self.access_log:
                access_logger.info(
                    "request",
                    extra={
                        "method": method,
                        "route": template,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
            request_id_var.reset(token)
