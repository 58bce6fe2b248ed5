"""uvicorn's HTTP/1.1 protocol with deadlines for reading a request (a slowloris guard).

uvicorn times out an idle keep-alive connection, but not a request that is still
arriving: a client that sends half its headers, or its body a byte at a time, holds a
connection for as long as it likes, and enough of them exhaust the server's sockets.
This protocol gives a request's headers `header_timeout` seconds (counted from the
connection, or from the first byte of a later request on it) and its body
`body_timeout` seconds from the end of the headers. A request that misses its deadline
gets a 408 if no response has started, and its connection is closed. The token service
has the same module: services never import each other.

A request only notes its deadline (a float); one sweep per event loop, every
SWEEP_SECONDS, closes the connections past theirs. A timer per request instead cost
~15 µs of CPU per request (uvloop timers); noting a float costs nothing measurable.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Collection

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

SWEEP_SECONDS = 0.5
"""How late past its deadline a slow request may be cut off."""

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

_swept_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


class ReadDeadlineProtocol(HttpToolsProtocol):
    """Set `header_timeout` and `body_timeout` on a subclass: see `read_deadline_protocol`."""

    header_timeout = 10.0
    body_timeout = 30.0
    reading_until: float | None = None
    """When the request being read must have arrived; None when none is being read."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.reading_until = self.loop.time() + self.header_timeout
        if self.loop not in _swept_loops:
            _swept_loops.add(self.loop)
            self.loop.call_later(SWEEP_SECONDS, _sweep, self.loop, self.connections)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.reading_until is None:
            self.reading_until = self.loop.time() + self.header_timeout

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        upgrading = self.parser.should_upgrade()
        self.reading_until = None if upgrading else self.loop.time() + self.body_timeout

    def on_message_complete(self) -> None:
        self.reading_until = None
        super().on_message_complete()

    def expire(self) -> None:
        """Answer 408 unless a response has started, and close the connection."""
        self.reading_until = None
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


def _sweep(loop: asyncio.AbstractEventLoop, connections: Collection[object]) -> None:
    now = loop.time()
    for connection in list(connections):
        if isinstance(connection, ReadDeadlineProtocol):
            deadline = connection.reading_until
            if deadline is not None and now >= deadline:
                connection.expire()
    loop.call_later(SWEEP_SECONDS, _sweep, loop, connections)


def read_deadline_protocol(
    *, header_timeout: float, body_timeout: float
) -> type[ReadDeadlineProtocol]:
    """A protocol class for `uvicorn.run(http=...)` with these deadlines, in seconds."""
    return type(
        "ConfiguredReadDeadlineProtocol",
        (ReadDeadlineProtocol,),
        {"header_timeout": header_timeout, "body_timeout": body_timeout},
    )
