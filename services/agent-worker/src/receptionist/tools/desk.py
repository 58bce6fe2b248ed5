"""The per-clinic state and helpers every clinic tool uses: the clock in the clinic's
timezone, the call's references and change ledger, reads from the scheduling API, and what
the model is told about slots and bookings.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from livekit.agents import RunContext, ToolError

from .. import tool_texts
from ..approval import Approval
from ..front_desk import FrontDesk, unavailable_error
from ..ledger import ChangeLedger
from ..offers import nearest_options
from ..phone import normalize_phone
from ..references import References
from ..resources import Booking, ClinicProfile, Slot
from ..scheduling_client import RequestRejected, SchedulingError, SchedulingUnavailable
from ..spoken_time import spoken_datetime

R = TypeVar("R")

RECHECK_DAYS = 2
RECHECK_LIMIT = 100


class ClinicDesk(FrontDesk):
    """What the clinic tools share. `Receptionist` sets these up once per call."""

    profile: ClinicProfile
    references: References
    change_ledger: ChangeLedger
    approval: Approval
    _tz: ZoneInfo
    _clock: Callable[[], datetime]

    def _now(self) -> datetime:
        return self._clock().astimezone(self._tz)

    def _today(self) -> date:
        return self._now().date()

    def _phone(self, raw: str) -> str:
        phone = normalize_phone(raw, self.region)
        if phone is None:
            raise ToolError(
                "That phone number looks incomplete. Ask the caller to repeat it digit by digit."
            )
        return phone

    def _slot(self, ref: str) -> Slot:
        slot = self.references.slot(ref)
        if slot is None:
            raise ToolError(
                "That is not an option offered in this call. Check availability and use one "
                "of the option references it returns."
            )
        return slot

    def _existing(self, ref: str) -> Booking:
        booking = self.references.booking(ref)
        if booking is None:
            raise ToolError(
                "That is not a verified appointment. Ask for the phone number and full name, "
                "then call find_appointments."
            )
        if booking.status != "confirmed":
            raise ToolError("That appointment is no longer active; it was already changed.")
        return booking

    def _type_name(self, appointment_type_id: str) -> str:
        known = self.profile.appointment_type(appointment_type_id)
        return known.name if known else appointment_type_id.replace("_", " ")

    # ---- scheduling API reads -----------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _api(self, context: RunContext[None]) -> AsyncIterator[None]:
        """`_scheduling_call` for reads: past the deadline, the apology and callback offer."""
        try:
            async with self._scheduling_call(context):
                yield
        except SchedulingUnavailable:
            raise unavailable_error() from None

    async def _call(self, request: Awaitable[R]) -> R:
        """Await a read-only scheduling request, turning failures into model guidance (the
        API's own messages are never passed on: they hold ids and ISO dates)."""
        try:
            return await request
        except SchedulingUnavailable:
            raise unavailable_error() from None
        except RequestRejected as exc:
            raise ToolError(
                f"The scheduling system refused that request ({exc.code}). Apologise and offer "
                "a callback from the team."
            ) from None
        except SchedulingError:
            raise ToolError(
                "The scheduling system could not do that. Apologise and offer a callback."
            ) from None

    async def _recheck(self, slot: Slot) -> None:
        """Before a read-back: is the slot still free? If not, offer the nearest instead."""
        first = max(self._today(), slot.start.astimezone(self._tz).date())
        around = await self._call(
            self.scheduling.availability(
                self.clinic_id,
                appointment_type=slot.appointment_type,
                start_date=first.isoformat(),
                days=RECHECK_DAYS,
                limit=RECHECK_LIMIT,
            )
        )
        if any(free.slot_id == slot.slot_id for free in around.slots):
            return
        notice = timedelta(minutes=self.profile.booking_rules.min_notice_minutes)
        too_soon = slot.start < self._clock() + notice
        raise self._slot_gone(nearest_options(around.slots, slot.start), too_soon=too_soon)

    # ---- what the model is told ---------------------------------------------------------

    def _describe(self, booking: Booking) -> str:
        when = spoken_datetime(booking.start, self._tz, self._today(), relative=True)
        return f"{self._type_name(booking.appointment_type)} with {booking.provider_name} {when}"

    def _offer(self, slots: Sequence[Slot], heading: str) -> str:
        ordered = sorted(slots, key=lambda s: s.start)
        refs = self.references.add_slots(ordered)
        return tool_texts.offer(refs, ordered, heading, self._tz, self._today())

    def _slot_gone(self, alternatives: Sequence[Slot], *, too_soon: bool) -> ToolError:
        offered = self._offer(alternatives, "Nearest free times instead") if alternatives else None
        return ToolError(tool_texts.slot_gone(offered, too_soon=too_soon))
