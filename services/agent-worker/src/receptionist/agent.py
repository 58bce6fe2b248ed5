"""The two receptionists a call can get, composed from the tools in `tools/`.

`Receptionist` answers for one clinic with its profile: it greets (or apologises, on a
resumed call), feeds what each side says to the approval rule, and commits an approved
change on the caller's yes without another LLM round. `FallbackReceptionist` answers when
the profile cannot be loaded: an apology and a callback.

Tools answer in speakable sentences. Anything the model can recover from (a slot just
taken, a missing confirmation, the API being down) is raised as a `ToolError` whose text
tells the model what to say or do next: never a crash, never silence.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from livekit.agents import StopResponse, ToolError, llm
from livekit.agents.voice.events import ConversationItemAddedEvent, FunctionToolsExecutedEvent

from . import prompts, tool_texts
from .approval import Approval
from .changes import BookingDetails, ChangeDetails, RescheduleDetails
from .front_desk import DEFAULT_FILLER_DELAY_SECONDS, DEFAULT_TOOL_DEADLINE_SECONDS, utc_now
from .ledger import ChangeLedger
from .phone import normalize_phone
from .references import References
from .resources import ClinicProfile
from .scheduling_client import SchedulingClient, SchedulingError
from .tools.appointments import AppointmentTools
from .tools.availability import AvailabilityTools
from .tools.ending import EndingTools
from .tools.people import PeopleTools

logger = logging.getLogger(__name__)


class Receptionist(AvailabilityTools, AppointmentTools, PeopleTools, EndingTools):
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
        self.references = References()
        self.approval = Approval()
        self.change_ledger = ChangeLedger()
        instructions = prompts.instructions(profile, self._now())
        if resumed:
            instructions += prompts.RESUMED_CALL_NOTE
        super().__init__(instructions=instructions)

    async def on_enter(self) -> None:
        self.session.on("conversation_item_added", self._on_conversation_item)
        if self.resumed:
            self.session.say(await self._resumed_greeting())
        else:
            self.session.say(prompts.greeting(self.profile))

    async def _resumed_greeting(self) -> str:
        """The apology, with what the book holds for the caller's number: read from the
        scheduling API, never guessed. A caller without a number on the line (the web
        page) is asked for name and number; an unreachable book is said to be one."""
        phone = normalize_phone(self.caller_phone, self.region) if self.caller_phone else None
        if phone is None:
            return prompts.resumed_greeting_unknown_caller(self.profile)
        try:
            bookings = await self.scheduling.find_bookings(self.clinic_id, phone=phone)
        except SchedulingError:
            logger.warning("could not read the caller's bookings back after a resume")
            return prompts.resumed_greeting_book_unreachable(self.profile)
        now = self._clock()
        upcoming = sorted((b for b in bookings if b.start > now), key=lambda b: b.start)
        return prompts.resumed_greeting(self.profile, [self._describe(b) for b in upcoming])

    async def on_exit(self) -> None:
        self.session.off("conversation_item_added", self._on_conversation_item)

    def _on_conversation_item(self, event: ConversationItemAddedEvent) -> None:
        """Tell the approval rule what each side said, in the order it was said."""
        item = event.item
        if not isinstance(item, llm.ChatMessage):
            return
        if item.role == "user":
            self.approval.caller_turn(item.text_content or "", turn_id=item.id)
        elif item.role == "assistant":
            self.approval.agent_turn()

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
        approved = self.approval.caller_turn(new_message.text_content or "", turn_id=new_message.id)
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
                "option": self.references.slot_ref(details.slot_id) or "",
                "patient_name": details.patient_name,
                "patient_phone": details.patient_phone,
            }
        elif isinstance(details, RescheduleDetails):
            name = "reschedule_appointment"
            arguments = {
                "appointment": self.references.booking_ref(details.booking_id) or "",
                "option": self.references.slot_ref(details.new_slot_id) or "",
            }
        else:
            name = "cancel_appointment"
            arguments = {"appointment": self.references.booking_ref(details.booking_id) or ""}
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


class FallbackReceptionist(PeopleTools, EndingTools):
    """Answers when the clinic profile cannot be loaded: apologise and take a callback."""

    def __init__(
        self,
        *,
        clinic_id: str,
        scheduling: SchedulingClient,
        tool_deadline_seconds: float = DEFAULT_TOOL_DEADLINE_SECONDS,
        filler_delay_seconds: float = DEFAULT_FILLER_DELAY_SECONDS,
    ) -> None:
        self.clinic_id = clinic_id
        self.scheduling = scheduling
        self.tool_deadline_seconds = tool_deadline_seconds
        self.filler_delay_seconds = filler_delay_seconds
        self.region = "US"
        self.clinic_phone = ""
        super().__init__(instructions=prompts.fallback_instructions())

    async def on_enter(self) -> None:
        self.session.say(prompts.fallback_greeting())
