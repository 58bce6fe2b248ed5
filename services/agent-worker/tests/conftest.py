"""Fixtures of the agent-worker suite: a scripted test LLM and a real scheduling API.

The scripted LLM stands in for the model only: the session, the tools, the HTTP client
and the scheduling API (over HTTP, on real Redis) are the production code paths.
"""

from __future__ import annotations

import json
import re
import socket
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from livekit.agents import AgentSession, llm
from livekit.agents.llm import ChatChunk, ChatContext, ChoiceDelta, FunctionToolCall, LLMStream
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN
from receptionist.agent import Receptionist
from receptionist.config import Settings
from receptionist.pipeline import Pipeline, build_session
from receptionist.resources import ClinicProfile
from receptionist.scheduling_client import SchedulingClient

API_TOKEN = "test-token"
SLOT_SECRET = "agent-worker-test-slot-secret-0123456789"


@dataclass
class Reply:
    """One scripted model turn: text to say and/or tool calls to make."""

    text: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


Step = Reply | Callable[[ChatContext], Reply]


class ScriptedLLM(llm.LLM):
    """Plays back queued replies, one per LLM request, and records every request.

    A step may be a function of the chat context, to answer like a model that reads the
    instructions and the last tool output (e.g. speak the options it was given).
    """

    def __init__(self) -> None:
        super().__init__()
        self._steps: deque[Step] = deque()
        self.requests: list[ChatContext] = []

    def queue(self, *steps: Step) -> None:
        self._steps.extend(steps)

    @property
    def pending(self) -> int:
        return len(self._steps)

    def chat(
        self,
        *,
        chat_ctx: ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: Any = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: Any = NOT_GIVEN,
        tool_choice: Any = NOT_GIVEN,
        extra_kwargs: Any = NOT_GIVEN,
    ) -> LLMStream:
        self.requests.append(chat_ctx.copy())
        step = self._steps.popleft() if self._steps else Reply(text="(no scripted reply left)")
        reply = step(chat_ctx) if callable(step) else step
        return _ScriptedStream(self, reply, chat_ctx=chat_ctx, tools=tools or [], conn=conn_options)


class _ScriptedStream(LLMStream):
    def __init__(
        self, owner: ScriptedLLM, reply: Reply, *, chat_ctx: ChatContext, tools: list, conn: Any
    ) -> None:
        super().__init__(owner, chat_ctx=chat_ctx, tools=tools, conn_options=conn)
        self._reply = reply

    async def _run(self) -> None:
        if self._reply.text:
            self._event_ch.send_nowait(
                ChatChunk(
                    id="scripted", delta=ChoiceDelta(role="assistant", content=self._reply.text)
                )
            )
        if self._reply.calls:
            calls = [
                FunctionToolCall(name=name, arguments=json.dumps(args), call_id=f"call_{i}")
                for i, (name, args) in enumerate(self._reply.calls)
            ]
            self._event_ch.send_nowait(
                ChatChunk(id="scripted", delta=ChoiceDelta(role="assistant", tool_calls=calls))
            )


def last_tool_output(chat_ctx: ChatContext) -> llm.FunctionCallOutput:
    outputs = [i for i in chat_ctx.items if isinstance(i, llm.FunctionCallOutput)]
    assert outputs, "the model was asked to speak about a tool output, but there is none"
    return outputs[-1]


def instructions_of(chat_ctx: ChatContext) -> str:
    return "\n".join(
        item.text_content or ""
        for item in chat_ctx.items
        if isinstance(item, llm.ChatMessage) and item.role in ("system", "developer")
    )


ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def assert_speakable(text: str, slot_ids: Sequence[str] = ()) -> None:
    """Nothing a caller should never hear: ISO timestamps, URLs or the API's slot ids."""
    assert not ISO_TIME.search(text), text
    assert "http" not in text, text
    for slot_id in slot_ids:
        assert slot_id not in text, text


class Script:
    """Builds scripted replies; handed to tests by the `script` fixture."""

    Reply = Reply

    @staticmethod
    def say(text: str) -> Reply:
        return Reply(text=text)

    @staticmethod
    def call(name: str, **arguments: Any) -> Reply:
        return Reply(calls=[(name, arguments)])

    @staticmethod
    def speak_tool_result(prefix: str = "") -> Callable[[ChatContext], Reply]:
        """Say what the last tool returned (the options, an apology cue). Confirm tools
        speak their read-back themselves, so no step follows them."""

        def step(chat_ctx: ChatContext) -> Reply:
            return Reply(text=f"{prefix}{last_tool_output(chat_ctx).output}")

        return step

    last_tool_output = staticmethod(last_tool_output)
    instructions_of = staticmethod(instructions_of)
    assert_speakable = staticmethod(assert_speakable)


@pytest.fixture
def script() -> type[Script]:
    return Script


