"""uvicorn's HTTP/1.1 protocol with deadlines for reading a request (a slowloris guard).

uvicorn times out an idle keep-alive connection, but not a request that is still
arriving: a client that sends half its headers, or its body a byte at a time, holds a
connection for as long as it likes, and enough of them exhaust the server's sockets.
This protocol gives a request's headers `header_timeout` seconds (counted from the
connection, or from the first byte of a later request on it) and its body
`body_timeout` seconds from the end of the headers. A request that misses its deadline
gets a 408 if no response has started, and its connection is closed. The token service
has the same module: services never import each other.
"""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_TIMEOUT_BODY = json.dumps(
    {
        "error": "request_timeout",
        "message": "the request did not arrive in time; send it again, whole",
    }
).encode()
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/json\r\n"
    b"x-content-type-options: nosniff\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _TIMEOUT_BODY
)


class ReadDeadlineProtocol(HttpToolsProtocol):
    """Set `header_timeout` and `body_timeout` on a subclass: see `read_deadline_protocol`."""

    header_timeout = 10.0
    body_timeout = 30.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:
            self._arm(self.header_timeout)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        if not self.parser.should_upgrade():
            self._arm(self.body_timeout)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            self.transport.write(_TIMEOUT_RESPONSE)
        if cycle is not None and not cycle.response_complete:
            # The app, if it is waiting for the body, hears a disconnect; what it sends
            # afterwards is dropped rather than written after the 408.
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()


def read_deadline_protocol(
    *, header_timeout: float, body_timeout: float
) -> type[ReadDeadlineProtocol]:
    """A protocol class for `uvicorn.run(http=...)` with these deadlines, in seconds."""
    return type(
        "ConfiguredReadDeadlineProtocol",
        (ReadDeadlineProtocol,),
        {"header_timeout": header_timeout, "body_timeout": body_timeout},
    )
