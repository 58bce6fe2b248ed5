"""Putting a phone caller through to a person: a cold transfer (SIP REFER) to the front
desk, only on a phone line, with a front-desk number, inside its transfer hours."""

from __future__ import annotations

import asyncio
import logging

from livekit.agents import RunContext, ToolError, function_tool

from ..front_desk import measured
from ..metrics import get_metrics
from ..phone_call import PhoneLineControl, transfers_open
from .desk import ClinicDesk

logger = logging.getLogger(__name__)

# the REFER is answered when the front desk's phone is reached, or refused; past this the
# caller has waited long enough and gets the callback path
TRANSFER_TIMEOUT_SECONDS = 20.0
CALLBACK_INSTEAD = (
    "Tell the caller plainly, then offer a callback: take their name (and their number, or "
    "confirm the caller ID) and the reason, and call request_callback."
)


class TransferTools(ClinicDesk):
    """Reaching a person right now, when the line and the hours allow it."""

    phone: PhoneLineControl | None = None

    @function_tool
    @measured
    async def transfer_to_front_desk(self, context: RunContext[None]) -> str:
        """Put the caller through to a person at the front desk (they asked for a person,
        or pressed 0). Say you are putting them through first, then call this.
        """
        outcome, refusal = self._transfer_refusal()
        if refusal is not None:
            get_metrics().transfers.labels(outcome=outcome).inc()
            raise ToolError(f"{refusal} {CALLBACK_INSTEAD}")
        assert self.phone is not None
        number = self.profile.phone_line.front_desk_number if self.profile.phone_line else None
        assert number is not None
        await context.wait_for_playout()  # the caller hears "putting you through" first
        try:
            async with asyncio.timeout(TRANSFER_TIMEOUT_SECONDS):
                await self.phone.transfer(number)
        except Exception as exc:  # any refusal: no SIP service, busy line, bad number...
            logger.warning("front-desk transfer failed", extra={"error": type(exc).__name__})
            get_metrics().transfers.labels(outcome="failed").inc()
            raise ToolError(f"The transfer did not go through. {CALLBACK_INSTEAD}") from None
        get_metrics().transfers.labels(outcome="transferred").inc()
        self.mark_transferred()
        self.session.shutdown()  # the caller is with the front desk now
        return "The caller was transferred to the front desk."

    def _transfer_refusal(self) -> tuple[str, str | None]:
        if self.phone is None:
            return "not_on_phone", "This caller is not on a phone line, so no transfer."
        line = self.profile.phone_line
        if line is None or not line.front_desk_number:
            return "no_front_desk", "This clinic takes no phone transfers."
        if not transfers_open(self.profile, self._clock()):
            return "outside_hours", "The front desk is not taking calls at this hour."
        return "transferred", None
