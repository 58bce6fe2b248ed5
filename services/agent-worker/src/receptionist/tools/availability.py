"""Tools that find times: free slots for a visit or a reschedule, and the earliest
emergency visit.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from livekit.agents import RunContext, ToolError, function_tool

from .. import tool_texts
from ..front_desk import measured
from ..offers import pick_options
from ..resources import Slot
from .desk import ClinicDesk

SEARCH_DAYS = 7
PREFERRED_DATE_SEARCH_DAYS = 3
EMERGENCY_SEARCH_DAYS = 7
SLOT_LIMIT = 40


class AvailabilityTools(ClinicDesk):
    """Finding times."""

    @function_tool
    @measured
    async def check_availability(
        self,
        context: RunContext[None],
        appointment_type: str,
        preferred_date: str | None = None,
        part_of_day: Literal["morning", "afternoon", "evening"] | None = None,
    ) -> str:
        """Find free times to offer the caller for a new appointment or a reschedule.

        Args:
            appointment_type: The appointment type id from the clinic facts.
            preferred_date: The day the caller would like, as YYYY-MM-DD, if they said one.
            part_of_day: When in the day the caller prefers, if they said.
        """
        if self.profile.appointment_type(appointment_type) is None:
            known = ", ".join(t.appointment_type_id for t in self.profile.appointment_types)
            raise ToolError(f"Unknown appointment type. Use one of: {known}.")
        start, note = tool_texts.search_start(
            preferred_date, self._today(), self.profile.booking_rules.max_days_ahead
        )
        days = PREFERRED_DATE_SEARCH_DAYS if preferred_date else SEARCH_DAYS
        async with self._api(context):
            slots, later = await self._free_slots(appointment_type, start, days, part_of_day)
        if not slots:
            return note + tool_texts.NOTHING_FREE
        heading = "Nothing is free then. The next free times" if later else "Free times"
        return note + self._offer(pick_options(slots), heading)

    @function_tool
    @measured
    async def find_emergency_slot(self, context: RunContext[None]) -> str:
        """Find the earliest emergency visit for a caller with a dental emergency."""
        emergency = self.profile.emergency_appointment_type()
        if emergency is None:
            raise ToolError(
                "This clinic has no emergency visit type. Take an urgent callback request "
                "(request_callback) so the team calls back as soon as possible."
            )
        async with self._api(context):
            slots, _ = await self._free_slots(
                emergency.appointment_type_id, self._today(), EMERGENCY_SEARCH_DAYS
            )
        if not slots:
            return tool_texts.NOTHING_FREE + tool_texts.urgent_advice(self.profile)
        earliest = sorted(slots, key=lambda s: s.start)[:2]
        text = self._offer(earliest, f"Earliest times for the {emergency.name.lower()}")
        wait = earliest[0].start - self._clock()
        if wait > timedelta(hours=self.profile.booking_rules.emergency_max_wait_hours):
            text += tool_texts.urgent_advice(self.profile)
        return text

    async def _free_slots(
        self,
        appointment_type: str,
        start: date,
        days: int,
        part_of_day: str | None = None,
    ) -> tuple[list[Slot], bool]:
        """Free slots from `start`; when none are free in the window, those of the first day
        that has any (then True), so the model is never handed a date to search again."""
        found = await self._call(
            self.scheduling.availability(
                self.clinic_id,
                appointment_type=appointment_type,
                start_date=start.isoformat(),
                days=days,
                part_of_day=part_of_day,
                limit=SLOT_LIMIT,
            )
        )
        if found.slots or found.next_available is None:
            return list(found.slots), False
        next_day = found.next_available.astimezone(self._tz).date()
        later = await self._call(
            self.scheduling.availability(
                self.clinic_id,
                appointment_type=appointment_type,
                start_date=next_day.isoformat(),
                days=1,
                part_of_day=part_of_day,
                limit=SLOT_LIMIT,
            )
        )
        return list(later.slots), True
