"""Live evals: the receptionist with a real LLM, judged by an LLM.

Run with `make eval`. They need `OPENAI_API_KEY` (and honour `OPENAI_BASE_URL` and
`OPENAI_MODEL`; `EVAL_JUDGE_MODEL` picks the judge, default the same model). Without a key
every eval is skipped with that message. The files are named `eval_*.py`, so `make test`
never collects them.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from call_sim.stack import Launcher, SchedulingBook, scheduling_api_env
from livekit.agents import AgentSession, llm
from livekit.agents.types import NOT_GIVEN
from livekit.plugins import openai
from receptionist.agent import Receptionist
from receptionist.config import Settings
from receptionist.pipeline import Pipeline, build_session
from receptionist.scheduling_client import SchedulingClient

API_TOKEN = "eval-token"
SKIP_REASON = (
    "OPENAI_API_KEY is not set: live evals need a real LLM "
    "(set OPENAI_API_KEY, optionally OPENAI_BASE_URL / OPENAI_MODEL / EVAL_JUDGE_MODEL)"
)


@pytest.fixture(autouse=True)
def _needs_openai_key() -> None:
    if not os.environ.get("OPENAI_API_KEY"):
        pytest.skip(SKIP_REASON)


@pytest.fixture
def settings() -> Settings:
    return Settings(silence_timeout_seconds=300, preemptive_generation=False)


def _openai_llm(settings: Settings, model: str) -> llm.LLM:
    return openai.LLM(
        model=model,
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=settings.openai_base_url or NOT_GIVEN,
        temperature=0.2,
    )


@pytest.fixture
def judge(settings: Settings) -> llm.LLM:
    return _openai_llm(settings, os.environ.get("EVAL_JUDGE_MODEL", settings.openai_model))


@pytest.fixture
def api(services: Launcher, redis_url: str) -> Iterator[SchedulingBook]:
    env = scheduling_api_env(redis_url, API_TOKEN)
    process = services.start(["scheduling-api"], name="scheduling-api", env=env)
    with SchedulingBook(process.base_url, API_TOKEN) as book:
        yield book


@pytest.fixture
async def session(settings: Settings, api: SchedulingBook) -> AsyncIterator[AgentSession]:
    scheduling = SchedulingClient(api.base_url, API_TOKEN)
    profile = await scheduling.get_clinic("bright-smile")
    agent_session = build_session(
        settings, Pipeline(llm=_openai_llm(settings, settings.openai_model))
    )
    await agent_session.start(Receptionist(profile=profile, scheduling=scheduling))
    yield agent_session
    await agent_session.aclose()
    await scheduling.aclose()
