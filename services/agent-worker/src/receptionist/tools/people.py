"""Tools that put the caller in touch with a person: a callback request from the team.

These work without the clinic profile, so the fallback receptionist has them too.
"""

from __future__ import annotations

import logging

from livekit.agents import RunContext, ToolError, function_tool

from ..front_desk import MAX_NAME_CHARACTERS, FrontDesk, measured
from ..phone import normalize_phone
from ..scheduling_client import SchedulingError
from ..spoken_time import spoken_phone

logger = logging.getLogger(__name__)

MAX_REASON_CHARACTERS = 1000
MAX_PREFERRED_TIME_CHARACTERS = 200


class PeopleTools(FrontDesk):
    """Reaching a person at the clinic."""

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
        phone = normalize_phone(caller_phone, self.region)
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
