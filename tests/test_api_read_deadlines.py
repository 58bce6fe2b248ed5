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


def _assert_408_then_closed(sock: socket.socket) -> None:
    received = _read_until_closed(sock)  # returns only once the server closes
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), received[:200]
    assert b"connection: close" in head.lower()
    assert json.loads(body)["error"] == "request_timeout"


def _request(target: Target, body: bytes, *, declared: int | None = None) -> bytes:
    length = len(body) if declared is None else declared
    return (
        f"POST {target.post_path} HTTP/1.1\r\nHost: api.test\r\n{target.headers}"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode() + body


def test_half_sent_headers_get_408_and_the_socket_closes(target: Target) -> None:
    with _connect(target) as sock:
        sock.sendall(f"POST {target.post_path} HTTP/1.1\r\nHost: api.test\r\nContent-".encode())
        _assert_408_then_closed(sock)


def test_a_connection_that_sends_nothing_is_closed(target: Target) -> None:
    with _connect(target) as sock:
        _assert_408_then_closed(sock)


def test_half_sent_body_gets_408_and_the_socket_closes(target: Target) -> None:
    with _connect(target) as sock:
        sock.sendall(_request(target, b'{"name": "Ana', declared=400))
        _assert_408_then_closed(sock)


def test_half_sent_chunked_body_gets_408(target: Target) -> None:
    head = (
        f"POST {target.post_path} HTTP/1.1\r\nHost: api.test\r\n{target.headers}"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    with _connect(target) as sock:
        sock.sendall(head.encode() + b'5\r\n{"nam\r\n')
        _assert_408_then_closed(sock)


def test_a_slow_second_request_on_a_kept_alive_connection_is_cut_too(target: Target) -> None:
    """The deadline restarts for each request: a finished first one does not protect the
    half-sent second one."""
    with _connect(target) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: api.test\r\n\r\n")
        first = b""
        while b"\r\n\r\n" not in first or not first.endswith(b"}"):
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /heal")
        _assert_408_then_closed(sock)
