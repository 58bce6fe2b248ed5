"""The receptionist can hang up after its goodbye."""

from __future__ import annotations

import asyncio

from receptionist.agent import FallbackReceptionist
from receptionist.config import Settings
from receptionist.pipeline import Pipeline, build_session
from receptionist.scheduling_client import SchedulingClient


async def test_end_call_closes_the_session_after_the_goodbye(scripted_llm, script) -> None:
    session = build_session(Settings(), Pipeline(llm=scripted_llm))
    closed = asyncio.Event()
    session.on("close", lambda _: closed.set())
    scheduling = SchedulingClient("http://127.0.0.1:9", "unused")
    await session.start(FallbackReceptionist(clinic_id="bright-smile", scheduling=scheduling))

    scripted_llm.queue(script.Reply(text="You're welcome, goodbye!", calls=[("end_call", {})]))
    result = await session.run(user_input="That's all, thanks. Bye!")
    await asyncio.wait_for(closed.wait(), timeout=10)
    await scheduling.aclose()

    result.expect.next_event().is_message(role="assistant")
    result.expect.next_event().is_function_call(name="end_call")
    result.expect.next_event().is_function_call_output()
    assert scripted_llm.pending == 0
    assert len(scripted_llm.requests) == 1  # hanging up needs no further model turn
