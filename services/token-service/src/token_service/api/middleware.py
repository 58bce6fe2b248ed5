"""Plain ASGI middleware (cheaper per request than Starlette's BaseHTTPMiddleware)."""

from __future__ import annotations

import json
import logging
import secrets
import string
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from token_service.metrics import Metrics

error_logger = logging.getLogger("token_service.errors")

API_CSP = "default-src 'none'; frame-ancestors 'none'"
# Headers every response gets; HTML (the web client) also gets its own CSP.
_COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_HTML_HEADERS = {
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def new_error_id() -> str:
    """16 random letters (75 bits). No digits: a phone-number scrubber (the agent worker's
    log filter, a log pipeline's) could mask part of the id the client is told to quote."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(16))


class MetricsMiddleware:
    """Observes every HTTP request's duration by method, route and status class."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self.metrics.observe_request(
                scope["method"], scope["path"], status, time.perf_counter() - started
            )


class LastResortMiddleware:
    """Turns an exception nothing else handled into a JSON 500 with a logged error id.

    Without it Starlette answers such a bug in plain text, outside the security-headers
    middleware. It sits inside SecurityHeadersMiddleware so its answer gets them too.
    The id in the body is the one in the log line, so a caller's report finds the trace.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def send_tracking_start(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking_start)
        except Exception:
            error_id = new_error_id()
            error_logger.exception(
                "unhandled error",
                extra={"event": "unhandled_error", "error_id": error_id},
            )
            if response_started:
                raise
            body = json.dumps(
                {
                    "error": "internal_error",
                    "message": "something went wrong on our side; quote error_id if you report it",
                    "error_id": error_id,
                }
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"cache-control", b"no-store"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})


_API_PATH_PREFIXES = ("/v1/", "/healthz", "/readyz", "/metrics", "/openapi.json")


def _is_api_path(path: str) -> bool:
    return path.startswith(_API_PATH_PREFIXES)


class SecurityHeadersMiddleware:
    """Adds browser-hardening headers unless the response already set them.

    Which CSP applies is decided by the path, not the response's content type: a 304
    revalidation of the web page has no content type, and browsers copy a 304's headers
    onto the cached page, so the API's `default-src 'none'` would blank it on reload.
    """

    def __init__(self, app: ASGIApp, html_csp: str) -> None:
        self.app = app
        self.html_csp = html_csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        is_web_client = not _is_api_path(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                is_html = is_web_client
                extra = {
                    **_COMMON_HEADERS,
                    **(_HTML_HEADERS if is_html else {}),
                    "Content-Security-Policy": self.html_csp if is_html else API_CSP,
                }
                for name, value in extra.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
