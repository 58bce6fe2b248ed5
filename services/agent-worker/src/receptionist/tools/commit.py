"""Making an approved change in the appointment book: the one path a booking, a move or a
cancellation takes, whether a tool asked for it or the turn hook heard the caller's yes.

A taken slot or a failure becomes a `ToolError` the model can act on; each outcome is
counted; a repeat of a done change is answered as done.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from livekit.agents import RunContext, ToolError

from .. import tool_texts
from ..approval import ConfirmationRequired
from ..changes import BookingDetails, CancellationDetails, ChangeDetails, RescheduleDetails
from ..front_desk import unavailable_error
from ..ledger import already_cancelled, already_moved
from ..metrics import get_metrics
from ..resources import Booking
from ..scheduling_client import (
    BookingNotActive,
    BookingOutcome,
    InvalidSlot,
    NotFound,
    RequestRejected,
    SchedulingError,
    SchedulingUnavailable,
    SlotUnavailable,
)
from ..spoken_time import spoken_datetime
from .desk import ClinicDesk

logger = logging.getLogger(__name__)

R = TypeVar("R")


@dataclass(frozen=True)
class Committed:
    """A change made: what the model is told, and the confirmation the turn hook speaks."""

    for_model: str
    spoken: str


class CommitPath(ClinicDesk):
    """Approved changes, and the answers for a change already done."""

    # "this exact change is already done": answered as done, never refused or re-attempted

    def _already_booked(self, details: BookingDetails) -> str | None:
        booking = self.change_ledger.already_booked(details)
        if booking is None:
            return None
        when = spoken_datetime(booking.start, self._tz, self._today())
        return tool_texts.already_booked(
            f"the {details.appointment_type_name.lower()} with {booking.provider_name} on "
            f"{when} for {booking.patient.name}"
        )

    @staticmethod
    def _counted_as_done(answer: str) -> str:
        get_metrics().bookings.labels(outcome="already_done").inc()
        return answer

    def _already_moved(self, appointment: str, option: str) -> str | None:
        booking = self.references.booking(appointment)
        if booking is None or not already_moved(booking, self.references.slot(option)):
            return None
        return tool_texts.already_moved(self._describe(booking))

    def _already_cancelled(self, appointment: str) -> str | None:
        booking = self.references.booking(appointment)
        if booking is None or not already_cancelled(booking):
            return None
        return tool_texts.already_cancelled(self._describe(booking))

    def _authorize(self, details: ChangeDetails) -> None:
        try:
            self.approval.authorize(details)
        except ConfirmationRequired as refusal:
            get_metrics().bookings.labels(outcome="refused_unconfirmed").inc()
            logger.info("change refused", extra={"refusal": refusal.refusal.value})
            raise ToolError(refusal.guidance) from None

    async def _commit_approved(self, details: ChangeDetails) -> Committed:
        if isinstance(details, BookingDetails):
            return await self._book(None, details)
        if isinstance(details, RescheduleDetails):
            return await self._move(None, details)
        return await self._cancel(None, details)

    async def _book(self, context: RunContext[None] | None, details: BookingDetails) -> Committed:
        outcome: BookingOutcome = await self._commit_change(
            context,
            details,
            lambda: self.scheduling.create_booking(
                self.clinic_id,
                slot_id=details.slot_id,
                patient_name=details.patient_name,
                patient_phone=details.patient_phone,
                idempotency_key=self.change_ledger.idempotency_key(details),
            ),
            outcome="created",
        )
        self.change_ledger.booked(details.slot_id, outcome.booking)
        what = (
            f"{details.appointment_type_name.lower()} with {outcome.booking.provider_name} on "
            f"{spoken_datetime(outcome.booking.start, self._tz, self._today())}"
        )
        if outcome.already_booked:
            done = self._already_booked(details)
            assert done is not None
            for_model = self._counted_as_done(done)
        else:
            for_model = (
                f"Booked. Tell the caller their {what} is confirmed, and ask if there is "
                "anything else."
            )
        emergency = self.profile.emergency_appointment_type()
        advice = (
            self.profile.policies.get("emergencies")
            if emergency is not None and emergency.name == details.appointment_type_name
            else None
        )
        return Committed(for_model, tool_texts.booked(what, advice))

    async def _move(
        self, context: RunContext[None] | None, details: RescheduleDetails
    ) -> Committed:
        moved: Booking = await self._commit_change(
            context,
            details,
            lambda: self.scheduling.reschedule_booking(
                self.clinic_id,
                details.booking_id,
                slot_id=details.new_slot_id,
                idempotency_key=self.change_ledger.idempotency_key(details),
            ),
            outcome="rescheduled",
        )
        appointment = self.references.booking_ref(details.booking_id) or ""
        self.references.replace_booking(appointment, moved)
        self.change_ledger.changed(details.booking_id)
        when = spoken_datetime(moved.start, self._tz, self._today())
        for_model = f"Moved. Tell the caller their appointment is now on {when}."
        return Committed(for_model, tool_texts.moved(when))

    async def _cancel(
        self, context: RunContext[None] | None, details: CancellationDetails
    ) -> Committed:
        cancelled: Booking = await self._commit_change(
            context,
            details,
            lambda: self.scheduling.cancel_booking(
                self.clinic_id, details.booking_id, reason="cancelled by caller by phone"
            ),
            outcome="cancelled",
        )
        appointment = self.references.booking_ref(details.booking_id) or ""
        self.references.replace_booking(appointment, cancelled)
        self.change_ledger.changed(details.booking_id)
        policy = self.profile.policies.get("cancellation")
        mention = f" If it fits, mention the cancellation policy: {policy}" if policy else ""
        for_model = (
            f"Cancelled. Tell the caller it is cancelled and offer to book a new time.{mention}"
        )
        when = spoken_datetime(details.starts_at, self._tz, self._today())
        what = f"{details.appointment_type_name.lower()} on {when}"
        return Committed(for_model, tool_texts.cancelled(what))

    async def _commit_change(
        self,
        context: RunContext[None] | None,
        details: ChangeDetails,
        change: Callable[[], Awaitable[R]],
        *,
        outcome: str,
    ) -> R:
        """Runs an approved change to the appointment book and counts how it ended.

        A taken slot or a failure becomes a `ToolError` the model can act on; a taken slot
        also ends the read-back, since the caller must now choose another time.
        """
        bookings = get_metrics().bookings
        try:
            async with self._scheduling_call(context):
                result = await change()
        except SlotUnavailable as exc:
            bookings.labels(outcome="conflict").inc()
            self.approval.completed()
            raise self._slot_gone(exc.alternatives, too_soon=exc.too_soon) from None
        except SchedulingError as exc:
            bookings.labels(outcome="failed").inc()
            raise self._booking_failure(exc) from None
        bookings.labels(outcome=outcome).inc()
        self.approval.completed()
        self.change_ledger.done(details)
        return result

    def _booking_failure(self, exc: SchedulingError) -> ToolError:
        if isinstance(exc, SchedulingUnavailable):
            return unavailable_error()
        if isinstance(exc, InvalidSlot):
            self.approval.completed()
            return ToolError(
                "That time can no longer be booked. Apologise and check availability again."
            )
        if isinstance(exc, BookingNotActive | NotFound):
            self.approval.completed()
            return ToolError("That appointment was already changed or cancelled.")
        if isinstance(exc, RequestRejected):
            return ToolError(
                f"The booking system refused that request ({exc.code}). Apologise and offer a "
                "callback from the team."
            )
        return ToolError("Something went wrong with the booking. Apologise and offer a callback.")
