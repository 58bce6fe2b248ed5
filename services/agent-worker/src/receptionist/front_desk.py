"""The tool plumbing every receptionist shares, even one without the clinic profile: each
tool's latency metric, and one deadline (with a short filler when it runs long) for its
scheduling API work. The tools themselves live in `tools/`.
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

from livekit.agents import Agent, RunContext, ToolError
from livekit.agents.llm.tool_context import find_function_tools

from .call_report import CallLedger
from .metrics import get_metrics
from .scheduling_client import SchedulingClient, SchedulingUnavailable

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
AgentT = TypeVar("AgentT", bound=Agent)

MAX_NAME_CHARACTERS = 100
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
    """The base of every receptionist: what a tool needs to reach the scheduling API."""

    clinic_id: str
    scheduling: SchedulingClient
    region: str
    clinic_phone: str
    tool_deadline_seconds: float = DEFAULT_TOOL_DEADLINE_SECONDS
    filler_delay_seconds: float = DEFAULT_FILLER_DELAY_SECONDS
    # the call's record in the making, set by the worker (None in tests that need none)
    call_ledger: CallLedger | None = None

    def mark_transferred(self) -> None:
        """The hook for a transfer to a person: a transfer tool calls it once the call is
        handed over, and the call's record then says `transferred`."""
        if self.call_ledger is not None:
            self.call_ledger.call_transferred()

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

    @classmethod
    def tool_names(cls) -> list[str]:
        """Names of the tools, for pre-initialising the tool latency series."""
        return sorted(tool.info.name for tool in find_function_tools(cls))
