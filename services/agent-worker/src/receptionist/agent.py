"""The Bright Smile receptionist: instructions from the clinic profile, tools as methods.

Tools talk to the scheduling API and answer in speakable sentences. Anything the model can
recover from (a slot just taken, a missing confirmation, the API being down) is raised as a
`ToolError` whose text tells the model what to say or do next — never a crash, never
silence. The model only ever sees short references ("option-2", "appointment-1"), never
the API's ids.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal, TypeVar
from zoneinfo import ZoneInfo

from livekit.agents import RunContext, StopResponse, ToolError, function_tool, llm
from livekit.agents.voice.events import ConversationItemAddedEvent, FunctionToolsExecutedEvent

from . import prompts, tool_texts
from .approval import Approval, ConfirmationRequired
from .booking_flow import (
    BookingDetails,
    CancellationDetails,
    ChangeDetails,
    RescheduleDetails,
    booking_read_back,
    cancellation_read_back,
    reschedule_read_back,
    same_caller,
)
from .front_desk import (
    DEFAULT_FILLER_DELAY_SECONDS,
    DEFAULT_TOOL_DEADLINE_SECONDS,
    MAX_NAME_CHARACTERS,
    FrontDesk,
    measured,
    unavailable_error,
    utc_now,
)
from .metrics import get_metrics
from .models import Booking, ClinicProfile, Slot
from .offers import References, nearest_options, pick_options
from .phone import normalise_phone
from .scheduling_client import (
    BookingNotActive,
    BookingOutcome,
    InvalidSlot,
    NotFound,
    RequestRejected,
    SchedulingClient,
    SchedulingError,
    SchedulingUnavailable,
    SlotUnavailable,
    new_idempotency_key,
)
from .spoken_time import spoken_datetime

logger = logging.getLogger(__name__)

R = TypeVar("R")

SEARCH_DAYS = 7
PREFERRED_DATE_SEARCH_DAYS = 3
EMERGENCY_SEARCH_DAYS = 7
SLOT_LIMIT = 40
RECHECK_DAYS = 2
RECHECK_LIMIT = 100


@dataclass(frozen=True)
class Committed:
    """A change made: what the model is told, and the confirmation the turn hook speaks."""

    for_model: str
    spoken: str


class Receptionist(FrontDesk):
    """One call's receptionist for one clinic."""

    def __init__(
        self,
        *,
        profile: ClinicProfile,
        scheduling: SchedulingClient,
        clock: Callable[[], datetime] = utc_now,
        tool_deadline_seconds: float = DEFAULT_TOOL_DEADLINE_SECONDS,
        filler_delay_seconds: float = DEFAULT_FILLER_DELAY_SECONDS,
        resumed: bool = False,
    ) -> None:
        self.profile = profile
        self.resumed = resumed
        # the caller's number when the call carries it (a phone line's SIP attribute)
        self.caller_phone: str | None = None
        self.clinic_id = profile.clinic_id
        self.scheduling = scheduling
        self.region = profile.address.country or "US"
        self.clinic_phone = profile.phone
        self.tool_deadline_seconds = tool_deadline_seconds
        self.filler_delay_seconds = filler_delay_seconds
        self._tz = ZoneInfo(profile.timezone)
        self._clock = clock
        self._refs = References()
        self._approval = Approval()
        # bookings this call made (or found the caller already held), by slot id
        self._booked: dict[str, Booking] = {}
        # one key per exact change: repeating a call after a lost answer replays, not duplicates
        self._idempotency_keys: dict[ChangeDetails, str] = {}
        instructions = prompts.instructions(profile, self._now())
        if resumed:
            instructions += prompts.RESUMED_CALL_NOTE
        super().__init__(instructions=instructions)

    async def on_enter(self) -> None:
        self.session.on("conversation_item_added", self._on_conversation_item)
        if self.resumed:
            booked = await self._booked_for_caller()
            self.session.say(prompts.resumed_greeting(self.profile, booked))
        else:
            self.session.say(prompts.greeting(self.profile))

    async def _booked_for_caller(self) -> list[str] | None:
        """What the book holds for the caller's number, said naturally: read from the
        scheduling API, never guessed. None when the number is unknown or the book is
        out of reach (the greeting then asks for the number instead)."""
        phone = normalise_phone(self.caller_phone, self.region) if self.caller_phone else None
        if phone is None:
            return None
        try:
            bookings = await self.scheduling.find_bookings(self.clinic_id, phone=phone)
        except SchedulingError:
            logger.warning("could not read the caller's bookings back after a resume")
            return None
        now = self._clock()
        upcoming = sorted((b for b in bookings if b.start > now), key=lambda b: b.start)
        return [self._describe(b) for b in upcoming]

    async def on_exit(self) -> None:
        self.session.off("conversation_item_added", self._on_conversation_item)

    def _on_conversation_item(self, event: ConversationItemAddedEvent) -> None:
        """Tell the approval rule what each side said, in the order it was said."""
        item = event.item
        if not isinstance(item, llm.ChatMessage):
            return
        if item.role == "user":
            self._approval.caller_turn(item.text_content or "", turn_id=item.id)
        elif item.role == "assistant":
            self._approval.agent_turn()

    # ---- availability -------------------------------------------------------------------

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

    # ---- new bookings -------------------------------------------------------------------

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

    # ---- existing appointments ----------------------------------------------------------

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
        lines = [f"{self._refs.add_booking(b)} = {self._describe(b)}" for b in mine]
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

    # ---- helpers ------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self._clock().astimezone(self._tz)

    def _today(self) -> date:
        return self._now().date()

    def _phone(self, raw: str) -> str:
        phone = normalise_phone(raw, self.region)
        if phone is None:
            raise ToolError(
                "That phone number looks incomplete. Ask the caller to repeat it digit by digit."
            )
        return phone

    def _slot(self, ref: str) -> Slot:
        slot = self._refs.slot(ref)
        if slot is None:
            raise ToolError(
                "That is not an option offered in this call. Check availability and use one "
                "of the option references it returns."
            )
        return slot

    def _existing(self, ref: str) -> Booking:
        booking = self._refs.booking(ref)
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

    # "this exact change is already done": answered as done, never refused or re-attempted

    def _already_booked(self, details: BookingDetails) -> str | None:
        booking = self._booked.get(details.slot_id)
        if (
            booking is None
            or booking.status != "confirmed"
            or booking.patient.phone != details.patient_phone
            or booking.patient.name.casefold() != details.patient_name.casefold()
        ):
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
        booking, slot = self._refs.booking(appointment), self._refs.slot(option)
        if booking is None or slot is None or booking.status != "confirmed":
            return None
        if (booking.start, booking.provider_id, booking.appointment_type) != (
            slot.start,
            slot.provider_id,
            slot.appointment_type,
        ):
            return None
        return tool_texts.already_moved(self._describe(booking))

    def _already_cancelled(self, appointment: str) -> str | None:
        booking = self._refs.booking(appointment)
        if booking is None or booking.status != "cancelled":
            return None
        return tool_texts.already_cancelled(self._describe(booking))

    # ---- the read-back and the commit ---------------------------------------------------

    def _read_back(
        self, context: RunContext[None], details: ChangeDetails, text: str
    ) -> llm.ToolResult:
        """Speak the read-back straight to the TTS and end the turn without another LLM round.

        `say` is queued behind this tool's own speech, so anything the model said in the same
        step plays first and the read-back is never interleaved with it. The approval rule
        hears when it has been spoken in full (or was cut off).
        """
        self._approval.read_back_started(details)
        handle = context.session.say(text)
        handle.add_done_callback(
            lambda done: self._approval.read_back_finished(
                details, heard_whole=not done.interrupted
            )
        )
        return llm.ToolResult(
            f"Already read back to the caller: {text} Wait for their answer; do not repeat it.",
            reply_required=False,
        )

    async def on_user_turn_completed(
        self, turn_ctx: llm.ChatContext, new_message: llm.ChatMessage
    ) -> None:
        """Commit on the caller's clear yes to the read-back, without an LLM round.

        The approval rule decides (the same rule the tools ask). On the yes, the change goes
        through the tools' own commit path and the confirmation is spoken from a template;
        the model's context gets the caller's words and the commit as the tool call it would
        have made, with its output. `StopResponse` then skips the LLM reply for this turn.
        If the commit fails, the model finds the failed tool call in its context and replies
        as usual, as if it had called the tool itself.
        """
        approved = self._approval.caller_turn(
            new_message.text_content or "", turn_id=new_message.id
        )
        if approved is None:
            return
        call = self._commit_call(approved, new_message.id)
        try:
            committed = await self._commit_approved(approved)
        except ToolError as failed:
            output = self._commit_output(call, str(failed), is_error=True)
            turn_ctx.items.extend([call, output])  # this turn's reply reads it
            # later turns too; the framework inserts the caller's turn before it (by time)
            await self._remember(call, output)
            return
        output = self._commit_output(
            call, f"{committed.for_model} {tool_texts.already_said(committed.spoken)}"
        )
        # what the framework skips on `StopResponse`: the caller's turn in the model's
        # context and in the session's history (telemetry measures `end_to_end` from it,
        # transcripts read it); LiveKit Agents 1.8.9 records a committed turn this way
        await self._remember(new_message, call, output)
        self.session._conversation_item_added(new_message)
        self.session.say(committed.spoken)
        raise StopResponse()

    def _commit_call(self, details: ChangeDetails, turn_id: str) -> llm.FunctionCall:
        """The commit tool call the model would have made for `details`."""
        arguments: dict[str, str]
        if isinstance(details, BookingDetails):
            name = "book_appointment"
            arguments = {
                "option": self._refs.slot_ref(details.slot_id) or "",
                "patient_name": details.patient_name,
                "patient_phone": details.patient_phone,
            }
        elif isinstance(details, RescheduleDetails):
            name = "reschedule_appointment"
            arguments = {
                "appointment": self._refs.booking_ref(details.booking_id) or "",
                "option": self._refs.slot_ref(details.new_slot_id) or "",
            }
        else:
            name = "cancel_appointment"
            arguments = {"appointment": self._refs.booking_ref(details.booking_id) or ""}
        return llm.FunctionCall(
            call_id=f"commit_{turn_id}",
            name=name,
            arguments=json.dumps(arguments, ensure_ascii=False),
        )

    def _commit_output(
        self, call: llm.FunctionCall, output: str, *, is_error: bool = False
    ) -> llm.FunctionCallOutput:
        result = llm.FunctionCallOutput(
            call_id=call.call_id, name=call.name, output=output, is_error=is_error
        )
        self.session.emit(
            "function_tools_executed",
            FunctionToolsExecutedEvent(function_calls=[call], function_call_outputs=[result]),
        )
        return result

    async def _remember(self, *items: llm.ChatItem) -> None:
        context = self.chat_ctx.copy()
        context.items.extend(items)
        await self.update_chat_ctx(context)

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
                idempotency_key=self._idempotency_key(details),
            ),
            outcome="created",
        )
        self._booked[details.slot_id] = outcome.booking
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
                idempotency_key=self._idempotency_key(details),
            ),
            outcome="rescheduled",
        )
        appointment = self._refs.booking_ref(details.booking_id) or ""
        self._refs.replace_booking(appointment, moved)
        self._booked = {k: b for k, b in self._booked.items() if b.booking_id != details.booking_id}
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
        appointment = self._refs.booking_ref(details.booking_id) or ""
        self._refs.replace_booking(appointment, cancelled)
        self._booked = {k: b for k, b in self._booked.items() if b.booking_id != details.booking_id}
        policy = self.profile.policies.get("cancellation")
        mention = f" If it fits, mention the cancellation policy: {policy}" if policy else ""
        for_model = (
            f"Cancelled. Tell the caller it is cancelled and offer to book a new time.{mention}"
        )
        when = spoken_datetime(details.starts_at, self._tz, self._today())
        what = f"{details.appointment_type_name.lower()} on {when}"
        return Committed(for_model, tool_texts.cancelled(what))

    def _authorize(self, details: ChangeDetails) -> None:
        try:
            self._approval.authorize(details)
        except ConfirmationRequired as refusal:
            get_metrics().bookings.labels(outcome="refused_unconfirmed").inc()
            logger.info("change refused", extra={"refusal": refusal.refusal.value})
            raise ToolError(refusal.guidance) from None

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
            self._approval.completed()
            raise self._slot_gone(exc.alternatives, too_soon=exc.too_soon) from None
        except SchedulingError as exc:
            bookings.labels(outcome="failed").inc()
            raise self._booking_failure(exc) from None
        bookings.labels(outcome=outcome).inc()
        self._approval.completed()
        self._idempotency_keys.pop(details, None)
        return result

    def _idempotency_key(self, details: ChangeDetails) -> str:
        return self._idempotency_keys.setdefault(details, new_idempotency_key())

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
        refs = self._refs.add_slots(ordered)
        return tool_texts.offer(refs, ordered, heading, self._tz, self._today())

    def _slot_gone(self, alternatives: Sequence[Slot], *, too_soon: bool) -> ToolError:
        offered = self._offer(alternatives, "Nearest free times instead") if alternatives else None
        return ToolError(tool_texts.slot_gone(offered, too_soon=too_soon))

    def _booking_failure(self, exc: SchedulingError) -> ToolError:
        if isinstance(exc, SchedulingUnavailable):
            return unavailable_error()
        if isinstance(exc, InvalidSlot):
            self._approval.completed()
            return ToolError(
                "That time can no longer be booked. Apologise and check availability again."
            )
        if isinstance(exc, BookingNotActive | NotFound):
            self._approval.completed()
            return ToolError("That appointment was already changed or cancelled.")
        if isinstance(exc, RequestRejected):
            return ToolError(
                f"The booking system refused that request ({exc.code}). Apologise and offer a "
                "callback from the team."
            )
        return ToolError("Something went wrong with the booking. Apologise and offer a callback.")
