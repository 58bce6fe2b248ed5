"""What every receptionist can do, even without the clinic profile: take a callback
request and hang up. Also the tool plumbing every tool shares: its latency metric, and one
deadline (with a short filler when it runs long) for its scheduling API work.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Concatenate, ParamSpec, TypeVar

from livekit.agents import Agent, RunContext, ToolError, function_tool
from livekit.agents.llm.tool_context import find_function_tools

from . import prompts
from .metrics import get_metrics
from .phone import normalise_phone
from .scheduling_client import SchedulingClient, SchedulingError, SchedulingUnavailable
from .spoken_time import spoken_phone

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
AgentT = TypeVar("AgentT", bound=Agent)

MAX_NAME_CHARACTERS = 100
MAX_REASON_CHARACTERS = 1000
MAX_PREFERRED_TIME_CHARACTERS = 200
FILLER = "One moment while I check."
DEFAULT_TOOL_DEADLINE_SECONDS = 2.5
DEFAULT_FILLER_DELAY_SECONDS = 1.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def measured(
    tool: Callable[Concatenate[AgentT, P], Awaitable[R]],
) -> Callable[Concatenate[AgentT, P], Awaitable[R]]:
    """Observe the tool's latency as `receptionist_tool_latency_seconds{tool,outcome}`."""

    @functools.wraps(tool)
    async def wrapper(self: AgentT, /, *args: P.args, **kwargs: P.kwargs) -> R:
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await tool(self, *args, **kwargs)
            outcome = "ok"
            return result
        finally:
            get_metrics().tool_latency.labels(tool=tool.__name__, outcome=outcome).observe(
                time.perf_counter() - started
            )

    return wrapper


def unavailable_error() -> ToolError:
    return ToolError(
        "The scheduling system is not responding right now. Apologise briefly, and offer to "
        "take the caller's name and number so the team can call them back (request_callback)."
    )


class FrontDesk(Agent):
    """The tools every receptionist has, even one without the clinic profile."""

    clinic_id: str
    scheduling: SchedulingClient
    region: str
    clinic_phone: str
    tool_deadline_seconds: float = DEFAULT_TOOL_DEADLINE_SECONDS
    filler_delay_seconds: float = DEFAULT_FILLER_DELAY_SECONDS

    @contextlib.asynccontextmanager
    async def _scheduling_call(self, context: RunContext[None] | None) -> AsyncIterator[None]:
        """One deadline for a tool's scheduling API work, retries included, so a hung API
        costs the caller seconds, not a minute; and, inside a tool (`context`), a short
        filler instead of silence when the work runs past `filler_delay_seconds`."""
        filler: contextlib.AbstractAsyncContextManager[None] = (
            context.with_filler(FILLER, delay=self.filler_delay_seconds)
            if context is not None
            else contextlib.nullcontext()
        )
        async with filler:
            try:
                async with asyncio.timeout(self.tool_deadline_seconds):
                    yield
            except TimeoutError:
                logger.warning(
                    "tool deadline passed", extra={"deadline_seconds": self.tool_deadline_seconds}
                )
                raise SchedulingUnavailable("tool deadline passed") from None

    @function_tool
    @measured
    async def request_callback(
        self,
        context: RunContext[None],
        caller_name: str,
        caller_phone: str,
        reason: str,
        preferred_time: str | None = None,
    ) -> str:
        """Ask the clinic team to call the caller back (a person, a question you cannot
        answer, or an urgent problem).

        Args:
            caller_name: The caller's full name.
            caller_phone: The number to call back.
            reason: A few words on what the call back is about.
            preferred_time: When the caller would like to be called, if they said.
        """
        phone = normalise_phone(caller_phone, self.region)
        if phone is None:
            raise ToolError(
                "That phone number looks incomplete. Ask the caller to repeat it digit by digit."
            )
        try:
            async with self._scheduling_call(context):
                await self.scheduling.request_callback(
                    self.clinic_id,
                    name=" ".join(caller_name.split())[:MAX_NAME_CHARACTERS],
                    phone=phone,
                    reason=reason.strip()[:MAX_REASON_CHARACTERS] or None,
                    preferred_time=(preferred_time or "").strip()[:MAX_PREFERRED_TIME_CHARACTERS]
                    or None,
                )
        except SchedulingError as exc:
            logger.warning("callback request failed", extra={"error": type(exc).__name__})
            fallback = (
                f" and give them the clinic's number, {spoken_phone(self.clinic_phone)}"
                if self.clinic_phone
                else ""
            )
            raise ToolError(
                "Saving the callback request failed too. Apologise, ask the caller to call "
                f"back a little later{fallback}."
            ) from None
        return (
            "Callback request saved. Tell the caller the team will call them back at "
            f"{spoken_phone(phone)}."
        )

    @function_tool
    @measured
    async def end_call(self, context: RunContext[None]) -> None:
        """Hang up after saying goodbye, once the caller has nothing else."""
        await context.wait_for_playout()
        self.session.shutdown()

    @classmethod
    def tool_names(cls) -> list[str]:
        """Names of the tools, for pre-initialising the tool latency series."""
        return sorted(tool.info.name for tool in find_function_tools(cls))


class FallbackReceptionist(FrontDesk):
    """Answers when the clinic profile cannot be loaded: apologise and take a callback."""

    def __init__(
        self,
        *,
        clinic_id: str,
        scheduling: SchedulingClient,
        tool_deadline_seconds: float = DEFAULT_TOOL_DEADLINE_SECONDS,
        filler_delay_seconds: float = DEFAULT_FILLER_DELAY_SECONDS,
    ) -> None:
        self.clinic_id = clinic_id
        self.scheduling = scheduling
        self.tool_deadline_seconds = tool_deadline_seconds
        self.filler_delay_seconds = filler_delay_seconds
        self.region = "US"
        self.clinic_phone = ""
        super().__init__(instructions=prompts.fallback_instructions())

    async def on_enter(self) -> None:
        self.session.say(prompts.fallback_greeting())
