"""A silent caller gets one nudge, then a polite goodbye and the call ends."""

from __future__ import annotations

import asyncio

from livekit.agents import llm
from receptionist import prompts
from receptionist.agent import FallbackReceptionist
from receptionist.config import Settings
from receptionist.pipeline import Pipeline, build_session
from receptionist.scheduling_client import SchedulingClient
from receptionist.silence import SilenceWatcher


async def test_one_nudge_then_goodbye(scripted_llm) -> None:
    settings = Settings(silence_timeout_seconds=0.3)
    session = build_session(settings, Pipeline(llm=scripted_llm))
    SilenceWatcher(
        session,
        timeout_seconds=settings.silence_timeout_seconds,
        nudge=prompts.silence_nudge(),
        goodbye=prompts.silence_goodbye(None),
    ).attach()
    closed = asyncio.Event()
    session.on("close", lambda _: closed.set())
    scheduling = SchedulingClient("http://127.0.0.1:9", "unused")

    await session.start(FallbackReceptionist(clinic_id="bright-smile", scheduling=scheduling))
    await asyncio.wait_for(closed.wait(), timeout=15)
    await scheduling.aclose()

    said = [
        item.text_content
        for item in session.history.items
        if isinstance(item, llm.ChatMessage) and item.role == "assistant"
    ]
    assert said == [
        prompts.fallback_greeting(),
        prompts.silence_nudge(),
        prompts.silence_goodbye(None),
    ]
    assert scripted_llm.requests == []  # no model call was needed to handle the silence