@dataclass
class SchedulingApi:
    """A real scheduling-api process plus a plain HTTP client to arrange and inspect it."""

    base_url: str
    http: httpx.Client
    process: Any
    launcher: Any
    env: dict[str, str]

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return self.http.post(path, json=body, headers=headers)

    def slots(self, appointment_type: str, days: int = 14) -> list[dict[str, Any]]:
        body = self.get(
            "/v1/clinics/bright-smile/availability",
            appointment_type=appointment_type,
            days=days,
            limit=100,
        )
        return body["slots"]

    def book_directly(self, slot_id: str, name: str, phone: str, key: str) -> dict[str, Any]:
        response = self.post(
            "/v1/clinics/bright-smile/bookings",
            {"slot_id": slot_id, "patient": {"name": name, "phone": phone}},
            **{"Idempotency-Key": key},
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    def bookings(self, phone: str, status: str | None = None) -> list[dict[str, Any]]:
        params = {"phone": phone} | ({"status": status} if status else {})
        return self.get("/v1/clinics/bright-smile/bookings", **params)["bookings"]

    def restart(self, **env: str) -> None:
        """Stop the API and start it again on the same port (same Redis), with `env` added:
        the receptionist's client keeps talking to the same address."""
        self.process.stop()
        self.process = self.launcher.start(
            ["scheduling-api"],
            name="scheduling-api",
            env={**self.env, **env},
            port=self.process.port,
        )


@pytest.fixture
def scheduling_api_env() -> dict[str, str]:
    """Extra environment of the test's scheduling API (parametrize to override)."""
    return {}


@pytest.fixture
def scheduling_api(
    services: Any, redis_url: str, scheduling_api_env: dict[str, str]
) -> Iterator[SchedulingApi]:
    env = {
        "REDIS_URL": redis_url,
        "SCHEDULING_API_TOKENS": API_TOKEN,
        "SLOT_ID_SECRET": SLOT_SECRET,
        "LOG_LEVEL": "WARNING",
        **scheduling_api_env,
    }
    process = services.start(["scheduling-api"], name="scheduling-api", env=env)
    with httpx.Client(
        base_url=process.base_url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=5
    ) as http:
        yield SchedulingApi(
            base_url=process.base_url, http=http, process=process, launcher=services, env=env
        )


@pytest.fixture
async def scheduling_client(scheduling_api: SchedulingApi) -> AsyncIterator[SchedulingClient]:
    client = SchedulingClient(
        scheduling_api.base_url, API_TOKEN, timeout_seconds=2, max_attempts=2, backoff_seconds=0.05
    )
    yield client
    await client.aclose()


@pytest.fixture
async def profile(scheduling_client: SchedulingClient) -> ClinicProfile:
    return await scheduling_client.get_clinic("bright-smile")


@dataclass
class Call:
    """A live receptionist session driven by the scripted LLM (no room, text in/out)."""

    session: AgentSession
    llm: ScriptedLLM
    agent: Receptionist
    greeting: Any

    async def offer_times(self, appointment_type: str = "cleaning") -> str:
        """The caller asks for a visit; the model checks availability and reads the result."""
        self.llm.queue(
            Script.call("check_availability", appointment_type=appointment_type),
            Script.speak_tool_result(),
        )
        result = await self.session.run(user_input=f"I'd like to book a {appointment_type}")
        result.expect.next_event().is_function_call(name="check_availability")
        output = result.expect.next_event().is_function_call_output().event().item
        assert not output.is_error, output.output
        result.expect.next_event().is_message(role="assistant")
        return str(output.output)

    async def confirm(self, tool: str, user_input: str, **arguments: Any) -> str:
        """Call a confirm tool; it speaks the read-back itself, with no second LLM round."""
        requests_before = len(self.llm.requests)
        self.llm.queue(Script.call(tool, **arguments))
        result = await self.session.run(user_input=user_input)
        result.expect.next_event().is_function_call(name=tool)
        output = result.expect.next_event().is_function_call_output().event().item
        assert not output.is_error, output.output
        spoken = result.expect.next_event().is_message(role="assistant").event().item.text_content
        result.expect.no_more_events()
        assert len(self.llm.requests) == requests_before + 1  # one LLM round: the tool call
        assert spoken in output.output  # the model is told what was already read back
        assert "do not repeat" in output.output
        return str(spoken)

    async def read_back_booking(self, option: str, name: str, phone: str) -> str:
        details = {"option": option, "patient_name": name, "patient_phone": phone}
        return await self.confirm(
            "confirm_booking_details", f"{option} please. I'm {name}, {phone}", **details
        )

    async def tool_turn(self, user_input: str, *steps: Step) -> llm.FunctionCallOutput:
        """The caller says something; the model takes `steps`; the first tool output."""
        self.llm.queue(*steps)
        result = await self.session.run(user_input=user_input)
        return result.expect.contains_function_call_output().event().item


async def open_call(profile: ClinicProfile, scheduling: SchedulingClient, **options: Any) -> Call:
    scripted = ScriptedLLM()
    settings = Settings(silence_timeout_seconds=300, preemptive_generation=False)
    session = build_session(settings, Pipeline(llm=scripted))
    # a generous filler delay: only the tests about the filler depend on it
    options = {"filler_delay_seconds": 10.0, **options}
    agent = Receptionist(profile=profile, scheduling=scheduling, **options)
    greeting = await session.start(agent, capture_run=True)
    return Call(session=session, llm=scripted, agent=agent, greeting=greeting)


@pytest.fixture
async def call(profile: ClinicProfile, scheduling_client: SchedulingClient) -> AsyncIterator[Call]:
    opened = await open_call(profile, scheduling_client)
    yield opened
    await opened.session.aclose()


@pytest.fixture
async def open_receptionist(
    profile: ClinicProfile,
) -> AsyncIterator[Callable[..., Awaitable[Call]]]:
    """Opens calls with the test's own scheduling client and receptionist options."""
    opened: list[Call] = []

    async def open_with(scheduling: SchedulingClient, **options: Any) -> Call:
        opened.append(await open_call(profile, scheduling, **options))
        return opened[-1]

    yield open_with
    for each in opened:
        await each.session.aclose()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections but never answers: every request hangs."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


@pytest.fixture
def scripted_llm() -> ScriptedLLM:
    return ScriptedLLM()
