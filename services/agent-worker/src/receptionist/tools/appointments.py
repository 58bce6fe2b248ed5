"""Tools that change the appointment book: find the caller's appointments, read a booking,
a move or a cancellation back, and make it only once the caller has said yes to that
read-back (`approval.py` decides; the turn hook in `agent.py` commits on the yes itself).
"""

from __future__ import annotations

from livekit.agents import RunContext, ToolError, function_tool, llm

from ..changes import (
    BookingDetails,
    CancellationDetails,
    ChangeDetails,
    RescheduleDetails,
    booking_read_back,
    cancellation_read_back,
    reschedule_read_back,
    same_caller,
)
from ..front_desk import MAX_NAME_CHARACTERS, measured
from .commit import CommitPath


class AppointmentTools(CommitPath):
    """Changing the book."""

    @function_tool
    @measured
    async def confirm_booking_details(
        self, context: RunContext[None], option: str, patient_name: str, patient_phone: str
    ) -> llm.ToolResult:
        """Read the booking details back before booking. Call this once the caller has
        chosen a time and given their full name and phone number.

        Args:
            option: The option reference of the chosen time, e.g. "option-2".
            patient_name: The patient's full name.
            patient_phone: The phone number the caller gave.
        """
        details = self._booking_details(option, patient_name, patient_phone)
        if (done := self._already_booked(details)) is not None:
            return llm.ToolResult(done)
        async with self._api(context):
            await self._recheck(self._slot(option))
        return self._read_back(
            context, details, booking_read_back(details, self._tz, self._today())
        )

    @function_tool
    @measured
    async def book_appointment(
        self, context: RunContext[None], option: str, patient_name: str, patient_phone: str
    ) -> str:
        """Book the appointment, only after the caller said yes to the read-back.

        Args:
            option: The same option reference that was read back.
            patient_name: The same full name that was read back.
            patient_phone: The same phone number that was read back.
        """
        details = self._booking_details(option, patient_name, patient_phone)
        if (done := self._already_booked(details)) is not None:
            return self._counted_as_done(done)
        self._authorize(details)
        return (await self._book(context, details)).for_model

    @function_tool
    @measured
    async def find_appointments(
        self, context: RunContext[None], patient_phone: str, patient_name: str
    ) -> str:
        """Look up the caller's upcoming appointments, verifying phone number and full name.

        Args:
            patient_phone: The phone number the booking was made with.
            patient_name: The patient's full name on the booking.
        """
        phone = self._phone(patient_phone)
        async with self._api(context):
            bookings = await self._call(self.scheduling.find_bookings(self.clinic_id, phone=phone))
        now = self._clock()
        mine = sorted(
            (b for b in bookings if b.start > now and same_caller(patient_name, b.patient.name)),
            key=lambda b: b.start,
        )
        if not mine:
            return (
                "No upcoming appointment matches that name and phone number. Ask the caller "
                "to check the number and the full name on the booking."
            )
        lines = [f"{self.references.add_booking(b)} = {self._describe(b)}" for b in mine]
        return (
            "Verified. Upcoming appointments (say them naturally, never the references):\n"
            + "\n".join(lines)
        )

    @function_tool
    @measured
    async def confirm_reschedule_details(
        self, context: RunContext[None], appointment: str, option: str
    ) -> llm.ToolResult:
        """Read back a move of an existing appointment to a new time, before moving it.

        Args:
            appointment: The appointment reference from find_appointments, e.g. "appointment-1".
            option: The option reference of the new time, e.g. "option-3".
        """
        if (done := self._already_moved(appointment, option)) is not None:
            return llm.ToolResult(done)
        details = self._reschedule_details(appointment, option)
        async with self._api(context):
            await self._recheck(self._slot(option))
        text = reschedule_read_back(details, self._tz, self._today())
        return self._read_back(context, details, text)

    @function_tool
    @measured
    async def reschedule_appointment(
        self, context: RunContext[None], appointment: str, option: str
    ) -> str:
        """Move the appointment, only after the caller said yes to the read-back.

        Args:
            appointment: The same appointment reference that was read back.
            option: The same option reference that was read back.
        """
        if (done := self._already_moved(appointment, option)) is not None:
            return self._counted_as_done(done)
        details = self._reschedule_details(appointment, option)
        self._authorize(details)
        return (await self._move(context, details)).for_model

    @function_tool
    @measured
    async def confirm_cancellation_details(
        self, context: RunContext[None], appointment: str
    ) -> llm.ToolResult:
        """Read back which appointment will be cancelled, before cancelling it.

        Args:
            appointment: The appointment reference from find_appointments.
        """
        if (done := self._already_cancelled(appointment)) is not None:
            return llm.ToolResult(done)
        details = self._cancellation_details(appointment)
        text = cancellation_read_back(details, self._tz, self._today())
        return self._read_back(context, details, text)

    @function_tool
    @measured
    async def cancel_appointment(self, context: RunContext[None], appointment: str) -> str:
        """Cancel the appointment, only after the caller said yes to the read-back.

        Args:
            appointment: The same appointment reference that was read back.
        """
        if (done := self._already_cancelled(appointment)) is not None:
            return self._counted_as_done(done)
        details = self._cancellation_details(appointment)
        self._authorize(details)
        return (await self._cancel(context, details)).for_model

    def _booking_details(self, option: str, name: str, phone: str) -> BookingDetails:
        slot = self._slot(option)
        full_name = " ".join(name.split())
        if len(full_name.split()) < 2 or len(full_name) > MAX_NAME_CHARACTERS:
            raise ToolError("Ask for the patient's full name, first and last.")
        return BookingDetails(
            slot_id=slot.slot_id,
            starts_at=slot.start,
            appointment_type_name=self._type_name(slot.appointment_type),
            provider_name=slot.provider_name,
            patient_name=full_name,
            patient_phone=self._phone(phone),
        )

    def _reschedule_details(self, appointment: str, option: str) -> RescheduleDetails:
        booking = self._existing(appointment)
        slot = self._slot(option)
        if slot.appointment_type != booking.appointment_type:
            raise ToolError(
                "That option is for a different kind of visit. Check availability for the "
                "same appointment type as the booking."
            )
        return RescheduleDetails(
            booking_id=booking.booking_id,
            old_start=booking.start,
            new_slot_id=slot.slot_id,
            new_start=slot.start,
            appointment_type_name=self._type_name(booking.appointment_type),
            provider_name=slot.provider_name,
        )

    def _cancellation_details(self, appointment: str) -> CancellationDetails:
        booking = self._existing(appointment)
        return CancellationDetails(
            booking_id=booking.booking_id,
            starts_at=booking.start,
            appointment_type_name=self._type_name(booking.appointment_type),
        )

    # ---- the read-back and the commit ---------------------------------------------------

    def _read_back(
        self, context: RunContext[None], details: ChangeDetails, text: str
    ) -> llm.ToolResult:
        """Speak the read-back straight to the TTS and end the turn without another LLM round.

        `say` is queued behind this tool's own speech, so anything the model said in the same
        step plays first and the read-back is never interleaved with it. The approval rule
        hears when it has been spoken in full (or was cut off).
        """
        self.approval.read_back_started(details)
        handle = context.session.say(text)
        handle.add_done_callback(
            lambda done: self.approval.read_back_finished(details, heard_whole=not done.interrupted)
        )
        return llm.ToolResult(
            f"Already read back to the caller: {text} Wait for their answer; do not repeat it.",
            reply_required=False,
        )
