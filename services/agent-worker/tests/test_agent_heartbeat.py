"""The worker's dispatch heartbeat, sent to a real HTTP server: what it says (the calls),
that the LiveKit key's signature covers exactly that body, and that a token service
which is down costs one warning, not one a second. (The watchdog acting on silence:
tests/test_dispatch_resume.py.)"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import jwt
import pytest
from livekit import api
from livekit.agents.job import JobAcceptArguments, RunningJobInfo
from livekit.protocol import agent, models
from receptionist.heartbeat import HEARTBEAT_PATH, HeartbeatSender, calls_of

KEY = "heartbeat-test-key"
SECRET = "heartbeat-test-secret-0123456789abcdef0123456789"


class _Recorder(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []
    status: ClassVar[int] = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).received.append((self.path, dict(self.headers), body))
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def token_service() -> Iterator[tuple[str, type[_Recorder]]]:
    recorder = type("Recorder", (_Recorder,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", recorder
    finally:
        server.shutdown()
        server.server_close()


def _job(room: str, identity: str) -> RunningJobInfo:
    return RunningJobInfo(
        accept_arguments=JobAcceptArguments(name="", identity=identity, metadata=""),
        job=agent.Job(id="AJ_" + room, room=models.Room(name=room)),
        url="ws://127.0.0.1:7880",
        token="",
        worker_id="AW_test",
        fake_job=False,
    )


def _sender(url: str, calls: list[dict[str, str]]) -> HeartbeatSender:
    return HeartbeatSender(
        token_service_url=url,
        api_key=KEY,
        api_secret=SECRET,
        worker_id="worker-1",
        calls=lambda: calls,
        interval_seconds=1.0,
    )


def test_every_running_job_is_reported_as_its_room_and_receptionist() -> None:
    jobs = [_job("call-a", "agent-AJ_a"), _job("call-b", "agent-AJ_b")]
    assert calls_of(jobs) == [
        {"room": "call-a", "identity": "agent-AJ_a"},
        {"room": "call-b", "identity": "agent-AJ_b"},
    ]


async def test_a_heartbeat_is_signed_over_its_exact_body(
    token_service: tuple[str, type[_Recorder]],
) -> None:
    url, recorder = token_service
    calls = [{"room": "call-a", "identity": "agent-AJ_a"}]
    async with httpx.AsyncClient() as client:
        assert await _sender(url, calls).send(client)
    [(path, headers, body)] = recorder.received
    assert path == HEARTBEAT_PATH
    assert json.loads(body) == {"worker_id": "worker-1", "calls": calls}
    token = headers["Authorization"].removeprefix("Bearer ")
    claims = api.TokenVerifier(KEY, SECRET).verify(token)
    assert base64.b64decode(claims.sha256 or "") == hashlib.sha256(body).digest()
    with pytest.raises(jwt.InvalidSignatureError):
        api.TokenVerifier(KEY, "another-secret-that-is-long-enough-0123456").verify(token)


async def test_a_token_service_that_is_down_costs_one_warning(
    token_service: tuple[str, type[_Recorder]], caplog: pytest.LogCaptureFixture
) -> None:
    url, recorder = token_service
    recorder.status = 503
    sender = _sender(url, [])
    with caplog.at_level(logging.INFO, logger="receptionist.heartbeat"):
        async with httpx.AsyncClient() as client:
            assert [await sender.send(client) for _ in range(3)] == [False, False, False]
            recorder.status = 200
            assert await sender.send(client)
    messages = [record.getMessage() for record in caplog.records]
    assert sum("heartbeat failed" in m for m in messages) == 1, messages
    assert sum("heartbeat restored" in m for m in messages) == 1, messages
