"""Checks made before any request body byte is read: the bearer token, then the size.

FastAPI reads and parses a body before it resolves a route's dependencies, so a token
check made as a dependency came too late: anyone could make the service buffer any
body. This middleware answers 401 from the headers alone, refuses a declared
`Content-Length` over the cap with 413 at once, and counts the bytes of bodies that
declare no length (chunked), so the cap holds for them too. A 413 closes the
connection: the rest of that body is not worth reading.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scheduling_api.api.deps import bearer_refusal
from scheduling_api.errors import ServiceError

PROTECTED_PREFIX = "/v1/"
_CLOSE = {"Connection": "close"}


class BodyTooLargeError(HTTPException):
    """Raised from `receive` so FastAPI passes it on (it wraps other errors in a 400)."""

    def __init__(self, max_body_bytes: int) -> None:
        super().__init__(413, detail=too_large_message(max_body_bytes), headers=_CLOSE)


def too_large_message(max_body_bytes: int) -> str:
    return f"The request body must be at most {max_body_bytes} bytes."


class RequestGuardMiddleware:
    def __init__(
        self, app: ASGIApp, *, token_digests: tuple[bytes, ...], max_body_bytes: int
    ) -> None:
        self.app = app
        self.token_digests = token_digests
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if scope["path"].startswith(PROTECTED_PREFIX) or scope["path"] == "/v1":
            refusal = bearer_refusal(headers.get("authorization"), self.token_digests)
            if refusal is not None:
                await _answer(send, refusal, {"WWW-Authenticate": "Bearer"})
                return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            refusal = ServiceError(413, "payload_too_large", too_large_message(self.max_body_bytes))
            await _answer(send, refusal, _CLOSE)
            return

        received = 0

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLargeError(self.max_body_bytes)
            return message

        await self.app(scope, capped_receive, send)


async def _answer(send: Send, error: ServiceError, headers: dict[str, str]) -> None:
    body = json.dumps(error.body()).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *((name.lower().encode(), value.encode()) for name, value in headers.items()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
