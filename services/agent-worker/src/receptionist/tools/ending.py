"""Ending the call: hang up once the goodbye has been heard."""

from __future__ import annotations

from livekit.agents import RunContext, function_tool

from ..front_desk import FrontDesk, measured


class EndingTools(FrontDesk):
    """Hanging up."""

    @function_tool
    @measured
    async def end_call(self, context: RunContext[None]) -> None:
        """Hang up after saying goodbye, once the caller has nothing else."""
        await context.wait_for_playout()
        self.session.shutdown()
