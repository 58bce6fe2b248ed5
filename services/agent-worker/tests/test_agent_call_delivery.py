"""After the call: the summary request and the record's POST, against a real HTTP server
on loopback that answers as scripted (slow, broken, down, then up)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from receptionist.call_records import CallRecordSender
from receptionist.call_report import CallLedger, Person, call_record
from receptionist.call_summary import SUMMARY_SCHEMA_NAME, CallSummarizer

START = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
SUMMARY = {
    "summary": "A new patient booked a cleaning.",
    "reason": "cleaning",
    "patient_status": "new",
    "urgency": "routine",
}


@dataclass
class Answer:
    status: int = 200
    body: Any = None
    delay_seconds: float = 0.0


@dataclass
class ScriptedServer:
    """Answers each request with the next scripted answer (the last one repeats)."""

    answers: deque[Answer] = field(default_factory=deque)
    requests: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.headers), await request.json()))
        answer = self.answers.popleft() if len(self.answers) > 1 else self.answers[0]
        await asyncio.sleep(answer.delay_seconds)
        return web.json_response(answer.body, status=answer.status)


async def serve(scripted: ScriptedServer) -> tuple[web.AppRunner, web.TCPSite]:
    """`scripted` on a free loopback port (its `url` set)."""
    app = web.Application()
    app.router.add_post("/{tail:.*}", scripted.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    scripted.url = f"http://127.0.0.1:{port}"
    return runner, site


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    scripted = ScriptedServer()
    runner, _ = await serve(scripted)
    yield scripted
    await runner.cleanup()


def completion(content: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}


def booked_call() -> CallLedger:
    ledger = CallLedger(started_at=START)
    ledger.caller_said("I'd like a cleaning, I'm a new patient.", START)
    ledger.receptionist_said("You're all set: your cleaning is confirmed.", START)
    ledger.booking_created("bk_1", Person("Maria Garcia", "+15125550187"))
    return ledger


def summarizer(server: ScriptedServer, timeout_seconds: float = 5.0) -> CallSummarizer:
    return CallSummarizer(
        base_url=f"{server.url}/v1",
        api_key="sk-test",
        model="gpt-4o-mini",
        timeout_seconds=timeout_seconds,
    )


async def test_the_summary_is_one_json_schema_request_with_the_transcript(
    server: ScriptedServer,
) -> None:
    server.answers.append(Answer(body=completion(json.dumps(SUMMARY))))
    summary = await summarizer(server).summarise("booked", booked_call())
    assert summary is not None
    assert (summary.summary, summary.reason) == (SUMMARY["summary"], "cleaning")
    assert (summary.patient_status, summary.urgency) == ("new", "routine")
    [(path, headers, body)] = server.requests
    assert path == "/v1/chat/completions"
    assert headers["Authorization"] == "Bearer sk-test"
    assert body["model"] == "gpt-4o-mini"
    assert body["stream"] is False
    assert body["response_format"]["json_schema"]["name"] == SUMMARY_SCHEMA_NAME
    sent = json.loads(body["messages"][-1]["content"])
    assert sent["outcome"] == "booked"
    assert sent["transcript"][0] == {
        "role": "caller",
        "text": "I'd like a cleaning, I'm a new patient.",
    }


@pytest.mark.parametrize(
    "answer",
    [
        Answer(status=500, body={"error": {"message": "boom"}}),
        Answer(body=completion("Sure! Here is a summary: the caller booked.")),
        Answer(body=completion(json.dumps({"reason": "cleaning"}))),
        Answer(body={"unexpected": True}),
        Answer(body=completion(json.dumps(SUMMARY)), delay_seconds=3.0),  # past the timeout
    ],
    ids=["http-500", "not-json", "no-summary", "not-a-completion", "too-slow"],
)
async def test_a_failed_summary_is_none_and_logs_no_patient_data(
    server: ScriptedServer, answer: Answer, caplog: pytest.LogCaptureFixture
) -> None:
    server.answers.append(answer)
    caplog.set_level(logging.INFO)
    started = asyncio.get_running_loop().time()
    assert await summarizer(server, timeout_seconds=1.0).summarise("booked", booked_call()) is None
    assert asyncio.get_running_loop().time() - started < 2.9  # gave up, did not wait it out
    assert "call summary" in caplog.text
    assert "Maria" not in caplog.text
    assert "cleaning" not in caplog.text


async def test_unknown_field_values_become_unknown(server: ScriptedServer) -> None:
    odd = {**SUMMARY, "patient_status": "returning", "urgency": "asap"}
    server.answers.append(Answer(body=completion(json.dumps(odd))))
    summary = await summarizer(server).summarise("booked", booked_call())
    assert summary is not None
    assert (summary.patient_status, summary.urgency) == ("unknown", "unknown")


async def test_a_call_with_nothing_said_is_not_summarised(server: ScriptedServer) -> None:
    server.answers.append(Answer(body=completion(json.dumps(SUMMARY))))
    assert await summarizer(server).summarise("abandoned", CallLedger(started_at=START)) is None
    assert server.requests == []


def sender(server: ScriptedServer, attempts: int = 4) -> CallRecordSender:
    return CallRecordSender(
        server.url, "worker-token", timeout_seconds=2.0, max_attempts=attempts, backoff_seconds=0.01
    )


def record() -> dict[str, Any]:
    return call_record(
        booked_call(), call_id="RM_abc", ended_at=START, turn_seconds=[1.0], summary=None
    )


async def test_the_record_is_resent_until_stored_and_logs_only_ids(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server.answers.extend([Answer(status=503), Answer(status=502), Answer(status=201, body={})])
    assert await sender(server).send("bright-smile", record()) is True
    assert len(server.requests) == 3
    paths = {path for path, _, _ in server.requests}
    assert paths == {"/v1/clinics/bright-smile/calls"}
    assert all(h["Authorization"] == "Bearer worker-token" for _, h, _ in server.requests)
    assert all(body == record() for _, _, body in server.requests)  # same call_id each time
    assert "call record stored" in caplog.text
    assert "Maria" not in caplog.text
    assert "+1512" not in caplog.text


async def test_a_record_already_stored_counts_as_stored(server: ScriptedServer) -> None:
    server.answers.append(Answer(status=200, body={}))
    assert await sender(server).send("bright-smile", record()) is True
    assert len(server.requests) == 1


async def test_a_refused_record_is_not_retried(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.answers.append(Answer(status=422, body={"detail": "bad"}))
    assert await sender(server).send("bright-smile", record()) is False
    assert len(server.requests) == 1
    assert "refused" in caplog.text


async def test_retries_are_bounded(server: ScriptedServer) -> None:
    server.answers.append(Answer(status=503))
    assert await sender(server, attempts=3).send("bright-smile", record()) is False
    assert len(server.requests) == 3


async def test_an_api_that_is_down_then_up_gets_the_record() -> None:
    """Nothing listens at first (refused connections); the server comes up mid-retries."""
    scripted = ScriptedServer(answers=deque([Answer(status=201, body={})]))
    runner, probe = await serve(scripted)
    await probe.stop()  # the port is free again: connections are refused
    port = int(scripted.url.rsplit(":", 1)[1])

    async def come_up_later() -> None:
        await asyncio.sleep(0.5)
        await web.TCPSite(runner, "127.0.0.1", port).start()

    late = asyncio.create_task(come_up_later())
    slow = CallRecordSender(
        scripted.url,
        "worker-token",
        timeout_seconds=2.0,
        max_attempts=8,
        backoff_seconds=0.1,
    )
    try:
        assert await slow.send("bright-smile", record()) is True
        assert len(scripted.requests) == 1
    finally:
        await late
        await runner.cleanup()
