"""The Bright Smile receptionist: instructions from the clinic profile, tools as methods.

Tools talk to the scheduling API and answer in speakable sentences. Anything the model can
recover from (a slot just taken, a missing confirmation, the API being down) is raised as a
`ToolError` whose text tells the model what to say or do next — never a crash, never
silence. The model only ever sees short references ("option-2", "appointment-1"), never
the API's ids.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime
from typing import Concatenate, Literal, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

from livekit.agents import Agent, RunContext, ToolError, function_tool, llm
from livekit.agents.llm.tool_context import find_function_tools

from . import prompts
from .booking_flow import (
    BookingDetails,
    CancellationDetails,
    ChangeDetails,
    ConfirmationFlow,
    ConfirmationRequired,
    RescheduleDetails,
    booking_read_back,
    cancellation_read_back,
    reschedule_read_back,
    same_caller,
)
from .metrics import get_metrics
from .models import Booking, ClinicProfile, Slot
from .offers import References, pick_options
from .phone import normalise_phone
from .scheduling_client import (
    BookingNotActive,
    InvalidSlot,
    NotFound,
    RequestRejected,
    SchedulingClient,
    SchedulingError,
    SchedulingUnavailable,
    SlotUnavailable,
    new_idempotency_key,
)
from .spoken_time import group_options, spoken_datetime, spoken_phone

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
AgentT = TypeVar("AgentT", bound=Agent)

SEARCH_DAYS = 7
PREFERRED_DATE_SEARCH_DAYS = 3
EMERGENCY_SEARCH_DAYS = 7
SLOT_LIMIT = 40


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


def _unavailable_error() -> ToolError:
    return ToolError(
        "The scheduling system is not responding right now. Apologise briefly, and offer to "
        "take the caller's name and number so the team can call them back (request_callback)."
    )


class _FrontDesk(Agent):
    """The tools every receptionist has, even one without the clinic profile."""

    clinic_id: str
    scheduling: SchedulingClient
    region: str
    clinic_phone: str

    @function_tool
    @measured
    async def request_callback(
        self,
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
        phone = normalise_phone(caller_phone, self.region)
        if phone is None:
            raise ToolError(
                "That phone number looks incomplete. Ask the caller to repeat it digit by digit."
            )
        try:
            await self.scheduling.request_callback(
                self.clinic_id,
                name=caller_name.strip(),
                phone=phone,
                reason=reason.strip() or None,
                preferred_time=(preferred_time or "").strip() or None,
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

    @function_tool
    @measured
    async def end_call(self, context: RunContext[None]) -> None:
        """Hang up after saying goodbye, once the caller has nothing else."""
        await context.wait_for_playout()
        self.session.shutdown()

    @classmethod
    def tool_names(cls) -> list[str]:
        """Names of the tools, for pre-initialising the tool latency series."""
        return sorted(tool.info.name for tool in find_function_tools(cls))


class Receptionist(_FrontDesk):
    """One call's receptionist for one clinic."""

    def __init__(
        self,
        *,
        profile: ClinicProfile,
        scheduling: SchedulingClient,
        clock: Callable[[], datetime] = utc_now,
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
        self._tz = ZoneInfo(profile.timezone)
        self._clock = clock
        self._refs = References()
        self._flow = ConfirmationFlow()
        # one key per exact change: repeating a call after a lost answer replays, not duplicates
        self._idempotency_keys: dict[ChangeDetails, str] = {}
        instructions = prompts.instructions(profile, self._now())
        if resumed:
            instructions += prompts.RESUMED_CALL_NOTE
        super().__init__(instructions=instructions)

    async def on_enter(self) -> None:
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

    # ---- availability -------------------------------------------------------------------

    @function_tool
    @measured
    async def check_availability(
        self,
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
        start = self._parse_date(preferred_date)
        days = PREFERRED_DATE_SEARCH_DAYS if preferred_date else SEARCH_DAYS
        availability = await self._call(
            self.scheduling.availability(
                self.clinic_id,
                appointment_type=appointment_type,
                start_date=start.isoformat(),
                days=days,
                part_of_day=part_of_day,
                limit=SLOT_LIMIT,
            )
        )
        if not availability.slots:
            return self._nothing_free(availability.next_available)
        return self._offer(pick_options(availability.slots), "Free times")

    @function_tool
    @measured
    async def find_emergency_slot(self) -> str:
        """Find the earliest emergency visit for a caller with a dental emergency."""
        emergency = self.profile.emergency_appointment_type()
        if emergency is None:
            raise ToolError(
                "This clinic has no emergency visit type. Take an urgent callback request "
                "(request_callback) so the team calls back as soon as possible."
            )
        availability = await self._call(
            self.scheduling.availability(
                self.clinic_id,
                appointment_type=emergency.appointment_type_id,
                start_date=self._today().isoformat(),
                days=EMERGENCY_SEARCH_DAYS,
                limit=SLOT_LIMIT,
            )
        )
        if not availability.slots:
            return self._nothing_free(availability.next_available, urgent=True)
        earliest = sorted(availability.slots, key=lambda s: s.start)[:2]
        return self._offer(earliest, f"Earliest {emergency.name.lower()} visits")

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
        self._authorize(context, details)
        booking = await self._commit_change(
            details,
            self.scheduling.create_booking(
                self.clinic_id,
                slot_id=details.slot_id,
                patient_name=details.patient_name,
                patient_phone=details.patient_phone,
                idempotency_key=self._idempotency_key(details),
            ),
            outcome="created",
        )
        when = spoken_datetime(booking.start, self._tz, self._today())
        return (
            f"Booked. Tell the caller their {details.appointment_type_name.lower()} with "
            f"{booking.provider_name} on {when} is confirmed, and ask if there is anything else."
        )

    # ---- existing appointments ----------------------------------------------------------

    @function_tool
    @measured
    async def find_appointments(self, patient_phone: str, patient_name: str) -> str:
        """Look up the caller's upcoming appointments, verifying phone number and full name.

        Args:
            patient_phone: The phone number the booking was made with.
            patient_name: The patient's full name on the booking.
        """
        phone = self._phone(patient_phone)
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
        details = self._reschedule_details(appointment, option)
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
        details = self._reschedule_details(appointment, option)
        self._authorize(context, details)
        moved = await self._commit_change(
            details,
            self.scheduling.reschedule_booking(
                self.clinic_id,
                details.booking_id,
                slot_id=details.new_slot_id,
                idempotency_key=self._idempotency_key(details),
            ),
            outcome="rescheduled",
        )
        self._refs.replace_booking(appointment, moved)
        when = spoken_datetime(moved.start, self._tz, self._today())
        return f"Moved. Tell the caller their appointment is now on {when}."

    @function_tool
    @measured
    async def confirm_cancellation_details(
        self, context: RunContext[None], appointment: str
    ) -> llm.ToolResult:
        """Read back which appointment will be cancelled, before cancelling it.

        Args:
            appointment: The appointment reference from find_appointments.
        """
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
        details = self._cancellation_details(appointment)
        self._authorize(context, details)
        cancelled = await self._commit_change(
            details,
            self.scheduling.cancel_booking(
                self.clinic_id, details.booking_id, reason="cancelled by caller by phone"
            ),
            outcome="cancelled",
        )
        self._refs.replace_booking(appointment, cancelled)
        policy = self.profile.policies.get("cancellation")
        mention = f" If it fits, mention the cancellation policy: {policy}" if policy else ""
        return f"Cancelled. Tell the caller it is cancelled and offer to book a new time.{mention}"

    # ---- helpers ------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self._clock().astimezone(self._tz)

    def _today(self) -> date:
        return self._now().date()

    def _parse_date(self, value: str | None) -> date:
        if not value:
            return self._today()
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ToolError("preferred_date must look like 2026-12-02 (YYYY-MM-DD).") from None
        return max(day, self._today())

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
                f"{ref!r} is not an option offered in this call. Check availability and use "
                "one of the option references it returns."
            )
        return slot

    def _existing(self, ref: str) -> Booking:
        booking = self._refs.booking(ref)
        if booking is None:
            raise ToolError(
                f"{ref!r} is not a verified appointment. Ask for the phone number and full "
                "name, then call find_appointments."
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
        if len(full_name.split()) < 2:
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

    def _read_back(
        self, context: RunContext[None], details: ChangeDetails, text: str
    ) -> llm.ToolResult:
        """Speak the read-back straight to the TTS and end the turn without another LLM round.

        `say` is queued behind this tool's own speech, so anything the model said in the same
        step plays first and the read-back is never interleaved with it. It is not awaited:
        it only plays once this step is done. The `say` adds an assistant message, never a
        caller turn, so the caller's answer is still the first caller turn after it.
        """
        self._flow.read_back(details, caller_turns_so_far=len(_caller_utterances(context)))
        context.session.say(text)
        return llm.ToolResult(
            f"Already read back to the caller: {text} Wait for their answer; do not repeat it.",
            reply_required=False,
        )

    def _authorize(self, context: RunContext[None], details: ChangeDetails) -> None:
        try:
            self._flow.authorize(details, _caller_utterances(context))
        except ConfirmationRequired as refusal:
            get_metrics().bookings.labels(outcome="refused_unconfirmed").inc()
            logger.info("change refused", extra={"refusal": refusal.refusal.value})
            raise ToolError(refusal.guidance) from None

    async def _commit_change(
        self, details: ChangeDetails, change: Awaitable[Booking], *, outcome: str
    ) -> Booking:
        """Runs an authorised change to the appointment book and counts how it ended.

        A taken slot or a failure becomes a `ToolError` the model can act on; a taken slot
        also ends the read-back, since the caller must now choose another time.
        """
        bookings = get_metrics().bookings
        try:
            result = await change
        except SlotUnavailable as exc:
            bookings.labels(outcome="conflict").inc()
            self._flow.complete()
            raise self._slot_taken(exc) from None
        except SchedulingError as exc:
            bookings.labels(outcome="failed").inc()
            raise self._booking_failure(exc) from None
        bookings.labels(outcome=outcome).inc()
        self._flow.complete()
        self._idempotency_keys.pop(details, None)
        return result

    def _idempotency_key(self, details: ChangeDetails) -> str:
        return self._idempotency_keys.setdefault(details, new_idempotency_key())

    def _describe(self, booking: Booking) -> str:
        when = spoken_datetime(booking.start, self._tz, self._today(), relative=True)
        return f"{self._type_name(booking.appointment_type)} with {booking.provider_name} {when}"

    def _offer(self, slots: Sequence[Slot], heading: str) -> str:
        refs = self._refs.add_slots(slots)
        today = self._today()
        spoken = group_options([s.start for s in slots], self._tz, today)
        listing = "\n".join(
            f"{ref} = {spoken_datetime(s.start, self._tz, today, relative=True)}"
            f" with {s.provider_name}"
            for ref, s in zip(refs, slots, strict=True)
        )
        return (
            f"{heading} (offer them like this): {spoken}.\n"
            f"References for the booking tools (never say them):\n{listing}"
        )

    def _nothing_free(self, next_available: datetime | None, *, urgent: bool = False) -> str:
        if next_available is None:
            advice = " Take an urgent callback request." if urgent else " Offer a callback."
            return f"Nothing is free in the coming weeks. Apologise.{advice}"
        next_free = next_available.astimezone(self._tz)
        return (
            "Nothing is free then. The next opening is "
            f"{spoken_datetime(next_free, self._tz, self._today(), relative=True)}. "
            "Offer it; if the caller wants it, call check_availability with "
            f"preferred_date={next_free.date().isoformat()} to get a bookable option."
        )

    def _slot_taken(self, exc: SlotUnavailable) -> ToolError:
        alternatives = pick_options(exc.alternatives) or list(exc.alternatives[:3])
        if not alternatives:
            return ToolError(
                "That time was just taken by someone else. Apologise and check availability "
                "again for other times."
            )
        offer = self._offer(alternatives, "Nearest free times instead")
        return ToolError(
            "That time was just taken by someone else. Apologise, and offer these instead, "
            f"then read back the new choice with the confirm tool. {offer}"
        )

    def _booking_failure(self, exc: SchedulingError) -> ToolError:
        if isinstance(exc, SchedulingUnavailable):
            return _unavailable_error()
        if isinstance(exc, InvalidSlot):
            self._flow.complete()
            return ToolError(
                "That time can no longer be booked. Apologise and check availability again."
            )
        if isinstance(exc, BookingNotActive | NotFound):
            self._flow.complete()
            return ToolError("That appointment was already changed or cancelled.")
        if isinstance(exc, RequestRejected):
            return ToolError(f"The booking system refused: {exc}. Explain briefly and help.")
        return ToolError("Something went wrong with the booking. Apologise and offer a callback.")

    async def _call(self, request: Awaitable[R]) -> R:
        """Await a read-only scheduling request, turning failures into model guidance."""
        try:
            return await request
        except SchedulingUnavailable:
            raise _unavailable_error() from None
        except RequestRejected as exc:
            raise ToolError(f"The scheduling system said: {exc}. Adjust and try again.") from None
        except SchedulingError as exc:
            raise ToolError(f"The scheduling system could not do that: {exc}.") from None


class FallbackReceptionist(_FrontDesk):
    """Answers when the clinic profile cannot be loaded: apologise and take a callback."""

    def __init__(self, *, clinic_id: str, scheduling: SchedulingClient) -> None:
        self.clinic_id = clinic_id
        self.scheduling = scheduling
        self.region = "US"
        self.clinic_phone = ""
        super().__init__(instructions=prompts.fallback_instructions())

    async def on_enter(self) -> None:
        self.session.say(prompts.fallback_greeting())


def _caller_utterances(context: RunContext[None]) -> list[str]:
    """Everything the caller said in this call, in order (from the session transcript)."""
    return [
        item.text_content or ""
        for item in context.session.history.items
        if isinstance(item, llm.ChatMessage) and item.role == "user"
    ]
