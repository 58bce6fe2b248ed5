"""Never leave a silent caller hanging: one nudge, then a polite goodbye.

LiveKit marks the caller "away" after `user_away_timeout` seconds in which neither side
spoke. We answer that with one nudge; if the caller is still silent the same time after
the nudge finished, we say goodbye and end the session. Any speech from the caller
re-arms the cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from livekit.agents import AgentSession
from livekit.agents.voice.events import UserStateChangedEvent

logger = logging.getLogger(__name__)


class SilenceWatcher:
    def __init__(
        self, session: AgentSession[None], *, timeout_seconds: float, nudge: str, goodbye: str
    ) -> None:
        self._session = session
        self._timeout = timeout_seconds
        self._nudge = nudge
        self._goodbye = goodbye
        self._task: asyncio.Task[None] | None = None

    def attach(self) -> None:
        self._session.on("user_state_changed", self._on_user_state)
        self._session.on("close", lambda _: self._cancel())

    def _on_user_state(self, event: UserStateChangedEvent) -> None:
        if event.new_state == "away" and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._nudge_then_goodbye())
        elif event.new_state == "speaking":
            self._cancel()

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _nudge_then_goodbye(self) -> None:
        logger.info("caller silent, nudging")
        with contextlib.suppress(RuntimeError):  # the session closed meanwhile
            await self._session.say(self._nudge)
            await asyncio.sleep(self._timeout)
            if self._session.user_state == "speaking":
                return
            logger.info("caller still silent, ending the call")
            await self._session.say(self._goodbye, allow_interruptions=False)
            self._session.shutdown()
