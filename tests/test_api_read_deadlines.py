"""A request that arrives too slowly is cut off: a 408 and a closed socket, in both APIs.

Each case is a real half-sent request over a real socket to a real process, with the
deadlines set to 2 s. Before the read-deadline protocol, uvicorn held such a connection
open indefinitely (the socket timeout below would expire instead).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

DEADLINE_SECONDS = "2"
PATIENCE_SECONDS = 30.0  # far above the deadline: CPU contention must not fail the test


@dataclass(frozen=True)
class Target:
    port: int
    post_path: str
    headers: str  # extra request headers, CRLF-terminated


@pytest.fixture(scope="module", params=["scheduling-api", "token-service"])
def target(request: Any, session_services: Any, api_env: Any) -> Iterator[Target]:
    deadlines = {
        "HTTP_HEADER_TIMEOUT_SECONDS": DEADLINE_SECONDS,
        "HTTP_BODY_TIMEOUT_SECONDS": DEADLINE_SECONDS,
    }
    if request.param == "scheduling-api":
        server = session_services.start(
            ["scheduling-api"],
            name="scheduling-api-deadlines",
            env={**api_env.scheduling, **deadlines},
        )
        yield Target(
            server.port,
            "/v1/clinics/bright-smile/callbacks",
            f"Authorization: Bearer {api_env.scheduling_token}\r\n",
        )
    else:
        server = session_services.start(
            ["token-service"], name="token-service-deadlines", env={**api_env.token, **deadlines}
        )
        yield Target(server.port, "/v1/token", "")
    server.stop()


def _connect(target: Target) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", target.port), timeout=PATIENCE_SECONDS)
    sock.settimeout(PATIENCE_SECONDS)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def _answer_then_close(sock: socket.socket) -> str:
    """What the server sent before closing, or why that is not a 408 and a close."""
    try:
        received = _read_until_closed(sock)  # returns only once the server closes
    except TimeoutError:
        return f"still open after {PATIENCE_SECONDS:.0f} s"
    head, _, body = received.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 408 ") or b"connection: close" not in head.lower():
        return f"not a 408 with Connection: close: {received[:200]!r}"
    if json.loads(body)["error"] != "request_timeout":
        return f"unexpected body {body!r}"
    return "408"


def _kept_alive_then_slow(target: Target) -> socket.socket:
    """A connection whose first request is answered and whose second is half-sent: the
    deadline restarts for each request."""
    sock = _connect(target)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: api.test\r\n\r\n")
    first = b""
    while b"\r\n\r\n" not in first or not first.endswith(b"}"):
        first += sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 200 "), first
    sock.sendall(b"GET /heal")
    return sock


def test_requests_that_arrive_too_slowly_get_408_and_are_closed(target: Target) -> None:
    """Every slow request is started first, then each is read: they time out together."""
    chunked_head = (
        f"POST {target.post_path} HTTP/1.1\r\nHost: api.test\r\n{target.headers}"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    slow_requests = {
        "half-sent headers": f"POST {target.post_path} HTTP/1.1\r\nHost: api.test\r\nContent-",
        "nothing sent": "",
        "half-sent body": _request(target, b'{"name": "Ana', declared=400).decode(),
        "half-sent chunked body": chunked_head + '5\r\n{"nam\r\n',
    }
    sockets = {"slow second request on a kept-alive connection": _kept_alive_then_slow(target)}
    for name, data in slow_requests.items():
        sockets[name] = _connect(target)
        sockets[name].sendall(data.encode())

    outcomes = {}
    for name, sock in sockets.items():
        with sock:
            outcomes[name] = _answer_then_close(sock)
    assert outcomes == dict.fromkeys(sockets, "408")


def _request(target: Target, body: bytes, *, declared: int) -> bytes:
    return (
        f"POST {target.post_path} HTTP/1.1\r\nHost: api.test\r\n{target.headers}"
        f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    ).encode() + body
